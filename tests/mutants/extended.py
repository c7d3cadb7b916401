"""Broken buses for the extended profile: closing, priority, `once`, duplicates, `unsubscribe`,
`publish_sync`, and the named exception classes."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import reference.event_bus as ref
import tests.alt_impl.event_bus as alt
from tests.alt_impl.container import Container

from .base import ALT, REFERENCE, container_init, mutant
from .subscribing import subscribe_each_mark

Registration = alt.Registration


class StopOnlyContainer(Container):
    """`cleanup_all_async` stops the bus's worker but never closes the bus."""

    async def cleanup_all_async(self) -> None:
        for instance in reversed(self._created):
            if isinstance(instance, alt.EventBus):
                await instance.stop_worker()


class OpenPostBus(alt.EventBus):
    """`post` forgets the closed check: after `aclose()` it buffers events nobody will ever deliver."""

    def post(self, event: alt.Event) -> None:
        if not isinstance(event, alt.Event):
            raise TypeError(f"post() takes an Event, got {event!r}")
        with self._qlock:
            self.admit()
            self._queue.append(event)
            self._accepted += 1
            wakeup = self._wakeup
        if wakeup is not None:
            self.nudge(wakeup)


class UnprioritisedBus(alt.EventBus):
    """Handlers run in subscription order; `priority` is accepted and ignored."""

    def matching(self, event_type: type[alt.Event]) -> list[Registration]:
        return sorted(super().matching(event_type), key=lambda r: r.seq)


class EveryTimeBus(alt.EventBus):
    """`once=True` is accepted and ignored."""

    def claim(self, registration: Registration) -> bool:
        return True


class RemoveAfterRunBus(alt.EventBus):
    """A `once` handler is removed after it has run: a dispatch meanwhile, or a failure, calls it again."""

    def claim(self, registration: Registration) -> bool:
        return not registration.spent

    async def run_inline(self, registration: Registration, event: alt.Event) -> None:
        await super().run_inline(registration, event)
        if registration.once:
            alt.EventBus.claim(self, registration)


class DeduplicatingBus(alt.EventBus):
    """`subscribe` ignores a handler already registered for the type."""

    def subscribe(self, event_type: Any, fn: Any, **options: Any) -> None:
        with self._lock:
            known = any(r.fn == fn for r in self._registry.get(event_type, []))
        if not known:
            super().subscribe(event_type, fn, **options)


class IdentityUnsubscribeBus(alt.EventBus):
    """`unsubscribe` compares handlers with `is`, so `obj.method` (a new object each time) is never removed."""

    def unsubscribe(self, event_type: Any, fn: Any) -> None:
        with self._lock:
            self._registry[event_type] = [r for r in self._registry.get(event_type, []) if r.fn is not fn]


class StrictUnsubscribeBus(alt.EventBus):
    """`unsubscribe` of a handler that is not registered raises ValueError (`list.remove`)."""

    def unsubscribe(self, event_type: Any, fn: Any) -> None:
        with self._lock:
            if not any(r.fn == fn for r in self._registry.get(event_type, [])):
                raise ValueError(f"{fn!r} is not subscribed to {event_type!r}")
        super().unsubscribe(event_type, fn)


class PolicyOnlyMixin(alt.AutoSubscriberMixin):
    """The mixin passes the mark's policy on, and forgets its `priority` and `once`."""

    def subscribe_marked(self, bus: alt.EventBus) -> None:
        subscribe_each_mark(self, bus, priority=0, once=False)


class CloseFirstBus(alt.EventBus):
    """`aclose` marks the bus closed before draining, so the queued events fail in the worker."""

    async def aclose(self) -> None:
        self._closed = True
        await super().aclose()


class SyncOnlyPublishSyncBus(alt.EventBus):
    """`publish_sync` without a running loop calls the handlers in place and closes the coroutines it gets."""

    def publish_sync(self, event: alt.Event) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            for registration in self.matching(type(event)):
                if self.claim(registration):
                    result = registration.fn(event)
                    if inspect.iscoroutine(result):
                        result.close()
            return
        super().publish_sync(event)


class AlwaysRunPublishSyncBus(alt.EventBus):
    """`publish_sync` is `asyncio.run(self.publish(event))`, also on a running loop."""

    def publish_sync(self, event: alt.Event) -> None:
        coroutine = self.publish(event)
        try:
            asyncio.run(coroutine)
        finally:
            coroutine.close()


class PlainFullQueueErrorBus(alt.EventBus):
    """A full queue raises the base `EventBusError`, not `EventBusQueueFullError`."""

    def admit(self) -> None:
        try:
            super().admit()
        except alt.EventBusQueueFullError as exc:
            raise alt.EventBusError(str(exc)) from None


class RuntimeErrorPostBus(ref.EventBus):
    """`post` without a running worker raises RuntimeError, not an `EventBusError`."""

    def post(self, event: Any) -> None:
        try:
            super().post(event)
        except ref.EventBusError as exc:
            if type(exc) is ref.EventBusError:
                raise RuntimeError(str(exc)) from None
            raise


MUTANTS = [
    mutant(
        "cleanup-only-stops-the-worker",
        "LIFE-2",
        "container shutdown stops the bus's worker but never closes the bus",
        ALT,
        init=container_init(StopOnlyContainer),
    ),
    mutant(
        "post-ignores-closed",
        "LIFE-3",
        "post does not check whether the bus is closed and buffers events forever",
        ALT,
        EventBus=OpenPostBus,
    ),
    mutant("priority-ignored", "EXT-PRI-1", "priority is accepted and ignored", ALT, EventBus=UnprioritisedBus),
    mutant("once-ignored", "EXT-ONCE-1", "once=True is accepted and ignored", ALT, EventBus=EveryTimeBus),
    mutant(
        "once-removed-after-run",
        "EXT-ONCE-1",
        "a once handler is removed after it ran, so a concurrent dispatch or a failure calls it again",
        ALT,
        EventBus=RemoveAfterRunBus,
    ),
    mutant(
        "duplicate-registrations-merged",
        "EXT-DUP-1",
        "subscribe ignores a handler already registered for the type",
        ALT,
        EventBus=DeduplicatingBus,
    ),
    mutant(
        "unsubscribe-by-identity",
        "EXT-UNSUB-1",
        "unsubscribe compares handlers with `is`, so a bound method is never removed",
        ALT,
        EventBus=IdentityUnsubscribeBus,
    ),
    mutant(
        "unsubscribe-unknown-raises",
        "EXT-UNSUB-2",
        "unsubscribe of a handler that is not registered raises ValueError",
        ALT,
        EventBus=StrictUnsubscribeBus,
    ),
    mutant(
        "decorator-options-dropped",
        "EXT-SUB-1",
        "the mixin registers marked methods with their policy but without priority and once",
        ALT,
        AutoSubscriberMixin=PolicyOnlyMixin,
    ),
    mutant(
        "aclose-closes-before-draining",
        "EXT-CLOSE-1",
        "aclose marks the bus closed first, so the queued events fail in the worker",
        ALT,
        EventBus=CloseFirstBus,
    ),
    mutant(
        "publish-sync-skips-coroutines",
        "EXT-SYNC-1",
        "publish_sync without a loop calls handlers in place and closes the coroutines of async ones",
        ALT,
        EventBus=SyncOnlyPublishSyncBus,
    ),
    mutant(
        "publish-sync-always-asyncio-run",
        "EXT-SYNC-2",
        "publish_sync always calls asyncio.run, which raises on a running loop",
        ALT,
        EventBus=AlwaysRunPublishSyncBus,
    ),
    mutant(
        "no-handler-error-class",
        "EXT-ERR-1",
        "EventBusHandlerError is not defined",
        ALT,
        remove=("EventBusHandlerError",),
    ),
    mutant(
        "full-queue-raises-the-base-error",
        "EXT-ERR-2",
        "a full queue raises EventBusError instead of EventBusQueueFullError",
        ALT,
        EventBus=PlainFullQueueErrorBus,
    ),
    mutant(
        "no-worker-raises-runtime-error",
        "EXT-ERR-3",
        "post without a running worker raises RuntimeError",
        REFERENCE,
        EventBus=RuntimeErrorPostBus,
    ),
]

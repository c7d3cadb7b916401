"""Broken buses for the extended profile: closing, priority, `once`, duplicates, `unsubscribe`,
`publish_sync`, and the named exception classes."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
from typing import Any

import reference.event_bus as ref
import tests.alt_impl.event_bus as alt
from conformance.kit import DEFAULT_BOUND
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


class LearnedAsyncKeptBus(alt.EventBus):
    """The bus remembers each handler found async only by calling it (a `def` or lambda returning a coroutine), to
    skip the check next time; `aclose` clears the subscribers but not that memo."""

    def remember(self, registration: Registration, result: Any) -> None:
        if inspect.isawaitable(result) and not inspect.iscoroutinefunction(registration.fn):
            self._learned = [*getattr(self, "_learned", []), registration.fn]

    async def run_inline(self, registration: Registration, event: alt.Event) -> None:
        result = registration.fn(event)
        self.remember(registration, result)
        if inspect.isawaitable(result):
            await result

    def start_task(self, registration: Registration, event: alt.Event) -> None:
        result = registration.fn(event)
        self.remember(registration, result)
        if inspect.isawaitable(result):
            self.keep(asyncio.ensure_future(self.guarded(registration, event, result)))


class NamedUnsubscribeBus(alt.EventBus):
    """`unsubscribe` names a handler it does not find by `fn.__name__` (for a debug log): a partial or a callable
    object has none, so unsubscribing one that is not registered raises AttributeError."""

    def unsubscribe(self, event_type: Any, fn: Any) -> None:
        if not any(r.fn is fn for r in self._registry.get(event_type, [])):
            alt.log.debug("unsubscribe: %s is not registered", fn.__name__)
        super().unsubscribe(event_type, fn)


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


class InlineOnlyUnsubscribeBus(alt.EventBus):
    """`unsubscribe` removes INLINE registrations only: TASK and THREADPOOL ones stay (kept in their own lists)."""

    def left_alone(self, registration: Registration) -> bool:
        """Whether `unsubscribe` overlooks this registration of the handler."""
        return registration.policy is not alt.ExecPolicy.INLINE

    def unsubscribe(self, event_type: Any, fn: Any) -> None:
        with self._lock:
            regs = self._registry.get(event_type, [])
            self._registry[event_type] = [r for r in regs if r.fn != fn or self.left_alone(r)]


class PlainOnlyUnsubscribeBus(InlineOnlyUnsubscribeBus):
    """`unsubscribe` overlooks `once` registrations (kept apart until they have run)."""

    def left_alone(self, registration: Registration) -> bool:
        return registration.once


class DefaultPriorityUnsubscribeBus(InlineOnlyUnsubscribeBus):
    """`unsubscribe` looks in the priority-0 list only: registrations with another priority stay."""

    def left_alone(self, registration: Registration) -> bool:
        return registration.priority != 0


class StrictUnsubscribeBus(alt.EventBus):
    """`unsubscribe` of a handler that is not registered raises ValueError (`list.remove`)."""

    def unsubscribe(self, event_type: Any, fn: Any) -> None:
        with self._lock:
            if not any(r.fn == fn for r in self._registry.get(event_type, [])):
                raise ValueError(f"{fn!r} is not subscribed to {event_type!r}")
        super().unsubscribe(event_type, fn)


_ON_WORKER: contextvars.ContextVar[bool] = contextvars.ContextVar("on_worker", default=False)
"""True while the worker dispatches a posted event (the worker task's own context)."""


class WorkerPathBus(alt.EventBus):
    """The alt bus, marking the worker's dispatches so that a defect can hit that path only."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        token = _ON_WORKER.set(True)
        try:
            await super().dispatch_posted(event)
        finally:
            _ON_WORKER.reset(token)


class WorkerUnprioritisedBus(WorkerPathBus):
    """`publish` honours priority; the worker runs the handlers of a posted event in subscription order."""

    def matching(self, event_type: type[alt.Event]) -> list[Registration]:
        found = super().matching(event_type)
        return sorted(found, key=lambda r: r.seq) if _ON_WORKER.get() else found


class WorkerEveryTimeBus(WorkerPathBus):
    """`publish` retires a `once` handler; the worker never does."""

    def claim(self, registration: Registration) -> bool:
        return True if _ON_WORKER.get() else super().claim(registration)


class WorkerMergingBus(WorkerPathBus):
    """The worker calls each distinct handler once per posted event, however often it was registered."""

    def matching(self, event_type: type[alt.Event]) -> list[Registration]:
        found = super().matching(event_type)
        if not _ON_WORKER.get():
            return found
        unique: list[Registration] = []
        for registration in found:
            if not any(u.fn == registration.fn for u in unique):
                unique.append(registration)
        return unique


class RearmOnFailureBus(WorkerPathBus):
    """A `once` handler whose call raised is registered again, as if the call had not counted."""

    only_on_worker = False

    async def run_inline(self, registration: Registration, event: alt.Event) -> None:
        try:
            await super().run_inline(registration, event)
        except Exception:
            if registration.once and (_ON_WORKER.get() or not self.only_on_worker):
                with self._lock:
                    registration.spent = False
                    self._registry.setdefault(registration.event_type, []).append(registration)
            raise


class BackgroundRearmOnFailureBus(alt.EventBus):
    """A TASK or THREADPOOL `once` handler whose call raised is registered again (INLINE ones are retired)."""

    def report(self, registration: Registration, event: alt.Event, exc: BaseException) -> None:
        super().report(registration, event, exc)
        if registration.once:
            with self._lock:
                registration.spent = False
                self._registry.setdefault(registration.event_type, []).append(registration)


class WorkerRearmOnFailureBus(RearmOnFailureBus):
    """`publish` retires a `once` handler that raised; the worker registers it again."""

    only_on_worker = True


class FirstOnlyUnsubscribeBus(alt.EventBus):
    """`unsubscribe` removes the first matching registration only (`list.remove`), leaving duplicates."""

    def unsubscribe(self, event_type: Any, fn: Any) -> None:
        with self._lock:
            regs = self._registry.get(event_type, [])
            for i, registration in enumerate(regs):
                if registration.fn == fn:
                    self._registry[event_type] = regs[:i] + regs[i + 1 :]
                    return


class EveryTypeUnsubscribeBus(alt.EventBus):
    """`unsubscribe(t, fn)` removes `fn` from every event type, not only from `t`."""

    def unsubscribe(self, event_type: Any, fn: Any) -> None:
        with self._lock:
            for klass in list(self._registry):
                self._registry[klass] = [r for r in self._registry[klass] if r.fn != fn]


class HastyCloseBus(alt.EventBus):
    """`aclose` gives the worker 50 ms to drain, then cancels it and drops what is still queued."""

    limit = 0.05

    async def aclose(self) -> None:
        with self._qlock:
            first = not self._closing
            self._closing = True
        worker = self._worker
        try:
            await asyncio.wait_for(self.stop_worker(), self.limit)
        except asyncio.TimeoutError:
            if worker is not None:
                worker.cancel()
                await asyncio.wait({worker})
            with self._qlock:
                self._queue.clear()
        if first:
            self._closed = True
            with self._lock:
                self._registry.clear()


class GenerousCloseBus(HastyCloseBus):
    """`aclose` gives the worker a generous 1.4 s (under 3/4 of the default bound) to drain."""

    limit = 1.4


class ReopenableWorkerBus(alt.EventBus):
    """`start_worker` forgets the closed check: after `aclose` it starts a worker on the closed bus."""

    async def start_worker(self) -> None:
        with self._qlock:
            closing, self._closing = self._closing, False
        try:
            await super().start_worker()
        finally:
            with self._qlock:
                self._closing = closing


class KeepSubscribersBus(alt.EventBus):
    """`aclose` closes the bus but keeps its subscribers (and so every object they reference)."""

    async def aclose(self) -> None:
        with self._lock:
            kept = {t: list(regs) for t, regs in self._registry.items()}
        await super().aclose()
        with self._lock:
            self._registry.update(kept)


class KeepBackgroundSubscribersBus(alt.EventBus):
    """`aclose` clears the INLINE subscribers and keeps the TASK and THREADPOOL ones (a list of their own)."""

    async def aclose(self) -> None:
        with self._lock:
            kept = {t: [r for r in regs if r.policy is not alt.ExecPolicy.INLINE] for t, regs in self._registry.items()}
        await super().aclose()
        with self._lock:
            self._registry.update(kept)


class MergedBackgroundBus(alt.EventBus):
    """TASK and THREADPOOL handlers are started once per dispatch each, however often they were registered."""

    def start_background(self, registrations: list[Registration], event: alt.Event) -> None:
        unique: list[Registration] = []
        for registration in registrations:
            if not any(u.fn == registration.fn for u in unique):
                unique.append(registration)
        super().start_background(unique, event)


class InlineOnlyOnceBus(alt.EventBus):
    """`once=True` is honoured for INLINE handlers; TASK and THREADPOOL ones run for every dispatch."""

    def claim(self, registration: Registration) -> bool:
        return registration.policy is not alt.ExecPolicy.INLINE or super().claim(registration)


class AttributePriorityBus(alt.EventBus):
    """The priority is kept on the handler (`fn.__priority__`); one that takes no attribute (a bound method) gets 0."""

    def subscribe(self, event_type: Any, fn: Any, **options: Any) -> None:
        with contextlib.suppress(AttributeError):
            fn.__priority__ = options.get("priority", 0)
        super().subscribe(event_type, fn, **options)

    def matching(self, event_type: type[alt.Event]) -> list[Registration]:
        found = super().matching(event_type)
        return sorted(found, key=lambda r: (-getattr(r.fn, "__priority__", 0), r.seq))


class ReversedTiesBus(alt.EventBus):
    """Handlers are sorted by priority with `reverse=True`, which reverses the subscription order of ties."""

    def matching(self, event_type: type[alt.Event]) -> list[Registration]:
        return sorted(super().matching(event_type), key=lambda r: (r.priority, r.seq), reverse=True)


class LiteralPublishSyncBus(alt.EventBus):
    """`publish_sync` without a loop is the API reference's literal `asyncio.run(self.publish(event))`.

    `asyncio.run` cancels the TASK handlers still pending when `publish` returns.
    """

    def publish_sync(self, event: alt.Event) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.publish(event))
            return
        super().publish_sync(event)


class HastyPublishSyncBus(alt.EventBus):
    """`publish_sync` without a loop gives the dispatch 50 ms, then gives up on the handlers left."""

    limit = 0.05

    def publish_sync(self, event: alt.Event) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._publish_within(event))
            return
        super().publish_sync(event)

    async def _publish_within(self, event: alt.Event) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._publish_and_settle(event), self.limit)


class GenerousPublishSyncBus(HastyPublishSyncBus):
    """`publish_sync` without a loop gives the dispatch a generous 1.4 s (under 3/4 of the default bound)."""

    limit = 1.4


_IN_PUBLISH_SYNC: contextvars.ContextVar[bool] = contextvars.ContextVar("in_publish_sync", default=False)
"""True inside a `publish_sync` call (and the loop or task it starts, which copy the context)."""


class HandlerTimeoutPublishSyncBus(alt.EventBus):
    """`publish_sync` awaits each INLINE handler with a 1 s timeout: a slower one is abandoned."""

    def publish_sync(self, event: alt.Event) -> None:
        token = _IN_PUBLISH_SYNC.set(True)
        try:
            super().publish_sync(event)
        finally:
            _IN_PUBLISH_SYNC.reset(token)

    async def run_inline(self, registration: Registration, event: alt.Event) -> None:
        if not _IN_PUBLISH_SYNC.get():
            await super().run_inline(registration, event)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(super().run_inline(registration, event), 1.0)


class PatientPublishSyncBus(alt.EventBus):
    """`publish_sync` without a loop waits 0.4 s for its TASK handlers; `asyncio.run` cancels those left."""

    patience = 0.4

    async def _publish_and_settle(self, event: alt.Event) -> None:
        await self.publish(event)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._settle_background(threads=False), self.patience)


class GenerousTaskPublishSyncBus(PatientPublishSyncBus):
    """`publish_sync` without a loop waits 1.4 s (under 3/4 of the default bound) for its TASK handlers."""

    patience = 1.4


class EchoPublishSyncBus(alt.EventBus):
    """`publish_sync` on a running loop schedules the publish, and 5 ms later schedules it again."""

    def publish_sync(self, event: alt.Event) -> None:
        super().publish_sync(event)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.call_later(0.005, lambda: self.keep(loop.create_task(self._publish_logged(event))))


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


class InPlacePublishSyncBus(alt.EventBus):
    """`publish_sync` on a running loop calls each handler itself, as a task if `iscoroutinefunction` says async.

    An object whose `__call__` is `async def` is not a coroutine function: its coroutine is dropped.
    """

    def publish_sync(self, event: alt.Event) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            super().publish_sync(event)
            return
        for registration in self.matching(type(event)):
            if not self.claim(registration):
                continue
            if inspect.iscoroutinefunction(registration.fn):
                self.keep(loop.create_task(registration.fn(event)))
            else:
                result = registration.fn(event)
                if inspect.iscoroutine(result):
                    result.close()


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
        "once-ignored-for-task-and-threadpool",
        "EXT-ONCE-1",
        "once=True is honoured for INLINE handlers only; TASK and THREADPOOL ones run for every dispatch",
        ALT,
        EventBus=InlineOnlyOnceBus,
    ),
    mutant(
        "background-duplicates-merged",
        "EXT-DUP-1",
        "TASK and THREADPOOL handlers registered twice are started once per dispatch",
        ALT,
        EventBus=MergedBackgroundBus,
    ),
    mutant(
        "priority-kept-on-the-handler",
        "EXT-PRI-1",
        "the priority is stored as an attribute of the handler; a bound method takes none and runs at priority 0",
        ALT,
        EventBus=AttributePriorityBus,
    ),
    mutant(
        "priority-ties-reversed",
        "EXT-PRI-1",
        "handlers are sorted by (priority, order) with reverse=True: ties run in reverse subscription order",
        ALT,
        EventBus=ReversedTiesBus,
    ),
    mutant(
        "aclose-keeps-background-subscribers",
        "EXT-CLOSE-3",
        "aclose clears the INLINE subscribers and keeps the TASK and THREADPOOL ones",
        ALT,
        EventBus=KeepBackgroundSubscribersBus,
    ),
    mutant(
        "duplicate-registrations-merged",
        "EXT-DUP-1",
        "subscribe ignores a handler already registered for the type",
        ALT,
        EventBus=DeduplicatingBus,
    ),
    mutant(
        "worker-ignores-priority",
        "EXT-PRI-1",
        "publish honours priority; the worker runs a posted event's handlers in subscription order",
        ALT,
        EventBus=WorkerUnprioritisedBus,
    ),
    mutant(
        "worker-never-retires-once",
        "EXT-ONCE-1",
        "publish retires once handlers; the worker calls them for every posted event",
        ALT,
        EventBus=WorkerEveryTimeBus,
    ),
    mutant(
        "once-rearmed-after-failure",
        "EXT-ONCE-2",
        "a once handler whose call raised is registered again",
        ALT,
        EventBus=RearmOnFailureBus,
    ),
    mutant(
        "worker-rearms-failed-once",
        "EXT-ONCE-2",
        "publish retires a once handler that raised; the worker registers it again",
        ALT,
        EventBus=WorkerRearmOnFailureBus,
    ),
    mutant(
        "background-once-rearmed-after-failure",
        "EXT-ONCE-2",
        "a TASK or THREADPOOL once handler whose call raised is registered again",
        ALT,
        EventBus=BackgroundRearmOnFailureBus,
    ),
    mutant(
        "worker-merges-duplicates",
        "EXT-DUP-1",
        "the worker calls each distinct handler once per posted event, however often it was registered",
        ALT,
        EventBus=WorkerMergingBus,
    ),
    mutant(
        "unsubscribe-removes-first-duplicate-only",
        "EXT-UNSUB-1",
        "unsubscribe removes the first registration of fn only; a duplicate stays",
        ALT,
        EventBus=FirstOnlyUnsubscribeBus,
    ),
    mutant(
        "unsubscribe-from-every-type",
        "EXT-UNSUB-1",
        "unsubscribe(t, fn) removes fn from every event type, not only t",
        ALT,
        EventBus=EveryTypeUnsubscribeBus,
    ),
    mutant(
        "unsubscribe-by-identity",
        "EXT-UNSUB-1",
        "unsubscribe compares handlers with `is`, so a bound method is never removed",
        ALT,
        EventBus=IdentityUnsubscribeBus,
    ),
    mutant(
        "unsubscribe-leaves-task-and-threadpool",
        "EXT-UNSUB-1",
        "unsubscribe removes INLINE registrations only; TASK and THREADPOOL registrations of fn stay",
        ALT,
        EventBus=InlineOnlyUnsubscribeBus,
    ),
    mutant(
        "unsubscribe-leaves-once",
        "EXT-UNSUB-1",
        "unsubscribe overlooks registrations made with once=True",
        ALT,
        EventBus=PlainOnlyUnsubscribeBus,
    ),
    mutant(
        "unsubscribe-leaves-prioritised",
        "EXT-UNSUB-1",
        "unsubscribe overlooks registrations made with a priority other than 0",
        ALT,
        EventBus=DefaultPriorityUnsubscribeBus,
    ),
    mutant(
        "unsubscribe-unknown-raises",
        "EXT-UNSUB-2",
        "unsubscribe of a handler that is not registered raises ValueError",
        ALT,
        EventBus=StrictUnsubscribeBus,
    ),
    mutant(
        "unsubscribe-unknown-by-name",
        "EXT-UNSUB-2",
        "unsubscribe of a handler that is not registered reads its __name__, which a partial or callable object lacks",
        ALT,
        EventBus=NamedUnsubscribeBus,
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
        "publish-sync-trusts-iscoroutinefunction",
        "EXT-SYNC-2",
        "publish_sync on a running loop calls the handlers itself; what iscoroutinefunction calls sync runs in place, "
        "its coroutine dropped",
        ALT,
        EventBus=InPlacePublishSyncBus,
    ),
    mutant(
        "publish-sync-always-asyncio-run",
        "EXT-SYNC-2",
        "publish_sync always calls asyncio.run, which raises on a running loop",
        ALT,
        EventBus=AlwaysRunPublishSyncBus,
    ),
    mutant(
        "aclose-drains-for-50-ms",
        "EXT-CLOSE-1",
        "aclose gives the worker 50 ms to drain, then cancels it and drops the queued events",
        ALT,
        EventBus=HastyCloseBus,
    ),
    mutant(
        "aclose-drains-for-1400-ms",
        "EXT-CLOSE-1",
        "aclose gives the worker 1.4 s to drain, then cancels it and drops the queued events",
        ALT,
        EventBus=GenerousCloseBus,
        bound=DEFAULT_BOUND,
    ),
    mutant(
        "start-worker-after-aclose",
        "EXT-CLOSE-2",
        "start_worker does not check whether the bus is closed and starts a worker after aclose",
        ALT,
        EventBus=ReopenableWorkerBus,
    ),
    mutant(
        "aclose-keeps-subscribers",
        "EXT-CLOSE-3",
        "aclose closes the bus but keeps its subscribers, and every object they reference",
        ALT,
        EventBus=KeepSubscribersBus,
    ),
    mutant(
        "aclose-keeps-handlers-found-async-by-calling",
        "EXT-CLOSE-3",
        "aclose clears the subscribers but keeps a memo of the handlers found async by calling them",
        ALT,
        EventBus=LearnedAsyncKeptBus,
    ),
    mutant(
        "publish-sync-gives-up-after-50-ms",
        "EXT-SYNC-1",
        "publish_sync without a loop gives the dispatch 50 ms, then abandons the handlers still running",
        ALT,
        EventBus=HastyPublishSyncBus,
    ),
    mutant(
        "publish-sync-gives-up-after-1400-ms",
        "EXT-SYNC-1",
        "publish_sync without a loop gives the dispatch 1.4 s, then abandons the handlers still running",
        ALT,
        EventBus=GenerousPublishSyncBus,
        bound=DEFAULT_BOUND,
    ),
    mutant(
        "publish-sync-handler-timeout-1-s",
        "EXT-SYNC-1",
        "publish_sync awaits each INLINE handler with a 1 s timeout and abandons a slower one",
        ALT,
        EventBus=HandlerTimeoutPublishSyncBus,
        bound=DEFAULT_BOUND,
    ),
    mutant(
        "publish-sync-waits-400-ms-for-tasks",
        "EXT-SYNC-3",
        "publish_sync without a loop waits 0.4 s for its TASK handlers, then asyncio.run cancels them",
        ALT,
        EventBus=PatientPublishSyncBus,
        bound=DEFAULT_BOUND,
    ),
    mutant(
        "publish-sync-waits-1400-ms-for-tasks",
        "EXT-SYNC-3",
        "publish_sync without a loop waits 1.4 s for its TASK handlers, then asyncio.run cancels them",
        ALT,
        EventBus=GenerousTaskPublishSyncBus,
        bound=DEFAULT_BOUND,
    ),
    mutant(
        "publish-sync-publishes-twice",
        "EXT-SYNC-2",
        "publish_sync on a running loop schedules the publish, and 5 ms later schedules it again",
        ALT,
        EventBus=EchoPublishSyncBus,
    ),
    mutant(
        "publish-sync-literal-asyncio-run",
        "EXT-SYNC-3",
        "publish_sync without a loop is asyncio.run(self.publish(event)), which cancels its TASK handlers",
        ALT,
        EventBus=LiteralPublishSyncBus,
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

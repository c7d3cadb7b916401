"""Broken buses for the robustness profile: bad input, thread safety, shutdown."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import tests.alt_impl.event_bus as alt

from .base import ALT, mutant


class LenientPublishBus(alt.EventBus):
    """`publish` of something that is not an Event returns quietly, delivering to nobody."""

    async def publish(self, event: Any) -> None:
        if isinstance(event, alt.Event):
            await super().publish(event)


class LenientPostBus(alt.EventBus):
    """`post` queues anything; a non-event fails later, in the worker."""

    def post(self, event: Any) -> None:
        with self._qlock:
            if self._closing:
                raise alt.EventBusClosedError("post() on a closed EventBus")
            self.admit()
            self._queue.append(event)
            self._accepted += 1
            wakeup = self._wakeup
        if wakeup is not None:
            self.nudge(wakeup)


def _register(bus: alt.EventBus, event_type: Any, fn: Any, options: dict[str, Any]) -> None:
    """Add a registration with no checks at all."""
    registration = alt.Registration(
        event_type,
        fn,
        options.get("policy", alt.ExecPolicy.INLINE),
        options.get("priority", 0),
        options.get("once", False),
        next(bus._seq),
    )
    with bus._lock:
        bus._registry.setdefault(event_type, []).append(registration)


class AnyHandlerBus(alt.EventBus):
    """`subscribe` accepts a handler that is not callable; every later publish trips over it."""

    def subscribe(self, event_type: Any, fn: Any, **options: Any) -> None:
        if not (isinstance(event_type, type) and issubclass(event_type, alt.Event)):
            raise TypeError(f"not an Event subclass: {event_type!r}")
        _register(self, event_type, fn, options)


class AnyTypeBus(alt.EventBus):
    """`subscribe` accepts any event type (an int, a string, an instance)."""

    def subscribe(self, event_type: Any, fn: Any, **options: Any) -> None:
        if not callable(fn):
            raise TypeError(f"not callable: {fn!r}")
        _register(self, event_type, fn, options)


def lenient_subscribe(event_type: Any, **options: Any) -> Callable[[Any], Any]:
    """`@subscribe` that checks nothing when applied."""
    mark = alt.Mark(
        event_type,
        options.get("priority", 0),
        options.get("policy", alt.ExecPolicy.INLINE),
        options.get("once", False),
    )

    def decorate(fn: Any) -> Any:
        setattr(fn, alt.MARKS, (*alt.marks_of(fn), mark))
        return fn

    return decorate


class RacyQueueBus(alt.EventBus):
    """`post` copies the queue, appends, and stores the copy back without a lock.

    The race window is widened with `time.sleep(0)` (a thread switch, as a busy
    machine makes one): without it, losses are too rare for any test to see.
    """

    def post(self, event: Any) -> None:
        if not isinstance(event, alt.Event):
            raise TypeError(f"not an Event: {event!r}")
        updated = self._queue.copy()
        time.sleep(0)
        updated.append(event)
        self._queue = updated
        self._accepted += 1
        wakeup = self._wakeup
        if wakeup is not None:
            self.nudge(wakeup)


class RacyRegistryBus(alt.EventBus):
    """`subscribe` copies the type's list, appends, and stores it back without a lock (window widened)."""

    def subscribe(self, event_type: Any, fn: Any, **options: Any) -> None:
        if not (isinstance(event_type, type) and issubclass(event_type, alt.Event)) or not callable(fn):
            raise TypeError("bad subscription")
        updated = list(self._registry.get(event_type, []))
        time.sleep(0)
        updated.append(
            alt.Registration(
                event_type,
                fn,
                options.get("policy", alt.ExecPolicy.INLINE),
                options.get("priority", 0),
                options.get("once", False),
                next(self._seq),
            )
        )
        self._registry[event_type] = updated


class CloseOnceBus(alt.EventBus):
    """A second `aclose` raises EventBusClosedError."""

    async def aclose(self) -> None:
        if self._closing:
            raise alt.EventBusClosedError("the bus is already closed")
        await super().aclose()


class AnySizeBus(alt.EventBus):
    """`max_queue_size` is not validated: a negative or non-integer size is accepted."""

    def __init__(self, max_queue_size: Any = 0) -> None:
        super().__init__(0)
        self.max_queue_size = max_queue_size


def unimplemented_subscribe(event_type: Any, **options: Any) -> Callable[[Any], Any]:
    """`@subscribe(...)` that raises NotImplementedError whatever it is given: it "rejects" bad types too."""
    raise NotImplementedError("@subscribe is not implemented by this adapter")


_UNSET: Any = object()


class SizelessBus(alt.EventBus):
    """`EventBus(max_queue_size=...)` raises NotImplementedError for every size given, bad or good."""

    def __init__(self, max_queue_size: Any = _UNSET) -> None:
        if max_queue_size is not _UNSET:
            raise NotImplementedError("max_queue_size is not supported")
        super().__init__()


class EqualEventsMergedBus(alt.EventBus):
    """`post` skips an event equal (==) to the one queued last, taking it for a repeat."""

    def post(self, event: Any) -> None:
        with self._qlock:
            if self._queue and self._queue[-1] == event:
                return
        super().post(event)


MUTANTS = [
    mutant(
        "publish-accepts-non-events",
        "ROB-1",
        "publish of a non-event returns quietly, delivering to nobody",
        ALT,
        EventBus=LenientPublishBus,
    ),
    mutant(
        "post-accepts-non-events",
        "ROB-2",
        "post queues anything; a non-event fails later, in the worker",
        ALT,
        EventBus=LenientPostBus,
    ),
    mutant(
        "subscribe-accepts-non-callables",
        "ROB-3",
        "subscribe accepts a handler that is not callable",
        ALT,
        EventBus=AnyHandlerBus,
    ),
    mutant(
        "subscribe-accepts-any-type",
        "ROB-4",
        "subscribe accepts an event type that is not an Event subclass",
        ALT,
        EventBus=AnyTypeBus,
    ),
    mutant(
        "decorator-accepts-any-type",
        "ROB-5",
        "@subscribe accepts an event type that is not an Event subclass",
        ALT,
        subscribe=lenient_subscribe,
    ),
    mutant(
        "decorator-not-implemented",
        "ROB-5",
        "@subscribe raises NotImplementedError for every event type, valid ones too",
        ALT,
        subscribe=unimplemented_subscribe,
    ),
    mutant(
        "post-merges-equal-events",
        "ROB-6",
        "post skips an event equal to the one queued last",
        ALT,
        EventBus=EqualEventsMergedBus,
    ),
    mutant(
        "unlocked-queue",
        "ROB-6",
        "post updates the queue by copy-append-store without a lock (race window widened)",
        ALT,
        EventBus=RacyQueueBus,
    ),
    mutant(
        "unlocked-registry",
        "ROB-7",
        "subscribe updates a type's handlers by copy-append-store without a lock (race window widened)",
        ALT,
        EventBus=RacyRegistryBus,
    ),
    mutant("second-aclose-raises", "ROB-8", "a second aclose raises EventBusClosedError", ALT, EventBus=CloseOnceBus),
    mutant(
        "queue-size-not-validated",
        "ROB-9",
        "EventBus(max_queue_size=...) accepts negative and non-int sizes",
        ALT,
        EventBus=AnySizeBus,
    ),
    mutant(
        "queue-size-not-implemented",
        "ROB-9",
        "EventBus(max_queue_size=...) raises NotImplementedError for every size, valid ones too",
        ALT,
        EventBus=SizelessBus,
    ),
]

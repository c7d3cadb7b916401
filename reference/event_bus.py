"""An asynchronous in-process event bus: the reference implementation of SPEC.md.

The public API is that of `pico_ioc.event_bus`; comments cite the rule of SPEC.md a line implements.
Where SPEC.md leaves the choice to the implementation, this bus:

- IMPL-1: matches the exact type of the event; a handler of a base class gets no subclass event.
- IMPL-2: stops a dispatch at the first failing INLINE handler and re-raises its exception unwrapped;
  TASK and THREADPOOL handlers started before it keep running.
- IMPL-3: calls a sync TASK handler inside its task, and runs an async THREADPOOL handler as TASK.
- IMPL-4: `post` raises `EventBusError` when no worker is running.
- IMPL-5: `post` raises `EventBusError` once `stop_worker` or `aclose` was called.
- IMPL-6: runs handlers in priority order whatever their policy: TASK and THREADPOOL handlers are
  started when their turn comes.
- IMPL-7: counts toward `max_queue_size` the events the worker has not taken yet.
- IMPL-9: `aclose` does not wait for running TASK and THREADPOOL handlers.
- IMPL-10: runs THREADPOOL handlers in the loop's default executor.
- IMPL-11: `subscribe` on a closed bus raises `EventBusClosedError`.

And where SPEC.md says nothing:

- A `once=True` registration is removed, under a lock, before it is called, so that no two
  dispatches run it, concurrent or re-entrant.
- `publish_sync` with no running loop also waits for the THREADPOOL handlers it started.
- `stop_worker` or `aclose` awaited by a handler on the worker only tells the worker to stop: the
  worker cannot wait for itself. The events still queued after such an `aclose` fail with
  `EventBusClosedError`, which the worker logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import threading
import types
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from ._component import component

__all__ = [
    "AutoSubscriberMixin", "Event", "EventBus", "EventBusClosedError", "EventBusError", "EventBusHandlerError",
    "EventBusQueueFullError", "ExecPolicy", "subscribe",
]  # fmt: skip

_log = logging.getLogger("reference.event_bus")

_E = TypeVar("_E", bound="Event")
_F = TypeVar("_F", bound=Callable[..., Any])
_Handler = Callable[[Any], Any]


class Event:
    """Base class of events: subclass it, plainly or as a dataclass, frozen or not [EVT-1]."""


class ExecPolicy(Enum):
    """How a dispatch runs a handler."""

    INLINE = "inline"
    """The default [POL-1]: called in place, or awaited if async, before `publish` returns."""
    TASK = "task"
    """Started in an `asyncio.Task` of its own; `publish` does not wait for it."""
    THREADPOOL = "threadpool"
    """Run in the loop's default executor; `publish` does not wait for it."""


class EventBusError(Exception):
    """Base class of the bus's errors; also raised by `post` when no worker is running."""


class EventBusClosedError(EventBusError):
    """The bus was closed by `aclose()`."""

    def __init__(self, message: str = "the EventBus is closed (aclose() was called); create a new one") -> None:
        super().__init__(message)


class EventBusQueueFullError(EventBusError):
    """`post` found `max_queue_size` events waiting; the event was not queued."""


class EventBusHandlerError(EventBusError):
    """Declared for compatibility; never raised: INLINE exceptions propagate unwrapped [EXT-ERR-4]."""


# -- registrations --------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Registration:
    """One `subscribe` call, never changed; compared by identity, so duplicates stay distinct [EXT-DUP-1]."""

    event_type: type[Event]
    fn: _Handler
    priority: int
    once: bool
    call: _Handler
    """What a dispatch calls with the event: the handler if INLINE, else what starts its task or thread."""
    awaited: bool
    """Whether the dispatch awaits what `call` returns: for an async INLINE handler [POL-INLINE-1]."""


_Step = tuple[_Handler, bool, _Registration | None]
"""A registration as a dispatch reads it: `(call, awaited, the registration if once else None)`."""


class _Subscribers:
    """The registrations of one event type; the bus's lock guards them."""

    __slots__ = ("by_handler", "registrations", "snapshot")

    def __init__(self) -> None:
        self.registrations: dict[_Registration, None] = {}  # in subscription order; O(1) to add and remove
        self.by_handler: dict[object, list[_Registration]] = {}  # keys match by `==`, as unsubscribe does
        self.snapshot: tuple[_Step, ...] | None = None  # None after a change, until the next dispatch

    def add(self, registration: _Registration) -> None:
        self.registrations[registration] = None
        self.snapshot = None
        try:
            same = self.by_handler.setdefault(registration.fn, [])
        except TypeError:
            return  # an unhashable callable: `remove_handler` compares it one by one
        same.append(registration)

    def remove_handler(self, fn: object) -> None:
        """Remove every registration of `fn`, or of a handler equal to it."""
        try:
            found = self.by_handler.pop(fn) if fn in self.by_handler else []
        except TypeError:
            found = [r for r in self.registrations if r.fn == fn]
        for registration in found:
            del self.registrations[registration]
            self.snapshot = None

    def remove(self, registration: _Registration) -> bool:
        """Remove one registration; False if it is gone already."""
        if registration not in self.registrations:
            return False
        del self.registrations[registration]
        self.snapshot = None
        with contextlib.suppress(TypeError, KeyError):  # an unhashable handler is not in `by_handler`
            same = self.by_handler[registration.fn]
            same.remove(registration)
            if not same:
                del self.by_handler[registration.fn]
        return True

    def steps(self) -> tuple[_Step, ...]:
        if self.snapshot is None:
            # [EXT-PRI-1] higher priority first; sorted() is stable, so ties keep subscription order [POL-ORDER-1]
            ordered = sorted(self.registrations, key=lambda r: -r.priority)
            self.snapshot = tuple((r.call, r.awaited, r if r.once else None) for r in ordered)
        return self.snapshot


def _is_async(fn: object) -> bool:
    """Whether calling `fn` returns a coroutine: a function, a method, a partial or a callable object."""
    while True:
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif isinstance(fn, (types.MethodType, staticmethod)):
            fn = fn.__func__
        else:
            break
    if inspect.iscoroutinefunction(fn):
        return True
    return not isinstance(fn, types.FunctionType) and inspect.iscoroutinefunction(type(fn).__call__)


def _check_subscription(
    where: str, event_type: object, priority: object = 0, policy: object = ExecPolicy.INLINE, once: object = False
) -> None:
    if not (isinstance(event_type, type) and issubclass(event_type, Event)):
        raise TypeError(f"{where}: event_type must be a subclass of Event, such as UserCreated, got {event_type!r}")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"{where}: priority must be an int (higher runs first), got {priority!r}")
    if not isinstance(policy, ExecPolicy):
        raise TypeError(f"{where}: policy must be ExecPolicy.INLINE, TASK or THREADPOOL, got {policy!r}")
    if not isinstance(once, bool):
        raise TypeError(f"{where}: once must be True or False, got {once!r}")


def _not_an_event(event: object, method: str) -> TypeError:
    hint = " (a class, not an instance: call it)" if isinstance(event, type) else ""
    return TypeError(f"EventBus.{method}() takes an Event instance, got {event!r}{hint}")


async def _call_sync(fn: _Handler, event: Event) -> None:
    fn(event)


def _call_in_thread(fn: _Handler, label: str, event: Event) -> None:
    try:
        fn(event)
    except Exception:
        # Logged in the pool thread, so it is recorded even if the loop has gone [ERR-4, ERR-5].
        _log.exception("%s raised; the publisher was not affected", label)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _wake(wakeup: asyncio.Future[None]) -> None:
    """Resolve the waiting worker's future from any thread; on its loop's thread, without a trip through the loop."""
    loop = wakeup.get_loop()
    try:
        on_loop = asyncio.get_running_loop() is loop
    except RuntimeError:
        on_loop = False
    if on_loop:
        _resolve(wakeup)
    else:
        loop.call_soon_threadsafe(_resolve, wakeup)


# -- the bus ---------------------------------------------------------------------------------------


@component
class EventBus:
    """An asynchronous, typed, in-process publish/subscribe bus.

    `max_queue_size` bounds the events `post` may queue for the worker; 0 means unbounded.
    """

    def __init__(self, *, max_queue_size: int = 0) -> None:
        # [ROB-9] at construction, not at the first post
        if isinstance(max_queue_size, bool) or not isinstance(max_queue_size, int):
            raise TypeError(f"max_queue_size must be an int (0 for unbounded), got {max_queue_size!r}")
        if max_queue_size < 0:
            raise ValueError(f"max_queue_size must be 0 (unbounded) or positive, got {max_queue_size}")
        self._max_queue_size = max_queue_size
        self._lock = threading.RLock()  # guards the fields below; `_pending` only sees atomic set operations
        self._closed = False
        self._subscribers: dict[type[Event], _Subscribers] = {}
        self._pending: set[asyncio.Future[Any]] = set()  # running TASK tasks and THREADPOOL jobs
        self._queue: deque[Event] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._stopping = False
        self._wakeup: asyncio.Future[None] | None = None  # set while the worker waits for an event

    @property
    def closed(self) -> bool:
        """Whether `aclose()` has closed the bus."""
        return self._closed

    # -- subscriptions ---------------------------------------------------------------------------

    def subscribe(
        self,
        event_type: type[_E],
        fn: Callable[[_E], Any],
        *,
        priority: int = 0,
        policy: ExecPolicy = ExecPolicy.INLINE,
        once: bool = False,
    ) -> None:
        """Register `fn` for events of exactly `event_type`; each call adds one registration."""
        _check_subscription("EventBus.subscribe()", event_type, priority, policy, once)  # [ROB-4]
        if not callable(fn):
            raise TypeError(f"EventBus.subscribe(): fn must be callable, got {fn!r}")  # [ROB-3]
        call, awaited = self._plan(event_type, fn, policy)
        registration = _Registration(event_type, fn, priority, once, call, awaited)
        with self._lock:  # [ROB-7]
            if self._closed:
                raise EventBusClosedError()  # IMPL-11
            if event_type not in self._subscribers:
                self._subscribers[event_type] = _Subscribers()
            self._subscribers[event_type].add(registration)

    def _plan(self, event_type: type[Event], fn: _Handler, policy: ExecPolicy) -> tuple[_Handler, bool]:
        """What a dispatch calls with the event, and whether it awaits the result."""
        is_async = _is_async(fn)
        if policy is ExecPolicy.INLINE:
            return fn, is_async  # [POL-INLINE-1] awaited, or [POL-INLINE-2] called in place
        label = f"ExecPolicy.{policy.name} handler {getattr(fn, '__qualname__', fn)!s} of {event_type.__name__}"
        if is_async or policy is ExecPolicy.TASK:  # IMPL-3 [POL-MIX-1, POL-MIX-2]
            make = fn if is_async else functools.partial(_call_sync, fn)
            return functools.partial(self._start_task, make, label), False
        return functools.partial(self._start_thread, fn, label), False

    def unsubscribe(self, event_type: type[_E], fn: Callable[[_E], Any]) -> None:
        """Remove every registration of `fn`, or of a handler equal to it, for `event_type`."""
        _check_subscription("EventBus.unsubscribe()", event_type)
        with self._lock:
            subscribers = self._subscribers.get(event_type)
            if subscribers is None:
                return  # [EXT-UNSUB-2]
            subscribers.remove_handler(fn)  # [EXT-UNSUB-1] duplicates included, matched by `==`
            self._forget_if_empty(subscribers, event_type)

    def _claim(self, registration: _Registration) -> bool:
        """Remove a `once` registration before it runs; False if a dispatch already did [EXT-ONCE-1, EXT-ONCE-2]."""
        with self._lock:
            subscribers = self._subscribers.get(registration.event_type)
            if subscribers is None or not subscribers.remove(registration):
                return False
            self._forget_if_empty(subscribers, registration.event_type)
            return True

    def _forget_if_empty(self, subscribers: _Subscribers, event_type: type[Event]) -> None:
        # [LEAK-3, LEAK-4] nothing of a removed handler, nor of a type without handlers, is kept
        if not subscribers.registrations:
            del self._subscribers[event_type]

    def _snapshot(self, subscribers: _Subscribers) -> tuple[_Step, ...]:
        with self._lock:
            return subscribers.steps()

    # -- publishing ------------------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        """Dispatch `event` to the handlers of `type(event)`; return once every INLINE handler has finished.

        The worker dispatches the posted events with this very method [POST-4].
        """
        if not isinstance(event, Event):
            raise _not_an_event(event, "publish")  # [ROB-1]
        if self._closed:
            raise EventBusClosedError()  # [LIFE-2]
        subscribers = self._subscribers.get(type(event))  # [PUB-1] the exact type (IMPL-1) [PUB-2, PUB-3]
        if subscribers is None:
            return  # [PUB-4]
        # [PUB-5] an immutable snapshot: subscriptions made during the dispatch do not change it.
        for call, awaited, once in subscribers.snapshot or self._snapshot(subscribers):
            if once is not None and not self._claim(once):
                continue  # [EXT-ONCE-1] another dispatch has run it
            result = call(event)  # [POL-INLINE-2]; TASK and THREADPOOL handlers are started [POL-TASK-2, POL-THREAD-3]
            if awaited:
                await result  # [POL-INLINE-1, POL-ORDER-1]; [ERR-1] an exception ends the dispatch (IMPL-2)

    def _start_task(self, make: _Handler, label: str, event: Event) -> None:
        try:
            coroutine = make(event)
        except Exception:  # raised by the call itself, before any coroutine existed [ERR-3, ERR-5]
            _log.exception("%s raised; the publisher was not affected", label)
            return
        self._track(asyncio.get_running_loop().create_task(coroutine, name=label))  # [POL-TASK-1, POL-TASK-4]

    def _start_thread(self, fn: _Handler, label: str, event: Event) -> None:
        job = asyncio.get_running_loop().run_in_executor(None, _call_in_thread, fn, label, event)  # [POL-THREAD-1]
        self._pending.add(job)
        job.add_done_callback(self._pending.discard)

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._pending.add(task)  # [POL-TASK-3] the loop keeps only a weak reference to a task
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)  # [LEAK-2] and not a moment longer
        if not task.cancelled() and task.exception() is not None:  # [ERR-3, ERR-5]; a cancellation is not [CAN-4]
            _log.error("%s raised; the publisher was not affected", task.get_name(), exc_info=task.exception())

    def publish_sync(self, event: Event) -> None:
        """Publish from a plain `def`.

        On a running loop, start `publish(event)` in a task and return [EXT-SYNC-2]; otherwise run it
        with `asyncio.run` until it and the handlers it started have finished [EXT-SYNC-1, EXT-SYNC-3].
        """
        if not isinstance(event, Event):
            raise _not_an_event(event, "publish_sync")  # [ROB-1]
        if self._closed:
            raise EventBusClosedError()  # [LIFE-2]
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._publish_and_settle(event))
        else:
            self._track(loop.create_task(self.publish(event), name=f"EventBus.publish_sync({type(event).__name__})"))

    async def _publish_and_settle(self, event: Event) -> None:
        try:
            await self.publish(event)
        finally:
            loop = asyncio.get_running_loop()
            while started := [job for job in list(self._pending) if job.get_loop() is loop]:
                await asyncio.wait(started)

    # -- the queue and its worker ----------------------------------------------------------------

    def post(self, event: Event) -> None:
        """Queue `event` for the worker and return at once; callable from any thread [POST-1, POST-2].

        Raises `EventBusError` when no worker is running or it is stopping, `EventBusQueueFullError`
        when the queue is full, `EventBusClosedError` after `aclose()`: an event is queued or refused.
        """
        if not isinstance(event, Event):
            raise _not_an_event(event, "post")  # [ROB-2]
        with self._lock:  # [ROB-6] one lock, so each producer's events stay in order [POST-3]
            if self._closed:
                raise EventBusClosedError()  # [LIFE-3]
            if self._stopping:  # [WRK-4] IMPL-5: so that the drain ends
                raise EventBusError("EventBus.post(): the worker is stopping; the event was not queued")
            if self._worker is None:  # [POST-5, POST-6, EXT-ERR-3] IMPL-4
                raise EventBusError("EventBus.post(): no worker is running: await bus.start_worker() first")
            if self._max_queue_size and len(self._queue) >= self._max_queue_size:  # [POST-7, POST-8, POST-9] IMPL-7
                raise EventBusQueueFullError(f"EventBus.post(): the queue is full ({self._max_queue_size} events)")
            self._queue.append(event)
            wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None:
            _wake(wakeup)

    async def start_worker(self) -> None:
        """Start the worker on the running loop [WRK-7]; a no-op if it is running [WRK-1]."""
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._closed:
                    raise EventBusClosedError()  # [EXT-CLOSE-2]
                if self._worker is None:
                    # Under the lock, which is re-entrant: an eager task factory runs the worker right here.
                    self._worker = loop.create_task(self._work(), name="reference.event_bus worker")
                    self._worker.add_done_callback(self._worker_done)
                if not self._stopping:
                    return
                stopping = self._worker
            if stopping is asyncio.current_task():
                raise EventBusError("a handler on the stopping worker cannot start the worker again")
            await self._join(stopping)  # [WRK-5] the old worker finishes its drain, then a new one starts

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._queue:
                    wakeup = None
                elif self._stopping:
                    return  # [WRK-2] every event posted before stop_worker() has been dispatched
                else:
                    wakeup = self._wakeup = loop.create_future()
            if wakeup is not None:
                await wakeup
                continue
            # Taken one at a time, so an event counts toward max_queue_size until taken (IMPL-7).
            for _ in range(len(self._queue)):
                try:
                    await self.publish(self._queue.popleft())  # [POST-4, WRK-7]
                except Exception:
                    _log.exception("a handler of a posted event raised; the worker goes on")  # [WRK-6]
            if self._queue:
                await asyncio.sleep(0)  # handlers that post on every event must not starve the loop [WRK-4]

    def _worker_done(self, worker: asyncio.Task[None]) -> None:
        with self._lock:
            if self._worker is worker:
                self._worker, self._wakeup, self._stopping = None, None, False

    async def _join(self, worker: asyncio.Task[None]) -> None:
        """Wait until `worker` has ended, without cancelling it, from whichever loop."""
        loop = worker.get_loop()
        if loop is asyncio.get_running_loop():
            await asyncio.wait({worker})
        elif not loop.is_closed():
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(asyncio.wait({worker}), loop))
        self._worker_done(worker)  # a worker whose loop is closed never ends: forget it

    async def stop_worker(self) -> None:
        """Stop the worker once it has dispatched every event posted before this call [WRK-2].

        A no-op when no worker is running [WRK-3].
        """
        with self._lock:
            worker, wakeup, self._wakeup = self._worker, self._wakeup, None
            if worker is None:
                return
            self._stopping = True  # [WRK-4] post refuses from now on, so the drain ends
        if wakeup is not None:
            with contextlib.suppress(RuntimeError):  # the worker's loop is closed: _join forgets the worker
                _wake(wakeup)
        if worker is not asyncio.current_task():
            await self._join(worker)

    async def aclose(self) -> None:
        """Drain and stop the worker, then close the bus and drop every subscriber; idempotent [EXT-CLOSE-1].

        It does not wait for the TASK and THREADPOOL handlers still running (IMPL-9).
        """
        await self.stop_worker()
        with self._lock:
            self._closed = True  # [LIFE-2, LIFE-3]
            self._subscribers.clear()  # [EXT-CLOSE-3]
            if self._worker is None:
                self._queue.clear()  # left by a worker that was cancelled: nothing will dispatch them


# -- the decorator and auto-subscription ----------------------------------------------------------

_MARKS = "__reference_subscriptions__"


@dataclass(frozen=True)
class _Mark:
    """The arguments of one `@subscribe`."""

    event_type: type[Event]
    priority: int
    policy: ExecPolicy
    once: bool


def subscribe(
    event_type: type[Event], *, priority: int = 0, policy: ExecPolicy = ExecPolicy.INLINE, once: bool = False
) -> Callable[[_F], _F]:
    """Mark a method as a handler of `event_type`, for `AutoSubscriberMixin` to register.

    It returns the function itself [SUB-1]; marks stack, for several event types [SUB-6].
    """
    _check_subscription("@subscribe()", event_type, priority, policy, once)  # [ROB-5]
    mark = _Mark(event_type, priority, policy, once)

    def mark_handler(fn: _F) -> _F:
        target: Any = fn.__func__ if isinstance(fn, (staticmethod, classmethod)) else fn
        if not callable(target):
            raise TypeError(f"@subscribe() decorates functions and methods, got {fn!r}")
        setattr(target, _MARKS, (*getattr(target, _MARKS, ()), mark))
        return fn

    return mark_handler


def _marked_handlers(instance: object) -> list[tuple[_Handler, _Mark]]:
    """The marked methods of `instance`, bound; read from its classes, so that no property is evaluated."""
    attrs: dict[str, Any] = {}
    for klass in reversed(type(instance).__mro__):
        attrs.update(vars(klass))  # a subclass's definition overrides its base's, marked or not
    found = []
    for attr in attrs.values():
        func = attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr
        for mark in vars(func).get(_MARKS, ()) if inspect.isfunction(func) else ():
            found.append((attr.__get__(instance, type(instance)), mark))
    return found


class AutoSubscriberMixin:
    """Mix into a component: the container registers the `@subscribe` methods of each instance [SUB-4, SUB-5]."""

    def _autosubscribe(self, bus: EventBus) -> None:
        """Register the marked methods on `bus`; the container calls it [SUB-2, SUB-3, EXT-SUB-1]."""
        for handler, mark in _marked_handlers(self):
            bus.subscribe(mark.event_type, handler, priority=mark.priority, policy=mark.policy, once=mark.once)

    def _autounsubscribe(self, bus: EventBus) -> None:
        """Unregister the marked methods from `bus` (equal bindings match); the container calls it [EXT-MIX-1]."""
        for handler, mark in _marked_handlers(self):
            bus.unsubscribe(mark.event_type, handler)

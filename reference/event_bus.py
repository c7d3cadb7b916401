"""An asynchronous in-process event bus: the reference implementation of SPEC.md, in SPEC's order.

The API is that of `pico_ioc.event_bus`; `[RULE-ID]` marks the line that implements a rule. Its choices:
- IMPL-1 the exact type of an event only; IMPL-2 the first failing INLINE handler ends a dispatch, unwrapped;
- IMPL-3 a sync TASK handler is called in its task, an async THREADPOOL handler runs as TASK (one that shows
  it is async only when called, a `def` returning a coroutine, is called on its thread, its coroutine then a TASK);
- IMPL-4, IMPL-5 `post` raises `EventBusError` when no worker is running, or while it is stopping;
- IMPL-6 TASK and THREADPOOL handlers start in their priority turn; IMPL-7 the bound counts events not yet taken;
- IMPL-9 `aclose` does not wait for TASK and THREADPOOL handlers; IMPL-10 these run in the default executor;
- IMPL-11 `subscribe` on a closed bus raises `EventBusClosedError`.
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
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from ._component import component

__all__ = ["AutoSubscriberMixin", "Event", "EventBus", "EventBusClosedError", "EventBusError",
           "EventBusHandlerError", "EventBusQueueFullError", "ExecPolicy", "subscribe"]  # fmt: skip

_log = logging.getLogger("reference.event_bus")
_E = TypeVar("_E", bound="Event")
_F = TypeVar("_F", bound=Callable[..., Any])
_Handler = Callable[[Any], Any]
_Step = tuple[_Handler, bool, "_Registration | None"]  # (call, awaited, the registration if once else None)
_Resume = Callable[[Coroutine[Any, Any, Any], str], None]  # runs a coroutine a THREADPOOL handler returned
_MARKS = "__reference_subscriptions__"  # on a function marked by `@subscribe`: (event type, options) pairs


class Event:
    """Base class of events: subclass it, plainly or as a dataclass, frozen or not [EVT-1]."""


class ExecPolicy(Enum):
    """How a dispatch runs a handler: INLINE (the default [POL-1]) in place, TASK in a task, THREADPOOL in a thread."""

    INLINE = "inline"
    TASK = "task"
    THREADPOOL = "threadpool"


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


@dataclass(slots=True, eq=False)
class _Registration:
    """One `subscribe` call, never changed; compared by identity, so duplicates stay distinct [EXT-DUP-1]."""

    event_type: type[Event]
    fn: _Handler
    priority: int
    once: bool
    call: _Handler  # what a dispatch calls with the event: the handler if INLINE, else what starts its task or job
    awaited: bool  # whether the dispatch awaits what `call` returns: for an async INLINE handler [POL-INLINE-1]


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


def _is_async(fn: object) -> bool:
    """Whether `fn` is declared async: a function, method, partial or callable object of an `async def`.

    Only a hint, decided once at subscribe: a handler is async when calling it returns a coroutine (SPEC.md,
    Terms), which a plain `def` may do too, so every call's result is checked as well.
    """
    while isinstance(fn, (functools.partial, types.MethodType, staticmethod)):
        fn = fn.func if isinstance(fn, functools.partial) else fn.__func__
    if inspect.iscoroutinefunction(fn):
        return True
    return not isinstance(fn, types.FunctionType) and inspect.iscoroutinefunction(type(fn).__call__)


async def _run_in_task(fn: _Handler, label: str, event: Event) -> None:
    try:
        if asyncio.iscoroutine(result := fn(event)):  # async by what the call returns (SPEC.md, Terms)
            await result
    except Exception:  # [ERR-3, ERR-5]; a cancellation is no Exception [CAN-4]
        _log.exception("%s raised; the publisher was not affected", label)


async def _finish(coroutine: Coroutine[Any, Any, Any], label: str) -> None:
    try:
        await coroutine
    except Exception:  # [ERR-3, ERR-5]
        _log.exception("%s raised; the publisher was not affected", label)


def _run_in_thread(fn: _Handler, label: str, event: Event, loop: asyncio.AbstractEventLoop, resume: _Resume) -> None:
    try:
        if asyncio.iscoroutine(result := fn(event)):  # async after all: its coroutine runs as TASK (IMPL-3) [POL-MIX-2]
            try:  # queued before this job ends, so the task is pending before the job is done (EXT-SYNC-3)
                loop.call_soon_threadsafe(resume, result, label)
            except RuntimeError:  # the loop has closed: nothing can run it
                result.close()
                raise
    except Exception:  # [ERR-4, ERR-5] logged in the pool thread, so also if the loop has gone
        _log.exception("%s raised; the publisher was not affected", label)


def _cancelled_from_outside() -> bool:
    """Whether the running task itself is being cancelled; Python 3.10 cannot tell (no `cancelling()`): yes [CAN-3]."""
    cancelling = getattr(asyncio.current_task(), "cancelling", None)
    return cancelling is None or cancelling() > 0


@component
class EventBus:
    """An asynchronous, typed, in-process publish/subscribe bus; `post` queues up to `max_queue_size` events."""

    def __init__(self, *, max_queue_size: int = 0) -> None:
        if isinstance(max_queue_size, bool) or not isinstance(max_queue_size, int):  # [ROB-9]
            raise TypeError(f"max_queue_size must be an int (0 for unbounded), got {max_queue_size!r}")
        if max_queue_size < 0:
            raise ValueError(f"max_queue_size must be 0 (unbounded) or positive, got {max_queue_size}")
        self._max_queue_size = max_queue_size
        self._lock = threading.RLock()  # guards the fields below; `_pending` only sees atomic set operations
        self._closed = self._stopping = False  # set by aclose(), and while stop_worker() drains the queue
        self._registrations: dict[type[Event], dict[_Registration, bool]] = {}  # in subscription order
        self._by_handler: dict[tuple[type[Event], object], list[_Registration]] = {}  # matched by `==`
        self._steps: dict[type[Event], tuple[_Step, ...]] = {}  # what publish reads; dropped by every change
        self._pending: set[asyncio.Future[Any]] = set()  # running TASK tasks and THREADPOOL jobs
        self._queue: deque[Event] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None  # what the worker waits on while the queue is empty

    @property
    def closed(self) -> bool:
        """Whether `aclose()` has closed the bus."""
        return self._closed

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
        is_async = _is_async(fn)
        label = f"ExecPolicy.{policy.name} handler {getattr(fn, '__qualname__', fn)!s} of {event_type.__name__}"
        if policy is ExecPolicy.INLINE:  # [POL-INLINE-1] awaited if async, else [POL-INLINE-2] called in place
            call: _Handler = fn
        elif policy is ExecPolicy.TASK or is_async:  # IMPL-3 [POL-MIX-1, POL-MIX-2]
            call = functools.partial(self._start_task, fn, label)
        else:
            call = functools.partial(self._start_thread, fn, label)
        registration = _Registration(event_type, fn, priority, once, call, is_async and policy is ExecPolicy.INLINE)
        with self._lock:  # [ROB-7]
            if self._closed:
                raise EventBusClosedError()  # IMPL-11
            self._registrations.setdefault(event_type, {})[registration] = True
            with contextlib.suppress(TypeError):  # an unhashable handler is found by a scan
                self._by_handler.setdefault((event_type, fn), []).append(registration)
            self._steps.pop(event_type, None)

    def unsubscribe(self, event_type: type[_E], fn: Callable[[_E], Any]) -> None:
        """Remove every registration of `fn`, or of a handler equal to it, for `event_type` [EXT-UNSUB-1]."""
        _check_subscription("EventBus.unsubscribe()", event_type)
        with self._lock:
            try:
                found = list(self._by_handler.get((event_type, fn), ()))
            except TypeError:  # an unhashable handler
                found = [r for r in self._registrations.get(event_type, ()) if r.fn == fn]
            for registration in found:  # [EXT-UNSUB-2] none: a no-op
                self._remove(registration)

    def _remove(self, registration: _Registration) -> bool:
        """Remove `registration`, keeping nothing of it [LEAK-3, LEAK-4]; False if it is gone already."""
        event_type, key = registration.event_type, (registration.event_type, registration.fn)
        with self._lock:
            registrations = self._registrations.get(event_type, {})
            if not registrations.pop(registration, False):
                return False  # gone already
            if not registrations:
                del self._registrations[event_type]
            self._steps.pop(event_type, None)
            try:
                self._by_handler[key].remove(registration)
                if not self._by_handler[key]:
                    del self._by_handler[key]
            except (TypeError, KeyError):  # an unhashable handler is not in the index
                pass
            return True

    def _snapshot(self, event_type: type[Event]) -> tuple[_Step, ...]:  # built by the first publish after a change
        with self._lock:
            if (steps := self._steps.get(event_type)) is None and event_type in self._registrations:
                # [EXT-PRI-1] higher priority first; sorted() is stable, so ties keep subscription order [POL-ORDER-1]
                ordered = sorted(self._registrations[event_type], key=lambda r: -r.priority)
                steps = self._steps[event_type] = tuple((r.call, r.awaited, r if r.once else None) for r in ordered)
            return steps or ()

    async def publish(self, event: Event) -> None:
        """Dispatch `event` to the handlers of `type(event)`; return once every INLINE handler has finished."""
        if not isinstance(event, Event):
            raise _not_an_event(event, "publish")  # [ROB-1]
        if self._closed:
            raise EventBusClosedError()  # [LIFE-2]
        # [PUB-1, PUB-2] the handlers of the exact type (IMPL-1) [PUB-3], if any [PUB-4], as they are now [PUB-5]
        for call, awaited, once in self._steps.get(type(event)) or self._snapshot(type(event)):
            if once is not None and not self._remove(once):
                continue  # [EXT-ONCE-1, EXT-ONCE-2] removed before it runs, so another dispatch has run it
            result = call(event)  # [POL-INLINE-2]; TASK and THREADPOOL handlers start [POL-TASK-2, POL-THREAD-3]
            if result is not None and (awaited or asyncio.iscoroutine(result)):  # async: what calling returns (Terms)
                await result  # [POL-INLINE-1, POL-ORDER-1]; [ERR-1] an exception ends the dispatch (IMPL-2)

    def _start_task(self, fn: _Handler, label: str, event: Event) -> None:
        self._keep(asyncio.get_running_loop(), _run_in_task(fn, label, event), label)  # no loop: nothing created

    def _resume(self, coroutine: Coroutine[Any, Any, Any], label: str) -> None:  # on the loop, from a pool thread
        self._keep(asyncio.get_running_loop(), _finish(coroutine, label), label)

    def _keep(self, loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, None], label: str) -> None:
        task = loop.create_task(coroutine, name=label)
        self._pending.add(task)  # [POL-TASK-1, POL-TASK-4]; [POL-TASK-3] the loop keeps only a weak reference
        task.add_done_callback(self._pending.discard)  # [LEAK-2] and not a moment longer

    def _start_thread(self, fn: _Handler, label: str, event: Event) -> None:
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(None, _run_in_thread, fn, label, event, loop, self._resume)  # [POL-THREAD-1]
        self._pending.add(job)
        job.add_done_callback(self._pending.discard)

    def publish_sync(self, event: Event) -> None:
        """Publish from a plain `def`: in a task on a running loop, else until all it started has finished."""
        if not isinstance(event, Event):
            raise _not_an_event(event, "publish_sync")  # [ROB-1]
        if self._closed:
            raise EventBusClosedError()  # [LIFE-2]
        try:  # [EXT-SYNC-2] on a running loop, in a task
            self._start_task(self.publish, f"EventBus.publish_sync({type(event).__name__})", event)
        except RuntimeError:  # no running loop [EXT-SYNC-1, EXT-SYNC-3]
            asyncio.run(self._publish_and_settle(event))

    async def _publish_and_settle(self, event: Event) -> None:
        try:
            await self.publish(event)
        finally:  # wait for the TASK and THREADPOOL handlers it started, and those they started
            while started := [job for job in list(self._pending) if job.get_loop() is asyncio.get_running_loop()]:
                await asyncio.wait(started)

    def post(self, event: Event) -> None:
        """Queue `event` for the worker and return at once; callable from any thread [POST-1, POST-2]."""
        if not isinstance(event, Event):
            raise _not_an_event(event, "post")  # [ROB-2]
        with self._lock:  # [ROB-6] one lock, so each producer's events stay in order [POST-3]
            if self._closed:
                raise EventBusClosedError()  # [LIFE-3]
            if self._stopping:  # [WRK-4] IMPL-5: so that the drain ends
                raise EventBusError("EventBus.post(): the worker is stopping; the event was not queued")
            if self._worker is None:  # [POST-5, POST-6, EXT-ERR-3] IMPL-4
                raise EventBusError("EventBus.post(): no worker is running: await bus.start_worker() first")
            if self._max_queue_size and len(self._queue) >= self._max_queue_size:  # [POST-7, POST-8, POST-9]
                raise EventBusQueueFullError(f"EventBus.post(): the queue is full ({self._max_queue_size} events)")
            self._queue.append(event)
            worker, wakeup, self._wakeup = self._worker, self._wakeup, None
        if wakeup is not None:  # the worker waits: wake it, at once from its loop's thread, else through its loop
            loop = worker.get_loop()
            wakeup.set() if asyncio._get_running_loop() is loop else loop.call_soon_threadsafe(wakeup.set)

    async def start_worker(self) -> None:
        """Start the worker on the running loop [WRK-7]; a no-op if it is running [WRK-1]."""
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._closed:
                    raise EventBusClosedError()  # [EXT-CLOSE-2]
                if self._worker is None:  # under the re-entrant lock: an eager task factory runs it right here
                    self._worker = loop.create_task(self._work(), name="reference.event_bus worker")
                    self._worker.add_done_callback(self._worker_done)
                if not self._stopping:
                    return
                stopping = self._worker
            if stopping is asyncio.current_task():
                raise EventBusError("a handler on the stopping worker cannot start the worker again")
            await self._join(stopping)  # [WRK-5] the old worker finishes its drain, then a new one starts

    async def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queue and self._stopping:
                    return  # [WRK-2] every event posted before stop_worker() has been dispatched
                wakeup = self._wakeup = None if self._queue else asyncio.Event()
            await (wakeup.wait() if wakeup else asyncio.sleep(0))  # idle: until woken; busy: a turn of the loop [WRK-4]
            for _ in range(len(self._queue)):  # one at a time: an event counts toward the bound until taken (IMPL-7)
                try:
                    await self.publish(self._queue.popleft())  # [POST-4] dispatched as publish does [WRK-7]
                except Exception:
                    _log.exception("a handler of a posted event raised; the worker goes on")  # [WRK-6]
                except asyncio.CancelledError:
                    if _cancelled_from_outside():
                        raise  # the worker's own task is cancelled: it ends
                    # [CAN-3] a handler's own CancelledError ends that event's dispatch only: the worker goes on

    def _worker_done(self, worker: asyncio.Task[None]) -> None:
        with self._lock:
            if self._worker is worker:
                self._worker, self._wakeup, self._stopping = None, None, False

    async def _join(self, worker: asyncio.Task[None]) -> None:  # until it has ended, uncancelled, from any loop
        loop = worker.get_loop()
        if loop is asyncio.get_running_loop():
            await asyncio.wait({worker})
        elif not loop.is_closed():
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(asyncio.wait({worker}), loop))
        self._worker_done(worker)  # a worker whose loop is closed never ends: forget it

    async def stop_worker(self) -> None:
        """Stop the worker once it has dispatched every event posted before this call [WRK-2]; else a no-op [WRK-3]."""
        with self._lock:
            worker, wakeup, self._wakeup = self._worker, self._wakeup, None
            if worker is None:
                return
            self._stopping = True  # [WRK-4] post refuses from now on, so the drain ends
        if wakeup is not None:
            with contextlib.suppress(RuntimeError):  # the worker's loop is closed: _join forgets the worker
                worker.get_loop().call_soon_threadsafe(wakeup.set)
        if worker is not asyncio.current_task():  # a handler on the worker only asks it to stop
            await self._join(worker)

    async def aclose(self) -> None:
        """Drain and stop the worker, then close the bus and drop every subscriber; idempotent [EXT-CLOSE-1]."""
        await self.stop_worker()
        with self._lock:
            self._closed = True  # [LIFE-2, LIFE-3]
            self._registrations, self._by_handler, self._steps = {}, {}, {}  # [EXT-CLOSE-3]
            if self._worker is None:
                self._queue.clear()  # left by a worker that was cancelled: nothing will dispatch them


# -- the decorator and auto-subscription (SPEC §6) ------------------------------------------------
def subscribe(
    event_type: type[Event], *, priority: int = 0, policy: ExecPolicy = ExecPolicy.INLINE, once: bool = False
) -> Callable[[_F], _F]:
    """Mark a method as a handler of `event_type` for `AutoSubscriberMixin`; several marks stack [SUB-6]."""
    _check_subscription("@subscribe()", event_type, priority, policy, once)  # [ROB-5]
    mark = (event_type, {"priority": priority, "policy": policy, "once": once})  # [EXT-SUB-1]

    def mark_handler(fn: _F) -> _F:
        target: Any = fn.__func__ if isinstance(fn, (staticmethod, classmethod)) else fn
        if not callable(target):
            raise TypeError(f"@subscribe() decorates functions and methods, got {fn!r}")
        setattr(target, _MARKS, (*getattr(target, _MARKS, ()), mark))
        return fn  # [SUB-1]

    return mark_handler


def _marked_handlers(instance: object) -> Iterator[tuple[_Handler, tuple[type[Event], dict[str, Any]]]]:
    """The marked methods of `instance`, bound; read from its classes (no property runs), a subclass's overriding."""
    attrs = {name: attr for klass in reversed(type(instance).__mro__) for name, attr in vars(klass).items()}
    for attr in attrs.values():
        func = attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr
        for mark in vars(func).get(_MARKS, ()) if inspect.isfunction(func) else ():
            yield attr.__get__(instance, type(instance)), mark


class AutoSubscriberMixin:
    """Mix into a component: the container registers the `@subscribe` methods of each instance [SUB-4, SUB-5]."""

    def _autosubscribe(self, bus: EventBus) -> None:  # the container calls it [SUB-2, SUB-3]
        for handler, (event_type, options) in _marked_handlers(self):
            bus.subscribe(event_type, handler, **options)

    def _autounsubscribe(self, bus: EventBus) -> None:  # at cleanup [EXT-MIX-1]; equal bindings match
        for handler, (event_type, _) in _marked_handlers(self):
            bus.unsubscribe(event_type, handler)

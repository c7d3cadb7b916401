"""A second event bus, written from SPEC.md alone, that makes the other choice on every open point.

It exists to show that the conformance kit tests the specification and not the
reference's accidents: the whole suite must pass on it. Its choices, by the
"Implementation-defined points" table of SPEC.md:

- IMPL-1: a handler registered for a base class receives subclass events (once).
- IMPL-2: after a failing INLINE handler the remaining INLINE handlers still run;
  `publish` then raises an `ExceptionGroup` of every failure.
- IMPL-3: a sync handler under TASK runs in place, inside `publish`; an async
  handler under THREADPOOL runs to completion with `asyncio.run` on its thread.
- IMPL-4: `post` with no worker running buffers the event until a worker runs.
- IMPL-5: events posted while `stop_worker` drains are kept for the next worker.
- IMPL-6: TASK and THREADPOOL handlers are started before the INLINE ones run.
- IMPL-7: `max_queue_size` counts the event the worker is dispatching too.
- IMPL-9: `aclose` waits for the TASK and THREADPOOL handlers still running.
- IMPL-10: a new thread per THREADPOOL handler call, no pool.
- IMPL-11: `subscribe` on a closed bus is accepted (and never called).
- IMPL-12: the container (`container.py`) creates components marked lazy at `init`, like all others.

The methods are small on purpose: the kill matrix's broken buses
(`tests/mutants/`) each override one of them.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextlib
import enum
import inspect
import itertools
import logging
import sys
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from ._marker import component

__all__ = [
    "AutoSubscriberMixin",
    "Event",
    "EventBus",
    "EventBusClosedError",
    "EventBusError",
    "EventBusHandlerError",
    "EventBusQueueFullError",
    "ExecPolicy",
    "subscribe",
]

log = logging.getLogger(__name__)

_F = TypeVar("_F", bound=Callable[..., Any])
Handler = Callable[[Any], Any]


class Event:
    """The base class of events; subclass it, plainly or as a (frozen) dataclass."""


class ExecPolicy(enum.Enum):
    """How a handler runs for a dispatch."""

    INLINE = "inline"
    TASK = "task"
    THREADPOOL = "threadpool"


class EventBusError(Exception):
    """Base class of this bus's errors."""


class EventBusClosedError(EventBusError):
    """`publish`, `post` or `start_worker` on a bus that `aclose()` closed."""


class EventBusQueueFullError(EventBusError):
    """`post` on a queue holding `max_queue_size` events (the one being dispatched included)."""


class EventBusHandlerError(EventBusError):
    """Several INLINE handlers failed (only on Python < 3.11, which has no `ExceptionGroup`)."""

    exceptions: tuple[Exception, ...] = ()


def _failure(what: str, errors: list[Exception]) -> Exception:
    """One exception carrying every INLINE failure of a dispatch [ERR-1, IMPL-2]."""
    if sys.version_info >= (3, 11):
        return builtins.ExceptionGroup(what, errors)
    group = EventBusHandlerError(what)
    group.exceptions = tuple(errors)
    group.__cause__ = errors[0]
    return group


def _name_of(fn: object) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _require_event(event: object, where: str) -> None:
    if not isinstance(event, Event):  # [ROB-1, ROB-2]
        raise TypeError(f"{where} takes an Event instance, got {event!r}")


def _require_event_type(event_type: object, where: str) -> None:
    if not (isinstance(event_type, type) and issubclass(event_type, Event)):  # [ROB-4, ROB-5]
        raise TypeError(f"{where} takes an Event subclass as event type, got {event_type!r}")


def _require_options(where: str, priority: object, policy: object, once: object) -> None:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"{where}: priority must be an int, got {priority!r}")
    if not isinstance(policy, ExecPolicy):
        raise TypeError(f"{where}: policy must be an ExecPolicy, got {policy!r}")
    if not isinstance(once, bool):
        raise TypeError(f"{where}: once must be a bool, got {once!r}")


async def _completion(awaitable: Awaitable[Any]) -> None:
    await awaitable


@dataclass(eq=False)
class Registration:
    """One `subscribe` call: compared by identity, so duplicates stay two registrations."""

    event_type: type[Event]
    fn: Handler
    policy: ExecPolicy
    priority: int
    once: bool
    seq: int
    spent: bool = False


@component
class EventBus:
    """An asynchronous in-process publish/subscribe bus (see the module docstring for its choices)."""

    def __init__(self, max_queue_size: int = 0) -> None:
        if isinstance(max_queue_size, bool) or not isinstance(max_queue_size, int):  # [ROB-9]
            raise TypeError(f"max_queue_size must be an int, got {max_queue_size!r}")
        if max_queue_size < 0:
            raise ValueError(f"max_queue_size must be 0 (no bound) or more, got {max_queue_size}")
        self.max_queue_size = max_queue_size
        # Registrations, by the type they were registered for.
        self._lock = threading.Lock()
        self._registry: dict[type[Event], list[Registration]] = {}
        self._seq = itertools.count()
        # What runs in the background, so nothing is garbage-collected mid-run [POL-TASK-3] and aclose can wait.
        self._tasks: set[asyncio.Future[Any]] = set()
        self._threads: set[concurrent.futures.Future[None]] = set()
        # The queue and its worker, all guarded by _qlock.
        self._qlock = threading.RLock()
        self._queue: deque[Event] = deque()
        self._accepted = 0
        self._taken = 0
        self._busy = 0
        self._worker: asyncio.Task[None] | None = None
        self._wakeup: tuple[asyncio.AbstractEventLoop, asyncio.Event, int] | None = None
        self._drain_until: int | None = None
        self._closing = False
        self._closed = False

    # -- subscriptions ----------------------------------------------------------

    def subscribe(
        self,
        event_type: type[Event],
        fn: Handler,
        *,
        priority: int = 0,
        policy: ExecPolicy = ExecPolicy.INLINE,
        once: bool = False,
    ) -> None:
        """Register `fn` for `event_type` and its subclasses; every call adds a registration."""
        _require_event_type(event_type, "subscribe()")
        if not callable(fn):  # [ROB-3]
            raise TypeError(f"subscribe() takes a callable handler, got {fn!r}")
        _require_options("subscribe()", priority, policy, once)
        registration = Registration(event_type, fn, policy, priority, once, next(self._seq))
        with self._lock:
            self._registry.setdefault(event_type, []).append(registration)

    def unsubscribe(self, event_type: type[Event], fn: Handler) -> None:
        """Remove the registrations of `fn` (compared with ==) for `event_type`; no-op if there are none."""
        with self._lock:
            kept = [r for r in self._registry.get(event_type, []) if not (r.fn is fn or r.fn == fn)]
            if kept:
                self._registry[event_type] = kept
            else:
                self._registry.pop(event_type, None)

    def matching(self, event_type: type[Event]) -> list[Registration]:
        """The registrations a dispatch of `event_type` calls, in order: priority, then subscription [IMPL-1]."""
        with self._lock:
            found = [r for klass in event_type.__mro__ for r in self._registry.get(klass, ())]
        found.sort(key=lambda r: (-r.priority, r.seq))
        return found

    def claim(self, registration: Registration) -> bool:
        """False for a `once` registration that another dispatch already took [EXT-ONCE-1]."""
        if not registration.once:
            return True
        with self._lock:
            if registration.spent:
                return False
            registration.spent = True
            regs = self._registry.get(registration.event_type, [])
            self._registry[registration.event_type] = [r for r in regs if r is not registration]
        return True

    # -- dispatch ---------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        """Dispatch `event`; return once its INLINE handlers have finished, raising their failures."""
        _require_event(event, "publish()")
        if self._closed:
            raise EventBusClosedError("publish() on a closed EventBus")  # [LIFE-2]
        chosen = [r for r in self.matching(type(event)) if self.claim(r)]  # the subscriber set is taken now [PUB-5]
        self.start_background([r for r in chosen if r.policy is not ExecPolicy.INLINE], event)  # IMPL-6: first
        errors = await self.run_inlines([r for r in chosen if r.policy is ExecPolicy.INLINE], event)
        if errors:
            raise _failure(f"{len(errors)} INLINE handler(s) of {type(event).__name__} failed", errors)

    async def run_inlines(self, registrations: list[Registration], event: Event) -> list[Exception]:
        """Run INLINE handlers one after another [POL-ORDER-1]; return their failures (IMPL-2: all run)."""
        errors: list[Exception] = []
        for registration in registrations:
            try:
                await self.run_inline(registration, event)
            except Exception as exc:
                errors.append(exc)
        return errors

    async def run_inline(self, registration: Registration, event: Event) -> None:
        """Call an INLINE handler in place and await what it returns, if anything [POL-INLINE-1, POL-INLINE-2]."""
        result = registration.fn(event)
        if inspect.isawaitable(result):
            await result

    def start_background(self, registrations: list[Registration], event: Event) -> None:
        """Start TASK and THREADPOOL handlers; `publish` does not wait for them."""
        for registration in registrations:
            if registration.policy is ExecPolicy.TASK:
                self.start_task(registration, event)
            else:
                self.start_thread(registration, event)

    def start_task(self, registration: Registration, event: Event) -> None:
        """Call a TASK handler; a coroutine it returns runs in a task of its own [POL-TASK-1, POL-MIX-1]."""
        try:
            result = registration.fn(event)  # IMPL-3: a sync handler's whole run
        except Exception as exc:
            self.report(registration, event, exc)
            return
        if inspect.isawaitable(result):
            self.keep(asyncio.ensure_future(self.guarded(registration, event, result)))

    def keep(self, task: asyncio.Future[Any]) -> None:
        """Hold a strong reference to `task` until it is done [POL-TASK-3]."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def guarded(self, registration: Registration, event: Event, awaitable: Awaitable[Any]) -> None:
        """Await a background handler's coroutine; log its failure instead of raising it [ERR-3]."""
        try:
            await awaitable
        except Exception as exc:
            self.report(registration, event, exc)

    def start_thread(self, registration: Registration, event: Event) -> None:
        """Run a THREADPOOL handler on a new thread of its own [POL-THREAD-1, IMPL-10]."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._threads.add(done)
        done.add_done_callback(self._threads.discard)
        thread = threading.Thread(
            target=self.thread_main, args=(registration, event, done), name="alt-bus-handler", daemon=True
        )
        thread.start()

    def thread_main(self, registration: Registration, event: Event, done: concurrent.futures.Future[None]) -> None:
        """The body of a THREADPOOL handler's thread; a coroutine it returns runs with `asyncio.run` [POL-MIX-2]."""
        try:
            result = registration.fn(event)
            if inspect.isawaitable(result):
                asyncio.run(_completion(result))
        except Exception as exc:
            self.report(registration, event, exc)  # [ERR-4]
        finally:
            done.set_result(None)

    def report(self, registration: Registration, event: Event, exc: BaseException) -> None:
        """Log a background handler's failure at ERROR, with the exception [ERR-5]."""
        log.error(
            "%s handler %s failed on %s",
            registration.policy.name,
            _name_of(registration.fn),
            type(event).__name__,
            exc_info=exc,
        )

    def publish_sync(self, event: Event) -> None:
        """Publish from a `def`: as a task on a running loop, else to completion with `asyncio.run`."""
        _require_event(event, "publish_sync()")
        if self._closed:
            raise EventBusClosedError("publish_sync() on a closed EventBus")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._publish_and_settle(event))  # [EXT-SYNC-1]
            return
        self.keep(loop.create_task(self._publish_logged(event)))  # [EXT-SYNC-2]

    async def _publish_and_settle(self, event: Event) -> None:
        await self.publish(event)
        # asyncio.run cancels what is left when this returns: let this loop's TASK handlers finish.
        await self._settle_background(threads=False)

    async def _publish_logged(self, event: Event) -> None:
        try:
            await self.publish(event)
        except Exception as exc:
            log.error("publish_sync(%s) failed", type(event).__name__, exc_info=exc)

    async def _settle_background(self, *, threads: bool) -> None:
        me = asyncio.current_task()
        loop = asyncio.get_running_loop()
        while True:
            waiting: list[asyncio.Future[Any]] = [
                t for t in list(self._tasks) if t is not me and not t.done() and t.get_loop() is loop
            ]
            if threads:
                waiting += [asyncio.wrap_future(f) for f in list(self._threads) if not f.done()]
            if not waiting:
                return
            await asyncio.wait(waiting)

    # -- the queue and the worker -------------------------------------------------

    def post(self, event: Event) -> None:
        """Queue `event` for the worker, from any thread; buffered while no worker runs [IMPL-4]."""
        _require_event(event, "post()")
        with self._qlock:
            if self._closing:
                raise EventBusClosedError("post() on a closed EventBus")  # [LIFE-3]
            self.admit()
            self._queue.append(event)
            self._accepted += 1
            wakeup = self._wakeup
        if wakeup is not None:
            self.nudge(wakeup)

    def admit(self) -> None:
        """Raise if the queue is full; the event being dispatched counts [POST-7, IMPL-7]. Caller holds _qlock."""
        if self.max_queue_size and len(self._queue) + self._busy >= self.max_queue_size:
            raise EventBusQueueFullError(
                f"post(): the queue holds {self.max_queue_size} events (max_queue_size, counting the one "
                "being dispatched); the event was not queued"
            )

    def nudge(self, wakeup: tuple[asyncio.AbstractEventLoop, asyncio.Event, int]) -> None:
        """Wake the worker, from any thread [POST-2]."""
        loop, flag, thread = wakeup
        if threading.get_ident() == thread:
            flag.set()
            return
        # If its loop is closed, the event stays queued for the next worker.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(flag.set)

    async def start_worker(self) -> None:
        """Start the worker on the running loop; a no-op while one runs [WRK-1, WRK-7]."""
        loop = asyncio.get_running_loop()
        while True:
            with self._qlock:
                if self._closing:
                    raise EventBusClosedError("start_worker() on a closed EventBus")
                current = self._worker
                if current is None:
                    flag = asyncio.Event()
                    self._wakeup = (loop, flag, threading.get_ident())
                    task = loop.create_task(self.work(flag), name="alt-bus worker")
                    self._worker = task
                    task.add_done_callback(self._worker_ended)
                    return
                if self._drain_until is None:
                    return
            # A stop is draining the old worker: wait for it, then start a new one [WRK-5].
            if current is asyncio.current_task():
                raise EventBusError("a handler of the stopping worker cannot start a worker")
            await self._ended(current)

    async def work(self, flag: asyncio.Event) -> None:
        """The worker: take events in order and dispatch each as `publish` does [POST-3, POST-4]."""
        while True:
            with self._qlock:
                if self.should_stop():
                    return
                event = self.take_next() if self._queue else None
                if event is None:
                    flag.clear()
                else:
                    self._taken += 1
                    self._busy = 1
            if event is None:
                await flag.wait()
                continue
            try:
                await self.dispatch_posted(event)
            finally:
                with self._qlock:
                    self._busy = 0

    def should_stop(self) -> bool:
        """Whether the worker has taken every event posted before `stop_worker` [WRK-2, IMPL-5]. Caller holds _qlock."""
        return self._drain_until is not None and self._taken >= self._drain_until

    def take_next(self) -> Event:
        """The oldest queued event [POST-3]. Caller holds _qlock."""
        return self._queue.popleft()

    async def dispatch_posted(self, event: Event) -> None:
        """Publish a posted event; log a failure and go on [WRK-6]."""
        try:
            await self.publish(event)
        except Exception as exc:
            log.error("the worker's dispatch of %s failed", type(event).__name__, exc_info=exc)
        except asyncio.CancelledError:
            # [CAN-3] A handler's own CancelledError ends this dispatch only; a cancellation of the worker's
            # task (counted by Task.cancelling, Python 3.11+; on 3.10 every one is taken as such) ends the worker.
            worker = asyncio.current_task()
            if worker is None or not hasattr(worker, "cancelling") or worker.cancelling():
                raise

    def _worker_ended(self, task: asyncio.Task[None]) -> None:
        with self._qlock:
            if self._worker is task:
                self._worker = None
                self._wakeup = None
                self._drain_until = None
                self._busy = 0
        if not task.cancelled() and task.exception() is not None:
            log.error("the worker ended with an error", exc_info=task.exception())

    async def _ended(self, task: asyncio.Task[None]) -> None:
        """Wait until the worker `task` has ended, whatever loop it runs on."""
        loop = task.get_loop()
        if loop is asyncio.get_running_loop():
            await asyncio.wait({task})
        elif loop.is_closed():
            self._worker_ended(task)  # it will never run again: let the bus go on without it
        else:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(asyncio.wait({task}), loop))

    async def stop_worker(self) -> None:
        """Stop the worker once it has dispatched what was posted before this call [WRK-2]; no-op without one."""
        with self._qlock:
            task = self._worker
            if task is None:
                return  # [WRK-3]
            goal = self._accepted
            self._drain_until = goal if self._drain_until is None else max(goal, self._drain_until)
            wakeup = self._wakeup
        if wakeup is not None:
            self.nudge(wakeup)
        if task is asyncio.current_task():
            return  # a handler on the worker: it stops after this dispatch and cannot wait for itself
        await self._ended(task)

    async def aclose(self) -> None:
        """Drain and stop the worker, dispatch what is still buffered, close, then wait for background handlers."""
        with self._qlock:
            first = not self._closing
            self._closing = True  # from now on post raises [LIFE-3]
        await self.stop_worker()  # [EXT-CLOSE-1, LIFE-1]
        if not first:
            return  # [ROB-8]
        for event in self._leftovers():
            await self.dispatch_posted(event)  # accepted while no worker ran: delivered, not dropped
        self._closed = True
        with self._lock:
            self._registry.clear()
        await self._settle_background(threads=True)  # IMPL-9

    def _leftovers(self) -> Iterable[Event]:
        while True:
            with self._qlock:
                if not self._queue:
                    return
                event = self._queue.popleft()
                self._taken += 1
            yield event


@dataclass(frozen=True)
class Mark:
    """The arguments of one `@subscribe(...)`."""

    event_type: type[Event]
    priority: int
    policy: ExecPolicy
    once: bool


MARKS = "__alt_impl_marks__"


def subscribe(
    event_type: type[Event], *, priority: int = 0, policy: ExecPolicy = ExecPolicy.INLINE, once: bool = False
) -> Callable[[_F], _F]:
    """Mark a method as a handler; `AutoSubscriberMixin` registers it per instance. Returns the function itself."""
    _require_event_type(event_type, "@subscribe()")
    _require_options("@subscribe()", priority, policy, once)
    mark = Mark(event_type, priority, policy, once)

    def decorate(fn: _F) -> _F:
        setattr(fn, MARKS, (*marks_of(fn), mark))  # marks stack [SUB-6]
        return fn  # [SUB-1]

    return decorate


def marks_of(obj: object) -> tuple[Mark, ...]:
    """The `@subscribe` marks carried by a function (or the function of a static/class method)."""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    marks: tuple[Mark, ...] = getattr(obj, "__dict__", {}).get(MARKS, ())
    return marks


class AutoSubscriberMixin:
    """Components mixing this in get their `@subscribe` methods registered when the container creates them."""

    def subscribe_marked(self, bus: EventBus) -> None:
        """Register this instance's marked methods on `bus` (the container calls it) [SUB-2, SUB-5]."""
        cls = type(self)
        for name in dir(cls):
            marks = marks_of(inspect.getattr_static(cls, name))
            if not marks:
                continue
            handler = getattr(self, name)
            for mark in marks:
                bus.subscribe(mark.event_type, handler, priority=mark.priority, policy=mark.policy, once=mark.once)

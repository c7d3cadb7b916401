"""An asynchronous in-process event bus: the reference implementation of SPEC.md.

The public API is that of `pico_ioc.event_bus`: `Event`, `ExecPolicy`,
`EventBus`, the `subscribe` decorator, `AutoSubscriberMixin` and the
`EventBusError` family. Comments cite the SPEC.md rule they implement.

Where SPEC.md leaves a point to the implementation, this module chooses:

- IMPL-1: exact type match; a handler of a base class does not get subclass events.
- IMPL-2: `publish` stops at the first failing INLINE handler and re-raises its
  exception unwrapped; TASK and THREADPOOL handlers earlier in the order were
  already started and keep running.
- IMPL-3: a sync TASK handler is called inside a task; an async THREADPOOL
  handler runs as a TASK handler.
- IMPL-4: `post` without a running worker raises `EventBusError`.
- IMPL-5: once `stop_worker` (or `aclose`) is called, `post` raises
  `EventBusError`; the events queued before are delivered.
- IMPL-6: handlers run in priority order whatever their policy, so a TASK or
  THREADPOOL handler is started when its turn comes.
- IMPL-7: `max_queue_size` counts the events not yet taken by the worker; the
  one being dispatched does not count.
- IMPL-9: `aclose` does not wait for running TASK and THREADPOOL handlers.
- IMPL-10: THREADPOOL uses the loop's default executor.
- IMPL-11: `subscribe` on a closed bus raises `EventBusClosedError`.

Points SPEC.md does not number:

- A `once=True` registration is claimed when a dispatch reaches it, under a lock,
  so of two concurrent dispatches only one runs it; it counts as run even if it
  raises. Otherwise the snapshot rule holds [PUB-5]: one unsubscribed during a
  dispatch that has not reached it yet still runs in that dispatch.
- `unsubscribe(t, fn)` removes every registration of `fn` for `t`, matching by
  equality (so a fresh `obj.method` binding matches).
- `publish_sync` with no running loop also waits for the TASK and THREADPOOL
  handlers it started: `asyncio.run` would otherwise cancel them unrun.
- `stop_worker` or `aclose` awaited by a handler running on the worker cannot
  wait for the worker (that is itself): it only tells the worker to stop. After
  such an `aclose`, the events still queued fail with `EventBusClosedError`,
  which the worker logs.
- The worker dispatches the events queued when it looks, then yields to the loop
  before the next batch, so handlers that post on every event cannot starve it.
- The bus is thread-safe for `subscribe`, `unsubscribe` and `post`; `publish`
  takes no lock.
"""

from __future__ import annotations

import asyncio
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

_log = logging.getLogger("reference.event_bus")

_E = TypeVar("_E", bound="Event")
_F = TypeVar("_F", bound=Callable[..., Any])
_Handler = Callable[[Any], Any]


class Event:
    """Base class of events: subclass it, plainly or as a dataclass, frozen or not [EVT-1]."""


class ExecPolicy(Enum):
    """How the bus runs a handler for a dispatch."""

    INLINE = "inline"
    """The default [POL-1]: awaited (async) or called in place (sync) before `publish` returns."""
    TASK = "task"
    """Started in its own `asyncio.Task`; `publish` does not wait for it."""
    THREADPOOL = "threadpool"
    """A sync handler runs in the loop's default executor; `publish` does not wait for it."""


class EventBusError(Exception):
    """Base class of the bus's errors; also raised when `post` finds no running worker."""


class EventBusClosedError(EventBusError):
    """The bus was closed by `aclose()`; it takes no more events, subscriptions or workers."""

    def __init__(self, message: str = "the EventBus is closed (aclose() was called); create a new EventBus") -> None:
        super().__init__(message)


class EventBusQueueFullError(EventBusError):
    """`post` found the queue at `max_queue_size`; the event was not queued."""

    def __init__(
        self,
        message: str = "the EventBus queue is full; the event was not queued: retry later, "
        "await bus.publish(event) instead, or raise max_queue_size",
    ) -> None:
        super().__init__(message)


class EventBusHandlerError(EventBusError):
    """Declared for API compatibility; the reference never raises it.

    An INLINE handler's exception reaches the publisher unwrapped [ERR-1, EXT-ERR-4].
    """


# Looking a member up on an Enum class costs about 50 ns on Python 3.11; subscribe compares with these.
_INLINE = ExecPolicy.INLINE
_TASK = ExecPolicy.TASK

# How a subscriber runs, decided once at subscribe time from its policy and
# whether it is async, so that dispatch only compares small ints.
_SYNC_INLINE = 0
_ASYNC_INLINE = 1
_ASYNC_TASK = 2
_SYNC_TASK = 3
_SYNC_THREAD = 4


class _Once:
    """The latch of a `once=True` registration: the only mutable part of a subscriber."""

    __slots__ = ("fired",)

    def __init__(self) -> None:
        self.fired = False


# Not frozen: a frozen dataclass's __init__ costs twice as much, and subscribe is
# measured too. Neither class is ever mutated after construction.
@dataclass(slots=True, eq=False)
class _Sub:
    """One registration; compared by identity, so duplicates stay distinct [EXT-DUP-1]."""

    fn: _Handler
    priority: int
    policy: ExecPolicy
    run: int
    once: _Once | None
    label: str
    """Names a TASK or THREADPOOL handler in logs, and its tasks, so a failure says whose it was.

    Empty for INLINE handlers, whose failures reach the publisher instead.
    """


@dataclass(slots=True, eq=False)
class _Route:
    """The subscribers of one event type, in dispatch order; replaced, never mutated."""

    subs: tuple[_Sub, ...]
    # Fast paths, for the three common shapes of a route (see EventBus.publish); at most one is set.
    plain: tuple[_Handler, ...] | None = None
    """The handlers when all are sync INLINE without `once`: publish just calls them."""
    awaited: tuple[_Handler, ...] | None = None
    """The handlers when all are async INLINE without `once`: publish just awaits them."""
    spawn: tuple[tuple[_Handler, str], ...] | None = None
    """(handler, label) when all are async TASK without `once`: publish just starts their tasks."""


def _route(subs: tuple[_Sub, ...]) -> _Route:
    """The route of `subs`, which are in dispatch order."""
    shapes = {s.run if s.once is None else -1 for s in subs}
    shape = shapes.pop() if len(shapes) == 1 else -1
    if shape == _SYNC_INLINE:
        return _Route(subs, plain=tuple(s.fn for s in subs))
    if shape == _ASYNC_INLINE:
        return _Route(subs, awaited=tuple(s.fn for s in subs))
    if shape == _ASYNC_TASK:
        return _Route(subs, spawn=tuple((s.fn, s.label) for s in subs))
    return _Route(subs)


def _appended(route: _Route, sub: _Sub) -> _Route:
    """`route` with `sub`, which sorts last, added: a fast path's tuple grows rather than being rebuilt."""
    subs = (*route.subs, sub)
    if sub.once is None:
        # Positional arguments (subs, plain, awaited, spawn): measurably cheaper than keywords.
        if route.plain is not None and sub.run == _SYNC_INLINE:
            return _Route(subs, (*route.plain, sub.fn), None, None)
        if route.awaited is not None and sub.run == _ASYNC_INLINE:
            return _Route(subs, None, (*route.awaited, sub.fn), None)
        if route.spawn is not None and sub.run == _ASYNC_TASK:
            return _Route(subs, None, None, (*route.spawn, (sub.fn, sub.label)))
    return _route(subs)


# Up to Python 3.11, inspect.iscoroutinefunction(f) of a function or method only reads its code's
# flags; reading them here saves a few calls on every subscribe. From 3.12 a sync function may be
# marked a coroutine function (inspect.markcoroutinefunction), so there inspect is asked.
_FLAGS_DECIDE = not hasattr(inspect, "markcoroutinefunction")


def _is_async(fn: object) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    func = fn.__func__ if type(fn) is types.MethodType else fn
    if _FLAGS_DECIDE and type(func) is types.FunctionType:
        return bool(func.__code__.co_flags & inspect.CO_COROUTINE)
    if inspect.iscoroutinefunction(fn):
        return True
    if isinstance(fn, (types.FunctionType, types.MethodType)):
        return False  # their type's __call__ is never async: skip the slow check below
    # An instance of a class with `async def __call__` is an async handler too.
    return inspect.iscoroutinefunction(type(fn).__call__)


def _run_mode(fn: object, policy: ExecPolicy) -> int:
    is_async = _is_async(fn)
    if policy is _INLINE:
        return _ASYNC_INLINE if is_async else _SYNC_INLINE
    if is_async:
        return _ASYNC_TASK  # TASK, and THREADPOOL too: a coroutine needs a loop, not a thread [POL-MIX-2]
    return _SYNC_TASK if policy is _TASK else _SYNC_THREAD


def _describe(fn: object) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _check_event_type(where: str, event_type: object) -> None:
    if not (isinstance(event_type, type) and issubclass(event_type, Event)):
        if callable(event_type) and not isinstance(event_type, type):
            hint = "write @subscribe(MyEvent), with the event class in parentheses"
        else:
            hint = "pass an Event subclass such as `class UserCreated(Event): ...`"
        raise TypeError(f"{where}: event_type must be a subclass of Event, got {event_type!r}; {hint}")


def _check_subscription(where: str, event_type: object, priority: object, policy: object, once: object) -> None:
    _check_event_type(where, event_type)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"{where}: priority must be an int (higher runs first), got {priority!r}")
    if not isinstance(policy, ExecPolicy):
        raise TypeError(f"{where}: policy must be ExecPolicy.INLINE, TASK or THREADPOOL, got {policy!r}")
    if not isinstance(once, bool):
        raise TypeError(f"{where}: once must be True or False, got {once!r}")


async def _call_sync(fn: _Handler, event: Event) -> None:
    fn(event)


def _call_in_thread(sub: _Sub, event: Event) -> None:
    try:
        sub.fn(event)
    except Exception as exc:
        # Logged here, in the pool thread, so the failure is recorded even if the loop is gone [ERR-4, ERR-5].
        _log.error("%s raised; the publisher was not affected", sub.label, exc_info=exc)


def _not_an_event(event: object, method: str) -> TypeError:
    hint = " (a class, not an instance: call it)" if isinstance(event, type) else ""
    return TypeError(f"EventBus.{method}() takes an Event instance, got {event!r}{hint}")


def _resolve(idle: asyncio.Future[None]) -> None:
    if not idle.done():
        idle.set_result(None)


# Worker states; all worker fields are guarded by EventBus._qlock.
_IDLE = 0
_RUNNING = 1
_STOPPING = 2


@component
class EventBus:
    """An asynchronous, typed, in-process publish/subscribe bus.

    `max_queue_size` bounds the events `post` may queue for the worker; 0 means unbounded.
    """

    def __init__(self, *, max_queue_size: int = 0) -> None:
        # [ROB-9] reject a bad size now, not at the first post.
        if isinstance(max_queue_size, bool) or not isinstance(max_queue_size, int):
            raise TypeError(f"max_queue_size must be an int (0 for unbounded), got {max_queue_size!r}")
        if max_queue_size < 0:
            raise ValueError(f"max_queue_size must be 0 (unbounded) or positive, got {max_queue_size}")
        # Copy-on-write routes: writers replace a type's _Route under _lock; publish reads without a lock.
        self._routes: dict[type[Event], _Route] = {}
        self._lock = threading.Lock()
        self._closed = False
        # Strong references to running TASK tasks and THREADPOOL futures [POL-TASK-3].
        self._pending: set[asyncio.Future[Any]] = set()
        # Bound once, not once per task (a reference cycle, which the GC collects with the bus).
        self._on_task_done = self._task_done
        self._max = max_queue_size
        self._queue: deque[Event] = deque()
        self._qlock = threading.Lock()
        self._state = _IDLE
        self._worker: asyncio.Task[None] | None = None
        self._worker_loop: asyncio.AbstractEventLoop | None = None
        self._worker_thread = 0
        # Set only while the worker waits for work, so post wakes it only when it must.
        self._idle: asyncio.Future[None] | None = None

    @property
    def closed(self) -> bool:
        """Whether `aclose()` has closed the bus."""
        return self._closed

    # -- subscriptions -------------------------------------------------------

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
        # [ROB-4] arguments of the usual types pass at a glance; others get the full check, and its message.
        if not (
            type(priority) is int
            and type(policy) is ExecPolicy
            and type(once) is bool
            and isinstance(event_type, type)
            and issubclass(event_type, Event)
        ):
            _check_subscription("EventBus.subscribe()", event_type, priority, policy, once)
        if not callable(fn):
            raise TypeError(f"EventBus.subscribe(): fn must be callable, got {fn!r}")  # [ROB-3]
        label = (
            "" if policy is _INLINE else f"ExecPolicy.{policy.name} handler {_describe(fn)} of {event_type.__name__}"
        )
        sub = _Sub(fn, priority, policy, _run_mode(fn, policy), _Once() if once else None, label)
        with self._lock:
            if self._closed:
                raise EventBusClosedError()  # IMPL-11
            old = self._routes.get(event_type)
            if old is None:
                route = _route((sub,))
            elif old.subs[-1].priority >= priority:
                route = _appended(old, sub)  # it sorts last: the common case, as when all priorities are equal
            else:
                # [EXT-PRI-1] higher priority first; sorted() is stable, so equal priorities
                # keep subscription order [POL-ORDER-1].
                route = _route(tuple(sorted((*old.subs, sub), key=lambda s: -s.priority)))
            self._routes[event_type] = route

    def unsubscribe(self, event_type: type[_E], fn: Callable[[_E], Any]) -> None:
        """Remove every registration of `fn` for `event_type`; a no-op if there is none.

        Handlers match by equality, so `obj.method` unsubscribes a registration made
        with another binding of the same method on the same object.
        """
        _check_event_type("EventBus.unsubscribe()", event_type)
        with self._lock:
            old = self._routes.get(event_type)
            if old is None:
                return  # [EXT-UNSUB-2]
            self._set_route(event_type, tuple(s for s in old.subs if not (s.fn is fn or s.fn == fn)))

    def _set_route(self, event_type: type[Event], subs: tuple[_Sub, ...]) -> None:
        # Caller holds _lock. An empty route is removed, so a missing key means "no subscribers".
        if subs:
            self._routes[event_type] = _route(subs)
        else:
            self._routes.pop(event_type, None)

    def _claim_once(self, event_type: type[Event], sub: _Sub) -> bool:
        """Fire a `once` latch; False if another dispatch already ran this registration [EXT-ONCE-1]."""
        latch = sub.once
        assert latch is not None
        with self._lock:
            if latch.fired:
                return False
            latch.fired = True
            old = self._routes.get(event_type)
            if old is not None and sub in old.subs:
                self._set_route(event_type, tuple(s for s in old.subs if s is not sub))
            return True

    # -- publishing ----------------------------------------------------------

    async def publish(self, event: Event) -> None:
        """Dispatch `event` to the handlers of `type(event)`; return once every INLINE handler has finished.

        The first exception of an INLINE handler propagates unwrapped and ends the
        dispatch; TASK and THREADPOOL failures are logged, never raised.
        """
        # [PUB-1] exact type only, so base-class handlers get nothing (IMPL-1) [PUB-2, PUB-3].
        # Reading the route is the snapshot [PUB-5]: routes are immutable tuples.
        route = self._routes.get(type(event))
        if route is None:
            # Only Event subclasses become keys, so a hit proves `event` is an Event:
            # the type and closed checks cost nothing on the hot path.
            self._check_publishable(event, "publish")
            return  # [PUB-4]
        plain = route.plain
        if plain is not None:
            for fn in plain:
                fn(event)  # [POL-INLINE-2] in place, on the loop's thread; [ERR-1] raises through
            return
        awaited = route.awaited
        if awaited is not None:
            for fn in awaited:
                await fn(event)  # [POL-INLINE-1, POL-ORDER-1] one after another; [ERR-1] raises through
            return
        pending = self._pending
        loop: asyncio.AbstractEventLoop | None = None
        spawn = route.spawn
        if spawn is not None:
            loop = asyncio.get_running_loop()
            for fn, label in spawn:
                try:
                    coro = fn(event)
                except Exception as exc:  # raised by the call itself, before any await [ERR-3]
                    _log.error("%s raised; the publisher was not affected", label, exc_info=exc)
                    continue
                task = loop.create_task(coro, name=label)  # as in the general loop below
                pending.add(task)
                task.add_done_callback(self._on_task_done)
            return
        event_type = type(event)
        for sub in route.subs:
            if sub.once is not None and not self._claim_once(event_type, sub):
                continue
            run = sub.run
            if run == _SYNC_INLINE:
                sub.fn(event)  # [POL-INLINE-2]
            elif run == _ASYNC_INLINE:
                await sub.fn(event)  # [POL-INLINE-1, POL-ORDER-1] one after another; [ERR-1] raises through
            else:
                if loop is None:
                    loop = asyncio.get_running_loop()
                if run == _SYNC_THREAD:
                    # [POL-THREAD-1..3] off the loop's thread, not awaited; IMPL-10: the default executor.
                    future = loop.run_in_executor(None, _call_in_thread, sub, event)
                    pending.add(future)
                    future.add_done_callback(pending.discard)
                    continue
                if run == _ASYNC_TASK:
                    try:
                        coro = sub.fn(event)
                    except Exception as exc:  # raised by the call itself, before any await
                        _log.error("%s raised; the publisher was not affected", sub.label, exc_info=exc)  # [ERR-3]
                        continue
                else:
                    coro = _call_sync(sub.fn, event)  # [POL-MIX-1] a sync TASK handler is called once, in the task
                # [POL-TASK-1, POL-TASK-2] started, not awaited. [POL-TASK-3] the loop keeps only
                # weak references to tasks: hold one until the done-callback drops it.
                task = loop.create_task(coro, name=sub.label)
                pending.add(task)
                task.add_done_callback(self._on_task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        # A done-callback rather than a `finally` in the coroutine: it also runs for a
        # task cancelled before it started, and costs no wrapper coroutine per handler.
        self._pending.discard(task)
        if not task.cancelled():
            exc = task.exception()
            if exc is not None:
                # [ERR-3, ERR-5] logged with the exception attached; never raised to the publisher.
                _log.error("%s raised; the publisher was not affected", task.get_name(), exc_info=exc)

    def _check_publishable(self, event: object, method: str) -> None:
        if not isinstance(event, Event):
            raise _not_an_event(event, method)  # [ROB-1]
        if self._closed:
            raise EventBusClosedError()  # [LIFE-2]

    def publish_sync(self, event: Event) -> None:
        """Publish from a plain `def`.

        On a running loop, schedule `publish(event)` as a task and return at once;
        its failure is logged. With no running loop, run it to completion with
        `asyncio.run`, which also waits for the TASK and THREADPOOL handlers it
        started, since that loop ends on return.
        """
        self._check_publishable(event, "publish_sync")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._publish_and_settle(event))  # [EXT-SYNC-1]
            return
        # [EXT-SYNC-2] a task held and logged like a TASK handler's.
        task = loop.create_task(self.publish(event), name=f"EventBus.publish_sync({type(event).__name__})")
        self._pending.add(task)
        task.add_done_callback(self._on_task_done)

    async def _publish_and_settle(self, event: Event) -> None:
        try:
            await self.publish(event)
        finally:
            # asyncio.run cancels what is left when this returns: let the fire-and-forget
            # handlers this loop started finish instead of cancelling them unrun.
            loop = asyncio.get_running_loop()
            while mine := [f for f in list(self._pending) if f.get_loop() is loop]:
                await asyncio.wait(mine)

    # -- the queue and its worker -----------------------------------------------

    def post(self, event: Event) -> None:
        """Queue `event` for the worker and return at once; callable from any thread.

        Raises `EventBusError` when no worker is running or it is stopping,
        `EventBusQueueFullError` when the queue is full, and `EventBusClosedError`
        after `aclose()`: an event is queued or refused, never dropped.
        """
        # [POST-1] a plain def that never runs a handler itself.
        if not isinstance(event, Event):
            raise _not_an_event(event, "post")  # [ROB-2] in the caller, not later in the worker
        # [POST-2, ROB-6] one lock orders producers of every thread; each producer's events stay FIFO [POST-3].
        with self._qlock:
            if self._state != _RUNNING:
                raise self._refusal()
            if self._max and len(self._queue) >= self._max:
                # [POST-7, POST-8] raised here, in the caller's thread; IMPL-7: only events not yet taken count.
                raise EventBusQueueFullError(
                    f"EventBus.post(): the queue is full (max_queue_size={self._max}); the event was not "
                    "queued: retry later, await bus.publish(event) instead, or raise max_queue_size"
                )
            self._queue.append(event)
            idle = self._idle
            if idle is None:
                return  # the worker is busy and will find the event on its own
            self._idle = None
            loop, thread = self._worker_loop, self._worker_thread
        assert loop is not None
        self._wake(idle, loop, thread)

    def _refusal(self) -> EventBusError:
        # Caller holds _qlock.
        if self._closed:
            return EventBusClosedError()  # [LIFE-3]
        if self._state == _STOPPING:
            # [WRK-4] IMPL-5: refusing keeps the drain finite and loses nothing silently.
            return EventBusError(
                "EventBus.post(): the worker is stopping (stop_worker() or aclose() was called); the event "
                "was not queued: await bus.start_worker() again, or use await bus.publish(event)"
            )
        # [POST-5, POST-6, EXT-ERR-3] IMPL-4: raise rather than buffer.
        return EventBusError(
            "EventBus.post(): no worker is running: await bus.start_worker() first, or use await bus.publish(event)"
        )

    @staticmethod
    def _wake(idle: asyncio.Future[None], loop: asyncio.AbstractEventLoop, thread: int) -> None:
        try:
            if threading.get_ident() == thread:
                _resolve(idle)
            else:
                loop.call_soon_threadsafe(_resolve, idle)
        except RuntimeError as exc:
            raise EventBusError(
                "the event loop the worker was started on is closed; await bus.stop_worker() or "
                "bus.aclose(), then start the worker on a running loop"
            ) from exc

    async def start_worker(self) -> None:
        """Start the worker on the running loop; a no-op if it is already running."""
        loop = asyncio.get_running_loop()
        while True:
            with self._qlock:
                if self._closed:
                    raise EventBusClosedError()
                old = self._worker
                if self._state == _IDLE:
                    # [WRK-7] posted events are dispatched on this loop, whatever thread posted them.
                    self._state = _RUNNING
                    self._worker_loop = loop
                    self._worker_thread = threading.get_ident()
                    break
                if self._state == _RUNNING:
                    return  # [WRK-1]
            # A stopping worker is still draining: let it finish, then start anew [WRK-5].
            if old is None:
                await asyncio.sleep(0)  # another thread is between states; look again
                continue
            if old is asyncio.current_task():
                raise EventBusError(
                    "start_worker() was awaited by a handler running on the worker that is stopping; "
                    "start the worker again after stop_worker() has returned"
                )
            await self._join(old)
        # Created outside the lock: an eager task factory would run the worker at once, and it takes the lock.
        try:
            task = loop.create_task(self._work(), name="reference.event_bus worker")
        except BaseException:
            with self._qlock:
                self._state = _IDLE
            raise
        with self._qlock:
            self._worker = task
        # A done-callback, not a `finally`: it also runs for a worker cancelled before it started.
        task.add_done_callback(self._release_worker)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        queue, lock, routes = self._queue, self._qlock, self._routes
        # The shortcut below does what EventBus.publish does; a subclass overriding publish gets its own.
        shortcut = type(self).publish is EventBus.publish
        while True:
            with lock:
                batch = len(queue)
                if not batch:
                    if self._state == _STOPPING:
                        return  # [WRK-2] everything queued before stop_worker() has been dispatched
                    idle = self._idle = loop.create_future()
            if not batch:
                await idle
                continue
            for _ in range(batch):
                # One at a time: an event counts toward max_queue_size until taken (IMPL-7). Only
                # the worker takes events, and popleft is atomic, so this needs no lock.
                event = queue.popleft()
                try:
                    route = routes.get(type(event)) if shortcut else None
                    plain = route.plain if route is not None else None
                    if plain is not None:
                        # What publish does for such a route, without making a coroutine per event.
                        for fn in plain:
                            fn(event)
                    else:
                        await self.publish(event)  # [POST-4] exactly as publish would, policies and all
                except Exception as exc:
                    # [WRK-6] an INLINE failure is logged and the worker goes on.
                    _log.error(
                        "event handler raised while the worker dispatched %s", type(event).__name__, exc_info=exc
                    )
            if queue:
                # Events came in during the batch. Sync handlers that post on every event would
                # otherwise keep the worker from ever suspending, and stop_worker() from ever
                # running [WRK-4]: give the rest of the loop a turn between batches.
                await asyncio.sleep(0)

    def _release_worker(self, task: asyncio.Task[None]) -> None:
        with self._qlock:
            if self._worker is not task:
                return
            self._worker = None
            self._worker_loop = None
            self._idle = None
            self._state = _IDLE
            left = len(self._queue)
        if left:
            # Only a worker cancelled mid-queue (e.g. its loop shut down) gets here; the events are kept.
            _log.warning(
                "the event bus worker ended with %d posted events not yet dispatched; "
                "they are dispatched if the worker is started again",
                left,
            )

    async def _join(self, task: asyncio.Task[None]) -> None:
        """Wait until the worker `task` has ended, from any loop, without cancelling it."""
        worker_loop = task.get_loop()
        if worker_loop is asyncio.get_running_loop():
            await asyncio.wait((task,))
        elif not worker_loop.is_closed():
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(asyncio.wait((task,)), worker_loop))
        # else: a closed loop never runs the worker again; release it so the bus can go on.
        self._release_worker(task)

    async def stop_worker(self) -> None:
        """Stop the worker after it has dispatched every event posted before this call.

        A no-op when no worker runs. Awaited by a handler running on the worker
        itself, it only tells the worker to stop and returns: the worker cannot
        wait for itself.
        """
        with self._qlock:
            if self._state == _IDLE:
                return  # [WRK-3]
            # [WRK-4] from now on post refuses, so the drain ends even if handlers keep posting.
            self._state = _STOPPING
            task = self._worker
            idle, self._idle = self._idle, None
            loop, thread = self._worker_loop, self._worker_thread
        if idle is not None and loop is not None:
            self._wake(idle, loop, thread)
        if task is None or task is asyncio.current_task():
            return
        await self._join(task)  # [WRK-2]

    async def aclose(self) -> None:
        """Drain and stop the worker, then close the bus and drop every subscriber; idempotent.

        It does not wait for TASK or THREADPOOL handlers still running (IMPL-9).
        """
        # [EXT-CLOSE-1] drain first: handlers of the queued events may still publish.
        await self.stop_worker()
        left = 0
        with self._lock, self._qlock:
            self._closed = True  # before clearing: a publish that then finds no route sees it closed [LIFE-2]
            self._routes.clear()
            # A worker still registered here is the caller's own (a handler on the worker awaited
            # aclose): it goes on taking the queued events, which now fail as the bus is closed.
            if self._worker is None:
                left = len(self._queue)
                self._queue.clear()
        if left:
            _log.warning("aclose() discarded %d posted events that a cancelled worker never dispatched", left)


_MARKS = "__reference_subscriptions__"


@dataclass(frozen=True, slots=True)
class _Mark:
    """One `@subscribe` mark: the arguments of the decorator."""

    event_type: type[Event]
    priority: int
    policy: ExecPolicy
    once: bool


def subscribe(
    event_type: type[Event],
    *,
    priority: int = 0,
    policy: ExecPolicy = ExecPolicy.INLINE,
    once: bool = False,
) -> Callable[[_F], _F]:
    """Mark a method as a handler of `event_type`, for `AutoSubscriberMixin` to register.

    The decorator returns the same function, still callable as before, and
    registers nothing itself. Marks stack: a method may handle several types.
    """
    _check_subscription("@subscribe()", event_type, priority, policy, once)  # [ROB-5] at decoration time
    mark = _Mark(event_type, priority, policy, once)

    def mark_handler(fn: _F) -> _F:
        target: Any = fn.__func__ if isinstance(fn, (staticmethod, classmethod)) else fn
        if not callable(target):
            raise TypeError(f"@subscribe() decorates functions and methods, got {fn!r}")
        # [SUB-6] marks accumulate; applied bottom-up, so the innermost is registered first.
        setattr(target, _MARKS, (*getattr(target, _MARKS, ()), mark))
        return fn  # [SUB-1] the very same object

    return mark_handler


def _marked_handlers(cls: type) -> list[tuple[Any, tuple[_Mark, ...]]]:
    """The class attributes carrying `@subscribe` marks, as (descriptor, marks).

    Read from the classes' namespaces along the MRO, so properties and other
    attributes of the instance are never evaluated. A subclass's definition
    overrides its base's (an override without marks unmarks the method); base
    classes' methods come first, each class's in definition order.
    """
    attrs: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        attrs.update(vars(klass))
    found = []
    for attr in attrs.values():
        func = attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr
        marks = vars(func).get(_MARKS, ()) if inspect.isfunction(func) else ()
        if marks:
            found.append((attr, marks))
    return found


class AutoSubscriberMixin:
    """Mix into a component: its `@subscribe` methods are registered when the container creates an instance.

    Nothing is registered when the class is defined or imported [SUB-4]; each
    instance registers its own bound methods [SUB-5].
    """

    def _autosubscribe(self, bus: EventBus) -> None:
        """Register this instance's marked methods on `bus` (called by the container) [SUB-2, SUB-3]."""
        registered: list[tuple[EventBus, type[Event], _Handler]] = vars(self).setdefault(
            "_reference_autosubscriptions", []
        )
        for attr, marks in _marked_handlers(type(self)):
            handler = attr.__get__(self, type(self))
            for mark in marks:
                # [EXT-SUB-1] the mark's priority, policy and once apply.
                bus.subscribe(mark.event_type, handler, priority=mark.priority, policy=mark.policy, once=mark.once)
                registered.append((bus, mark.event_type, handler))

    def _autounsubscribe(self, bus: EventBus) -> None:
        """Remove what `_autosubscribe(bus)` registered (called by the container at cleanup) [EXT-MIX-1]."""
        registered: list[tuple[EventBus, type[Event], _Handler]] = vars(self).get("_reference_autosubscriptions", [])
        mine = [entry for entry in registered if entry[0] is bus]
        registered[:] = [entry for entry in registered if entry[0] is not bus]
        for _, event_type, handler in mine:
            bus.unsubscribe(event_type, handler)

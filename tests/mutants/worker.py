"""Broken buses for SPEC.md §5: `post`, the bounded queue and the worker's lifecycle."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
import threading
from typing import Any

import reference.event_bus as ref
import tests.alt_impl.event_bus as alt

from .base import ALT, REFERENCE, mutant

log = logging.getLogger(__name__)


def _flags(bus: object) -> dict[str, Any]:
    """Per-bus state of a reference-based mutant, kept apart from the reference's own attributes."""
    flags: dict[str, Any] = vars(bus).setdefault("_mutant_flags", {})
    return flags


class _Tracking(ref.EventBus):
    """The reference bus, remembering (through its public methods only) whether a worker runs or ever ran."""

    async def start_worker(self) -> None:
        await super().start_worker()
        _flags(self).update(running=True, started=True, loop=asyncio.get_running_loop(), thread=threading.get_ident())

    async def stop_worker(self) -> None:
        _flags(self)["running"] = False
        await super().stop_worker()


def _is_no_worker_error(exc: BaseException) -> bool:
    return type(exc) is ref.EventBusError  # not a subclass: not closed, not full


# -- POST-1, POST-2 --------------------------------------------------------------------------


class CoroutinePostBus(ref.EventBus):
    """`post` is an `async def`: a plain call returns a coroutine and queues nothing."""

    async def post(self, event: Any) -> None:  # type: ignore[override]
        super().post(event)


class LoopOnlyPostBus(ref.EventBus):
    """`post` looks up the running loop, so it raises RuntimeError on a thread without one."""

    def post(self, event: Any) -> None:
        asyncio.get_running_loop()
        super().post(event)


# -- POST-3, POST-4 -----------------------------------------------------------------------------


class StackQueueBus(alt.EventBus):
    """The worker takes the newest queued event first (`deque.pop()`)."""

    def take_next(self) -> alt.Event:
        return self._queue.pop()


class ConcurrentWorkerBus(alt.EventBus):
    """The worker starts each posted event's dispatch as a task and goes on without awaiting it."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        self.keep(asyncio.ensure_future(super().dispatch_posted(event)))


class FlatWorkerBus(alt.EventBus):
    """The worker calls every handler of a posted event in place, ignoring the policies."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        for registration in self.matching(type(event)):
            if self.claim(registration):
                try:
                    await self.run_inline(registration, event)
                except Exception as exc:
                    log.error("handler failed", exc_info=exc)


# -- POST-5, POST-6 -----------------------------------------------------------------------------


class DropBeforeStartBus(_Tracking):
    """`post` before the first `start_worker` returns normally and drops the event."""

    def post(self, event: Any) -> None:
        try:
            super().post(event)
        except ref.EventBusError as exc:
            if not (_is_no_worker_error(exc) and not _flags(self).get("started")):
                raise


class DropAfterStopBus(_Tracking):
    """`post` after `stop_worker` returns normally and drops the event."""

    def post(self, event: Any) -> None:
        try:
            super().post(event)
        except ref.EventBusError as exc:
            if not (_is_no_worker_error(exc) and _flags(self).get("started")):
                raise


# -- POST-7, POST-8 -------------------------------------------------------------------------------


class DroppingFullQueueBus(ref.EventBus):
    """`post` on a full queue drops the event silently instead of raising."""

    def post(self, event: Any) -> None:
        with contextlib.suppress(ref.EventBusQueueFullError):
            super().post(event)


class UnboundedBus(alt.EventBus):
    """`max_queue_size` is stored and never checked."""

    def admit(self) -> None:
        pass


class OffByOneBus(alt.EventBus):
    """The bound counts only waiting events and compares with `>`: one more than N are accepted."""

    def admit(self) -> None:
        if self.max_queue_size and len(self._queue) > self.max_queue_size:
            raise alt.EventBusQueueFullError("the queue is full")


class MarshallingPostBus(_Tracking):
    """`post` from another thread hands the event to the worker's loop, so a full queue raises there, not here."""

    def post(self, event: Any) -> None:
        flags = _flags(self)
        loop = flags.get("loop")
        off_loop = threading.get_ident() != flags.get("thread")
        if flags.get("running") and off_loop and loop is not None and isinstance(event, ref.Event) and not self.closed:
            loop.call_soon_threadsafe(super().post, event)
            return
        super().post(event)


# -- WRK-1 .. WRK-7 -------------------------------------------------------------------------------


class StrictStartBus(_Tracking):
    """A second `start_worker` while the worker runs raises RuntimeError."""

    async def start_worker(self) -> None:
        if _flags(self).get("running"):
            raise RuntimeError("the worker is already running")
        await super().start_worker()


class ResettingStartBus(alt.EventBus):
    """`start_worker` while the worker runs starts afresh with an empty queue: events waiting in it are lost."""

    async def start_worker(self) -> None:
        with self._qlock:
            if self._worker is not None and self._drain_until is None:
                self._accepted -= len(self._queue)
                self._queue.clear()
        await super().start_worker()


class CancellingStopBus(alt.EventBus):
    """`stop_worker` cancels the worker task instead of letting it drain the queue."""

    async def stop_worker(self) -> None:
        with self._qlock:
            task = self._worker
        if task is None or task is asyncio.current_task():
            return
        task.cancel()
        await asyncio.wait({task})


class NonWaitingStopBus(alt.EventBus):
    """`stop_worker` asks the worker to stop and returns without waiting for the drain."""

    async def stop_worker(self) -> None:
        self.keep(asyncio.ensure_future(super().stop_worker()))


class DeafWorkerBus(alt.EventBus):
    """The worker loops on "wait for the next event" and never looks at the stop request: stop_worker hangs."""

    def should_stop(self) -> bool:
        return False


class StrictStopBus(_Tracking):
    """`stop_worker` without a running worker raises RuntimeError."""

    async def stop_worker(self) -> None:
        if not _flags(self).get("running"):
            raise RuntimeError("no worker is running")
        await super().stop_worker()

    async def aclose(self) -> None:
        if _flags(self).get("running"):
            await self.stop_worker()
        await ref.EventBus.aclose(self)


class UntilEmptyBus(alt.EventBus):
    """The worker drains until the queue is empty, so it never stops while handlers keep posting."""

    def should_stop(self) -> bool:
        return self._drain_until is not None and not self._queue


class ClearingStopBus(alt.EventBus):
    """`stop_worker` drains, then clears the queue: events posted during the drain are lost."""

    async def stop_worker(self) -> None:
        await super().stop_worker()
        with self._qlock:
            self._queue.clear()


class OneShotWorkerBus(_Tracking):
    """Once stopped, the worker never starts again: `start_worker` checks a flag that stop never resets."""

    async def start_worker(self) -> None:
        if _flags(self).get("stopped"):
            return
        await super().start_worker()

    async def stop_worker(self) -> None:
        if _flags(self).get("running"):
            _flags(self)["stopped"] = True
        await super().stop_worker()


class FragileWorkerBus(alt.EventBus):
    """An INLINE failure in a posted event's dispatch ends the worker."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        await self.publish(event)


class SilentWorkerBus(alt.EventBus):
    """The worker swallows a posted event's handler failure without logging it."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        with contextlib.suppress(Exception):
            await self.publish(event)


class QuietPostedBackgroundBus(alt.EventBus):
    """A failing TASK or THREADPOOL handler of a posted event is not logged ("the worker must stay quiet"); those of
    published events are."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        self._posted = [*getattr(self, "_posted", []), event]
        await super().dispatch_posted(event)

    def report(self, registration: alt.Registration, event: alt.Event, exc: BaseException) -> None:
        if not any(e is event for e in getattr(self, "_posted", [])):
            super().report(registration, event, exc)


class InPlacePostBus(ref.EventBus):
    """`post` from a thread without a running loop publishes right there, with `publish_sync`."""

    def post(self, event: Any) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if isinstance(event, ref.Event) and not self.closed:
                self.publish_sync(event)
                return
        super().post(event)


# -- SPEC 1.1: time scale, two paths, multiplicity, lifecycle -------------------------------------


class PublishingThreadPostBus(alt.EventBus):
    """`post` from another thread to an idle worker dispatches on the worker's loop at once and waits for it."""

    def post(self, event: alt.Event) -> None:
        with self._qlock:
            wakeup = self._wakeup
            idle = not self._queue and not self._busy and self._drain_until is None
        if wakeup is None or threading.get_ident() == wakeup[2] or not idle or not isinstance(event, alt.Event):
            super().post(event)
            return
        asyncio.run_coroutine_threadsafe(self.dispatch_posted(event), wakeup[0]).result()


class HiddenTimeoutWorkerBus(alt.EventBus):
    """The worker gives each dispatch 100 ms, then goes on to the next event, leaving the slow one running."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        task = asyncio.ensure_future(super().dispatch_posted(event))
        self.keep(task)
        await asyncio.wait({task}, timeout=0.1)


class TaskAwaitingWorkerBus(alt.EventBus):
    """The worker awaits the TASK handlers each dispatch started before it takes the next event."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        before = set(self._tasks)
        await super().dispatch_posted(event)
        started = [t for t in self._tasks if t not in before]
        if started:
            await asyncio.wait(started)


_in_worker: contextvars.ContextVar[bool] = contextvars.ContextVar("_in_worker", default=False)


class LoopThreadPoolWorkerBus(alt.EventBus):
    """Through the worker, THREADPOOL handlers run in place on the loop's thread (publish honours the policy)."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        token = _in_worker.set(True)
        try:
            await super().dispatch_posted(event)
        finally:
            _in_worker.reset(token)

    def start_thread(self, registration: alt.Registration, event: alt.Event) -> None:
        if not _in_worker.get():
            super().start_thread(registration, event)
            return
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.thread_main(registration, event, done)


class LateDuplicateWorkerBus(alt.EventBus):
    """The worker "retries" each posted event's INLINE handlers 200 ms later, from a task: a second delivery."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        inline = [r for r in self.matching(type(event)) if r.policy is alt.ExecPolicy.INLINE]
        await super().dispatch_posted(event)
        self.keep(asyncio.ensure_future(self._retry(inline, event)))

    async def _retry(self, registrations: list[alt.Registration], event: alt.Event) -> None:
        await asyncio.sleep(0.2)
        await self.run_inlines(registrations, event)


class GraceStopBus(alt.EventBus):
    """`stop_worker` gives the drain a grace period, then cancels the worker and drops the queue."""

    grace = 0.05

    async def stop_worker(self) -> None:
        with self._qlock:
            task = self._worker
        if task is None or task is asyncio.current_task():
            await super().stop_worker()
            return
        stopping = asyncio.ensure_future(super().stop_worker())
        done, _ = await asyncio.wait({stopping}, timeout=self.grace)
        if not done:
            with self._qlock:
                self._taken += len(self._queue)
                self._queue.clear()
            task.cancel()
            await asyncio.wait({stopping})


class LongGraceStopBus(GraceStopBus):
    """`stop_worker` gives the drain 200 ms, then cancels the worker and drops the queue."""

    grace = 0.2


class LazyOnceWorkerBus(alt.EventBus):
    """`start_worker` only arms the bus; the first post after it launches the worker, and only the first ever."""

    _armed: tuple[asyncio.AbstractEventLoop, int] | None = None
    _launched = False

    async def start_worker(self) -> None:
        if self._launched:
            return  # "already started": a flag that stop_worker never resets
        self._armed = (asyncio.get_running_loop(), threading.get_ident())
        with self._qlock:
            waiting = bool(self._queue)
        if waiting:
            self._launch()

    def post(self, event: alt.Event) -> None:
        super().post(event)
        armed = self._armed
        if armed is not None and not self._launched:
            self._launched = True
            if threading.get_ident() == armed[1]:
                self._launch()
            else:
                armed[0].call_soon_threadsafe(self._launch)

    def _launch(self) -> None:
        self._launched = True
        assert self._armed is not None
        loop, thread = self._armed
        with self._qlock:
            if self._worker is not None:
                return
            flag = asyncio.Event()
            self._wakeup = (loop, flag, thread)
            task = loop.create_task(self.work(flag))
            self._worker = task
            task.add_done_callback(self._worker_ended)
            flag.set()


class ZeroMeansFullBus(alt.EventBus):
    """`max_queue_size=0` is taken literally: a queue of size 0 is always full."""

    def admit(self) -> None:
        if self.max_queue_size == 0 and "max_queue_size" in vars(self).get("_given", ()):
            raise alt.EventBusQueueFullError("the queue is full (max_queue_size=0)")
        super().admit()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._given = tuple(kwargs)


class DefaultBoundBus(alt.EventBus):
    """No queue size, or 0, means a default bound of 100, as with `asyncio.Queue(maxsize=size or 100)`."""

    def admit(self) -> None:
        if len(self._queue) + self._busy >= (self.max_queue_size or 100):
            raise alt.EventBusQueueFullError("the queue is full (100 events)")


class HiddenCapBus(ref.EventBus):
    """An "unbounded" queue with a hidden cap of 1,024 waiting events (a ring buffer's size): the next post raises."""

    def post(self, event: Any) -> None:
        if not self._max_queue_size and len(self._queue) >= 1024:
            raise ref.EventBusQueueFullError("EventBus.post(): the queue is full (1024 events)")
        super().post(event)


class DrainCappedBus(alt.EventBus):
    """`stop_worker` drains at most 4,096 of the events waiting when it is called ("one ring buffer's worth"); the
    rest stay queued for a later worker."""

    async def stop_worker(self) -> None:
        with self._qlock:
            self._taken_at_stop = self._taken
        await super().stop_worker()

    def should_stop(self) -> bool:
        drained = self._taken - getattr(self, "_taken_at_stop", self._taken)
        return super().should_stop() or (self._drain_until is not None and drained >= 4096)


class UnboundedBufferBus(alt.EventBus):
    """The bound is enforced only while a worker runs: posts buffered before start_worker are never refused."""

    def admit(self) -> None:
        if self._worker is not None:
            super().admit()


class HandlersAtPostBus(alt.EventBus):
    """An event buffered while no worker runs keeps the handlers registered when it was posted.

    Its dispatch starts only when the worker takes it, so handlers registered in
    between are skipped and handlers removed in between still run [POST-4; Terms: Dispatch].
    """

    def post(self, event: Any) -> None:
        chosen = self.matching(type(event)) if self._worker is None and isinstance(event, alt.Event) else None
        super().post(event)
        if chosen is not None:
            self.__dict__.setdefault("at_post", {})[id(event)] = chosen

    async def dispatch_posted(self, event: Any) -> None:
        chosen = self.__dict__.setdefault("at_post", {}).pop(id(event), None)
        if chosen is None:
            await super().dispatch_posted(event)
            return
        chosen = [r for r in chosen if self.claim(r)]
        self.start_background([r for r in chosen if r.policy is not alt.ExecPolicy.INLINE], event)
        errors = await self.run_inlines([r for r in chosen if r.policy is alt.ExecPolicy.INLINE], event)
        for exc in errors:
            logging.getLogger(__name__).error("a handler of a posted event failed", exc_info=exc)


MUTANTS = [
    mutant(
        "post-is-a-coroutine",
        "POST-1",
        "post is an async def, so a plain call queues nothing",
        REFERENCE,
        EventBus=CoroutinePostBus,
    ),
    mutant(
        "post-needs-a-running-loop",
        "POST-2",
        "post calls asyncio.get_running_loop(), so it raises on a thread without a loop",
        REFERENCE,
        EventBus=LoopOnlyPostBus,
    ),
    mutant(
        "worker-takes-newest-first",
        "POST-3",
        "the worker pops the newest event first (LIFO)",
        ALT,
        EventBus=StackQueueBus,
    ),
    mutant(
        "worker-dispatches-concurrently",
        "POST-4",
        "the worker starts each dispatch as a task and does not await it",
        ALT,
        EventBus=ConcurrentWorkerBus,
    ),
    mutant(
        "worker-ignores-policies",
        "POST-4",
        "the worker calls every handler in place, whatever its policy",
        ALT,
        EventBus=FlatWorkerBus,
    ),
    mutant(
        "post-before-start-dropped",
        "POST-5",
        "post before the first start_worker returns normally and drops the event",
        REFERENCE,
        EventBus=DropBeforeStartBus,
    ),
    mutant(
        "post-after-stop-dropped",
        "POST-6",
        "post after stop_worker returns normally and drops the event",
        REFERENCE,
        EventBus=DropAfterStopBus,
    ),
    mutant(
        "full-queue-drops-silently",
        "POST-7",
        "post on a full queue drops the event instead of raising",
        REFERENCE,
        EventBus=DroppingFullQueueBus,
    ),
    mutant("queue-bound-ignored", "POST-7", "max_queue_size is stored but never checked", ALT, EventBus=UnboundedBus),
    mutant(
        "queue-bound-off-by-one",
        "POST-7",
        "the bound compares with > and ignores the event in dispatch",
        ALT,
        EventBus=OffByOneBus,
    ),
    mutant(
        "full-queue-error-raised-on-the-loop",
        "POST-8",
        "post from another thread hands the event to the loop, where the full-queue error is raised and logged",
        REFERENCE,
        EventBus=MarshallingPostBus,
    ),
    mutant(
        "second-start-raises",
        "WRK-1",
        "start_worker while the worker runs raises RuntimeError",
        REFERENCE,
        EventBus=StrictStartBus,
    ),
    mutant(
        "second-start-resets-the-queue",
        "WRK-1",
        "start_worker while the worker runs empties the queue, losing the events waiting in it",
        ALT,
        EventBus=ResettingStartBus,
    ),
    mutant(
        "stop-cancels-the-worker",
        "WRK-2",
        "stop_worker cancels the worker instead of draining the queue",
        ALT,
        EventBus=CancellingStopBus,
    ),
    mutant(
        "stop-does-not-wait",
        "WRK-2",
        "stop_worker asks the worker to stop and returns before the drain",
        ALT,
        EventBus=NonWaitingStopBus,
    ),
    mutant(
        "worker-never-stops",
        "WRK-2",
        "the worker waits for events forever and never sees the stop request, so stop_worker hangs",
        ALT,
        EventBus=DeafWorkerBus,
    ),
    mutant(
        "stop-without-worker-raises",
        "WRK-3",
        "stop_worker without a running worker raises RuntimeError",
        REFERENCE,
        EventBus=StrictStopBus,
    ),
    mutant(
        "stop-drains-until-empty",
        "WRK-4",
        "the worker drains until the queue is empty, so it never stops while handlers keep posting",
        ALT,
        EventBus=UntilEmptyBus,
    ),
    mutant(
        "stop-clears-the-queue",
        "WRK-4",
        "stop_worker drains, then clears the queue: events posted during the drain are lost",
        ALT,
        EventBus=ClearingStopBus,
    ),
    mutant(
        "worker-never-restarts",
        "WRK-5",
        "start_worker after stop_worker is a no-op (a flag never reset)",
        REFERENCE,
        EventBus=OneShotWorkerBus,
    ),
    mutant(
        "worker-dies-on-handler-error",
        "WRK-6",
        "an INLINE failure of a posted event ends the worker",
        ALT,
        EventBus=FragileWorkerBus,
    ),
    mutant(
        "worker-hides-handler-errors",
        "WRK-6",
        "the worker swallows a handler failure without logging it",
        ALT,
        EventBus=SilentWorkerBus,
    ),
    mutant(
        "worker-hides-background-handler-errors",
        "WRK-6",
        "a failing TASK or THREADPOOL handler of a posted event is not logged; those of published events are",
        ALT,
        EventBus=QuietPostedBackgroundBus,
    ),
    mutant(
        "stop-drains-at-most-4096",
        "WRK-2",
        "stop_worker drains at most 4,096 of the waiting events; the rest stay queued for a later worker",
        ALT,
        EventBus=DrainCappedBus,
    ),
    mutant(
        "thread-posts-dispatched-in-place",
        "WRK-7",
        "post from a thread without a loop publishes right there (publish_sync), off the worker's loop",
        REFERENCE,
        EventBus=InPlacePostBus,
    ),
    mutant(
        "thread-post-waits-for-the-dispatch",
        "POST-1",
        "post from another thread to an idle worker dispatches the event on the loop at once and waits for it",
        ALT,
        EventBus=PublishingThreadPostBus,
    ),
    mutant(
        "worker-dispatch-hidden-timeout",
        "POST-4",
        "the worker gives each dispatch 100 ms, then takes the next event while the INLINE handlers still run",
        ALT,
        EventBus=HiddenTimeoutWorkerBus,
    ),
    mutant(
        "worker-awaits-task-handlers",
        "POST-4",
        "the worker awaits each event's TASK handlers before taking the next event",
        ALT,
        EventBus=TaskAwaitingWorkerBus,
    ),
    mutant(
        "worker-threadpool-on-the-loop",
        "POST-4",
        "through the worker, THREADPOOL handlers run in place on the loop's thread",
        ALT,
        EventBus=LoopThreadPoolWorkerBus,
    ),
    mutant(
        "worker-late-duplicate",
        "POST-4",
        "the worker runs each posted event's INLINE handlers again 200 ms later, from a task",
        ALT,
        EventBus=LateDuplicateWorkerBus,
    ),
    mutant(
        "stop-drain-grace-50ms",
        "WRK-2",
        "stop_worker gives the drain 50 ms, then cancels the worker and drops the queue",
        ALT,
        EventBus=GraceStopBus,
    ),
    mutant(
        "stop-drain-grace-200ms",
        "WRK-2",
        "stop_worker gives the drain 200 ms, then cancels the worker and drops the queue",
        ALT,
        EventBus=LongGraceStopBus,
    ),
    mutant(
        "worker-started-lazily-once",
        "WRK-5",
        "start_worker arms the bus and the first post launches the worker; once launched, start_worker is a no-op",
        ALT,
        EventBus=LazyOnceWorkerBus,
    ),
    mutant(
        "queue-size-zero-always-full",
        "POST-9",
        "max_queue_size=0 is taken literally, so every post raises the full-queue error",
        ALT,
        EventBus=ZeroMeansFullBus,
    ),
    mutant(
        "queue-size-default-100",
        "POST-9",
        "no queue size, or 0, means a bound of 100 events",
        ALT,
        EventBus=DefaultBoundBus,
    ),
    mutant(
        "queue-bound-ignored-before-start",
        "POST-7",
        "posts buffered before start_worker are never refused: the bound holds only while a worker runs",
        ALT,
        EventBus=UnboundedBufferBus,
    ),
    mutant(
        "unbounded-queue-capped-at-1024",
        "POST-9",
        "no queue size, or 0, means a hidden cap of 1,024 waiting events",
        REFERENCE,
        EventBus=HiddenCapBus,
    ),
    mutant(
        "buffered-event-keeps-handlers-of-post-time",
        "POST-4",
        "an event posted while no worker runs is dispatched to the handlers registered when it was posted",
        ALT,
        EventBus=HandlersAtPostBus,
    ),
]

"""Broken buses for SPEC.md §3: the execution policies INLINE, TASK and THREADPOOL."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import inspect
import threading
import time
import types
from typing import Any

import reference.event_bus as ref
import tests.alt_impl.event_bus as alt

from .base import ALT, REFERENCE, mutant

Registration = alt.Registration


class TaskByDefaultBus(ref.EventBus):
    """`subscribe` without a policy registers the handler as TASK."""

    def subscribe(self, event_type: Any, fn: Any, *, policy: Any = ref.ExecPolicy.TASK, **options: Any) -> None:
        super().subscribe(event_type, fn, policy=policy, **options)


class FunctionsOnlyInlineByDefaultBus(ref.EventBus):
    """Without a policy, plain functions are INLINE and every other callable (a bound method, a partial, an object
    with `__call__`) is TASK, "as component handlers run in the background"."""

    def subscribe(self, event_type: Any, fn: Any, *, policy: Any = None, **options: Any) -> None:
        if policy is None:
            policy = ref.ExecPolicy.INLINE if inspect.isfunction(fn) else ref.ExecPolicy.TASK
        super().subscribe(event_type, fn, policy=policy, **options)


class UnawaitedInlineBus(alt.EventBus):
    """An async INLINE handler's coroutine is started as a task, not awaited."""

    async def run_inline(self, registration: Registration, event: alt.Event) -> None:
        result = registration.fn(event)
        if inspect.isawaitable(result):
            self.keep(asyncio.ensure_future(result))


class ThreadedInlineBus(alt.EventBus):
    """A sync INLINE handler is awaited in the default executor instead of being called in place."""

    async def run_inline(self, registration: Registration, event: alt.Event) -> None:
        result = await asyncio.to_thread(registration.fn, event)
        if inspect.isawaitable(result):
            await result


class GatheringBus(alt.EventBus):
    """INLINE handlers are awaited together with `asyncio.gather`, so they interleave."""

    async def run_inlines(self, registrations: list[Registration], event: alt.Event) -> list[Exception]:
        results = await asyncio.gather(*(self.run_inline(r, event) for r in registrations), return_exceptions=True)
        return [r for r in results if isinstance(r, Exception)]


class GatheredPastEightBus(alt.EventBus):
    """The first 8 INLINE handlers of a dispatch run one after another; the rest, "rarely many", are gathered."""

    async def run_inlines(self, registrations: list[Registration], event: alt.Event) -> list[Exception]:
        errors = await super().run_inlines(registrations[:8], event)
        rest = await asyncio.gather(*(self.run_inline(r, event) for r in registrations[8:]), return_exceptions=True)
        return errors + [r for r in rest if isinstance(r, Exception)]


class SyncFirstBus(alt.EventBus):
    """A fast path: sync INLINE handlers are called first, the async ones awaited after them."""

    async def run_inlines(self, registrations: list[Registration], event: alt.Event) -> list[Exception]:
        sync = [r for r in registrations if not inspect.iscoroutinefunction(r.fn)]
        return await super().run_inlines(sync + [r for r in registrations if r not in sync], event)


class ThreadedTaskBus(alt.EventBus):
    """TASK handlers go the THREADPOOL way: their coroutine runs with `asyncio.run` on a thread."""

    def start_task(self, registration: Registration, event: alt.Event) -> None:
        self.start_thread(registration, event)


class WaitingForTasksBus(alt.EventBus):
    """`publish` awaits the tasks of its TASK handlers before it returns."""

    async def publish(self, event: Any) -> None:
        before = set(self._tasks)
        await super().publish(event)
        started = [t for t in set(self._tasks) - before if not t.done()]
        if started:
            await asyncio.wait(started)


class ForgetfulTaskBus(alt.EventBus):
    """TASK handler tasks are not kept: only the loop's weak reference holds them."""

    def keep(self, task: asyncio.Future[Any]) -> None:
        pass


class LoopThreadPoolBus(alt.EventBus):
    """THREADPOOL handlers are run like TASK ones: a sync handler is called on the loop's thread."""

    def start_thread(self, registration: Registration, event: alt.Event) -> None:
        self.start_task(registration, event)


class JoiningBus(alt.EventBus):
    """Each handler thread is reaped with a blocking `join` scheduled on the loop, which freezes the loop."""

    def start_thread(self, registration: Registration, event: alt.Event) -> None:
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        thread = threading.Thread(target=self.thread_main, args=(registration, event, done), daemon=True)
        thread.start()
        asyncio.get_running_loop().call_soon(thread.join)


class WaitingForThreadsBus(alt.EventBus):
    """`publish` awaits its THREADPOOL handlers' threads before it returns."""

    async def publish(self, event: Any) -> None:
        before = set(self._threads)
        await super().publish(event)
        started = [asyncio.wrap_future(f) for f in set(self._threads) - before]
        if started:
            await asyncio.wait(started)


class AsyncDefOnlyTaskBus(alt.EventBus):
    """Only an `async def` gets a task of its own: the coroutine of any other TASK handler (a callable object, a
    `def` or lambda that returns one) is awaited by the dispatch before it returns."""

    async def publish(self, event: Any) -> None:
        self._in_place: list[Any] = []
        await super().publish(event)
        for coroutine in self._in_place:
            await coroutine

    def start_task(self, registration: Registration, event: alt.Event) -> None:
        if inspect.iscoroutinefunction(registration.fn) or not hasattr(self, "_in_place"):
            super().start_task(registration, event)
        else:
            self._in_place.append(self.guarded(registration, event, registration.fn(event)))


class FunctionsOnlyTasksKeptBus(alt.EventBus):
    """Only the tasks of `async def` functions are kept; a bound method's, a partial's or a callable object's task
    has only the loop's weak reference."""

    def start_task(self, registration: Registration, event: alt.Event) -> None:
        if inspect.isfunction(registration.fn):
            super().start_task(registration, event)
        else:
            result = registration.fn(event)
            if inspect.isawaitable(result):
                asyncio.ensure_future(self.guarded(registration, event, result))  # noqa: RUF006 - the defect


class CallableObjectsWaitedOnTheLoopBus(alt.EventBus):
    """A THREADPOOL handler that is a callable object (not a function or method) runs on a thread, but the loop
    waits for that thread."""

    def start_thread(self, registration: Registration, event: alt.Event) -> None:
        if isinstance(registration.fn, (types.FunctionType, types.MethodType, functools.partial)):
            super().start_thread(registration, event)
        else:
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                pool.submit(self.thread_main, registration, event, concurrent.futures.Future()).result()


class MethodThreadsAwaitedBus(alt.EventBus):
    """`publish` awaits the threads of its THREADPOOL handlers that are not plain functions (methods, partials,
    callable objects): "they belong to a component"."""

    async def publish(self, event: Any) -> None:
        self._awaited: list[concurrent.futures.Future[None]] = []
        await super().publish(event)
        if self._awaited:
            await asyncio.wait([asyncio.wrap_future(f) for f in self._awaited])

    def start_thread(self, registration: Registration, event: alt.Event) -> None:
        before = set(self._threads)
        super().start_thread(registration, event)
        if not inspect.isfunction(registration.fn) and hasattr(self, "_awaited"):
            self._awaited += set(self._threads) - before


class CoroutineOnlyTaskBus(alt.EventBus):
    """Only coroutine functions are started under TASK; a sync TASK handler is silently skipped."""

    def start_task(self, registration: Registration, event: alt.Event) -> None:
        if inspect.iscoroutinefunction(registration.fn):
            super().start_task(registration, event)


class ProbingTaskBus(alt.EventBus):
    """A TASK handler is called once to see whether it is async, then a sync one is called again in a task."""

    def start_task(self, registration: Registration, event: alt.Event) -> None:
        super().start_task(registration, event)
        if not inspect.iscoroutinefunction(registration.fn):

            async def again() -> None:
                registration.fn(event)

            self.keep(asyncio.ensure_future(self.guarded(registration, event, again())))


class UnawaitedThreadBus(alt.EventBus):
    """An async THREADPOOL handler is called on its thread and its coroutine dropped, never awaited."""

    def thread_main(self, registration: Registration, event: alt.Event, done: concurrent.futures.Future[None]) -> None:
        try:
            registration.fn(event)
        except Exception as exc:
            self.report(registration, event, exc)
        finally:
            done.set_result(None)


class BothWaysThreadBus(alt.EventBus):
    """A missing `elif`: an async THREADPOOL handler is started as a task by the coroutine branch, and again
    by the THREADPOOL branch (which sends coroutines back to the loop)."""

    def start_background(self, registrations: list[Registration], event: alt.Event) -> None:
        for registration in registrations:
            is_async = inspect.iscoroutinefunction(registration.fn)
            if is_async:
                self.start_task(registration, event)  # coroutines need the loop
            if registration.policy is alt.ExecPolicy.THREADPOOL:
                if is_async:
                    self.start_task(registration, event)
                else:
                    self.start_thread(registration, event)
            elif not is_async:
                self.start_task(registration, event)


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


class InlineTimeoutBus(alt.EventBus):
    """Each async INLINE handler is awaited with a hidden 50 ms timeout; a slow one is cut short silently."""

    async def run_inline(self, registration: Registration, event: alt.Event) -> None:
        result = registration.fn(event)
        if inspect.isawaitable(result):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(_awaited(result), 0.05)


class InlineDeadlineBus(alt.EventBus):
    """A dispatch's INLINE handlers get 100 ms in all; whatever still runs then is cancelled silently."""

    async def run_inlines(self, registrations: list[Registration], event: alt.Event) -> list[Exception]:
        try:
            return await asyncio.wait_for(super().run_inlines(registrations, event), 0.1)
        except asyncio.TimeoutError:
            return []


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


class GracePeriodBus(alt.EventBus):
    """`publish` gives its TASK handlers a short grace period (50 ms) to finish before it returns."""

    grace = 0.05

    async def publish(self, event: Any) -> None:
        before = set(self._tasks)
        await super().publish(event)
        started = [t for t in set(self._tasks) - before if not t.done()]
        if started:
            await asyncio.wait(started, timeout=self.grace)


class LongGracePeriodBus(GracePeriodBus):
    """`publish` gives its TASK handlers up to a second to finish before it returns."""

    grace = 1.0


class ThreadGracePeriodBus(alt.EventBus):
    """`publish` waits for its THREADPOOL handlers' threads with a 50 ms timeout."""

    async def publish(self, event: Any) -> None:
        before = set(self._threads)
        await super().publish(event)
        started = [asyncio.wrap_future(f) for f in set(self._threads) - before]
        if started:
            await asyncio.wait(started, timeout=0.05)


class WorkerAwaitsTasksBus(alt.EventBus):
    """The worker waits for each event's TASK handlers before it takes the next event (publish does not)."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        before = set(self._tasks)
        await super().dispatch_posted(event)
        started = [t for t in set(self._tasks) - before if not t.done()]
        if started:
            await asyncio.wait(started)


class WorkerAwaitsThreadsBus(alt.EventBus):
    """The worker waits for each event's THREADPOOL threads before it takes the next event."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        before = set(self._threads)
        await super().dispatch_posted(event)
        started = [asyncio.wrap_future(f) for f in set(self._threads) - before]
        if started:
            await asyncio.wait(started)


class WorkerReversedBus(alt.EventBus):
    """The worker runs a posted event's INLINE handlers newest first (publish keeps subscription order)."""

    async def run_inlines(self, registrations: list[Registration], event: alt.Event) -> list[Exception]:
        if asyncio.current_task() is self._worker:
            registrations = registrations[::-1]
        return await super().run_inlines(registrations, event)


class NewestTaskOnlyBus(alt.EventBus):
    """Only the newest TASK handler task is referenced (`self._last_task = task`); older ones are weak."""

    def keep(self, task: asyncio.Future[Any]) -> None:
        self._last_task = task


class SequentialTasksBus(alt.EventBus):
    """A dispatch's TASK handlers run one after another in one background task."""

    def start_background(self, registrations: list[Registration], event: alt.Event) -> None:
        tasks = [r for r in registrations if r.policy is alt.ExecPolicy.TASK]
        for registration in registrations:
            if registration.policy is alt.ExecPolicy.THREADPOOL:
                self.start_thread(registration, event)
        if not tasks:
            return

        async def run_all() -> None:
            for registration in tasks:
                try:
                    result = registration.fn(event)
                except Exception as exc:
                    self.report(registration, event, exc)
                    continue
                if inspect.isawaitable(result):
                    await self.guarded(registration, event, result)

        self.keep(asyncio.ensure_future(run_all()))


class BacklogTaskBus(alt.EventBus):
    """At most 3 TASK handlers run at once (a semaphore); the others wait in a backlog for one to finish."""

    def start_task(self, registration: Registration, event: alt.Event) -> None:
        limit: asyncio.Semaphore = vars(self).setdefault("_limit", asyncio.Semaphore(3))

        async def limited(awaitable: Any) -> None:
            async with limit:
                await awaitable

        result = registration.fn(event)
        if inspect.isawaitable(result):
            self.keep(asyncio.ensure_future(self.guarded(registration, event, limited(result))))


_deferred: contextvars.ContextVar[list[alt.Event] | None] = contextvars.ContextVar("_deferred", default=None)


class DeferringNestedBus(alt.EventBus):
    """A publish made inside a dispatch (from a handler) is queued and dispatched after the outer dispatch ends,
    "to keep dispatches from interleaving": the inner `await publish` returns before its handlers ran."""

    async def publish(self, event: Any) -> None:
        deferred = _deferred.get()
        if deferred is not None:
            deferred.append(event)
            return
        token = _deferred.set(deferred := [])
        try:
            await super().publish(event)
            while deferred:
                await super().publish(deferred.pop(0))
        finally:
            _deferred.reset(token)


class FirstLoopTaskBus(ref.EventBus):
    """TASK handlers go to the loop the bus first ran one on (remembered); once that loop has ended, they are
    silently dropped, on every later loop."""

    def _keep(self, loop: asyncio.AbstractEventLoop, coroutine: Any, label: str) -> None:
        first: asyncio.AbstractEventLoop = vars(self).setdefault("_first_loop", loop)
        if first is not loop and first.is_closed():
            coroutine.close()
            return
        super()._keep(loop, coroutine, label)


class RetryingTaskBus(alt.EventBus):
    """A sync TASK handler is run in place, then "retried" from a thread a few milliseconds later."""

    def start_task(self, registration: Registration, event: alt.Event) -> None:
        super().start_task(registration, event)
        if not _is_async(registration.fn):

            def retry() -> None:
                time.sleep(0.005)
                registration.fn(event)

            threading.Thread(target=retry, daemon=True).start()


class RedeliveringThreadBus(alt.EventBus):
    """An async THREADPOOL handler runs with asyncio.run on its thread, and a few milliseconds later once more."""

    def thread_main(self, registration: Registration, event: alt.Event, done: concurrent.futures.Future[None]) -> None:
        super().thread_main(registration, event, done)
        if _is_async(registration.fn):
            time.sleep(0.005)
            asyncio.run(_awaited(registration.fn(event)))


MUTANTS = [
    mutant(
        "default-policy-is-task",
        "POL-1",
        "subscribe without a policy registers a TASK handler",
        REFERENCE,
        EventBus=TaskByDefaultBus,
    ),
    mutant(
        "only-functions-inline-by-default",
        "POL-1",
        "without a policy, plain functions are INLINE and other callables (methods, partials, objects) TASK",
        REFERENCE,
        EventBus=FunctionsOnlyInlineByDefaultBus,
    ),
    mutant(
        "async-inline-not-awaited",
        "POL-INLINE-1",
        "an async INLINE handler is started as a task, and publish does not await it",
        ALT,
        EventBus=UnawaitedInlineBus,
    ),
    mutant(
        "sync-inline-in-executor",
        "POL-INLINE-2",
        "a sync INLINE handler is awaited in the default executor, off the loop's thread",
        ALT,
        EventBus=ThreadedInlineBus,
    ),
    mutant(
        "inline-handlers-gathered",
        "POL-ORDER-1",
        "INLINE handlers are awaited together with asyncio.gather, so they interleave",
        ALT,
        EventBus=GatheringBus,
    ),
    mutant(
        "inline-handlers-past-eight-gathered",
        "POL-ORDER-1",
        "the first 8 INLINE handlers run one after another, the rest are awaited together with asyncio.gather",
        ALT,
        EventBus=GatheredPastEightBus,
    ),
    mutant(
        "sync-inline-handlers-first",
        "POL-ORDER-1",
        "sync INLINE handlers run before the async ones, whatever the subscription order",
        ALT,
        EventBus=SyncFirstBus,
    ),
    mutant(
        "task-handlers-on-a-thread",
        "POL-TASK-1",
        "a TASK handler's coroutine runs with asyncio.run on a thread of its own",
        ALT,
        EventBus=ThreadedTaskBus,
    ),
    mutant(
        "publish-awaits-task-handlers",
        "POL-TASK-2",
        "publish awaits the tasks of its TASK handlers before returning",
        ALT,
        EventBus=WaitingForTasksBus,
    ),
    mutant(
        "only-async-def-task-handlers-in-tasks",
        "POL-TASK-2",
        "a TASK handler that is not an async def (a callable object, a def or lambda returning a coroutine) is "
        "awaited by the dispatch",
        ALT,
        EventBus=AsyncDefOnlyTaskBus,
    ),
    mutant(
        "task-references-dropped",
        "POL-TASK-3",
        "the bus keeps no reference to TASK handler tasks (the loop's is weak)",
        ALT,
        EventBus=ForgetfulTaskBus,
    ),
    mutant(
        "only-function-tasks-referenced",
        "POL-TASK-3",
        "only the tasks of async def functions are kept; a method's, partial's or callable object's are not",
        ALT,
        EventBus=FunctionsOnlyTasksKeptBus,
    ),
    mutant(
        "threadpool-on-the-loop",
        "POL-THREAD-1",
        "a THREADPOOL handler is called in place, on the loop's thread",
        ALT,
        EventBus=LoopThreadPoolBus,
    ),
    mutant(
        "handler-threads-joined-on-the-loop",
        "POL-THREAD-2",
        "each handler thread is reaped by a blocking join scheduled on the loop",
        ALT,
        EventBus=JoiningBus,
    ),
    mutant(
        "callable-object-threads-waited-on-the-loop",
        "POL-THREAD-2",
        "a THREADPOOL handler that is a callable object runs on a thread the loop waits for, blocked",
        ALT,
        EventBus=CallableObjectsWaitedOnTheLoopBus,
    ),
    mutant(
        "publish-awaits-threadpool-handlers",
        "POL-THREAD-3",
        "publish awaits its THREADPOOL handlers' threads before returning",
        ALT,
        EventBus=WaitingForThreadsBus,
    ),
    mutant(
        "publish-awaits-method-threads",
        "POL-THREAD-3",
        "publish awaits the threads of its THREADPOOL handlers that are not plain functions",
        ALT,
        EventBus=MethodThreadsAwaitedBus,
    ),
    mutant(
        "sync-task-handler-dropped",
        "POL-MIX-1",
        "only coroutine functions are started under TASK; a sync TASK handler never runs",
        ALT,
        EventBus=CoroutineOnlyTaskBus,
    ),
    mutant(
        "sync-task-handler-called-twice",
        "POL-MIX-1",
        "a sync TASK handler is called once to probe it, then again in a task",
        ALT,
        EventBus=ProbingTaskBus,
    ),
    mutant(
        "async-threadpool-never-awaited",
        "POL-MIX-2",
        "an async THREADPOOL handler is called on its thread and its coroutine is dropped",
        ALT,
        EventBus=UnawaitedThreadBus,
    ),
    mutant(
        "async-threadpool-run-twice",
        "POL-MIX-2",
        "a missing elif starts an async THREADPOOL handler twice, as two tasks",
        ALT,
        EventBus=BothWaysThreadBus,
    ),
    mutant(
        "inline-handler-hidden-timeout",
        "POL-INLINE-1",
        "each async INLINE handler is awaited with a 50 ms timeout whose expiry is swallowed",
        ALT,
        EventBus=InlineTimeoutBus,
    ),
    mutant(
        "inline-dispatch-deadline",
        "POL-INLINE-1",
        "a dispatch's INLINE handlers get 100 ms in all, then are cancelled silently",
        ALT,
        EventBus=InlineDeadlineBus,
    ),
    mutant(
        "publish-grace-period-for-tasks",
        "POL-TASK-2",
        "publish gives its TASK handlers 50 ms to finish before returning",
        ALT,
        EventBus=GracePeriodBus,
    ),
    mutant(
        "publish-one-second-grace-for-tasks",
        "POL-TASK-2",
        "publish gives its TASK handlers up to a second to finish before returning",
        ALT,
        EventBus=LongGracePeriodBus,
    ),
    mutant(
        "worker-waits-for-task-handlers",
        "POL-TASK-2",
        "the worker waits for each event's TASK handlers before taking the next event",
        ALT,
        EventBus=WorkerAwaitsTasksBus,
    ),
    mutant(
        "only-newest-task-referenced",
        "POL-TASK-3",
        "the bus keeps a reference only to the newest TASK task (self._last_task = task)",
        ALT,
        EventBus=NewestTaskOnlyBus,
    ),
    mutant(
        "task-handlers-run-in-sequence",
        "POL-TASK-4",
        "a dispatch's TASK handlers run one after another in a single background task",
        ALT,
        EventBus=SequentialTasksBus,
    ),
    mutant(
        "publish-waits-threads-with-timeout",
        "POL-THREAD-3",
        "publish waits for its THREADPOOL handlers' threads with a 50 ms timeout",
        ALT,
        EventBus=ThreadGracePeriodBus,
    ),
    mutant(
        "worker-awaits-threadpool-handlers",
        "POL-THREAD-3",
        "the worker waits for each event's THREADPOOL threads before taking the next event",
        ALT,
        EventBus=WorkerAwaitsThreadsBus,
    ),
    mutant(
        "worker-ignores-subscription-order",
        "POL-ORDER-1",
        "the worker runs a posted event's INLINE handlers newest first",
        ALT,
        EventBus=WorkerReversedBus,
    ),
    mutant(
        "sync-task-handler-retried-from-a-thread",
        "POL-MIX-1",
        "a sync TASK handler runs in place and is retried from a thread a few ms later",
        ALT,
        EventBus=RetryingTaskBus,
    ),
    mutant(
        "async-threadpool-delivered-again",
        "POL-MIX-2",
        "an async THREADPOOL handler runs on its thread, then once more a few ms later",
        ALT,
        EventBus=RedeliveringThreadBus,
    ),
    mutant(
        "task-handlers-three-at-a-time",
        "POL-TASK-4",
        "at most 3 TASK handlers run at once; the rest wait in a backlog for one to finish",
        ALT,
        EventBus=BacklogTaskBus,
    ),
    mutant(
        "nested-publish-deferred",
        "POL-INLINE-1",
        "a publish awaited inside a handler is queued until the outer dispatch ends, and returns at once",
        ALT,
        EventBus=DeferringNestedBus,
    ),
    mutant(
        "task-handlers-bound-to-the-first-loop",
        "POL-TASK-1",
        "TASK handlers run on the loop the bus first used; once it has ended they are silently dropped",
        REFERENCE,
        EventBus=FirstLoopTaskBus,
    ),
]

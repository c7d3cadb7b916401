"""The post-and-worker cases: events posted from the loop's thread or another thread, and queue depth."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

from ..adapter import Implementation
from ._case import CHECK_TIMEOUT, Case, Sample
from ._handlers import Count, PlainEvent, closing, expect, log, new_event_type, one_turn

# -- post and the worker --------------------------------------------------------------


def _finishing_handler(count: Count, target: int, done: asyncio.Future[None]) -> Callable[[Any], None]:
    def handler(event: Any) -> None:
        count.n += 1
        if count.n == target:
            done.set_result(None)

    return handler


def _producer(
    post: Callable[[Any], Any], event: Any, n: int, done: asyncio.Future[None]
) -> tuple[threading.Thread, threading.Event]:
    """A started thread that, once `go` is set, posts `n` events; a failure resolves `done`."""
    loop = done.get_loop()
    go = threading.Event()

    def produce() -> None:
        go.wait()
        try:
            for _ in range(n):
                post(event)
        except BaseException as exc:
            loop.call_soon_threadsafe(_fail, done, exc)

    thread = threading.Thread(target=produce, daemon=True)  # default name: nothing says "bench"
    thread.start()
    return thread, go


def _fail(future: asyncio.Future[None], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


async def _drive(post: Callable[[Any], Any], event: Any, n: int, done: asyncio.Future[None], from_thread: bool) -> int:
    """Post `n` events from this thread or a producer thread; the ns until the handler has seen them all."""
    timeout = CHECK_TIMEOUT + n / 1_000  # generous: a millisecond per thousand events
    if not from_thread:
        start = perf_counter_ns()
        for _ in range(n):
            post(event)
        await asyncio.wait_for(done, timeout)
        return perf_counter_ns() - start
    thread, go = _producer(post, event, n, done)
    start = perf_counter_ns()
    go.set()
    try:
        await asyncio.wait_for(done, timeout)
        return perf_counter_ns() - start
    finally:
        await asyncio.get_running_loop().run_in_executor(None, thread.join, CHECK_TIMEOUT)


def worker_case(events: int, from_thread: bool) -> Case:
    """`post` `events` events from the loop's thread or another thread, until the worker has dispatched them."""

    async def baseline(n: int) -> Sample:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        count, done = Count(), loop.create_future()
        handler = _finishing_handler(count, n, done)

        async def worker() -> None:
            while True:
                event = await queue.get()
                try:
                    handler(event)
                except Exception:
                    log.exception("handler failed")

        task = loop.create_task(worker())
        await one_turn()  # started, as start_worker() leaves a bus's worker

        def post_from_thread(event: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, event)

        post = post_from_thread if from_thread else queue.put_nowait
        try:
            return await _drive(post, PlainEvent(), n, done, from_thread), n
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def measure(impl: Implementation, n: int) -> Sample:
        loop = asyncio.get_running_loop()
        bus = impl.new_bus()
        try:
            count, done = Count(), loop.create_future()
            event_type = new_event_type(impl)
            impl.add_handler(bus, event_type, _finishing_handler(count, n, done), policy="INLINE")
            await bus.start_worker()
            return await _drive(bus.post, event_type(), n, done, from_thread), n
        finally:
            await closing(impl, bus)

    async def check(impl: Implementation) -> None:
        loop = asyncio.get_running_loop()
        bus = impl.new_bus()
        try:
            count, done = Count(), loop.create_future()
            event_type = new_event_type(impl)
            impl.add_handler(bus, event_type, _finishing_handler(count, 3, done), policy="INLINE")
            await asyncio.wait_for(bus.start_worker(), CHECK_TIMEOUT)
            await _drive(bus.post, event_type(), 3, done, from_thread)
            expect("runs of the handler after 3 posts", 3, count.n)
        finally:
            await closing(impl, bus)

    where = "another thread" if from_thread else "the loop's thread"
    return Case(
        key="post-thread" if from_thread else "post-loop",
        title=f"post and worker, 1 sync handler, from {where}",
        unit="event",
        ops=events,
        baseline_label="an `asyncio.Queue` and a worker task"
        + (" (`call_soon_threadsafe(queue.put_nowait, event)`)" if from_thread else ""),
        baseline=baseline,
        measure=measure,
        check=check,
        scaled=False,
    )


# -- queue depth -----------------------------------------------------------------


class _Bursts:
    """A handler that resolves a future once it has seen the events of the current burst."""

    __slots__ = ("count", "done", "loop", "target")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.count = 0
        self.target = 0
        self.done: asyncio.Future[None] = loop.create_future()

    def arm(self, events: int) -> asyncio.Future[None]:
        self.target += events
        self.done = self.loop.create_future()
        return self.done

    def handler(self, event: Any) -> None:
        self.count += 1
        if self.count == self.target:
            self.done.set_result(None)


async def _bursts(post: Callable[[Any], Any], event: Any, bursts: _Bursts, depth: int, rounds: int) -> int:
    """Post `rounds` bursts of `depth` events, waiting for the handler after each; the ns it took."""
    start = perf_counter_ns()
    for _ in range(rounds):
        done = bursts.arm(depth)
        for _ in range(depth):
            post(event)
        await asyncio.wait_for(done, CHECK_TIMEOUT + depth / 1_000)
    return perf_counter_ns() - start


def depth_case(depth: int) -> Case:
    """Post `depth` events from the loop's thread, then wait until the worker has dispatched them; repeat."""

    async def baseline(n: int) -> Sample:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        bursts = _Bursts(loop)
        handler = bursts.handler

        async def worker() -> None:
            while True:
                event = await queue.get()
                try:
                    handler(event)
                except Exception:
                    log.exception("handler failed")

        task = loop.create_task(worker())
        await one_turn()
        rounds = max(1, n // depth)
        try:
            return await _bursts(queue.put_nowait, PlainEvent(), bursts, depth, rounds), rounds * depth
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def measure(impl: Implementation, n: int) -> Sample:
        bus = impl.new_bus()
        try:
            bursts = _Bursts(asyncio.get_running_loop())
            event_type = new_event_type(impl)
            impl.add_handler(bus, event_type, bursts.handler, policy="INLINE")
            await bus.start_worker()
            rounds = max(1, n // depth)
            return await _bursts(bus.post, event_type(), bursts, depth, rounds), rounds * depth
        finally:
            await closing(impl, bus)

    async def check(impl: Implementation) -> None:
        bus = impl.new_bus()
        try:
            bursts = _Bursts(asyncio.get_running_loop())
            event_type = new_event_type(impl)
            impl.add_handler(bus, event_type, bursts.handler, policy="INLINE")
            await asyncio.wait_for(bus.start_worker(), CHECK_TIMEOUT)
            await _bursts(bus.post, event_type(), bursts, min(depth, 100), 2)
            expect("runs of the handler after two bursts of posts", 2 * min(depth, 100), bursts.count)
        finally:
            await closing(impl, bus)

    plural = "event" if depth == 1 else "events"
    return Case(
        key=f"depth-{depth}",
        title=f"post and worker, {depth:,} {plural} posted at once from the loop's thread, then awaited",
        unit="event",
        ops={1: 5_000, 100: 20_000}.get(depth, 5 * depth),
        baseline_label="an `asyncio.Queue` and a worker task",
        baseline=baseline,
        measure=measure,
        check=check,
        group="post N events at once from the loop's thread and wait for the worker, ns per event",
        size=depth,
    )

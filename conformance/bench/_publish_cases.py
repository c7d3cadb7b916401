"""The publish cases: INLINE handlers (one type, and many types), TASK handlers, a THREADPOOL handler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from time import perf_counter_ns
from typing import Any

from ..adapter import Implementation
from ._case import CHECK_TIMEOUT, Case, Sample
from ._handlers import (
    Count,
    PlainEvent,
    closing,
    counting_async,
    counting_sync,
    expect,
    new_event_type,
    noop_async,
    noop_sync,
    one_turn,
)

# -- publish to INLINE handlers ------------------------------------------------


def _dispatcher(k: int, is_async: bool) -> Callable[[Any], Coroutine[Any, Any, None]]:
    """The INLINE baseline: an `async def` calling (or awaiting) `k` handlers in a loop."""
    if is_async:
        coroutines = [noop_async() for _ in range(k)]

        async def dispatch_async(event: Any) -> None:
            for handler in coroutines:
                await handler(event)

        return dispatch_async
    functions = [noop_sync() for _ in range(k)]

    async def dispatch(event: Any) -> None:
        for handler in functions:
            handler(event)

    return dispatch


def inline_case(k: int, is_async: bool) -> Case:
    """`await publish(event)` to `k` sync or async INLINE handlers of one type."""
    kind = "async" if is_async else "sync"
    noop: Callable[[], Callable[[Any], Any]] = noop_async if is_async else noop_sync
    counting: Callable[[Count], Callable[[Any], Any]] = counting_async if is_async else counting_sync

    async def baseline(n: int) -> Sample:
        dispatch = _dispatcher(k, is_async)
        event = PlainEvent()
        start = perf_counter_ns()
        for _ in range(n):
            await dispatch(event)
        return perf_counter_ns() - start, n

    async def measure(impl: Implementation, n: int) -> Sample:
        bus = impl.new_bus()
        try:
            event_type = new_event_type(impl)
            for _ in range(k):
                impl.add_handler(bus, event_type, noop(), policy="INLINE")
            publish = bus.publish
            event = event_type()
            await publish(event)  # untimed: a bus may prepare a type's dispatch at its first publish
            start = perf_counter_ns()
            for _ in range(n):
                await publish(event)
            return perf_counter_ns() - start, n
        finally:
            await closing(impl, bus)

    async def check(impl: Implementation) -> None:
        bus = impl.new_bus()
        try:
            event_type = new_event_type(impl)
            counts = [Count() for _ in range(k)]
            for count in counts:
                impl.add_handler(bus, event_type, counting(count), policy="INLINE")
            for _ in range(3):
                await asyncio.wait_for(bus.publish(event_type()), CHECK_TIMEOUT)
            expect(f"runs of each of {k} INLINE handlers after 3 publishes", [3] * k, [c.n for c in counts])
        finally:
            await closing(impl, bus)

    plural = "handler" if k == 1 else "handlers"
    loop_does = "awaits them" if is_async else "calls them"
    return Case(
        key=f"inline-{kind}-{k}",
        title=f"publish, {k:,} {kind} INLINE {plural}",
        unit="publish",
        ops={1: 20_000, 10: 5_000, 100: 1_000}.get(k, 200),
        baseline_label=f"an `async def` that {loop_does} in a loop",
        baseline=baseline,
        measure=measure,
        check=check,
        group=f"publish to N {kind} INLINE handlers of one type, ns per handler",
        size=k,
        per_size=True,
    )


# -- publish to TASK handlers ------------------------------------------------------


def task_case(k: int, strict: bool = False) -> Case:
    """TASK handlers until all have run.

    The baseline the reference's TASK target names is `asyncio.create_task` for
    each handler, then `gather`. The `strict` one does what the asyncio
    documentation says fire-and-forget code must (keep a reference to each task
    until a done-callback drops it), with the loop's own `create_task`, then
    waits exactly as the implementations are timed: it yields to the loop until
    every handler has run.
    """

    async def baseline(n: int) -> Sample:
        count = Count()
        handlers = [counting_async(count) for _ in range(k)]
        create_task, gather = asyncio.create_task, asyncio.gather
        start_task = asyncio.get_running_loop().create_task  # cheaper than asyncio.create_task
        background: set[asyncio.Task[None]] = set()
        event = PlainEvent()
        expected = 0
        start = perf_counter_ns()
        if strict:
            for _ in range(n):
                for handler in handlers:
                    task = start_task(handler(event))
                    background.add(task)
                    task.add_done_callback(background.discard)
                expected += k
                while count.n < expected:
                    await one_turn()
        else:
            for _ in range(n):
                await gather(*[create_task(handler(event)) for handler in handlers])
        elapsed = perf_counter_ns() - start
        expect("handler runs", n * k, count.n)
        return elapsed, n

    async def measure(impl: Implementation, n: int) -> Sample:
        bus = impl.new_bus()
        try:
            count = Count()
            event_type = new_event_type(impl)
            for _ in range(k):
                impl.add_handler(bus, event_type, counting_async(count), policy="TASK")
            publish = bus.publish
            event = event_type()
            expected = 0
            start = perf_counter_ns()
            for _ in range(n):
                await publish(event)
                expected += k
                while count.n < expected:  # until every handler of this publish has run
                    await one_turn()
            elapsed = perf_counter_ns() - start
            expect("handler runs", n * k, count.n)
            return elapsed, n
        finally:
            await closing(impl, bus)

    async def check(impl: Implementation) -> None:
        bus = impl.new_bus()
        try:
            count = Count()
            event_type = new_event_type(impl)
            for _ in range(k):
                impl.add_handler(bus, event_type, counting_async(count), policy="TASK")
            await asyncio.wait_for(bus.publish(event_type()), CHECK_TIMEOUT)

            async def settle() -> None:
                while count.n < k:
                    await asyncio.sleep(0.001)

            await asyncio.wait_for(settle(), CHECK_TIMEOUT)
            await asyncio.sleep(0)
            expect(f"runs of {k} TASK handlers after one publish", k, count.n)
        finally:
            await closing(impl, bus)

    plural = "handler" if k == 1 else "handlers"
    return Case(
        key=f"task-{k}-strict" if strict else f"task-{k}",
        title=f"publish, {k} TASK {plural}, until all have run" + (" (strict baseline)" if strict else ""),
        unit="publish",
        ops=5_000 if k == 1 else 1_000,
        baseline_label=(
            "`loop.create_task` for each, holding a reference that a done-callback drops (as the "
            "asyncio docs say fire-and-forget code must), then yielding to the loop until all have run, "
            "as the implementations are timed"
            if strict
            else "`asyncio.create_task` for each, then `gather`"
        ),
        baseline=baseline,
        measure=measure,
        check=check,
    )


# -- publish to a THREADPOOL handler -----------------------------------------------


class _Signal:
    """Handed to a handler running in a thread: it resolves the current future on the loop."""

    __slots__ = ("future", "loop", "runs")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.runs = 0

    def arm(self) -> asyncio.Future[None]:
        self.future = self.loop.create_future()
        return self.future

    def handler(self, event: Any) -> None:
        self.runs += 1
        self.loop.call_soon_threadsafe(_resolve, self.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def threadpool_case() -> Case:
    """`await publish(event)` to one THREADPOOL handler, until it has signalled the loop."""

    async def baseline(n: int) -> Sample:
        loop = asyncio.get_running_loop()
        signal = _Signal(loop)
        handler, arm, run_in_executor = signal.handler, signal.arm, loop.run_in_executor
        event = PlainEvent()
        start = perf_counter_ns()
        for _ in range(n):
            done = arm()
            run_in_executor(None, handler, event)
            await done
        elapsed = perf_counter_ns() - start
        expect("handler runs", n, signal.runs)
        return elapsed, n

    async def measure(impl: Implementation, n: int) -> Sample:
        loop = asyncio.get_running_loop()
        bus = impl.new_bus()
        try:
            signal = _Signal(loop)
            event_type = new_event_type(impl)
            impl.add_handler(bus, event_type, signal.handler, policy="THREADPOOL")
            publish, arm = bus.publish, signal.arm
            event = event_type()
            start = perf_counter_ns()
            for _ in range(n):
                done = arm()
                await publish(event)
                await done
            elapsed = perf_counter_ns() - start
            expect("handler runs", n, signal.runs)
            return elapsed, n
        finally:
            await closing(impl, bus)

    async def check(impl: Implementation) -> None:
        loop = asyncio.get_running_loop()
        bus = impl.new_bus()
        try:
            signal = _Signal(loop)
            event_type = new_event_type(impl)
            impl.add_handler(bus, event_type, signal.handler, policy="THREADPOOL")
            done = signal.arm()
            await asyncio.wait_for(bus.publish(event_type()), CHECK_TIMEOUT)
            await asyncio.wait_for(done, CHECK_TIMEOUT)
            expect("runs of the THREADPOOL handler after one publish", 1, signal.runs)
        finally:
            await closing(impl, bus)

    return Case(
        key="threadpool-1",
        title="publish, 1 THREADPOOL handler, until it has run",
        unit="publish",
        ops=1_000,
        baseline_label="`loop.run_in_executor(None, handler, event)`",
        baseline=baseline,
        measure=measure,
        check=check,
    )


# -- publish with many event types ---------------------------------------------


def many_types_case(count: int) -> Case:
    """Publishing on a bus with `count` event types, one handler each: every publish is of another type."""
    made: dict[type, list[type]] = {}

    def types_of(base: type) -> list[type]:
        if base not in made:
            made[base] = [type(f"BenchEvent{i}", (base,), {}) for i in range(count)]
        return made[base]

    async def baseline(n: int) -> Sample:
        handler = noop_sync()
        registry = {kind: [handler] for kind in types_of(PlainEvent)}
        events = [kind() for kind in types_of(PlainEvent)]

        async def dispatch(event: Any) -> None:
            for fn in registry.get(type(event), ()):
                fn(event)

        rounds = max(1, n // count)
        start = perf_counter_ns()
        for _ in range(rounds):
            for event in events:
                await dispatch(event)
        return perf_counter_ns() - start, rounds * count

    async def measure(impl: Implementation, n: int) -> Sample:
        bus = impl.new_bus()
        try:
            handler = noop_sync()
            for kind in types_of(impl.event_type):
                impl.add_handler(bus, kind, handler, policy="INLINE")
            publish = bus.publish
            events = [kind() for kind in types_of(impl.event_type)]
            for event in events:
                await publish(event)  # untimed: a bus may prepare a type's dispatch at its first publish
            rounds = max(1, n // count)
            start = perf_counter_ns()
            for _ in range(rounds):
                for event in events:
                    await publish(event)
            return perf_counter_ns() - start, rounds * count
        finally:
            await closing(impl, bus)

    async def check(impl: Implementation) -> None:
        bus = impl.new_bus()
        try:
            count_ = Count()
            handler = counting_sync(count_)
            for kind in types_of(impl.event_type):
                impl.add_handler(bus, kind, handler, policy="INLINE")
            for kind in types_of(impl.event_type):
                await asyncio.wait_for(bus.publish(kind()), CHECK_TIMEOUT)
            expect(f"runs of the handler after one publish of each of {count:,} types", count, count_.n)
        finally:
            await closing(impl, bus)

    return Case(
        key=f"types-{count}",
        title=f"publish, 1 sync INLINE handler, {count:,} event types registered",
        unit="publish",
        ops=2 * count,
        baseline_label="a dict from type to a list of handlers, read by an `async def`",
        baseline=baseline,
        measure=measure,
        check=check,
    )

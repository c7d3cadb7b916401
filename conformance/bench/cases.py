"""The benchmark's cases: an operation timed through the adapter, next to its plain-Python baseline.

Every variant of a case (the baseline, and the case run on each implementation)
is a coroutine function `(n) -> (elapsed_ns, ops)`: it sets up untimed, times `n`
operations (or as close to `n` as the case's shape allows, reported as `ops`),
and tears down untimed. Baselines and implementations use handlers of the same kind and
the same end-point, so only the dispatch mechanism differs:

- INLINE cases time `await publish(event)` after one untimed publish of each
  event type (a bus may prepare a type's dispatch at its first publish); the
  handlers do nothing, and a separate check (`Case.check`) proves beforehand
  that each registration runs.
- TASK cases time until every handler has run: the handlers count, and after
  each `publish` the timing coroutine yields to the loop until the count is
  reached (for a bus whose `publish` already waits for its TASK handlers, as
  pico-ioc 2.5.2's does, the count is reached when `publish` returns).
- THREADPOOL and worker cases time until the handler has signalled the loop.
- Scaling cases repeat a case at several sizes (handlers of one type, event
  types, handlers already registered, events queued at once); `Case.group` and
  `Case.size` tie them together for the scaling table.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

from ..adapter import Implementation

_log = logging.getLogger("conformance.bench")

Sample = tuple[int, int]
"""(elapsed ns, operations timed)."""

CHECK_TIMEOUT = 10.0
"""How long a case's correctness check may take before the implementation is reported as failing it."""


class BenchError(Exception):
    """An implementation did not do what a case needs; the case is reported as failed for it."""


class NotMeasured(BenchError):
    """A case cannot be measured on an implementation within the bench's budget; this does not fail the run."""


@dataclass(frozen=True)
class Case:
    """One benchmark case."""

    key: str
    """Stable identifier, used in JSON, `--cases` and the targets."""
    title: str
    unit: str
    """What one operation is: the table reports ns per `unit`."""
    ops: int
    """Default number of operations per sample."""
    baseline_label: str
    baseline: Callable[[int], Awaitable[Sample]]
    measure: Callable[[Implementation, int], Awaitable[Sample]]
    check: Callable[[Implementation], Awaitable[None]]
    """Proves, untimed, that the implementation delivers what the timed run assumes."""
    scaled: bool = True
    """Whether `--scale` applies to `ops` (the post-and-worker cases take `--events` as is)."""
    group: str | None = None
    """The scaling series the case belongs to, e.g. "publish to N sync INLINE handlers"."""
    size: int | None = None
    """The case's N within its group."""
    per_size: bool = False
    """Whether the scaling table divides the time by `size` (ns per handler rather than per publish)."""
    teardown: Callable[[Implementation], Awaitable[None]] | None = None
    """Releases what `check` prepared for the samples (a bus with many handlers), after the last round."""


class _Count:
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


class _PlainEvent:
    """The baselines' event: any object will do, as the handlers ignore it."""


@types.coroutine
def _one_turn() -> Generator[None, None, None]:
    """Let the loop run everything that is ready once (what `asyncio.sleep(0)` does, minus its wrapper)."""
    yield


def _event_type(impl: Implementation) -> Any:
    return type("BenchEvent", (impl.event_type,), {})


# Distinct function objects: a bus may keep a function only once per event type.
def _noop_sync() -> Callable[[Any], None]:
    def handler(event: Any) -> None:
        return None

    return handler


def _noop_async() -> Callable[[Any], Coroutine[Any, Any, None]]:
    async def handler(event: Any) -> None:
        return None

    return handler


def _counting_sync(count: _Count) -> Callable[[Any], None]:
    def handler(event: Any) -> None:
        count.n += 1

    return handler


def _counting_async(count: _Count) -> Callable[[Any], Coroutine[Any, Any, None]]:
    async def handler(event: Any) -> None:
        count.n += 1

    return handler


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _closing(impl: Implementation, bus: Any) -> None:
    try:
        await asyncio.wait_for(impl.close_bus(bus), CHECK_TIMEOUT)
    except Exception as exc:  # closing is untimed; a failure to close must not hide the figure
        _log.warning("%s: closing a bus failed: %r", impl.name, exc)


def _expect(what: str, expected: object, got: object) -> None:
    if got != expected:
        raise BenchError(f"{what}: expected {expected!r}, got {got!r}")


# -- publish to INLINE handlers ------------------------------------------------


def _dispatcher(k: int, is_async: bool) -> Callable[[Any], Coroutine[Any, Any, None]]:
    """The INLINE baseline: an `async def` calling (or awaiting) `k` handlers in a loop."""
    if is_async:
        coroutines = [_noop_async() for _ in range(k)]

        async def dispatch_async(event: Any) -> None:
            for handler in coroutines:
                await handler(event)

        return dispatch_async
    functions = [_noop_sync() for _ in range(k)]

    async def dispatch(event: Any) -> None:
        for handler in functions:
            handler(event)

    return dispatch


def _inline_case(k: int, is_async: bool) -> Case:
    kind = "async" if is_async else "sync"
    noop: Callable[[], Callable[[Any], Any]] = _noop_async if is_async else _noop_sync
    counting: Callable[[_Count], Callable[[Any], Any]] = _counting_async if is_async else _counting_sync

    async def baseline(n: int) -> Sample:
        dispatch = _dispatcher(k, is_async)
        event = _PlainEvent()
        start = perf_counter_ns()
        for _ in range(n):
            await dispatch(event)
        return perf_counter_ns() - start, n

    async def measure(impl: Implementation, n: int) -> Sample:
        bus = impl.new_bus()
        try:
            event_type = _event_type(impl)
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
            await _closing(impl, bus)

    async def check(impl: Implementation) -> None:
        bus = impl.new_bus()
        try:
            event_type = _event_type(impl)
            counts = [_Count() for _ in range(k)]
            for count in counts:
                impl.add_handler(bus, event_type, counting(count), policy="INLINE")
            for _ in range(3):
                await asyncio.wait_for(bus.publish(event_type()), CHECK_TIMEOUT)
            _expect(f"runs of each of {k} INLINE handlers after 3 publishes", [3] * k, [c.n for c in counts])
        finally:
            await _closing(impl, bus)

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


def _task_case(k: int, strict: bool = False) -> Case:
    """TASK handlers until all have run.

    The baseline the reference's TASK target names is `asyncio.create_task` for
    each handler, then `gather`. The `strict` one does what the asyncio
    documentation says fire-and-forget code must (keep a reference to each task
    until a done-callback drops it), with the loop's own `create_task`, then
    waits exactly as the implementations are timed: it yields to the loop until
    every handler has run.
    """

    async def baseline(n: int) -> Sample:
        count = _Count()
        handlers = [_counting_async(count) for _ in range(k)]
        create_task, gather = asyncio.create_task, asyncio.gather
        start_task = asyncio.get_running_loop().create_task  # cheaper than asyncio.create_task
        background: set[asyncio.Task[None]] = set()
        event = _PlainEvent()
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
                    await _one_turn()
        else:
            for _ in range(n):
                await gather(*[create_task(handler(event)) for handler in handlers])
        elapsed = perf_counter_ns() - start
        _expect("handler runs", n * k, count.n)
        return elapsed, n

    async def measure(impl: Implementation, n: int) -> Sample:
        bus = impl.new_bus()
        try:
            count = _Count()
            event_type = _event_type(impl)
            for _ in range(k):
                impl.add_handler(bus, event_type, _counting_async(count), policy="TASK")
            publish = bus.publish
            event = event_type()
            expected = 0
            start = perf_counter_ns()
            for _ in range(n):
                await publish(event)
                expected += k
                while count.n < expected:  # until every handler of this publish has run
                    await _one_turn()
            elapsed = perf_counter_ns() - start
            _expect("handler runs", n * k, count.n)
            return elapsed, n
        finally:
            await _closing(impl, bus)

    async def check(impl: Implementation) -> None:
        bus = impl.new_bus()
        try:
            count = _Count()
            event_type = _event_type(impl)
            for _ in range(k):
                impl.add_handler(bus, event_type, _counting_async(count), policy="TASK")
            await asyncio.wait_for(bus.publish(event_type()), CHECK_TIMEOUT)

            async def settle() -> None:
                while count.n < k:
                    await asyncio.sleep(0.001)

            await asyncio.wait_for(settle(), CHECK_TIMEOUT)
            await asyncio.sleep(0)
            _expect(f"runs of {k} TASK handlers after one publish", k, count.n)
        finally:
            await _closing(impl, bus)

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


def _threadpool_case() -> Case:
    async def baseline(n: int) -> Sample:
        loop = asyncio.get_running_loop()
        signal = _Signal(loop)
        handler, arm, run_in_executor = signal.handler, signal.arm, loop.run_in_executor
        event = _PlainEvent()
        start = perf_counter_ns()
        for _ in range(n):
            done = arm()
            run_in_executor(None, handler, event)
            await done
        elapsed = perf_counter_ns() - start
        _expect("handler runs", n, signal.runs)
        return elapsed, n

    async def measure(impl: Implementation, n: int) -> Sample:
        loop = asyncio.get_running_loop()
        bus = impl.new_bus()
        try:
            signal = _Signal(loop)
            event_type = _event_type(impl)
            impl.add_handler(bus, event_type, signal.handler, policy="THREADPOOL")
            publish, arm = bus.publish, signal.arm
            event = event_type()
            start = perf_counter_ns()
            for _ in range(n):
                done = arm()
                await publish(event)
                await done
            elapsed = perf_counter_ns() - start
            _expect("handler runs", n, signal.runs)
            return elapsed, n
        finally:
            await _closing(impl, bus)

    async def check(impl: Implementation) -> None:
        loop = asyncio.get_running_loop()
        bus = impl.new_bus()
        try:
            signal = _Signal(loop)
            event_type = _event_type(impl)
            impl.add_handler(bus, event_type, signal.handler, policy="THREADPOOL")
            done = signal.arm()
            await asyncio.wait_for(bus.publish(event_type()), CHECK_TIMEOUT)
            await asyncio.wait_for(done, CHECK_TIMEOUT)
            _expect("runs of the THREADPOOL handler after one publish", 1, signal.runs)
        finally:
            await _closing(impl, bus)

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


# -- post and the worker --------------------------------------------------------------


def _finishing_handler(count: _Count, target: int, done: asyncio.Future[None]) -> Callable[[Any], None]:
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

    thread = threading.Thread(target=produce, name="bench producer", daemon=True)
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


def _worker_case(events: int, from_thread: bool) -> Case:
    async def baseline(n: int) -> Sample:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        count, done = _Count(), loop.create_future()
        handler = _finishing_handler(count, n, done)

        async def worker() -> None:
            while True:
                event = await queue.get()
                try:
                    handler(event)
                except Exception:
                    _log.exception("handler failed")

        task = loop.create_task(worker())
        await _one_turn()  # started, as start_worker() leaves a bus's worker

        def post_from_thread(event: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, event)

        post = post_from_thread if from_thread else queue.put_nowait
        try:
            return await _drive(post, _PlainEvent(), n, done, from_thread), n
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def measure(impl: Implementation, n: int) -> Sample:
        loop = asyncio.get_running_loop()
        bus = impl.new_bus()
        try:
            count, done = _Count(), loop.create_future()
            event_type = _event_type(impl)
            impl.add_handler(bus, event_type, _finishing_handler(count, n, done), policy="INLINE")
            await bus.start_worker()
            return await _drive(bus.post, event_type(), n, done, from_thread), n
        finally:
            await _closing(impl, bus)

    async def check(impl: Implementation) -> None:
        loop = asyncio.get_running_loop()
        bus = impl.new_bus()
        try:
            count, done = _Count(), loop.create_future()
            event_type = _event_type(impl)
            impl.add_handler(bus, event_type, _finishing_handler(count, 3, done), policy="INLINE")
            await asyncio.wait_for(bus.start_worker(), CHECK_TIMEOUT)
            await _drive(bus.post, event_type(), 3, done, from_thread)
            _expect("runs of the handler after 3 posts", 3, count.n)
        finally:
            await _closing(impl, bus)

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


# -- subscribing, and components that auto-subscribe ------------------------------------

_PER_BUS = 10
"""Handlers subscribed to each bus in the subscribe case."""


def _subscribe_case() -> Case:
    def register(registry: dict[Any, list[Any]], event_type: Any, handler: Any) -> None:
        registry.setdefault(event_type, []).append(handler)

    async def baseline(n: int) -> Sample:
        registries: list[dict[Any, list[Any]]] = [{} for _ in range(max(1, n // _PER_BUS))]
        handlers = [_noop_sync() for _ in range(_PER_BUS)]
        event_type = _PlainEvent
        start = perf_counter_ns()
        for registry in registries:
            for handler in handlers:
                register(registry, event_type, handler)
        return perf_counter_ns() - start, len(registries) * _PER_BUS

    async def measure(impl: Implementation, n: int) -> Sample:
        buses = [impl.new_bus() for _ in range(max(1, n // _PER_BUS))]
        try:
            handlers = [_noop_sync() for _ in range(_PER_BUS)]
            event_type = _event_type(impl)
            add = impl.add_handler
            start = perf_counter_ns()
            for bus in buses:
                for handler in handlers:
                    add(bus, event_type, handler, policy="INLINE")
            return perf_counter_ns() - start, len(buses) * _PER_BUS
        finally:
            for bus in buses:
                await _closing(impl, bus)

    async def check(impl: Implementation) -> None:
        bus = impl.new_bus()
        try:
            event_type = _event_type(impl)
            counts = [_Count() for _ in range(_PER_BUS)]
            for count in counts:
                impl.add_handler(bus, event_type, _counting_sync(count), policy="INLINE")
            await asyncio.wait_for(bus.publish(event_type()), CHECK_TIMEOUT)
            _expect(f"runs of each of {_PER_BUS} subscribed handlers", [1] * _PER_BUS, [c.n for c in counts])
        finally:
            await _closing(impl, bus)

    return Case(
        key="subscribe",
        title=f"subscribe ({_PER_BUS} handlers to one event type on a new bus)",
        unit="subscribe",
        ops=5_000,
        baseline_label="`dict.setdefault(event_type, []).append(handler)` in a function",
        baseline=baseline,
        measure=measure,
        check=check,
    )


_METHODS = ("on_first", "on_second", "on_third")
"""The auto-subscribing methods of the component in the component case."""


def _subscriber_class(impl: Implementation, event_type: Any, count: _Count) -> type:
    def method() -> Callable[[Any, Any], None]:
        def handle(self: Any, event: Any) -> None:
            count.n += 1

        return handle

    on = impl.subscribe_decorator
    namespace = {name: on(event_type)(method()) for name in _METHODS}
    return type("BenchSubscriber", (impl.mixin,), namespace)


def _component_case() -> Case:
    class Plain:
        def on_first(self, event: Any) -> None:
            return None

        def on_second(self, event: Any) -> None:
            return None

        def on_third(self, event: Any) -> None:
            return None

    async def baseline(n: int) -> Sample:
        event_type = _PlainEvent
        start = perf_counter_ns()
        for _ in range(n):
            instance = Plain()
            registry: dict[Any, list[Any]] = {}
            for name in _METHODS:
                registry.setdefault(event_type, []).append(getattr(instance, name))
        return perf_counter_ns() - start, n

    async def measure(impl: Implementation, n: int) -> Sample:
        event_type = _event_type(impl)
        count = _Count()
        classes = [_subscriber_class(impl, event_type, count) for _ in range(n)]
        containers: list[Any] = []
        try:
            new_container = impl.new_container
            start = perf_counter_ns()
            for cls in classes:
                container = new_container([cls])
                containers.append(container)
                container.get(cls)
            return perf_counter_ns() - start, n
        finally:
            await _close_containers(impl, containers)

    async def check(impl: Implementation) -> None:
        event_type = _event_type(impl)
        count = _Count()
        cls = _subscriber_class(impl, event_type, count)
        container = impl.new_container([cls])
        try:
            container.get(cls)
            bus = container.get(impl.bus_type)
            await asyncio.wait_for(bus.publish(event_type()), CHECK_TIMEOUT)
            _expect(f"runs of the component's {len(_METHODS)} @subscribe methods", len(_METHODS), count.n)
        finally:
            await _close_containers(impl, [container])

    return Case(
        key="component",
        title=f"create a component with {len(_METHODS)} auto-subscribing methods (a new container)",
        unit="component",
        ops=200,
        baseline_label="instantiate a class, register its 3 bound methods in a dict",
        baseline=baseline,
        measure=measure,
        check=check,
    )


# -- scaling: event types, handlers already registered, queue depth ----------------------

SIZES = (10, 100, 1_000, 10_000, 30_000)
"""Handlers already registered in the subscribe and unsubscribe cases (`--sizes`)."""

EVENT_TYPES = 10_000
"""Event types of the many-types case, one handler each."""

DEPTHS = (1, 100, 10_000)
"""Events posted at once, before waiting for the worker, in the queue-depth cases."""

SETUP_BUDGET = 15.0
"""Seconds an implementation may take to register a case's handlers; beyond, it is not measured (not a failure)."""

SAMPLE_BUDGET_NS = 50_000_000
"""Timed work after which a subscribe or unsubscribe sample stops early (after at least `MIN_OPS` operations)."""

MIN_OPS = 20
"""Operations a subscribe or unsubscribe sample times at least, whatever `SAMPLE_BUDGET_NS` says."""


def _many_types_case(count: int) -> Case:
    """Publishing on a bus with `count` event types, one handler each: every publish is of another type."""
    made: dict[type, list[type]] = {}

    def types_of(base: type) -> list[type]:
        if base not in made:
            made[base] = [type(f"BenchEvent{i}", (base,), {}) for i in range(count)]
        return made[base]

    async def baseline(n: int) -> Sample:
        handler = _noop_sync()
        registry = {kind: [handler] for kind in types_of(_PlainEvent)}
        events = [kind() for kind in types_of(_PlainEvent)]

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
            handler = _noop_sync()
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
            await _closing(impl, bus)

    async def check(impl: Implementation) -> None:
        bus = impl.new_bus()
        try:
            count_ = _Count()
            handler = _counting_sync(count_)
            for kind in types_of(impl.event_type):
                impl.add_handler(bus, kind, handler, policy="INLINE")
            for kind in types_of(impl.event_type):
                await asyncio.wait_for(bus.publish(kind()), CHECK_TIMEOUT)
            _expect(f"runs of the handler after one publish of each of {count:,} types", count, count_.n)
        finally:
            await _closing(impl, bus)

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


async def _registered(impl: Implementation, size: int) -> tuple[Any, Any, _Count]:
    """A new bus with `size` counting INLINE handlers of one event type; NotMeasured if that is too slow."""
    bus = impl.new_bus()
    event_type = _event_type(impl)
    count = _Count()
    started = time.monotonic()
    for i in range(size):
        impl.add_handler(bus, event_type, _counting_sync(count), policy="INLINE")
        if i % 256 == 255 and time.monotonic() - started > SETUP_BUDGET:
            await _closing(impl, bus)
            raise NotMeasured(f"registering {size:,} handlers takes over {SETUP_BUDGET:g} s ({i + 1:,} done)")
    return bus, event_type, count


def _registration_case(op: str, size: int) -> Case:
    """The cost of one more subscribe (or of one unsubscribe) on a bus already holding `size` handlers of the type.

    Each operation is undone, untimed, before the next, so the bus holds `size`
    handlers whenever one is timed. The bus is built once per implementation, by
    the check, and kept for the samples.
    """
    subscribing = op == "subscribe"
    prepared: dict[str, tuple[Any, Any]] = {}

    def timed(add: Callable[[], Any], remove: Callable[[], Any], n: int) -> Sample:
        elapsed = 0
        for done in range(1, n + 1):
            if subscribing:
                start = perf_counter_ns()
                add()
                elapsed += perf_counter_ns() - start
                remove()
            else:
                add()
                start = perf_counter_ns()
                remove()
                elapsed += perf_counter_ns() - start
            if elapsed > SAMPLE_BUDGET_NS and done >= MIN_OPS:
                return elapsed, done
        return elapsed, n

    async def baseline(n: int) -> Sample:
        registry: dict[Any, list[Any]] = {_PlainEvent: [_noop_sync() for _ in range(size)]}
        extra = _noop_sync()
        return timed(
            lambda: registry.setdefault(_PlainEvent, []).append(extra), lambda: registry[_PlainEvent].remove(extra), n
        )

    async def measure(impl: Implementation, n: int) -> Sample:
        bus, event_type = prepared[impl.name]
        extra = _noop_sync()
        return timed(lambda: impl.add_handler(bus, event_type, extra), lambda: bus.unsubscribe(event_type, extra), n)

    async def check(impl: Implementation) -> None:
        bus, event_type, count = await _registered(impl, size)
        try:
            extra = _Count()
            handler = _counting_sync(extra)
            impl.add_handler(bus, event_type, handler)
            await asyncio.wait_for(bus.publish(event_type()), CHECK_TIMEOUT)
            bus.unsubscribe(event_type, handler)
            await asyncio.wait_for(bus.publish(event_type()), CHECK_TIMEOUT)
            _expect(f"runs of {size:,} handlers over two publishes", 2 * size, count.n)
            _expect("runs of one more handler, subscribed for the first publish only", 1, extra.n)
        except BaseException:
            await _closing(impl, bus)
            raise
        prepared[impl.name] = bus, event_type

    async def teardown(impl: Implementation) -> None:
        bus, _ = prepared.pop(impl.name)
        await _closing(impl, bus)

    return Case(
        key=f"{op}-{size}",
        title=f"{op} one more handler, {size:,} registered for its type",
        unit=op,
        ops=2_000,
        baseline_label="a list per type: `append`, `list.remove`",
        baseline=baseline,
        measure=measure,
        check=check,
        group=f"{op} one more handler with N registered for its type, ns per {op}",
        size=size,
        teardown=teardown,
    )


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


def _depth_case(depth: int) -> Case:
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
                    _log.exception("handler failed")

        task = loop.create_task(worker())
        await _one_turn()
        rounds = max(1, n // depth)
        try:
            return await _bursts(queue.put_nowait, _PlainEvent(), bursts, depth, rounds), rounds * depth
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def measure(impl: Implementation, n: int) -> Sample:
        bus = impl.new_bus()
        try:
            bursts = _Bursts(asyncio.get_running_loop())
            event_type = _event_type(impl)
            impl.add_handler(bus, event_type, bursts.handler, policy="INLINE")
            await bus.start_worker()
            rounds = max(1, n // depth)
            return await _bursts(bus.post, event_type(), bursts, depth, rounds), rounds * depth
        finally:
            await _closing(impl, bus)

    async def check(impl: Implementation) -> None:
        bus = impl.new_bus()
        try:
            bursts = _Bursts(asyncio.get_running_loop())
            event_type = _event_type(impl)
            impl.add_handler(bus, event_type, bursts.handler, policy="INLINE")
            await asyncio.wait_for(bus.start_worker(), CHECK_TIMEOUT)
            await _bursts(bus.post, event_type(), bursts, min(depth, 100), 2)
            _expect("runs of the handler after two bursts of posts", 2 * min(depth, 100), bursts.count)
        finally:
            await _closing(impl, bus)

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


async def _close_containers(impl: Implementation, containers: Sequence[Any]) -> None:
    for container in containers:
        try:
            await asyncio.wait_for(impl.close_container(container), CHECK_TIMEOUT)
        except Exception as exc:
            _log.warning("%s: closing a container failed: %r", impl.name, exc)


def all_cases(events: int = 100_000, sizes: Sequence[int] = SIZES) -> list[Case]:
    """Every case, in table order.

    `events` is the count of the post-and-worker cases, `sizes` the handlers
    already registered in the subscribe and unsubscribe cases.
    """
    return [
        _inline_case(1, is_async=False),
        _inline_case(10, is_async=False),
        _inline_case(100, is_async=False),
        _inline_case(1_000, is_async=False),
        _inline_case(1, is_async=True),
        _inline_case(10, is_async=True),
        _many_types_case(EVENT_TYPES),
        _task_case(1),
        _task_case(10),
        _task_case(1, strict=True),
        _task_case(10, strict=True),
        _threadpool_case(),
        _worker_case(events, from_thread=False),
        _worker_case(events, from_thread=True),
        *(_depth_case(depth) for depth in DEPTHS),
        _subscribe_case(),
        *(_registration_case("subscribe", size) for size in sizes),
        *(_registration_case("unsubscribe", size) for size in sizes),
        _component_case(),
    ]

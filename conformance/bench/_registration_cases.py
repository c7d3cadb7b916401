"""The registration cases: subscribe on new buses, subscribe and unsubscribe with N registered, components."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

from ..adapter import ContainerSupport, Implementation
from ._case import CHECK_TIMEOUT, SETUP_BUDGET, Case, NotMeasured, Sample
from ._handlers import (
    Count,
    PlainEvent,
    close_containers,
    closing,
    container_support,
    counting_sync,
    expect,
    new_event_type,
    noop_sync,
)

# -- subscribe on new buses ------------------------------------------------------------

_PER_BUS = 10
"""Handlers subscribed to each bus in the subscribe case."""


def subscribe_case() -> Case:
    """Subscribe a few handlers to one event type on each of many new buses."""

    def register(registry: dict[Any, list[Any]], event_type: Any, handler: Any) -> None:
        registry.setdefault(event_type, []).append(handler)

    async def baseline(n: int) -> Sample:
        registries: list[dict[Any, list[Any]]] = [{} for _ in range(max(1, n // _PER_BUS))]
        handlers = [noop_sync() for _ in range(_PER_BUS)]
        event_type = PlainEvent
        start = perf_counter_ns()
        for registry in registries:
            for handler in handlers:
                register(registry, event_type, handler)
        return perf_counter_ns() - start, len(registries) * _PER_BUS

    async def measure(impl: Implementation, n: int) -> Sample:
        buses = [impl.new_bus() for _ in range(max(1, n // _PER_BUS))]
        try:
            handlers = [noop_sync() for _ in range(_PER_BUS)]
            event_type = new_event_type(impl)
            add = impl.add_handler
            start = perf_counter_ns()
            for bus in buses:
                for handler in handlers:
                    add(bus, event_type, handler, policy="INLINE")
            return perf_counter_ns() - start, len(buses) * _PER_BUS
        finally:
            for bus in buses:
                await closing(impl, bus)

    async def check(impl: Implementation) -> None:
        bus = impl.new_bus()
        try:
            event_type = new_event_type(impl)
            counts = [Count() for _ in range(_PER_BUS)]
            for count in counts:
                impl.add_handler(bus, event_type, counting_sync(count), policy="INLINE")
            await asyncio.wait_for(bus.publish(event_type()), CHECK_TIMEOUT)
            expect(f"runs of each of {_PER_BUS} subscribed handlers", [1] * _PER_BUS, [c.n for c in counts])
        finally:
            await closing(impl, bus)

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


# -- subscribe and unsubscribe with N handlers registered ----------------------------

SAMPLE_BUDGET_NS = 50_000_000
"""Timed work after which a subscribe or unsubscribe sample stops early (after at least `MIN_OPS` operations)."""

MIN_OPS = 20
"""Operations a subscribe or unsubscribe sample times at least, whatever `SAMPLE_BUDGET_NS` says."""


async def _registered(impl: Implementation, size: int) -> tuple[Any, Any, Count]:
    """A new bus with `size` counting INLINE handlers of one event type; NotMeasured if that is too slow."""
    bus = impl.new_bus()
    event_type = new_event_type(impl)
    count = Count()
    started = time.monotonic()
    for i in range(size):
        impl.add_handler(bus, event_type, counting_sync(count), policy="INLINE")
        if i % 256 == 255 and time.monotonic() - started > SETUP_BUDGET:
            await closing(impl, bus)
            raise NotMeasured(f"registering {size:,} handlers takes over {SETUP_BUDGET:g} s ({i + 1:,} done)")
    return bus, event_type, count


def registration_case(op: str, size: int) -> Case:
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
        registry: dict[Any, list[Any]] = {PlainEvent: [noop_sync() for _ in range(size)]}
        extra = noop_sync()
        return timed(
            lambda: registry.setdefault(PlainEvent, []).append(extra), lambda: registry[PlainEvent].remove(extra), n
        )

    async def measure(impl: Implementation, n: int) -> Sample:
        bus, event_type = prepared[impl.name]
        extra = noop_sync()
        return timed(lambda: impl.add_handler(bus, event_type, extra), lambda: bus.unsubscribe(event_type, extra), n)

    async def check(impl: Implementation) -> None:
        bus, event_type, count = await _registered(impl, size)
        try:
            extra = Count()
            handler = counting_sync(extra)
            impl.add_handler(bus, event_type, handler)
            await asyncio.wait_for(bus.publish(event_type()), CHECK_TIMEOUT)
            bus.unsubscribe(event_type, handler)
            await asyncio.wait_for(bus.publish(event_type()), CHECK_TIMEOUT)
            expect(f"runs of {size:,} handlers over two publishes", 2 * size, count.n)
            expect("runs of one more handler, subscribed for the first publish only", 1, extra.n)
        except BaseException:
            await closing(impl, bus)
            raise
        prepared[impl.name] = bus, event_type

    async def teardown(impl: Implementation) -> None:
        bus, _ = prepared.pop(impl.name)
        await closing(impl, bus)

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


# -- components that auto-subscribe ---------------------------------------------------

_METHODS = ("on_first", "on_second", "on_third")
"""The auto-subscribing methods of the component in the component case."""


def _subscriber_class(impl: ContainerSupport, event_type: Any, count: Count) -> type:
    def method() -> Callable[[Any, Any], None]:
        def handle(self: Any, event: Any) -> None:
            count.n += 1

        return handle

    on = impl.subscribe_decorator
    namespace = {name: on(event_type)(method()) for name in _METHODS}
    return type("BenchSubscriber", (impl.mixin,), namespace)


def component_case() -> Case:
    """Create a component whose three methods auto-subscribe, each in a new container."""

    class Plain:
        def on_first(self, event: Any) -> None:
            return None

        def on_second(self, event: Any) -> None:
            return None

        def on_third(self, event: Any) -> None:
            return None

    async def baseline(n: int) -> Sample:
        event_type = PlainEvent
        start = perf_counter_ns()
        for _ in range(n):
            instance = Plain()
            registry: dict[Any, list[Any]] = {}
            for name in _METHODS:
                registry.setdefault(event_type, []).append(getattr(instance, name))
        return perf_counter_ns() - start, n

    async def measure(impl: Implementation, n: int) -> Sample:
        support = container_support(impl)
        event_type = new_event_type(impl)
        count = Count()
        classes = [_subscriber_class(support, event_type, count) for _ in range(n)]
        containers: list[Any] = []
        try:
            new_container = support.new_container
            start = perf_counter_ns()
            for cls in classes:
                container = new_container([cls])
                containers.append(container)
                container.get(cls)
            return perf_counter_ns() - start, n
        finally:
            await close_containers(impl, containers)

    async def check(impl: Implementation) -> None:
        support = container_support(impl)
        event_type = new_event_type(impl)
        count = Count()
        cls = _subscriber_class(support, event_type, count)
        container = support.new_container([cls])
        try:
            container.get(cls)
            bus = container.get(support.bus_type)
            await asyncio.wait_for(bus.publish(event_type()), CHECK_TIMEOUT)
            expect(f"runs of the component's {len(_METHODS)} @subscribe methods", len(_METHODS), count.n)
        finally:
            await close_containers(impl, [container])

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

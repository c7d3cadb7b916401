"""SPEC.md §1: events and the container (the bus as a component, `init`, the guide's example)."""

import dataclasses

import pytest

from conformance.kit import Kit, describe

# Annotations here must stay real objects (no `from __future__ import annotations`):
# containers resolve constructor parameters from them.


@pytest.mark.rule("EVT-1")
async def test_plain_and_dataclass_events_can_be_published(kit: Kit) -> None:
    Plain = kit.event_class("Plain")

    Data = dataclasses.make_dataclass("Data", [("user_id", int), ("email", str)], bases=(kit.Event,))
    Frozen = dataclasses.make_dataclass("Frozen", [("n", int)], bases=(kit.Event,), frozen=True)

    bus = kit.new_bus()
    rec = kit.recorder()
    for cls in (Plain, Data, Frozen):
        kit.add(bus, cls, rec.sync_handler(cls.__name__))
    events = [Plain(), Data(user_id=1, email="a@example.com"), Frozen(n=2)]
    for event in events:
        try:
            await kit.within(bus.publish(event), "publish of a user event returns")
        except Exception as exc:
            kit.fail(f"a {type(event).__name__} event (subclass of Event) can be published", f"raised {describe(exc)}")
    kit.check(
        rec.labels() == ["Plain", "Data", "Frozen"],
        "each of a plain subclass, a dataclass and a frozen dataclass event reaches its handler once",
        f"handler calls were {rec.labels()}",
    )


@pytest.mark.rule("CTR-1")
async def test_container_provides_one_bus(kit: Kit) -> None:
    container = kit.container()
    first = container.get(kit.EventBus)
    again = container.get(kit.EventBus)
    awaited = await kit.within(container.aget(kit.EventBus), "container.aget(EventBus) returns")
    kit.check(isinstance(first, kit.EventBus), "container.get(EventBus) returns an EventBus", f"it returned {first!r}")
    kit.check(
        first is again and first is awaited,
        "get and aget return the same EventBus instance every time",
        f"got {first!r}, {again!r} and {awaited!r}",
    )


@pytest.mark.rule("CTR-2")
async def test_bus_is_injected_into_components(kit: Kit) -> None:
    class Publisher:
        def __init__(self, bus) -> None:  # type: ignore[no-untyped-def]
            self.bus = bus

    # The annotation is the implementation's class, known only at run time.
    Publisher.__init__.__annotations__["bus"] = kit.EventBus

    container = kit.container(Publisher)
    publisher = await kit.within(container.aget(Publisher), "container.aget(component) returns")
    bus = container.get(kit.EventBus)
    kit.check(
        publisher.bus is bus,
        "a component with a parameter annotated EventBus receives the container's bus",
        f"it received {publisher.bus!r}, the container's bus is {bus!r}",
    )

"""SPEC.md §1 and §2: events, the container's bus, and what `publish` delivers to whom."""

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


@pytest.mark.rule("PUB-1")
async def test_publish_calls_every_subscriber_with_the_event(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("sync"))
    kit.add(bus, Ping, rec.async_handler("async"))
    event = Ping()
    await kit.within(bus.publish(event), "publish returns")
    kit.check(
        sorted(rec.labels()) == ["async", "sync"],
        "one call of each of the two handlers registered for the event's type",
        f"calls: {rec.labels()}",
    )
    kit.check(
        all(c.event is event for c in rec.calls),
        "each handler receives the published event object itself",
        f"handlers received {[c.event for c in rec.calls]!r}, published {event!r}",
    )


@pytest.mark.rule("PUB-1")
async def test_publish_is_awaitable(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    result = bus.publish(Ping())
    kit.check(
        hasattr(result, "__await__"),
        "bus.publish(event) returns an awaitable (it is used as `await bus.publish(event)`)",
        f"it returned {result!r}",
    )
    if hasattr(result, "__await__"):
        await kit.within(result, "publish returns")


@pytest.mark.rule("PUB-2")
async def test_unrelated_types_receive_nothing(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    Pong = kit.event_class("Pong")

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Pong, rec.sync_handler("pong-sync"))
    kit.add(bus, Pong, rec.async_handler("pong-async"))
    kit.add(bus, Ping, rec.sync_handler("ping"))
    await kit.within(bus.publish(Ping()), "publish returns")
    kit.check(
        rec.labels() == ["ping"],
        "publishing a Ping calls only the Ping handler, not the handlers of the unrelated Pong",
        f"calls: {rec.labels()}",
    )


@pytest.mark.rule("PUB-2")
async def test_subclass_handlers_do_not_get_base_class_events(kit: Kit) -> None:
    Base = kit.event_class("Base")
    Child = kit.event_class("Child", base=Base)

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Child, rec.sync_handler("child"))
    kit.add(bus, Base, rec.sync_handler("base"))
    await kit.within(bus.publish(Base()), "publish returns")
    kit.check(
        rec.labels() == ["base"],
        "publishing a Base event calls the Base handler only: a handler of its subclass Child is not called",
        f"calls: {rec.labels()}",
    )


@pytest.mark.rule("PUB-3")
async def test_base_class_subscribers_get_subclass_events_at_most_once(kit: Kit) -> None:
    Base = kit.event_class("Base")

    Child = kit.event_class("Child", base=Base)

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Base, rec.sync_handler("base"))
    kit.add(bus, Child, rec.sync_handler("child"))
    await kit.within(bus.publish(Child()), "publish returns")
    kit.check(
        rec.count("child") == 1 and rec.count("base") in (0, 1),
        "the Child handler runs once; the Base handler runs once or not at all (implementation-defined)",
        f"calls: {rec.labels()}",
    )


@pytest.mark.rule("PUB-4")
async def test_publish_without_subscribers_returns(kit: Kit) -> None:
    Lonely = kit.event_class("Lonely")

    bus = kit.new_bus()
    try:
        result = await kit.within(bus.publish(Lonely()), "publish with no subscribers returns")
    except AssertionError:
        raise
    except Exception as exc:
        kit.fail("publishing an event nobody subscribed to returns normally", f"raised {describe(exc)}")
    kit.check(result is None, "publish returns None", f"it returned {result!r}")


@pytest.mark.rule("PUB-5")
async def test_handlers_added_during_dispatch_wait_for_the_next_one(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    late = rec.sync_handler("late")

    def first(event: object) -> None:
        rec.record("first", event)
        if rec.count("first") == 1:
            kit.add(bus, Ping, late)

    kit.add(bus, Ping, first)
    await kit.within(bus.publish(Ping()), "first publish returns")
    kit.check(
        rec.labels() == ["first"],
        "a handler registered during a dispatch is not called for that dispatch",
        f"calls during the first publish: {rec.labels()}",
    )
    await kit.within(bus.publish(Ping()), "second publish returns")
    kit.check(
        rec.labels() == ["first", "first", "late"],
        "the handler registered during the first dispatch is called for the second",
        f"calls after the second publish: {rec.labels()}",
    )

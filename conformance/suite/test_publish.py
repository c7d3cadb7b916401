"""SPEC.md §2: what `publish` delivers to whom."""

import pytest

from conformance.kit import Kit, describe

# Annotations here must stay real objects (no `from __future__ import annotations`):
# containers resolve constructor parameters from them.


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

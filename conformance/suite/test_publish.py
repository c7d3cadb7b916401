"""SPEC.md §2: what `publish` delivers to whom.

Every dispatch rule runs through both paths (`dispatch`: `publish`, then `post` +
worker) and with variety in what it is given: every kind of handler, duplicate
registrations, events equal to earlier ones or unhashable, classes sharing a
name, and a class shared by two buses.
"""

from typing import Any

import pytest

from conformance.kit import Dispatch, Kit, Recorder, describe

# Annotations here must stay real objects (no `from __future__ import annotations`):
# containers resolve constructor parameters from them.


def _received(rec: Recorder, label: str) -> list[Any]:
    """The events handler `label` received, in order."""
    return [c.event for c in rec.of(label)]


def _same_objects(got: list[Any], expected: list[Any]) -> bool:
    """`got` holds exactly the objects of `expected`, in order (identity, not equality)."""
    return len(got) == len(expected) and all(g is e for g, e in zip(got, expected, strict=True))


@pytest.mark.rule("PUB-1")
async def test_every_kind_of_handler_receives_each_event(kit: Kit, dispatch: Dispatch) -> None:
    # Domain: every handler kind x every policy the bus declares (the default, TASK, THREADPOOL) x both paths.
    Num = kit.numbered_event("Num")
    bus = kit.new_bus()
    rec = kit.recorder()
    policies = [None, *kit.background_policies()]
    kinds = {policy: rec.every_kind(f"{policy or 'default'} ") for policy in policies}
    for policy in policies:
        for kind in kinds[policy]:
            kit.add(bus, Num, kind.fn, policy=policy)
    events = [Num(n=1), Num(n=2)]
    await dispatch(bus, *events)
    everyone = [kind.label for policy in policies for kind in kinds[policy]]
    await rec.until(lambda calls: all(sum(c.label == label for c in calls) >= 2 for label in everyone), "all ran")
    for policy in policies:
        for kind in kinds[policy]:
            got = _received(rec, kind.label)
            # INLINE calls come in dispatch order; background ones in any order (IMPL-6), each event once.
            in_order = policy is None
            kit.check(
                _same_objects(got, events)
                if in_order
                else len(got) == 2 and all(sum(g is e for g in got) == 1 for e in events),
                f"the {kind.kind} handler registered with policy {policy or '(default)'} is called once per "
                f"dispatch with the published event object itself: {events!r}",
                f"it received {got!r}"
                + (" (its coroutine was never awaited?)" if kind.is_async and not got else "")
                # Sorted: background handlers finish in any order, and a report must read the same every run.
                + f"; all calls, sorted: {sorted(rec.labels())}",
            )
    await kit.exactly_each(rec, dict.fromkeys(everyone, 2), "each handler is called once per dispatch, never again")


@pytest.mark.rule("PUB-1")
async def test_a_handler_registered_twice_is_called_twice(kit: Kit, dispatch: Dispatch) -> None:
    Num = kit.numbered_event("Num")
    bus = kit.new_bus()
    rec = kit.recorder()
    kinds = rec.every_kind("twice ")
    for kind in kinds:
        kit.add(bus, Num, kind.fn)
        kit.add(bus, Num, kind.fn)
    events = [Num(n=1), Num(n=2)]
    await dispatch(bus, *events)
    for kind in kinds:
        got = _received(rec, kind.label)
        kit.check(
            _same_objects(got, [events[0], events[0], events[1], events[1]]),
            f"a {kind.kind} handler registered twice for a type is called twice per dispatch "
            "(once per registration): 4 calls for 2 events",
            f"it received {got!r}",
        )


@pytest.mark.rule("PUB-1")
async def test_equal_and_unhashable_events_are_each_delivered(kit: Kit, dispatch: Dispatch) -> None:
    Plain = kit.numbered_event("Plain", frozen=False)  # equal by value, unhashable
    Odd = kit.odd_event("Odd")  # all equal, one hash
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Plain, rec.sync_handler("plain-sync"))
    kit.add(bus, Plain, rec.async_handler("plain-async"))
    kit.add(bus, Odd, rec.sync_handler("odd-sync"))
    kit.add(bus, Odd, rec.async_handler("odd-async"))
    plain = [Plain(n=1), Plain(n=1), Plain(n=2), Plain(n=1)]
    odd = [Odd(n=1), Odd(n=2), Odd(n=3)]
    await dispatch(bus, plain[0], plain[1], odd[0], plain[2], odd[1], odd[2], plain[3])
    for label, expected in (("plain-sync", plain), ("plain-async", plain), ("odd-sync", odd), ("odd-async", odd)):
        got = _received(rec, label)
        kit.check(
            _same_objects(got, expected),
            f"handler {label} receives every event of its type, each once, in order, even when it equals "
            f"(==, same hash) an earlier one or cannot be hashed: {expected!r}",
            f"it received {got!r}",
        )


@pytest.mark.rule("PUB-1", "PUB-2")
async def test_classes_with_the_same_name_are_different_event_types(kit: Kit, dispatch: Dispatch) -> None:
    PingA = kit.event_class("Ping", module="app.orders")
    PingB = kit.event_class("Ping", module="app.billing")
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, PingA, rec.sync_handler("orders"))
    kit.add(bus, PingB, rec.async_handler("billing"))
    a1, b1, a2 = PingA(), PingB(), PingA()
    await dispatch(bus, a1, b1, a2)
    kit.check(
        _same_objects(_received(rec, "orders"), [a1, a2]) and _same_objects(_received(rec, "billing"), [b1]),
        "two classes both called Ping (modules app.orders and app.billing) are two event types: the handler "
        "of app.orders.Ping gets its two events only, the handler of app.billing.Ping its one event only",
        f"orders received {_received(rec, 'orders')!r}, billing received {_received(rec, 'billing')!r} "
        "(handlers found by class name?)",
    )


@pytest.mark.rule("PUB-1")
async def test_an_event_class_shared_by_two_buses_is_routed_per_bus(kit: Kit, dispatch: Dispatch) -> None:
    Shared = kit.shared_event_class("PublishSharedPing")  # the same class object in every test, like a module's
    first, second = kit.new_bus(), kit.new_bus()
    rec = kit.recorder()
    kit.add(first, Shared, rec.sync_handler("first"))
    kit.add(second, Shared, rec.async_handler("second"))
    kit.add(second, Shared, rec.sync_handler("second-sync"))
    e1, e2 = Shared(n=1), Shared(n=2)
    await dispatch(first, e1)
    await dispatch(second, e2)
    kit.check(
        _same_objects(_received(rec, "first"), [e1])
        and _same_objects(_received(rec, "second"), [e2])
        and _same_objects(_received(rec, "second-sync"), [e2]),
        "each bus calls only its own handlers of a class both use: the first bus's handler gets the event "
        "dispatched on the first bus, the second bus's two handlers the event dispatched on the second",
        f"calls: {[(c.label, c.event) for c in rec.calls]} (state kept per class, shared between buses?)",
    )


@pytest.mark.rule("PUB-1")
async def test_publish_is_awaitable(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("sync"))
    result = bus.publish(Ping())
    kit.check(
        hasattr(result, "__await__"),
        "bus.publish(event) returns an awaitable (it is used as `await bus.publish(event)`)",
        f"it returned {result!r}",
    )
    if hasattr(result, "__await__"):
        await kit.within(result, "publish returns")
    kit.check(rec.count("sync") == 1, "awaiting publish delivers the event", f"calls: {rec.labels()}")


@pytest.mark.rule("PUB-2")
async def test_unrelated_types_receive_nothing(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.event_class("Ping")
    Pong = kit.event_class("Pong")

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Pong, rec.sync_handler("pong-sync"))
    kit.add(bus, Pong, rec.async_handler("pong-async"))
    kit.add(bus, Ping, rec.sync_handler("ping-sync"))
    kit.add(bus, Ping, rec.async_handler("ping-async"))
    await dispatch(bus, Ping(), Ping())
    kit.check(
        sorted(rec.labels()) == ["ping-async", "ping-async", "ping-sync", "ping-sync"],
        "dispatching two Pings calls the two Ping handlers for each, never the handlers of the unrelated Pong",
        f"calls: {rec.labels()}",
    )


@pytest.mark.rule("PUB-2")
async def test_subclass_handlers_do_not_get_base_class_events(kit: Kit, dispatch: Dispatch) -> None:
    Base = kit.event_class("Base")
    Child = kit.event_class("Child", base=Base)

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Child, rec.sync_handler("child-sync"))
    kit.add(bus, Child, rec.async_handler("child-async"))
    kit.add(bus, Base, rec.sync_handler("base"))
    await dispatch(bus, Base(), Base())
    kit.check(
        rec.labels() == ["base", "base"],
        "dispatching two Base events calls the Base handler for each; the handlers of its subclass Child are "
        "not called",
        f"calls: {rec.labels()}",
    )


SHAPES = ("single", "multiple", "diamond")
"""Event hierarchies PUB-3 ranges over: one base; two unrelated bases; two bases sharing a base (a diamond)."""


def _hierarchy(kit: Kit, shape: str) -> tuple[Any, list[Any]]:
    """The event class of `shape` and its bases, each an event class (the base class of events excluded)."""
    if shape == "single":
        base = kit.event_class("Base")
        return kit.event_class("Child", base=base), [base]
    kit.exercise(event_shape=f"{shape} inheritance")  # the Child of two bases is built here, not by the kit
    if shape == "multiple":
        left, right = kit.event_class("Left"), kit.event_class("Right")
        return type("Child", (left, right), {"__module__": left.__module__}), [left, right]
    top = kit.event_class("Top")
    left, right = kit.event_class("Left", base=top), kit.event_class("Right", base=top)
    return type("Child", (left, right), {"__module__": left.__module__}), [top, left, right]


@pytest.mark.rule("PUB-3")
@pytest.mark.parametrize("shape", SHAPES)
async def test_base_class_subscribers_get_subclass_events_at_most_once(
    kit: Kit, dispatch: Dispatch, shape: str
) -> None:
    # Domain: event shapes (single, multiple, diamond inheritance) x every handler kind x both paths. The
    # Child's own handlers, one sync and one async, show the dispatch happened (every kind of them is PUB-1's).
    Child, bases = _hierarchy(kit, shape)
    bus = kit.new_bus()
    rec = kit.recorder()
    child_kinds = [k for k in rec.every_kind("Child ") if k.kind in ("function", "async function")]
    base_kinds = [
        (base.__name__, kind)
        for base in bases
        for kind in rec.register_kinds(bus, base, rec.every_kind(f"{base.__name__} "))
    ]
    for kind in child_kinds:
        kit.add(bus, Child, kind.fn)
    events = [Child(), Child()]
    await dispatch(bus, *events)
    where = f"{shape} inheritance: Child({', '.join(b.__name__ for b in Child.__bases__)})"
    for kind in child_kinds:
        kit.check(
            _same_objects(_received(rec, kind.label), events),
            f"the Child {kind.kind} handler runs once for each of the two Child events ({where})",
            f"it received {_received(rec, kind.label)!r}; calls: {rec.labels()}",
        )
    for name, kind in base_kinds:
        got = _received(rec, kind.label)
        kit.check(
            all(sum(1 for g in got if g is e) <= 1 for e in events) and all(any(g is e for e in events) for g in got),
            f"the {name} {kind.kind} handler, registered for a base class, receives each Child event once or "
            f"not at all (implementation-defined), never more ({where})",
            f"it received {got!r}" + (" (a base reached along two paths called twice?)" if len(got) > 2 else ""),
        )


@pytest.mark.rule("PUB-4")
async def test_publish_without_subscribers_returns(kit: Kit) -> None:
    # Domain: both paths (publish, then, where the bus has one, post + worker) x a bus with no subscribers at
    # all and one with subscribers of other types.
    Lonely = kit.event_class("Lonely")
    Other = kit.event_class("Other")

    empty = kit.new_bus()
    busy = kit.new_bus()
    rec = kit.recorder()
    kit.add(busy, Other, rec.sync_handler("other"))
    for bus, which in ((empty, "a bus with no subscribers at all"), (busy, "a bus with subscribers of other types")):
        for attempt in ("first", "second"):
            # The value publish returns is not specified (PUB-4): only how it ends is checked.
            outcome = await kit.outcome(bus.publish(Lonely()), f"publish with no subscribers returns ({which})")
            if outcome.error is not None:
                kit.fail(
                    f"publishing an event nobody subscribed to returns normally ({which}, {attempt} publish)",
                    f"raised {describe(outcome.error)}",
                )
    kit.check(rec.count() == 0, "no handler of another type runs", f"calls: {rec.labels()}")
    if not kit.supports("worker"):
        return
    # Through the worker, as publish does (POST-4): the dispatch of an event nobody subscribed to ends normally,
    # and the worker goes on with the next posted event.
    for bus, which in ((empty, "a bus with no subscribers at all"), (busy, "a bus with subscribers of other types")):
        await kit.within(bus.start_worker(), f"start_worker returns ({which})")
        kit.accepted(lambda: bus.post(Lonely()), f"post of an event nobody subscribed to ({which})")  # noqa: B023
        kit.accepted(lambda: bus.post(Other()), f"post of the next event ({which})")  # noqa: B023
        await kit.within(bus.stop_worker(), f"stop_worker returns once the posted events were dispatched ({which})")
    kit.check(
        rec.labels() == ["other"],
        "through post + worker, an event nobody subscribed to is dispatched without error: the worker goes on "
        "and delivers the event posted after it (Other, to its one handler on the bus with subscribers)",
        f"calls: {rec.labels()} (the worker stopped at the event without subscribers?)",
    )


@pytest.mark.rule("PUB-5")
async def test_handlers_added_during_dispatch_wait_for_the_next_one(kit: Kit, dispatch: Dispatch) -> None:
    Num = kit.numbered_event("Num")

    bus = kit.new_bus()
    rec = kit.recorder()
    late_sync = rec.sync_handler("late-sync")
    late_async = rec.async_handler("late-async")

    def first(event: Any) -> None:
        rec.record("first", event)
        if event.n == 1:
            kit.add(bus, Num, late_sync)

    async def second(event: Any) -> None:
        rec.record("second", event)
        if event.n == 1:
            kit.add(bus, Num, late_async)

    kit.add(bus, Num, first)
    kit.add(bus, Num, second)
    await dispatch(bus, Num(n=1))
    kit.check(
        sorted(rec.labels()) == ["first", "second"],
        "handlers registered during a dispatch are not called for that dispatch",
        f"calls during the first dispatch: {rec.labels()}",
    )
    await dispatch(bus, Num(n=2))
    kit.check(
        sorted(rec.labels()[2:]) == ["first", "late-async", "late-sync", "second"],
        "the handlers registered during the first dispatch are called for the second",
        f"calls after the second dispatch: {rec.labels()}",
    )

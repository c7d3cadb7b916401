"""SPEC.md §1: events and the container (the bus as a component, `init`, the guide's example)."""

import asyncio
import dataclasses
from typing import Any

import pytest

from conformance.kit import Kit, Recorder, describe

# Annotations here must stay real objects (no `from __future__ import annotations`):
# containers resolve constructor parameters from them.


@pytest.mark.rule("EVT-1")
async def test_plain_and_dataclass_events_can_be_published(kit: Kit) -> None:
    Plain = kit.event_class("Plain")

    made: list[Any] = []
    specs: list[tuple[str, list[tuple[str, type]], bool]] = [
        ("Data", [("user_id", int), ("email", str)], False),
        ("Frozen", [("n", int)], True),
    ]
    for name, fields, frozen in specs:
        exc = kit.raised_now(lambda: made.append(kit.fields_event(name, fields, frozen=frozen)))  # noqa: B023
        if exc is not None:
            kit.fail(
                f"a {'frozen ' if frozen else ''}dataclass event with fields can subclass Event",
                f"defining one raised {describe(exc)}",
            )
    Data, Frozen = made

    bus = kit.new_bus()
    rec = kit.recorder()
    for cls in (Plain, Data, Frozen):
        kit.add(bus, cls, rec.sync_handler(cls.__name__))
    # Two of each, the dataclass ones equal by value.
    events = [Plain(), Plain(), Data(user_id=1, email="a@example.com"), Data(user_id=1, email="a@example.com")]
    events += [Frozen(n=2), Frozen(n=2)]
    for event in events:
        outcome = await kit.outcome(bus.publish(event), f"publish of a {type(event).__name__} event returns")
        if outcome.error is not None:
            kit.fail(
                f"a {type(event).__name__} event (subclass of Event) can be published",
                f"publish raised {describe(outcome.error)}",
            )
    kit.check(
        [c.event for c in rec.calls] == events and all(c.event is e for c, e in zip(rec.calls, events, strict=False)),
        "each of two plain, two dataclass and two frozen dataclass events (equal in pairs) reaches its handler "
        "once, as the object published",
        f"handler calls were {rec.labels()}",
    )


@pytest.mark.rule("CTR-1")
@pytest.mark.needs("container")
async def test_container_provides_one_bus(kit: Kit) -> None:
    container, other = kit.container(), kit.container()
    got = [container.get(kit.EventBus), container.get(kit.EventBus)]
    for _ in range(2):
        got.append(await kit.within(container.aget(kit.EventBus), "container.aget(EventBus) returns"))
    got.append(container.get(kit.EventBus))
    first = got[0]
    kit.check(isinstance(first, kit.EventBus), "container.get(EventBus) returns an EventBus", f"it returned {first!r}")
    kit.check(
        all(bus is first for bus in got),
        "get and aget (three and two times) return the same EventBus instance every time",
        f"got {got!r}",
    )
    theirs = await kit.within(other.aget(kit.EventBus), "container.aget(EventBus) of a second container returns")
    kit.check(
        theirs is not first and other.get(kit.EventBus) is theirs,
        "each of two containers provides its own bus, the same one every time",
        f"the first container's bus is {first!r}, the second's {theirs!r} and {other.get(kit.EventBus)!r}",
    )


@pytest.mark.rule("CTR-2")
@pytest.mark.needs("container")
async def test_bus_is_injected_into_components(kit: Kit) -> None:
    class Publisher:
        def __init__(self, bus) -> None:  # type: ignore[no-untyped-def]
            self.bus = bus

    class Auditor:
        def __init__(self, events_bus) -> None:  # type: ignore[no-untyped-def]
            self.bus = events_bus

    # The annotation is the implementation's class, known only at run time.
    Publisher.__init__.__annotations__["bus"] = kit.EventBus
    Auditor.__init__.__annotations__["events_bus"] = kit.EventBus

    container = kit.container(Publisher, Auditor)
    publishers = [await kit.within(container.aget(Publisher), "container.aget(component) returns") for _ in range(2)]
    publishers.append(container.get(Publisher))
    auditor = container.get(Auditor)
    bus = container.get(kit.EventBus)
    kit.check(
        all(p is publishers[0] for p in publishers),
        "a component resolved with aget, aget and get is the same instance",
        f"got {publishers!r}",
    )
    kit.check(
        publishers[0].bus is bus and auditor.bus is bus,
        "two components with a parameter annotated EventBus each receive the container's bus",
        f"they received {publishers[0].bus!r} and {auditor.bus!r}, the container's bus is {bus!r}",
    )


def _subscribers(kit: Kit, rec: Recorder, Ping: Any) -> tuple[type, type]:
    """Two subscriber component classes: `Audit` (sync handler) and `Mailer` (async), recording (self, event)."""
    Mixin = kit.AutoSubscriberMixin

    class Audit(Mixin):
        @kit.on(Ping)
        def on_ping(self, event: Any) -> None:
            rec.record("Audit", (self, event))

    class Mailer(Mixin):
        @kit.on(Ping)
        async def on_ping(self, event: Any) -> None:
            await asyncio.sleep(0)
            rec.record("Mailer", (self, event))

    return Audit, Mailer


@pytest.mark.rule("CTR-3", "SUB-2")
@pytest.mark.needs("container")
async def test_init_creates_the_components_it_scans(kit: Kit) -> None:
    Ping = kit.numbered_event("Ping", frozen=False)
    rec = kit.recorder()
    Audit, Mailer = _subscribers(kit, rec, Ping)
    container = kit.container(Audit, Mailer)
    bus = kit.bus_of(container)
    early = [Ping(n=1), Ping(n=1)]  # equal, unhashable
    for event in early:
        await kit.within(bus.publish(event), "publish returns")
    for label in ("Audit", "Mailer"):
        got = [c.event[1] for c in rec.of(label)]
        kit.check(
            len(got) == 2 and all(g is e for g, e in zip(got, early, strict=False)),
            f"{label}, a component init found and nobody resolved, receives each of the two events published "
            "after init returned, once (init creates components not marked lazy)",
            f"it received {len(got)} events: {got!r}"
            + (" (it was never created, or its methods never registered)" if not got else ""),
        )
    for cls in (Audit, Mailer):
        label = cls.__name__
        receiver = rec.of(label)[0].event[0]
        resolved = [container.get(cls), await kit.within(container.aget(cls), f"container.aget({label}) returns")]
        resolved += [await kit.within(container.aget(cls), f"container.aget({label}) returns"), container.get(cls)]
        kit.check(
            all(r is receiver for r in resolved),
            f"get and aget of {label} (four times) return the instance init created, the one that received the events",
            f"the events went to {receiver!r}; get/aget returned {resolved!r}",
        )
    late = Ping(n=1)
    await kit.within(bus.publish(late), "publish returns")
    for label in ("Audit", "Mailer"):
        kit.check(
            [c.event[1] for c in rec.of(label)][2:] == [late] and rec.of(label)[-1].event[1] is late,
            f"after four resolutions, {label} receives the next event once: resolving registers nothing again",
            f"its calls for that event: {rec.of(label)[2:]!r}",
        )
        await kit.exactly(rec, 3, label, f"{label} receives each of the three events exactly once")


MODULE_FORMS = {
    "names": "every module by dotted name",
    "objects": "every module as a module object",
    "mixed": "the components' modules by dotted name, the bus module as a module object",
    "swapped": "the components' modules as module objects, the bus module by dotted name",
    "alternating": "the components' modules by dotted name and as module objects in turn, the bus module by name",
}
"""How `init` is given its modules (`Kit.container_from`): CTR-4's "in any mix"."""


def _init_from(kit: Kit, form: str, layout: dict[type, str]) -> Any:
    """`kit.container_from(form, ...)` over the classes of `layout`, each put in its module; fails if init raises."""
    for cls, module in layout.items():
        cls.__module__ = module
    made: list[Any] = []
    exc = kit.raised_now(lambda: made.append(kit.container_from(form, *layout)))
    if exc is not None:
        kit.fail(f"init(modules=[...]) accepts {MODULE_FORMS[form]}", f"init raised {describe(exc)}")
    return made[0]


def _ctr4_components(kit: Kit, rec: Recorder, Ping: Any) -> tuple[type, type, type]:
    """`Publisher` (the bus injected), `Listener` (sync INLINE) and `Mailer` (async INLINE) component classes."""
    Mixin = kit.AutoSubscriberMixin

    class Publisher:
        def __init__(self, bus) -> None:  # type: ignore[no-untyped-def]
            self.bus = bus

    Publisher.__init__.__annotations__["bus"] = kit.EventBus

    class Listener(Mixin):
        @kit.on(Ping)
        def on_ping(self, event: Any) -> None:
            rec.record("Listener", event)

    class Mailer(Mixin):
        @kit.on(Ping)
        async def on_ping(self, event: Any) -> None:
            await asyncio.sleep(0)
            rec.record("Mailer", event)

    return Publisher, Listener, Mailer


async def _found_by_init(kit: Kit, container: Any, form: str, rec: Recorder, Ping: Any, where: dict[type, str]) -> None:
    """Check that init found every class of `where` (module descriptions): injected, and delivering once."""
    how = MODULE_FORMS[form]
    publisher_cls, *listeners = where
    got: list[Any] = []
    exc = kit.raised_now(lambda: got.append(container.get(publisher_cls)))
    if exc is not None:
        kit.fail(
            f"with {how}, init finds the {publisher_cls.__name__} component of {where[publisher_cls]}",
            f"container.get({publisher_cls.__name__}) raised {describe(exc)}",
        )
    bus = kit.bus_of(container)
    kit.check(
        got[0].bus is bus.raw and isinstance(bus.raw, kit.EventBus),
        f"with {how}, init finds the EventBus and injects it into the {publisher_cls.__name__} component of "
        f"{where[publisher_cls]}",
        f"it received {got[0].bus!r}; get(EventBus) returned {bus!r}",
    )
    event = Ping()
    await kit.within(bus.publish(event), "publish returns")
    for cls in listeners:
        calls = [c.event for c in rec.of(cls.__name__)]
        kit.check(
            len(calls) == 1 and calls[0] is event,
            f"with {how}, init finds the {cls.__name__} component of {where[cls]}: it receives the event once",
            f"it received {len(calls)} events" + (" (init did not find it)" if not calls else f": {calls!r}"),
        )


MODULE_FORMS = {
    "names": "every module by dotted name",
    "objects": "every module as a module object",
    "mixed": "the components' modules by dotted name, the bus module as a module object",
    "swapped": "the components' modules as module objects, the bus module by dotted name",
    "alternating": "the components' modules by dotted name and as module objects in turn, the bus module by name",
}
"""How `init` is given its modules (`Kit.container_from`): CTR-4's "in any mix"."""


@pytest.mark.rule("CTR-4")
@pytest.mark.parametrize("form", list(MODULE_FORMS))
@pytest.mark.needs("container")
async def test_init_accepts_modules_given_as(kit: Kit, form: str) -> None:
    Ping = kit.event_class("Ping")
    rec = kit.recorder()
    Publisher, Listener, Mailer = _ctr4_components(kit, rec, Ping)
    # Modules laid out as users do: in a package, two packages down (no parent package is listed), at the
    # top level. The kit generates them; given by name, none is imported before init: it must import them.
    where = {
        Publisher: "a module in a package (app.publishing)",
        Listener: "a module two packages down (app.services.listening)",
        Mailer: "a top-level module (plugins)",
    }
    layout = {Publisher: "app.publishing", Listener: "app.services.listening", Mailer: "plugins"}
    container = _init_from(kit, form, layout)
    await _found_by_init(kit, container, form, rec, Ping, where)


@pytest.mark.rule("CTR-4")
@pytest.mark.parametrize("form", list(MODULE_FORMS))
@pytest.mark.needs("container")
async def test_init_finds_the_components_a_package_defines(kit: Kit, form: str) -> None:
    Ping = kit.event_class("Ping")
    rec = kit.recorder()
    Publisher, Listener, Mailer = _ctr4_components(kit, rec, Ping)
    # A package is a module: what its __init__ defines is found like the components of any module.
    where = {
        Publisher: "a package listed itself (app, its __init__)",
        Listener: "a subpackage listed itself (app.services, its __init__)",
        Mailer: "a module of that subpackage (app.services.mail)",
    }
    layout = {Publisher: "app", Listener: "app.services", Mailer: "app.services.mail"}
    container = _init_from(kit, form, layout)
    await _found_by_init(kit, container, form, rec, Ping, where)


@pytest.mark.rule("CTR-5")
@pytest.mark.needs("container", "task")
async def test_the_guides_example_works_as_printed(kit: Kit) -> None:
    UserCreatedEvent = dataclasses.make_dataclass(
        "UserCreatedEvent", [("user_id", int), ("email", str)], bases=(kit.Event,)
    )
    rec = kit.recorder()
    Mixin = kit.AutoSubscriberMixin

    class Database:
        def save(self, email: str) -> int:
            rec.record("DB", email)
            return 1

    class UserService:
        def __init__(self, db, bus) -> None:  # type: ignore[no-untyped-def]
            self.db = db
            self.bus = bus

        async def create_user(self, email: str) -> Any:
            event = UserCreatedEvent(user_id=self.db.save(email), email=email)
            await self.bus.publish(event)
            rec.record("published", event)
            return event

    UserService.__init__.__annotations__.update(db=Database, bus=kit.EventBus)

    class EmailService(Mixin):
        @kit.on(UserCreatedEvent)
        async def on_user_created(self, event: Any) -> None:
            for _ in range(5):  # the guide's `await asyncio.sleep(0.01)`: it suspends
                await asyncio.sleep(0)
            rec.record("EMAIL", (self, event))

    class AnalyticsService(Mixin):
        @kit.on(UserCreatedEvent, policy="TASK")
        async def on_user_created(self, event: Any) -> None:
            await asyncio.sleep(0)
            rec.record("ANALYTICS", (self, event))

    # The guide's layout: one module per service, the bus module, the main module.
    Database.__module__ = "main"
    UserService.__module__ = "app.services.user_service"
    EmailService.__module__ = "app.services.email_service"
    AnalyticsService.__module__ = "app.services.analytics_service"
    container = kit.container(Database, UserService, EmailService, AnalyticsService)
    service = await kit.within(container.aget(UserService), "container.aget(UserService) returns")
    event = await kit.within(service.create_user("alice@example.com"), "user_service.create_user(...) returns")
    kit.check(
        rec.labels()[:1] == ["DB"] and "EMAIL" in rec.labels()[: rec.labels().index("published")],
        "the INLINE EmailService, which nobody resolved, has printed its EMAIL line before publish returns",
        f"calls in order: {rec.labels()}",
    )
    if not await rec.until_count(1, "ANALYTICS"):
        kit.fail(
            "the TASK AnalyticsService, which nobody resolved, runs and prints its ANALYTICS line",
            f"it did not run within {kit.bound:g} s; calls: {rec.labels()}",
        )
    await kit.within(container.cleanup_all_async(), "await container.cleanup_all_async() returns")
    for label in ("EMAIL", "ANALYTICS"):
        await kit.exactly(rec, 1, label, f"the {label} subscriber receives the event once")
        _, received = rec.of(label)[0].event
        kit.check(
            received is event,
            f"the {label} subscriber receives the UserCreatedEvent the service published",
            f"it received {received!r}, the service published {event!r}",
        )

"""SPEC.md §6: `@subscribe` and `AutoSubscriberMixin`."""

import asyncio
from typing import Any

import pytest

from conformance.kit import Kit, Recorder


@pytest.mark.rule("SUB-1")
@pytest.mark.needs("container", "task", "threadpool")
async def test_decorated_functions_stay_callable(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    def double(x: int) -> int:
        return 2 * x

    def negate(x: int) -> int:
        return -x

    async def triple(x: int) -> int:
        return 3 * x

    plain = kit.on(Ping)(double)
    pooled = kit.on(Ping, policy="THREADPOOL")(negate)
    with_policy = kit.on(Ping, policy="TASK")(triple)
    kit.check(callable(plain), "@subscribe(Ping) returns something callable", f"it returned {plain!r}")
    kit.check(
        plain(21) == 42,
        "calling a @subscribe-decorated function directly behaves as before (double(21) == 42)",
        f"it returned {plain(21)!r}",
    )
    kit.check(
        callable(pooled) and pooled(4) == -4,
        "calling a @subscribe(Ping, policy=THREADPOOL)-decorated function behaves as before (negate(4) == -4)",
        f"it is {pooled!r}" + (f" and returned {pooled(4)!r}" if callable(pooled) else ""),
    )
    result = await kit.within(with_policy(5), "the decorated coroutine function can still be awaited")
    kit.check(
        result == 15,
        "calling a @subscribe(Ping, policy=TASK)-decorated async function behaves as before (triple(5) == 15)",
        f"it returned {result!r}",
    )


def _listener(kit: Kit, rec: Recorder, Ping: Any, label: str = "on_ping") -> Any:
    """A new subscriber class called `Listener` whose `on_ping` records `label` with (self, event)."""
    Mixin = kit.AutoSubscriberMixin

    class Listener(Mixin):
        @kit.on(Ping)
        def on_ping(self, event: Any) -> None:
            rec.record(label, (self, event))

    return Listener


async def _resolve(kit: Kit, container: Any, cls: type) -> Any:
    """Resolve `cls` with get, aget, aget, get; fail unless all four are one instance. Return it."""
    got = [container.get(cls)]
    got += [await kit.within(container.aget(cls), f"container.aget({cls.__name__}) returns") for _ in range(2)]
    got.append(container.get(cls))
    kit.check(
        all(g is got[0] for g in got),
        f"get, aget, aget and get of the component {cls.__name__} return one instance",
        f"they returned {got!r}",
    )
    return got[0]


@pytest.mark.rule("SUB-2")
@pytest.mark.needs("container")
async def test_marked_methods_are_registered_when_the_container_creates_the_instance(kit: Kit) -> None:
    # One component class and one event class (made once per process), in two containers.
    Shared = kit.shared_event_class("SubscribeShared")
    rec = kit.recorder()
    Listener = _listener(kit, rec, Shared)
    first, second = kit.container(Listener), kit.container(Listener)
    mine = {}
    for name, container in (("first", first), ("second", second)):
        listener = await _resolve(kit, container, Listener)
        bus = kit.bus_of(container)
        events = [Shared(n=1), Shared(n=1)]  # equal to each other and to the other container's
        for event in events:
            await kit.within(bus.publish(event), f"publish on the {name} container's bus returns")
        mine[name] = (listener, events)
    await kit.exactly(rec, 4, "on_ping", "each of the two instances receives the two events of its own bus once")
    for name, (listener, events) in mine.items():
        got = [(c.event[0], c.event[1]) for c in rec.of("on_ping") if c.event[0] is listener]
        kit.check(
            len(got) == 2 and all(e is event for (_, e), event in zip(got, events, strict=False)),
            f"the {name} container's instance of the shared Listener class receives exactly the two events "
            "published on its container's bus, bound to that instance",
            f"it received {[e for _, e in got]!r}; all calls (instance, event): "
            f"{[(id(c.event[0]), c.event[1]) for c in rec.of('on_ping')]!r}",
        )
    strangers = [c.event[0] for c in rec.of("on_ping") if all(c.event[0] is not m[0] for m in mine.values())]
    kit.check(
        not strangers,
        "the methods are bound to the instances the containers hand out",
        f"they were called on other objects: {strangers!r}",
    )


@pytest.mark.rule("SUB-2")
@pytest.mark.needs("container")
async def test_a_component_marked_lazy_is_subscribed_once_handed_out(kit: Kit) -> None:
    # IMPL-12: created at init or at its first resolution; either way subscribed by the time get returns it.
    Ping = kit.numbered_event("Ping")
    rec = kit.recorder()
    Mixin = kit.AutoSubscriberMixin

    class Sleepy(Mixin):
        def __init__(self) -> None:
            self.token = object()

        @kit.on(Ping)
        def on_ping(self, event: Any) -> None:
            rec.record("Sleepy", (self.token, event))

    container = kit.container_from("mixed", Sleepy, lazy=(Sleepy,))
    bus = kit.bus_of(container)
    handed_out = [container.get(Sleepy), await kit.within(container.aget(Sleepy), "container.aget(Sleepy) returns")]
    before = rec.count()
    events = [Ping(n=1), Ping(n=2)]
    for event in events:
        await kit.within(bus.publish(event), "publish returns")
    # Only now touch what get returned (a lazy proxy may create the instance on first use).
    tokens = [h.token for h in handed_out]
    await kit.exactly(
        rec,
        before + 2,
        "Sleepy",
        "a component marked lazy, once get/aget returned it, receives each of the two events published next once",
    )
    late = rec.of("Sleepy")[before:]
    kit.check(
        tokens[0] is tokens[1] and all(c.event[0] is tokens[0] for c in late),
        "get and aget return one instance of the lazy component, and its handler is bound to it",
        f"get/aget returned instances with tokens {tokens!r}; the handler ran on instances with tokens "
        f"{[c.event[0] for c in late]!r}",
    )


MANY = 9
"""Marked methods on one component, and marks on one method, in the tests of "each": past caps of 2, 4 and 8."""


@pytest.mark.rule("SUB-2")
@pytest.mark.needs("container")
async def test_each_of_many_marked_methods_is_registered(kit: Kit) -> None:
    # Domain: a count of marked methods past small caps x every policy the bus declares (sync methods for INLINE
    # and THREADPOOL, async ones for TASK).
    Ping = kit.numbered_event("Ping")
    rec = kit.recorder()
    policies = kit.policies()
    namespace: dict[str, Any] = {}
    labels: list[str] = []
    for i in range(MANY):
        policy = policies[i % len(policies)]
        label = f"method {i} ({policy})"
        labels.append(label)

        def method(self: Any, event: Any, label: str = label) -> None:
            rec.record(label, event)

        async def async_method(self: Any, event: Any, label: str = label) -> None:
            await asyncio.sleep(0)
            rec.record(label, event)

        mark = kit.on(Ping) if policy == "INLINE" else kit.on(Ping, policy=policy)
        namespace[f"on_ping_{i}"] = mark(async_method if policy == "TASK" else method)
    Listener = type("ManyMethods", (kit.AutoSubscriberMixin,), namespace)
    kit.exercise(count=MANY, policy=list(map(str, policies)))
    container = kit.container(Listener)
    await _resolve(kit, container, Listener)
    bus = kit.bus_of(container)
    await kit.within(bus.publish(Ping(n=1)), "publish returns")
    await rec.until_count(MANY)
    missing = [label for label in labels if not rec.count(label)]
    kit.check(
        not missing,
        f"each of the {MANY} @subscribe methods of the component ({', '.join(policies)}) is registered and called",
        f"never called: {missing}; calls: {rec.labels()}",
    )
    await kit.exactly(rec, MANY, None, f"each of the {MANY} methods is called once for the one event")


@pytest.mark.rule("SUB-6")
@pytest.mark.needs("container")
async def test_a_method_with_many_marks_is_registered_for_each(kit: Kit) -> None:
    # Domain: a sync and an async method x a count of marks past small caps.
    types_ = [kit.numbered_event(f"Kind{i}") for i in range(MANY)]
    rec = kit.recorder()

    def on_any(self: Any, event: Any) -> None:
        rec.record(f"sync {type(event).__name__}", event)

    async def on_any_async(self: Any, event: Any) -> None:
        await asyncio.sleep(0)
        rec.record(f"async {type(event).__name__}", event)

    for cls in types_:
        on_any = kit.on(cls)(on_any)
        on_any_async = kit.on(cls)(on_any_async)
    Listener = type("ManyMarks", (kit.AutoSubscriberMixin,), {"on_any": on_any, "on_any_async": on_any_async})
    kit.exercise(count=MANY, handler_kind=["bound method", "async bound method"])
    container = kit.container(Listener)
    await _resolve(kit, container, Listener)
    bus = kit.bus_of(container)
    for cls in types_:
        await kit.within(bus.publish(cls(n=1)), f"publish({cls.__name__}) returns")
    expected = [f"{how} {cls.__name__}" for cls in types_ for how in ("sync", "async")]
    missing = [label for label in expected if not rec.count(label)]
    kit.check(
        not missing,
        f"a sync and an async method, each marked @subscribe for {MANY} event types, are registered for each type",
        f"never called: {missing}",
    )
    await kit.exactly(rec, 2 * MANY, None, f"each method is called once per event of each of the {MANY} types")


@pytest.mark.rule("SUB-3")
@pytest.mark.needs("container", "task", "threadpool")
async def test_decorator_policies_apply(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    rec = kit.recorder()
    Mixin = kit.AutoSubscriberMixin
    held = kit.gate("the test lets the TASK method go on")

    class Listener(Mixin):
        @kit.on(Ping)
        async def inline(self, event: Any) -> None:
            for _ in range(3):
                await asyncio.sleep(0)
            rec.record("inline", event)

        @kit.on(Ping, policy="TASK")
        async def task(self, event: Any) -> None:
            rec.record("task started", event)
            await held.wait()
            rec.record("task", event)

        @kit.on(Ping, policy="THREADPOOL")
        def pool(self, event: Any) -> None:
            rec.record("pool", event)

    container = kit.container(Listener)
    await _resolve(kit, container, Listener)
    bus = kit.bus_of(container)
    publisher = asyncio.current_task()
    event = Ping()
    await kit.prompt(bus.publish(event), "publish returns while the policy=TASK method is blocked on a gate")
    kit.check(
        rec.count("inline") == 1 and rec.count("task") == 0,
        "the method marked without a policy is INLINE: it has finished when publish returns; "
        "the policy=TASK method is still blocked",
        f"calls when publish returned: {rec.labels()}",
    )
    held.open()
    if not await rec.until(lambda calls: {"task", "pool"} <= {c.label for c in calls}, "TASK and THREADPOOL ran"):
        kit.fail("the TASK and THREADPOOL methods run", f"calls: {rec.labels()}")
    task = rec.of("task")[0].task
    kit.check(
        task is not None and task is not publisher,
        "the method marked policy=TASK runs in an asyncio task of its own, not the publisher's",
        "it ran in the publisher's task" if task is publisher else "it ran outside any task",
    )
    kit.check(
        not rec.of("pool")[0].on_loop_thread,
        "the method marked policy=THREADPOOL runs off the loop's thread",
        "it ran on the loop's thread",
    )
    for label in ("inline", "task", "pool"):
        await kit.exactly(rec, 1, label, f"the {label} method runs once for the event")


@pytest.mark.rule("SUB-4")
@pytest.mark.needs("container", "task")
async def test_classes_never_instantiated_receive_nothing(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    rec = kit.recorder()
    # Two classes defined, never handed to a container; a third one is.
    never = _listener(kit, rec, Ping, "never instantiated")
    Mixin = kit.AutoSubscriberMixin

    class Dormant(Mixin):
        @kit.on(Ping, policy="TASK")
        async def on_ping(self, event: Any) -> None:
            rec.record("never instantiated", (self, event))

    used = kit.recorder()
    other = _listener(kit, used, Ping, "used")
    for _ in range(2):
        container = kit.container(other)
        await kit.within(container.aget(other), "container.aget(component) returns")
        bus = kit.bus_of(container)
        await kit.within(bus.publish(Ping()), "publish returns")
    kit.check(
        used.count("used") == 2,
        "the component class given to two containers receives one event on each bus (control)",
        f"its calls: {used.labels()}",
    )
    await kit.exactly(
        rec,
        0,
        None,
        f"two subscriber classes ({Dormant.__name__} and {never.__name__}) that are defined but never instantiated "
        "receive no event: methods are registered per instance, not at class definition",
    )


@pytest.mark.rule("SUB-5")
@pytest.mark.needs("container")
async def test_each_instance_registers_its_own_handlers(kit: Kit) -> None:
    Ping = kit.numbered_event("Ping")
    rec = kit.recorder()
    Mixin = kit.AutoSubscriberMixin

    class Base(Mixin):
        @kit.on(Ping)
        def on_ping(self, event: Any) -> None:
            rec.record(type(self).__name__, (self, event))

    class First(Base):
        pass

    class Second(Base):
        pass

    container = kit.container(First, Second)
    first = await _resolve(kit, container, First)
    second = await _resolve(kit, container, Second)
    bus = kit.bus_of(container)
    events = [Ping(n=1), Ping(n=2)]
    for event in events:
        await kit.within(bus.publish(event), "publish returns")
    for label, instance in (("First", first), ("Second", second)):
        await kit.exactly(rec, 2, label, f"the {label} instance receives each of the two events once")
        calls = rec.of(label)
        kit.check(
            all(c.event[0] is instance for c in calls) and [c.event[1] for c in calls] == events,
            f"the {label} instance's handler is bound to it and receives the two events in order",
            f"calls (instance, event): {[(c.event[0], c.event[1]) for c in calls]!r}",
        )


def _named_listener(kit: Kit, rec: Recorder, Ping: Any, module: str) -> Any:
    """A class called `Listener` (one qualified name for every call) in `module`, recording `module`."""
    Mixin = kit.AutoSubscriberMixin

    class Listener(Mixin):
        @kit.on(Ping)
        def on_ping(self, event: Any) -> None:
            rec.record(module, (self, event))

    Listener.__module__ = module
    return Listener


@pytest.mark.rule("SUB-5")
@pytest.mark.needs("container")
async def test_same_named_classes_from_two_modules_each_register(kit: Kit) -> None:
    # Two event classes called Ping and two component classes called Listener, one pair per module.
    rec = kit.recorder()
    pings = {module: kit.event_class("Ping", module=module) for module in ("app.a", "app.b")}
    listeners = {module: _named_listener(kit, rec, pings[module], module) for module in pings}
    container = kit.container(*listeners.values())
    instances = {module: await _resolve(kit, container, cls) for module, cls in listeners.items()}
    bus = kit.bus_of(container)
    sent = {module: [Ping(), Ping()] for module, Ping in pings.items()}
    for a, b in zip(sent["app.a"], sent["app.b"], strict=False):
        await kit.within(bus.publish(a), "publish returns")
        await kit.within(bus.publish(b), "publish returns")
    for module, instance in instances.items():
        await kit.exactly(
            rec, 2, module, f"the Listener of {module} receives the two Ping events of {module} once each"
        )
        calls = rec.of(module)
        kit.check(
            all(c.event[0] is instance for c in calls)
            and all(c.event[1] is e for c, e in zip(calls, sent[module], strict=False)),
            f"two component classes called Listener (from app.a and app.b) each register their own handler, "
            f"bound to their instance, for their own Ping class: {module}'s gets {module}'s events",
            f"its calls (instance, event): {[(c.event[0], c.event[1]) for c in calls]!r}",
        )


@pytest.mark.rule("SUB-6")
@pytest.mark.needs("container")
async def test_one_method_with_several_marks(kit: Kit) -> None:
    Ping, Pong, Pang = kit.numbered_event("Ping"), kit.numbered_event("Pong"), kit.numbered_event("Pang")
    rec = kit.recorder()
    Mixin = kit.AutoSubscriberMixin
    # Three marks, one more than a pair, and (where TASK is declared) not all with the same policy.
    pong_policy = "TASK" if kit.supports("task") else "INLINE"

    class Listener(Mixin):
        @kit.on(Ping)
        @kit.on(Pong, policy=pong_policy)
        @kit.on(Pang)
        async def on_any(self, event: Any) -> None:
            await asyncio.sleep(0)
            rec.record(type(event).__name__, event)

    container = kit.container(Listener)
    await _resolve(kit, container, Listener)
    bus = kit.bus_of(container)
    events = [Ping(n=1), Pong(n=1), Pang(n=1), Ping(n=2), Pong(n=2), Pang(n=2)]
    publishers: list[asyncio.Future[Any]] = []  # the task each publish runs in, to tell a TASK handler's own
    for event in events:
        publishers.append(asyncio.ensure_future(bus.publish(event)))
        await kit.within(publishers[-1], f"publish({event!r}) returns")
        if type(event) is not Pong:
            kit.check(
                rec.of(type(event).__name__)[-1:] and rec.of(type(event).__name__)[-1].event is event,
                f"the method marked @subscribe({type(event).__name__}) (no policy: INLINE) has run for {event!r} "
                "when publish returns",
                f"calls so far: {rec.labels()}",
            )
    if not await rec.until_count(2, "Pong"):
        kit.fail(
            f"the method marked @subscribe(Pong, policy={pong_policy}) runs for each Pong",
            f"calls after {kit.bound:g} s: {rec.labels()}",
        )
    await kit.exactly(rec, 6, None, "a method with three marks is called once per event of each of the three types")
    kit.check(
        sorted((c.event for c in rec.calls), key=events.index) == events,
        "the method marked @subscribe(Ping), @subscribe(Pong) and @subscribe(Pang) receives each of the six events "
        "once",
        f"calls: {[c.event for c in rec.calls]!r}",
    )
    if pong_policy == "TASK":
        inside = [c.event for c in rec.of("Pong") if c.task is None or c.task is publishers[events.index(c.event)]]
        kit.check(
            not inside,
            "the mark @subscribe(Pong, policy=TASK) applies to its own registration: the method runs for a Pong in a "
            "task of its own, while the other marks stay INLINE",
            f"for {inside!r} it ran inside the task of publish (or outside any task)",
        )

"""SPEC.md §6: `@subscribe` and `AutoSubscriberMixin`."""

import asyncio
from typing import Any

import pytest

from conformance.kit import Kit, Recorder


@pytest.mark.rule("SUB-1")
async def test_decorated_functions_stay_callable(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    def double(x: int) -> int:
        return 2 * x

    async def triple(x: int) -> int:
        return 3 * x

    plain = kit.on(Ping)(double)
    with_policy = kit.on(Ping, policy="TASK")(triple)
    kit.check(callable(plain), "@subscribe(Ping) returns something callable", f"it returned {plain!r}")
    kit.check(
        plain(21) == 42,
        "calling a @subscribe-decorated function directly behaves as before (double(21) == 42)",
        f"it returned {plain(21)!r}",
    )
    result = await kit.within(with_policy(5), "the decorated coroutine function can still be awaited")
    kit.check(
        result == 15,
        "calling a @subscribe(Ping, policy=TASK)-decorated async function behaves as before (triple(5) == 15)",
        f"it returned {result!r}",
    )


def _listener(kit: Kit, rec: Recorder, Ping: Any) -> Any:
    Mixin = kit.AutoSubscriberMixin

    class Listener(Mixin):
        @kit.on(Ping)
        def on_ping(self, event: Any) -> None:
            rec.record("on_ping", (self, event))

    return Listener


@pytest.mark.rule("SUB-2")
async def test_marked_methods_are_registered_when_the_container_creates_the_instance(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    rec = kit.recorder()
    Listener = _listener(kit, rec, Ping)
    container = kit.container(Listener)
    listener = await kit.within(container.aget(Listener), "container.aget(Listener) returns")
    bus = container.get(kit.EventBus)
    event = Ping()
    await kit.within(bus.publish(event), "publish returns")
    calls = rec.of("on_ping")
    kit.check(
        len(calls) == 1,
        "once the container has handed out the component, publishing on its bus calls the @subscribe method once",
        f"it was called {len(calls)} times",
    )
    bound_self, received = calls[0].event
    kit.check(
        bound_self is listener and received is event,
        "the method is called on the instance the container handed out, with the published event",
        f"it was called on {bound_self!r} (the container's instance is {listener!r}) with {received!r}",
    )


@pytest.mark.rule("SUB-3")
async def test_decorator_policies_apply(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    rec = kit.recorder()
    Mixin = kit.AutoSubscriberMixin

    class Listener(Mixin):
        @kit.on(Ping)
        async def inline(self, event: Any) -> None:
            await asyncio.sleep(0)
            rec.record("inline")

        @kit.on(Ping, policy="TASK")
        async def task(self, event: Any) -> None:
            rec.record("task")

        @kit.on(Ping, policy="THREADPOOL")
        def pool(self, event: Any) -> None:
            rec.record("pool")

    container = kit.container(Listener)
    await kit.within(container.aget(Listener), "container.aget(Listener) returns")
    bus = container.get(kit.EventBus)
    publisher = asyncio.current_task()
    await kit.within(bus.publish(Ping()), "publish returns")
    kit.check(
        rec.count("inline") == 1,
        "the method marked without a policy is INLINE: it has finished when publish returns",
        f"calls when publish returned: {rec.labels()}",
    )
    if not await rec.until(lambda calls: len(calls) >= 3, "all three methods ran"):
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


@pytest.mark.rule("SUB-4")
async def test_classes_never_instantiated_receive_nothing(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    rec = kit.recorder()
    Listener = _listener(kit, rec, Ping)  # defined, never handed to a container
    other = _listener(kit, kit.recorder(), Ping)
    container = kit.container(other)
    await kit.within(container.aget(other), "container.aget(component) returns")
    bus = container.get(kit.EventBus)
    await kit.within(bus.publish(Ping()), "publish returns")
    kit.check(
        rec.count() == 0,
        f"a {Listener.__name__} class that is defined but never instantiated receives no event",
        f"its method was called {rec.count()} times: methods were registered at class definition",
    )


@pytest.mark.rule("SUB-5")
async def test_each_instance_registers_its_own_handlers(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    rec = kit.recorder()
    Mixin = kit.AutoSubscriberMixin

    class Base(Mixin):
        @kit.on(Ping)
        def on_ping(self, event: Any) -> None:
            rec.record(type(self).__name__, self)

    class First(Base):
        pass

    class Second(Base):
        pass

    container = kit.container(First, Second)
    first = await kit.within(container.aget(First), "container.aget(First) returns")
    second = await kit.within(container.aget(Second), "container.aget(Second) returns")
    bus = container.get(kit.EventBus)
    await kit.within(bus.publish(Ping()), "publish returns")
    kit.check(
        sorted(rec.labels()) == ["First", "Second"],
        "two instances sharing a @subscribe method each receive the event once",
        f"calls: {rec.labels()}",
    )
    kit.check(
        rec.of("First")[0].event is first and rec.of("Second")[0].event is second,
        "each handler is bound to its own instance",
        "a handler ran on the wrong instance",
    )


@pytest.mark.rule("SUB-6")
async def test_one_method_with_several_marks(kit: Kit) -> None:
    Ping, Pong = kit.event_class("Ping"), kit.event_class("Pong")
    rec = kit.recorder()
    Mixin = kit.AutoSubscriberMixin

    class Listener(Mixin):
        @kit.on(Ping)
        @kit.on(Pong)
        def on_either(self, event: Any) -> None:
            rec.record(type(event).__name__)

    container = kit.container(Listener)
    await kit.within(container.aget(Listener), "container.aget(Listener) returns")
    bus = container.get(kit.EventBus)
    await kit.within(bus.publish(Ping()), "publish(Ping()) returns")
    await kit.within(bus.publish(Pong()), "publish(Pong()) returns")
    kit.check(
        rec.labels() == ["Ping", "Pong"],
        "a method marked @subscribe(Ping) and @subscribe(Pong) is called once for each",
        f"calls: {rec.labels()}",
    )

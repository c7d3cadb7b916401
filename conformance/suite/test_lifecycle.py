"""SPEC.md §7: container shutdown and what a closed bus does."""

import asyncio
import dataclasses
from typing import Any

import pytest

from conformance.kit import Kit, describe

# Annotations here must stay real objects (no `from __future__ import annotations`):
# containers resolve constructor parameters from them.


@pytest.mark.rule("LIFE-1")
async def test_container_shutdown_drains_the_worker(kit: Kit) -> None:
    Num = dataclasses.make_dataclass("Num", [("n", int)], bases=(kit.Event,))
    container = kit.container()
    bus = container.get(kit.EventBus)
    rec = kit.recorder()

    async def handler(event: Any) -> None:
        await asyncio.sleep(0)
        rec.record(str(event.n))

    kit.add(bus, Num, handler)
    await kit.within(bus.start_worker(), "start_worker returns")
    count = 5
    for n in range(count):
        bus.post(Num(n=n))
    try:
        await kit.within(container.cleanup_all_async(), "cleanup_all_async returns")
    except AssertionError:
        raise
    except Exception as exc:
        kit.fail("cleanup_all_async stops the worker and returns", f"it raised {describe(exc)}")
    kit.check(
        rec.count() == count,
        f"when cleanup_all_async returns, the {count} events posted before it have been delivered",
        f"{rec.count()} had been delivered: the worker was not drained before shutdown returned",
    )


@pytest.mark.rule("LIFE-2")
async def test_publish_after_container_shutdown_raises_closed(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    container = kit.container()
    bus = container.get(kit.EventBus)
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("sync"))
    kit.add(bus, Ping, rec.async_handler("async"))
    await kit.within(container.cleanup_all_async(), "container.cleanup_all_async() returns")
    exc = await kit.raised(lambda: bus.publish(Ping()), "publish after shutdown returns or raises")
    kit.expect_error(exc, "EventBusClosedError", "publish(event) after container.cleanup_all_async() returned", rec)


@pytest.mark.rule("LIFE-2")
async def test_publish_after_shutdown_with_running_worker_raises_closed(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    rec = kit.recorder()
    Mixin = kit.AutoSubscriberMixin

    class Listener(Mixin):
        @kit.on(Ping)
        def on_ping(self, event: Any) -> None:
            rec.record("listener", event)

    container = kit.container(Listener)
    container.get(Listener)
    bus = container.get(kit.EventBus)
    await kit.within(bus.start_worker(), "start_worker returns")
    await kit.within(
        container.cleanup_all_async(),
        "container.cleanup_all_async() returns (the bus's worker was started and is idle)",
    )
    exc = await kit.raised(lambda: bus.publish(Ping()), "publish after shutdown returns or raises")
    kit.expect_error(
        exc,
        "EventBusClosedError",
        "publish(event) after container.cleanup_all_async() returned (the worker was running, "
        "an auto-subscribed component listens)",
        rec,
    )


@pytest.mark.rule("LIFE-3")
async def test_post_after_container_shutdown_raises_closed(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    container = kit.container()
    bus = container.get(kit.EventBus)
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("sync"))
    await kit.within(container.cleanup_all_async(), "container.cleanup_all_async() returns")
    exc = kit.raised_now(lambda: bus.post(Ping()))
    kit.expect_error(
        exc,
        "EventBusClosedError",
        "post(event) after container.cleanup_all_async() returned (the worker never ran; "
        "the closed error, not the no-worker error, is expected)",
        rec,
    )


@pytest.mark.rule("LIFE-3")
async def test_post_from_a_thread_after_shutdown_with_running_worker_raises_closed(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    container = kit.container()
    bus = container.get(kit.EventBus)
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("sync"))
    await kit.within(bus.start_worker(), "start_worker returns")
    await kit.within(
        container.cleanup_all_async(),
        "container.cleanup_all_async() returns (the bus's worker was started and is idle)",
    )
    exc = await kit.raised_in_thread(lambda: bus.post(Ping()), "post from a producer thread returns or raises")
    kit.expect_error(
        exc, "EventBusClosedError", "post(event) from another thread after container.cleanup_all_async() returned", rec
    )

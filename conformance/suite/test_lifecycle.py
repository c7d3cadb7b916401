"""SPEC.md §7: container shutdown and what a closed bus does."""

import asyncio
import time
from typing import Any

import pytest

from conformance.kit import Kit, Recorder, describe

# Annotations here must stay real objects (no `from __future__ import annotations`):
# containers resolve constructor parameters from them.


@pytest.mark.rule("LIFE-1")
@pytest.mark.needs("container", "worker")
async def test_container_shutdown_drains_the_worker(kit: Kit) -> None:
    kit.slow_handlers()  # its handlers take kit.patience: every wait allows that much more
    Num = kit.numbered_event("Num", frozen=False)
    rec = kit.recorder()
    Mixin = kit.AutoSubscriberMixin
    count = 10
    # "Waits for": the async handler of the first event alone takes kit.patience over ten suspensions,
    # so a hidden timeout up to that, on the whole drain or on one event, cuts the drain short; the
    # sync one blocks the loop's thread briefly for every event.
    step = kit.patience / (10 * count)

    class SlowMailer(Mixin):
        @kit.on(Num)
        async def on_num(self, event: Any) -> None:
            for _ in range(10 if event.n == 0 else 1):
                await asyncio.sleep(kit.patience / 10 if event.n == 0 else 0)
            rec.record("async", (self, event))

    class SlowLedger(Mixin):
        @kit.on(Num)
        def on_num(self, event: Any) -> None:
            time.sleep(step)
            rec.record("sync", (self, event))

    container = kit.container(SlowMailer, SlowLedger)
    bus = kit.bus_of(container)
    await kit.within(bus.start_worker(), "start_worker returns")
    events = [Num(n=n) for n in range(count)]
    for event in events:
        bus.post(event)
    outcome = await kit.outcome(
        container.cleanup_all_async(), "cleanup_all_async returns once the queued events were dispatched"
    )
    if outcome.error is not None:
        kit.fail("cleanup_all_async stops the worker and returns", f"it raised {describe(outcome.error)}")
    for label, cls in (("async", SlowMailer), ("sync", SlowLedger)):
        got = [c.event[1] for c in rec.of(label)]
        kit.check(
            len(got) == count and all(g is e for g, e in zip(got, events, strict=False)),
            f"when cleanup_all_async returns, the auto-subscribed {cls.__name__} ({label} handler; the async one "
            f"takes {kit.patience * 1000:.0f} ms for the first event, the sync one blocks {step * 1000:.0f} ms per "
            f"event) has received each of the {count} events posted before it, in order",
            f"it had received {len(got)} of them: the queue was not drained, or the subscriber was unregistered "
            "or destroyed before it was",
        )
        await kit.exactly(rec, count, label, f"the {label} subscriber receives each of the {count} events once")


def _by_hand(kit: Kit, bus: Any, Ping: Any, rec: Recorder) -> None:
    kit.add(bus, Ping, rec.sync_handler("sync"))
    kit.add(bus, Ping, rec.async_handler("async"))


@pytest.mark.rule("LIFE-2")
@pytest.mark.needs("container", "error_classes")
async def test_publish_after_container_shutdown_raises_closed(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    container = kit.container()
    bus = kit.bus_of(container)
    rec = kit.recorder()
    _by_hand(kit, bus, Ping, rec)
    await kit.within(bus.publish(Ping()), "publish before shutdown returns")
    kit.check(
        sorted(rec.labels()) == ["async", "sync"],
        "before shutdown, publish reaches the two handlers (control)",
        f"handler calls: {rec.labels()}",
    )
    await kit.within(container.cleanup_all_async(), "container.cleanup_all_async() returns")
    exc = await kit.raised(lambda: bus.publish(Ping()), "publish after shutdown returns or raises")
    kit.expect_error(exc, "EventBusClosedError", "publish(event) after container.cleanup_all_async() returned")
    await kit.exactly(rec, 2, None, "publish after shutdown calls no handler")


@pytest.mark.rule("LIFE-2")
@pytest.mark.needs("container", "error_classes", "worker")
async def test_publish_after_shutdown_with_running_worker_raises_closed(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    rec = kit.recorder()
    Mixin = kit.AutoSubscriberMixin

    class Listener(Mixin):
        @kit.on(Ping)
        def on_ping(self, event: Any) -> None:
            rec.record("listener", event)

    container = kit.container(Listener)
    bus = kit.bus_of(container)
    await kit.within(bus.start_worker(), "start_worker returns")
    await kit.within(bus.publish(Ping()), "publish before shutdown returns")
    bus.post(Ping())
    if not await rec.until_count(2, "listener"):
        kit.fail("before shutdown, publish and post reach the auto-subscribed listener (control)", str(rec.labels()))
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
    )
    await kit.exactly(rec, 2, None, "publish after shutdown calls no handler")


@pytest.mark.rule("LIFE-3")
@pytest.mark.needs("container", "error_classes", "worker")
async def test_post_after_container_shutdown_raises_closed(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    container = kit.container()
    bus = kit.bus_of(container)
    rec = kit.recorder()
    _by_hand(kit, bus, Ping, rec)
    await kit.within(bus.publish(Ping()), "publish before shutdown returns")
    kit.check(
        sorted(rec.labels()) == ["async", "sync"],
        "before shutdown, the bus delivers (control)",
        f"handler calls: {rec.labels()}",
    )
    await kit.within(container.cleanup_all_async(), "container.cleanup_all_async() returns")
    exc = kit.raised_now(lambda: bus.post(Ping()))
    kit.expect_error(
        exc,
        "EventBusClosedError",
        "post(event) after container.cleanup_all_async() returned (the worker never ran; "
        "the closed error, not the no-worker error, is expected)",
    )
    await kit.exactly(rec, 2, None, "post after shutdown calls no handler")


@pytest.mark.rule("LIFE-3")
@pytest.mark.needs("container", "error_classes", "worker")
async def test_post_on_the_loop_after_shutdown_with_running_worker_raises_closed(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    container = kit.container()
    bus = kit.bus_of(container)
    rec = kit.recorder()
    _by_hand(kit, bus, Ping, rec)
    await kit.within(bus.start_worker(), "start_worker returns")
    bus.post(Ping())
    if not await rec.until_count(2):
        kit.fail("before shutdown, post reaches the two handlers through the worker (control)", str(rec.labels()))
    await kit.within(
        container.cleanup_all_async(),
        "container.cleanup_all_async() returns (the bus's worker was started and is idle)",
    )
    exc = kit.raised_now(lambda: bus.post(Ping()))
    kit.expect_error(exc, "EventBusClosedError", "post(event) after container.cleanup_all_async() returned")
    await kit.exactly(rec, 2, None, "post after shutdown calls no handler")


@pytest.mark.rule("LIFE-3")
@pytest.mark.needs("container", "error_classes", "threadsafe_post", "worker")
async def test_post_from_a_thread_after_shutdown_with_running_worker_raises_closed(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    container = kit.container()
    bus = kit.bus_of(container)
    rec = kit.recorder()
    _by_hand(kit, bus, Ping, rec)
    await kit.within(bus.start_worker(), "start_worker returns")
    before = await kit.raised_in_thread(lambda: bus.post(Ping()), "post from a producer thread returns or raises")
    kit.check(before is None, "before shutdown, post from a thread is accepted (control)", f"it raised {before!r}")
    if not await rec.until_count(2):
        kit.fail("before shutdown, an event posted from a thread reaches the two handlers (control)", str(rec.labels()))
    await kit.within(
        container.cleanup_all_async(),
        "container.cleanup_all_async() returns (the bus's worker was started and is idle)",
    )
    exc = await kit.raised_in_thread(lambda: bus.post(Ping()), "post from a producer thread returns or raises")
    kit.expect_error(
        exc, "EventBusClosedError", "post(event) from another thread after container.cleanup_all_async() returned"
    )
    await kit.exactly(rec, 2, None, "post after shutdown calls no handler")

"""SPEC.md §3: the execution policies INLINE, TASK and THREADPOOL."""

import asyncio
import gc
import weakref
from typing import Any

import pytest

from conformance.kit import Gate, Kit


def _release_after(entered: Gate, release: Gate) -> "asyncio.Task[None]":
    """A helper task that opens `release` once `entered` is open: a handler's partner on the loop."""

    async def partner() -> None:
        if await entered.wait():
            release.open()

    return asyncio.ensure_future(partner())


async def _publish_waits_for_async_handler(kit: Kit, policy: Any) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    entered, release = kit.gate("handler entered"), kit.gate("handler released")
    finished: list[bool] = []

    async def handler(event: object) -> None:
        entered.open()
        await release.wait()
        finished.append(True)

    kit.add(bus, Ping, handler, policy=policy)
    partner = _release_after(entered, release)
    await kit.within(bus.publish(Ping()), "publish returns once the handler has finished")
    kit.check(
        finished == [True],
        "publish returns only after the async handler's coroutine has completed",
        "publish returned while the handler was still running"
        if entered.is_open
        else "publish returned before the handler had even started",
    )
    await kit.within(partner, "the helper task ends")


@pytest.mark.rule("POL-1")
async def test_handlers_without_policy_are_inline(kit: Kit) -> None:
    await _publish_waits_for_async_handler(kit, None)


@pytest.mark.rule("POL-INLINE-1")
async def test_async_inline_handler_is_awaited(kit: Kit) -> None:
    await _publish_waits_for_async_handler(kit, "INLINE")


@pytest.mark.rule("POL-INLINE-1")
async def test_every_async_inline_handler_is_awaited(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()

    def make(label: str) -> Any:
        async def handler(event: object) -> None:
            await asyncio.sleep(0)  # a real suspension point inside the handler
            rec.record(label, event)

        return handler

    for label in ("a", "b", "c"):
        kit.add(bus, Ping, make(label), policy="INLINE")
    await kit.within(bus.publish(Ping()), "publish returns")
    kit.check(
        sorted(rec.labels()) == ["a", "b", "c"],
        "all three async INLINE handlers have finished when publish returns",
        f"finished when publish returned: {rec.labels()}",
    )


@pytest.mark.rule("POL-INLINE-2")
async def test_sync_inline_handler_runs_in_place(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("sync"), policy="INLINE")
    await kit.within(bus.publish(Ping()), "publish returns")
    calls = rec.of("sync")
    kit.check(len(calls) == 1, "the sync INLINE handler has run once when publish returns", f"{len(calls)} calls")
    kit.check(
        calls[0].on_loop_thread,
        "the sync INLINE handler runs on the event loop's thread",
        "it ran on another thread",
    )


@pytest.mark.rule("POL-ORDER-1")
async def test_inline_handlers_run_one_after_another_in_subscription_order(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()

    def make_async(label: str) -> Any:
        async def handler(event: object) -> None:
            rec.record(f"{label}-start")
            await asyncio.sleep(0)  # gives a concurrent dispatch the chance to interleave
            rec.record(f"{label}-end")

        return handler

    def make_sync(label: str) -> Any:
        def handler(event: object) -> None:
            rec.record(f"{label}-start")
            rec.record(f"{label}-end")

        return handler

    for label in ("first", "second", "third", "fourth"):
        maker = make_sync if label in ("second", "fourth") else make_async
        kit.add(bus, Ping, maker(label))
    await kit.within(bus.publish(Ping()), "publish returns")
    expected = [f"{label}-{edge}" for label in ("first", "second", "third", "fourth") for edge in ("start", "end")]
    kit.check(
        rec.labels() == expected,
        "INLINE handlers run in the order they were registered, each after the previous finished: "
        + " ".join(expected),
        "the order was " + " ".join(rec.labels()),
    )


@pytest.mark.rule("POL-TASK-1")
async def test_task_handler_runs_in_its_own_task(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.async_handler("task"), policy="TASK")
    publisher = asyncio.current_task()
    await kit.within(bus.publish(Ping()), "publish returns")
    if not await rec.until_count(1, "task"):
        kit.fail("the TASK handler runs", "it was never called")
    call = rec.of("task")[0]
    kit.check(call.on_loop_thread, "the TASK handler runs on the event loop's thread", "it ran on another thread")
    kit.check(
        call.task is not None and call.task is not publisher,
        "the TASK handler runs inside an asyncio.Task other than the publisher's",
        "it ran inside the publisher's own task" if call.task is publisher else "it ran outside any asyncio task",
    )


@pytest.mark.rule("POL-TASK-2")
async def test_publish_does_not_wait_for_task_handler(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    release = kit.gate("TASK handler released")
    finished = kit.gate("TASK handler finished")

    async def handler(event: object) -> None:
        # Waits longer than the publish bound, so a publish that waits is caught first.
        await release.wait(bound=3 * kit.bound)
        finished.open()

    kit.add(bus, Ping, handler, policy="TASK")
    await kit.within(bus.publish(Ping()), "publish returns while its TASK handler is still blocked on a gate")
    kit.check(not finished.is_open, "the TASK handler is still blocked when publish returns", "it had finished")
    release.open()
    await kit.reached(finished, "the TASK handler finishes once released")


@pytest.mark.rule("POL-TASK-3")
async def test_running_task_handler_survives_garbage_collection(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    entered, finished = kit.gate("TASK handler entered"), kit.gate("TASK handler finished")
    waiting_on: list[weakref.ref[asyncio.Future[None]]] = []

    async def handler(event: object) -> None:
        # A future nothing else references: only a strong reference to this task,
        # held by the bus, keeps the task (and so the future) alive.
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting_on.append(weakref.ref(future))
        entered.open()
        await future
        finished.open()

    kit.add(bus, Ping, handler, policy="TASK")
    # Publish from a task of its own so that this test does not depend on POL-TASK-2.
    publishing = asyncio.ensure_future(bus.publish(Ping()))
    await kit.reached(entered, "the TASK handler starts")
    for _ in range(3):
        gc.collect()
    future = waiting_on[0]()
    if future is None:
        kit.fail(
            "the bus keeps a strong reference to a running TASK handler's task",
            "after gc.collect() the task was gone: the handler was garbage-collected mid-run and will never finish",
        )
    else:
        future.set_result(None)
    await kit.reached(finished, "the TASK handler finishes once its future resolves")
    await kit.within(publishing, "publish returns")


@pytest.mark.rule("POL-THREAD-1")
async def test_threadpool_handler_runs_off_the_loop_thread(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("pool"), policy="THREADPOOL")
    await kit.within(bus.publish(Ping()), "publish returns")
    if not await rec.until_count(1, "pool"):
        kit.fail("the THREADPOOL handler runs", "it was never called")
    kit.check(
        not rec.of("pool")[0].on_loop_thread,
        "the THREADPOOL handler runs on a thread other than the event loop's",
        "it ran on the event loop's thread",
    )


@pytest.mark.rule("POL-THREAD-2")
async def test_loop_runs_while_threadpool_handler_blocks(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    entered, tick, done = kit.gate("handler entered"), kit.gate("loop ticked"), kit.gate("handler done")
    saw_tick: list[bool] = []

    def handler(event: object) -> None:
        entered.open()
        # Only a coroutine on the loop opens `tick`: it can do so only if the loop runs.
        saw_tick.append(tick.wait_blocking())
        done.open()

    kit.add(bus, Ping, handler, policy="THREADPOOL")
    partner = _release_after(entered, tick)
    publishing = asyncio.ensure_future(bus.publish(Ping()))
    await kit.reached(done, "the THREADPOOL handler finishes")
    kit.check(
        saw_tick == [True],
        "while the THREADPOOL handler blocks, a coroutine on the loop runs and releases it",
        f"the loop did not run for {kit.bound:g} s while the handler blocked: the handler blocked the loop",
    )
    await kit.within(publishing, "publish returns")
    await kit.within(partner, "the helper task ends")


@pytest.mark.rule("POL-THREAD-3")
async def test_publish_does_not_wait_for_threadpool_handler(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    release, finished = kit.gate("handler released"), kit.gate("handler finished")

    def handler(event: object) -> None:
        release.wait_blocking(bound=2 * kit.bound)
        finished.open()

    kit.add(bus, Ping, handler, policy="THREADPOOL")
    await kit.within(bus.publish(Ping()), "publish returns while its THREADPOOL handler is still blocked on a gate")
    kit.check(not finished.is_open, "the THREADPOOL handler is still blocked when publish returns", "it had finished")
    release.open()
    await kit.reached(finished, "the THREADPOOL handler finishes once released")


@pytest.mark.rule("POL-MIX-1")
async def test_sync_handler_under_task_runs_exactly_once(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("sync-task"), policy="TASK")
    await kit.within(bus.publish(Ping()), "publish returns")
    if not await rec.until_count(1, "sync-task"):
        kit.fail("a sync handler registered with TASK is called once per dispatch", "it was never called")
    await kit.settle()
    kit.check(
        rec.count("sync-task") == 1,
        "a sync handler registered with TASK is called exactly once per dispatch",
        f"it was called {rec.count('sync-task')} times",
    )


@pytest.mark.rule("POL-MIX-2")
async def test_async_handler_under_threadpool_runs_exactly_once(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()

    async def handler(event: object) -> None:
        rec.record("start", event)
        await asyncio.sleep(0)
        rec.record("end", event)

    kit.add(bus, Ping, handler, policy="THREADPOOL")
    await kit.within(bus.publish(Ping()), "publish returns")
    if not await rec.until_count(1, "end"):
        kit.fail(
            "an async handler registered with THREADPOOL runs to completion once per dispatch",
            f"calls seen: {rec.labels() or 'none'} (was its coroutine created but never awaited?)",
        )
    await kit.settle()
    kit.check(
        rec.labels() == ["start", "end"],
        "an async handler registered with THREADPOOL runs exactly once per dispatch",
        f"calls seen: {rec.labels()}",
    )

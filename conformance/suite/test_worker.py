"""SPEC.md §5: `post`, the bounded queue, and the worker's lifecycle."""

import asyncio
import inspect
from typing import Any

import pytest

from conformance.kit import Kit, describe


@pytest.mark.rule("POST-1")
async def test_post_is_a_plain_call(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    kit.check(
        not inspect.iscoroutinefunction(bus.post),
        "bus.post is a plain function, callable from sync code without await",
        "bus.post is a coroutine function",
    )
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("sync"))
    await kit.within(bus.start_worker(), "start_worker returns")
    result = bus.post(Ping())
    ran_during_post = rec.count()
    kit.check(
        not hasattr(result, "__await__"),
        "post returns nothing to await",
        f"it returned {result!r}",
    )
    kit.check(
        ran_during_post == 0,
        "post returns before any handler of the event has run (the worker runs them later)",
        "the sync INLINE handler had already run when post returned",
    )
    if not await rec.until_count(1):
        kit.fail("the worker delivers the posted event", "it was never delivered")
    await kit.within(bus.stop_worker(), "stop_worker returns")


@pytest.mark.rule("POST-1")
async def test_post_returns_while_the_worker_is_busy(kit: Kit) -> None:
    Num = kit.numbered_event()
    bus = kit.new_bus()
    entered, release = kit.gate("first handler entered"), kit.gate("first handler released")
    rec = kit.recorder()

    async def handler(event: Any) -> None:
        if event.n == 0:
            entered.open()
            await release.wait()
        rec.record(f"event-{event.n}")

    kit.add(bus, Num, handler)
    await kit.within(bus.start_worker(), "start_worker returns")
    bus.post(Num(n=0))
    await kit.reached(entered, "the worker starts dispatching the first event")
    done = kit.gate("second post returned")

    def producer() -> None:
        bus.post(Num(n=1))
        done.open()

    kit.thread(producer, "producer")
    await kit.reached(done, "post returns at once while the worker is busy with an earlier event")
    release.open()
    if not await rec.until_count(2):
        kit.fail("both posted events are delivered", f"delivered: {rec.labels()}")
    await kit.within(bus.stop_worker(), "stop_worker returns")


@pytest.mark.rule("POST-2")
async def test_post_from_another_thread_is_delivered(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.async_handler("ping"))
    await kit.within(bus.start_worker(), "start_worker returns")
    raised: list[BaseException] = []

    def producer() -> None:
        try:
            bus.post(Ping())
        except Exception as exc:
            raised.append(exc)

    await kit.join(kit.thread(producer, "producer"), "post called from another thread returns")
    kit.check(not raised, "post from a non-loop thread is accepted", f"it raised {raised and describe(raised[0])}")
    if not await rec.until_count(1):
        kit.fail("the event posted from another thread is delivered by the worker", "it was never delivered")
    await kit.within(bus.stop_worker(), "stop_worker returns")


async def _fifo(kit: Kit, *, from_thread: bool) -> None:
    Num = kit.numbered_event()
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Num, lambda e: rec.record(str(e.n)))
    await kit.within(bus.start_worker(), "start_worker returns")
    count = 50

    def produce() -> None:
        for n in range(count):
            bus.post(Num(n=n))

    if from_thread:
        await kit.join(kit.thread(produce, "producer"), "the producer thread's posts return")
    else:
        produce()
    if not await rec.until_count(count):
        kit.fail(f"all {count} posted events are delivered", f"{rec.count()} were delivered")
    expected = [str(n) for n in range(count)]
    where = "another thread" if from_thread else "the loop's thread"
    kit.check(
        rec.labels() == expected,
        f"events posted from {where} are delivered in the order they were posted (0, 1, 2, ...)",
        "the order was " + ", ".join(rec.labels()),
    )
    await kit.within(bus.stop_worker(), "stop_worker returns")


@pytest.mark.rule("POST-3")
async def test_posted_events_are_delivered_in_order(kit: Kit) -> None:
    await _fifo(kit, from_thread=False)


@pytest.mark.rule("POST-3")
async def test_events_posted_from_a_thread_are_delivered_in_order(kit: Kit) -> None:
    await _fifo(kit, from_thread=True)


@pytest.mark.rule("POST-4")
async def test_worker_applies_execution_policies(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("inline"))
    kit.add(bus, Ping, rec.async_handler("task"), policy="TASK")
    kit.add(bus, Ping, rec.sync_handler("pool"), policy="THREADPOOL")
    await kit.within(bus.start_worker(), "start_worker returns")
    bus.post(Ping())
    if not await rec.until_count(3):
        kit.fail("the worker dispatches the posted event to its three handlers", f"calls: {rec.labels()}")
    inline, task, pool = rec.of("inline")[0], rec.of("task")[0], rec.of("pool")[0]
    kit.check(inline.on_loop_thread, "the INLINE handler of a posted event runs on the loop's thread", "it did not")
    kit.check(
        task.on_loop_thread and task.task is not None,
        "the TASK handler of a posted event runs in an asyncio task on the loop",
        "it ran outside any task" if task.on_loop_thread else "it ran on another thread",
    )
    kit.check(
        not pool.on_loop_thread,
        "the THREADPOOL handler of a posted event runs off the loop's thread",
        "it ran on the loop's thread",
    )
    await kit.within(bus.stop_worker(), "stop_worker returns")


@pytest.mark.rule("POST-4")
async def test_worker_awaits_inline_handlers_before_the_next_event(kit: Kit) -> None:
    Num = kit.numbered_event()
    bus = kit.new_bus()
    rec = kit.recorder()

    async def handler(event: Any) -> None:
        rec.record(f"start-{event.n}")
        await asyncio.sleep(0)  # a suspension point where a second dispatch could interleave
        await asyncio.sleep(0)
        rec.record(f"end-{event.n}")

    kit.add(bus, Num, handler)
    await kit.within(bus.start_worker(), "start_worker returns")
    for n in range(3):
        bus.post(Num(n=n))
    if not await rec.until_count(1, "end-2"):
        kit.fail("the worker dispatches all three events", f"calls: {rec.labels()}")
    expected = ["start-0", "end-0", "start-1", "end-1", "start-2", "end-2"]
    kit.check(
        rec.labels() == expected,
        "the worker awaits each event's INLINE handlers before dispatching the next, as publish would",
        "the order was " + " ".join(rec.labels()),
    )
    await kit.within(bus.stop_worker(), "stop_worker returns")


async def _no_worker_no_drop(kit: Kit, bus: Any, rec: Any, event: Any, situation: str) -> None:
    error = kit.raised_now(lambda: bus.post(event))
    if error is not None:
        kit.check(
            str(error).strip() != "",
            f"post {situation} raises a clear error (one with a message)",
            f"it raised {type(error).__name__} with an empty message",
        )
        return
    # The event was accepted: it must come out once a worker runs.
    await kit.within(bus.start_worker(), "start_worker returns")
    await kit.within(bus.stop_worker(), "stop_worker returns")
    kit.check(
        rec.count() == 1,
        f"post {situation} either raises or keeps the event until a worker runs",
        "post accepted the event, but start_worker then stop_worker did not deliver it: it was silently dropped"
        if rec.count() == 0
        else f"it was delivered {rec.count()} times",
    )


@pytest.mark.rule("POST-5")
async def test_post_before_start_worker_raises_or_buffers(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("ping"))
    await _no_worker_no_drop(kit, bus, rec, Ping(), "before any start_worker")


@pytest.mark.rule("POST-6")
async def test_post_after_stop_worker_raises_or_buffers(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("ping"))
    await kit.within(bus.start_worker(), "start_worker returns")
    await kit.within(bus.stop_worker(), "stop_worker returns")
    await _no_worker_no_drop(kit, bus, rec, Ping(), "after stop_worker")


async def _fill_bounded_queue(kit: Kit, *, from_thread: bool) -> None:
    size = 3
    Num = kit.numbered_event()
    bus = kit.new_bus(max_queue_size=size)
    entered, release = kit.gate("worker busy with event 0"), kit.gate("worker released")
    rec = kit.recorder()

    async def handler(event: Any) -> None:
        if event.n == 0:
            entered.open()
            await release.wait(bound=3 * kit.bound)
        rec.record(str(event.n))

    kit.add(bus, Num, handler)
    await kit.within(bus.start_worker(), "start_worker returns")
    bus.post(Num(n=0))
    await kit.reached(entered, "the worker takes the first event")
    accepted: list[int] = []
    errors: list[BaseException] = []

    def fill() -> None:
        # One more post than the queue can hold: the last one at the latest must raise.
        for n in range(1, size + 2):
            try:
                bus.post(Num(n=n))
            except Exception as exc:
                errors.append(exc)
                return
            accepted.append(n)

    where = "another thread" if from_thread else "the loop's thread"
    if from_thread:
        await kit.join(kit.thread(fill, "producer"), f"post on a full queue from {where} returns or raises")
    else:
        fill()
    release.open()
    if errors:
        kit.check(
            size - 1 <= len(accepted) <= size,
            f"with max_queue_size={size}, {size - 1} or {size} posts are accepted while the worker is busy",
            f"post raised after {len(accepted)} accepted posts: {describe(errors[0])}",
        )
    expected_calls = len(accepted) + 1
    delivered = await rec.until_count(expected_calls)
    await kit.within(bus.stop_worker(), "stop_worker returns")
    if not errors:
        kit.fail(
            f"post on a full queue (max_queue_size={size}) from {where} raises in the caller",
            f"all {len(accepted)} posts were accepted while the worker was busy; "
            + (
                f"only {rec.count()} of {expected_calls} events were then delivered: the rest were dropped"
                if not delivered
                else "all were delivered, so the queue is not bounded"
            )
            + f"; {kit.log_summary()}",
        )
    kit.check(
        delivered,
        "every event post accepted is delivered",
        f"accepted {len(accepted) + 1}, delivered {rec.count()}: {rec.labels()}",
    )


@pytest.mark.rule("POST-7")
async def test_full_queue_raises_on_the_loop_thread(kit: Kit) -> None:
    await _fill_bounded_queue(kit, from_thread=False)


@pytest.mark.rule("POST-8")
async def test_full_queue_raises_in_the_posting_thread(kit: Kit) -> None:
    await _fill_bounded_queue(kit, from_thread=True)


@pytest.mark.rule("WRK-1")
async def test_second_start_worker_is_a_no_op(kit: Kit) -> None:
    Num = kit.numbered_event()
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Num, lambda e: rec.record(str(e.n)))
    await kit.within(bus.start_worker(), "start_worker returns")
    await kit.within(bus.start_worker(), "a second start_worker returns")
    count = 20
    for n in range(count):
        bus.post(Num(n=n))
    if not await rec.until_count(count):
        kit.fail(f"all {count} posted events are delivered", f"delivered: {rec.labels()}")
    await kit.within(bus.stop_worker(), "stop_worker returns")
    kit.check(
        rec.labels() == [str(n) for n in range(count)],
        "after two start_worker calls, every event is still delivered exactly once, in order",
        "deliveries were " + ", ".join(rec.labels()),
    )


@pytest.mark.rule("WRK-1")
async def test_start_worker_while_events_wait_changes_nothing(kit: Kit) -> None:
    Num = kit.numbered_event()
    bus = kit.new_bus()
    rec = kit.recorder()
    entered, release = kit.gate("worker busy with event 0"), kit.gate("worker released")

    async def handler(event: Any) -> None:
        if event.n == 0:
            entered.open()
            await release.wait(bound=3 * kit.bound)
        rec.record(str(event.n))

    kit.add(bus, Num, handler)
    await kit.within(bus.start_worker(), "start_worker returns")
    bus.post(Num(n=0))
    await kit.reached(entered, "the worker takes event 0")
    count = 5
    for n in range(1, count):
        bus.post(Num(n=n))
    # Events 1..4 wait in the queue behind the busy worker while start_worker is called again.
    await kit.within(bus.start_worker(), "a second start_worker, while events wait, returns")
    release.open()
    await kit.within(bus.stop_worker(), "stop_worker returns")
    await kit.settle()
    kit.check(
        rec.labels() == [str(n) for n in range(count)],
        "a second start_worker while events wait in the queue loses none and delivers each once, in order (0..4)",
        "deliveries were " + (", ".join(rec.labels()) or "none"),
    )


@pytest.mark.rule("WRK-2")
async def test_stop_worker_delivers_what_was_posted_before(kit: Kit) -> None:
    Num = kit.numbered_event()
    bus = kit.new_bus()
    rec = kit.recorder()

    async def handler(event: Any) -> None:
        await asyncio.sleep(0)
        rec.record(str(event.n))

    kit.add(bus, Num, handler)
    await kit.within(bus.start_worker(), "start_worker returns")
    count = 10
    for n in range(count):
        bus.post(Num(n=n))
    await kit.within(bus.stop_worker(), "stop_worker returns after draining the queue")
    kit.check(
        rec.count() == count,
        f"when stop_worker returns, all {count} events posted before it have been dispatched",
        f"only {rec.count()} had been: {rec.labels()}",
    )


@pytest.mark.rule("WRK-3")
async def test_stop_worker_without_a_worker_is_a_no_op(kit: Kit) -> None:
    bus = kit.new_bus()
    try:
        await kit.within(bus.stop_worker(), "stop_worker on a bus that never started a worker returns")
        await kit.within(bus.start_worker(), "start_worker returns")
        await kit.within(bus.stop_worker(), "stop_worker returns")
        await kit.within(bus.stop_worker(), "a second stop_worker returns")
    except AssertionError:
        raise
    except Exception as exc:
        kit.fail("stop_worker without a running worker returns normally", f"it raised {describe(exc)}")


@pytest.mark.rule("WRK-4")
async def test_stop_worker_returns_while_handlers_keep_posting(kit: Kit) -> None:
    Num = kit.numbered_event()
    bus = kit.new_bus()
    rec = kit.recorder()
    stop_called = kit.gate("stop_worker called")
    chain = {"on": True}
    accepted: list[int] = []
    rejected: list[int] = []

    async def handler(event: Any) -> None:
        rec.record(str(event.n))
        if event.n == 0:
            await stop_called.wait()
        if chain["on"]:
            # Every dispatch posts a follow-up: a worker that drains "until empty" never stops.
            try:
                bus.post(Num(n=event.n + 1))
                accepted.append(event.n + 1)
            except Exception:
                rejected.append(event.n + 1)

    kit.add(bus, Num, handler)
    await kit.within(bus.start_worker(), "start_worker returns")
    bus.post(Num(n=0))
    stopping = asyncio.ensure_future(bus.stop_worker())
    await asyncio.sleep(0)  # lets stop_worker begin before the handler is released
    stop_called.open()
    try:
        await kit.within(stopping, "stop_worker returns although every dispatch posts another event")
    finally:
        chain["on"] = False
    delivered = {int(label) for label in rec.labels()}
    missing = [n for n in accepted if n not in delivered]
    if missing:
        # Kept for a later worker is allowed: a new worker must deliver them.
        await kit.within(bus.start_worker(), "start_worker returns")
        await kit.within(bus.stop_worker(), "stop_worker returns")
        delivered = {int(label) for label in rec.labels()}
        lost = [n for n in missing if n not in delivered]
        kit.check(
            not lost,
            "each event a handler posted during stop_worker is delivered, kept for a later worker, or rejected",
            f"events {lost} were accepted by post but never delivered, not even by a new worker",
        )


@pytest.mark.rule("WRK-5")
async def test_worker_can_be_restarted(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("ping"))
    await kit.within(bus.start_worker(), "start_worker returns")
    await kit.within(bus.stop_worker(), "stop_worker returns")
    await kit.within(bus.start_worker(), "start_worker after stop_worker returns")
    error = kit.raised_now(lambda: bus.post(Ping()))
    kit.check(
        error is None, "post is accepted once the worker was started again", f"it raised {error and describe(error)}"
    )
    if not await rec.until_count(1):
        kit.fail("the restarted worker delivers the posted event", "it was never delivered")
    await kit.within(bus.stop_worker(), "stop_worker returns")


@pytest.mark.rule("WRK-6")
async def test_failing_handler_does_not_stop_the_worker(kit: Kit) -> None:
    Num = kit.numbered_event()
    bus = kit.new_bus()
    rec = kit.recorder()
    boom = RuntimeError("handler of event 0 failed")

    async def handler(event: Any) -> None:
        rec.record(str(event.n))
        if event.n == 0:
            raise boom

    kit.add(bus, Num, handler)
    await kit.within(bus.start_worker(), "start_worker returns")
    bus.post(Num(n=0))
    bus.post(Num(n=1))
    if not await rec.until_count(1, "1"):
        kit.fail(
            "after a handler fails on one posted event, the worker goes on with the next",
            f"deliveries: {rec.labels()}; the worker seems to have died",
        )
    if not await kit.logged(boom):
        kit.fail(
            f"the failing handler's {describe(boom)} is logged at ERROR or above with the exception attached",
            kit.log_summary(),
        )
    await kit.within(bus.stop_worker(), "stop_worker returns")


@pytest.mark.rule("WRK-7")
async def test_posted_events_are_dispatched_on_the_workers_loop(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("ping"))
    await kit.within(bus.start_worker(), "start_worker returns")
    await kit.join(kit.thread(lambda: bus.post(Ping()), "producer"), "post from another thread returns")
    if not await rec.until_count(1):
        kit.fail("the event posted from another thread is delivered", "it was never delivered")
    kit.check(
        rec.of("ping")[0].on_loop_thread,
        "a sync INLINE handler of an event posted from another thread runs on the worker's loop thread",
        "it ran on another thread",
    )
    await kit.within(bus.stop_worker(), "stop_worker returns")

"""SPEC.md §5: `post`, the bounded queue, and the worker's lifecycle."""

import asyncio
import inspect
import threading
import time
from typing import Any

import pytest

from conformance.kit import Kit, describe


@pytest.mark.rule("POST-1")
@pytest.mark.needs("worker")
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
    kit.add(bus, Ping, rec.async_handler("async"))
    await kit.within(bus.start_worker(), "start_worker returns")
    result = kit.accepted(lambda: bus.post(Ping()), "post while the worker runs")
    ran_during_post = rec.labels()
    kit.check(
        not hasattr(result, "__await__"),
        "post returns nothing to await",
        f"it returned {result!r}",
    )
    kit.check(
        not ran_during_post,
        "post returns before any handler of the event has run (the worker runs them later)",
        f"these handlers had already run when post returned: {ran_during_post}",
    )
    if not await rec.until_count(2):
        kit.fail("the worker delivers the posted event to its two handlers", f"calls: {rec.labels()}")
    await kit.within(bus.stop_worker(), "stop_worker returns")
    await kit.exactly(rec, 2, None, "the posted event reaches each of its two handlers once")


@pytest.mark.rule("POST-1")
@pytest.mark.needs("threadsafe_post", "worker")
async def test_post_returns_while_the_worker_is_busy(kit: Kit) -> None:
    Num = kit.numbered_event()
    bus = kit.new_bus()
    returned = kit.gate("the first post (from another thread) returned")
    entered, release = kit.gate("first handler entered"), kit.gate("first handler released")
    rec = kit.recorder()

    async def handler(event: Any) -> None:
        rec.record(f"start-{event.n}", event)
        if event.n == 0:
            # Event 0's handler cannot finish before its post has returned: a post that waits for it deadlocks.
            await returned.wait(bound=3 * kit.bound)
            entered.open()
            await release.wait(bound=3 * kit.bound)
        rec.record(f"event-{event.n}", event)

    def first() -> None:
        bus.post(Num(n=0))
        returned.open()

    kit.add(bus, Num, handler)
    await kit.within(bus.start_worker(), "start_worker returns")
    await kit.join(
        kit.thread(first, "producer-1"), "post from another thread, while the worker runs and is idle, returns"
    )
    await kit.reached(entered, "the worker dispatches the first event")
    # The handler of event 0 stays blocked until every post below has returned.
    kit.accepted(lambda: bus.post(Num(n=1)), "post on the loop's thread while the worker is busy")
    kit.check(
        rec.count("start-1") == 0,
        "post on the loop's thread returns before the handler of its event has run",
        "the handler of event 1 had already started when post returned",
    )
    seen: list[list[str]] = []

    def second() -> None:
        bus.post(Num(n=2))
        seen.append(rec.labels())

    await kit.join(kit.thread(second, "producer-2"), "post from another thread returns while the worker is busy")
    kit.check(
        not [label for label in seen[0] if label in ("start-1", "start-2")],
        "post from another thread returns before any handler of the posted events has run",
        f"when it returned, the handlers had run as {seen[0]}",
    )
    release.open()
    if not await rec.until_count(1, "event-2"):
        kit.fail("the three posted events are delivered", f"delivered: {rec.labels()}")
    await kit.within(bus.stop_worker(), "stop_worker returns")
    await kit.exactly_each(rec, {f"event-{n}": 1 for n in range(3)}, "each posted event is delivered once")


@pytest.mark.rule("POST-2")
@pytest.mark.needs("threadsafe_post", "worker")
async def test_post_from_another_thread_is_delivered(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.async_handler("ping"))
    await kit.within(bus.start_worker(), "start_worker returns")
    raised = await kit.raised_in_thread(lambda: bus.post(Ping()), "post called from another thread returns")
    kit.check(raised is None, "post from a non-loop thread is accepted", f"it raised {raised and describe(raised)}")
    if not await rec.until_count(1):
        kit.fail("the event posted from another thread is delivered by the worker", "it was never delivered")
    await kit.within(bus.stop_worker(), "stop_worker returns")
    await kit.exactly(rec, 1, "ping", "the event posted from another thread is delivered once")


async def _fifo(kit: Kit, *, from_thread: bool) -> None:
    Odd = kit.odd_event()  # all its events compare equal and hash alike
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Odd, lambda e: rec.record(str(e.n), e))
    await kit.within(bus.start_worker(), "start_worker returns")
    count = 50
    kit.exercise(count=count)

    def produce() -> None:
        for n in range(count):
            bus.post(Odd(n=n))

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
        f"events posted from {where} are delivered in the order they were posted (0, 1, 2, ...), "
        "also when they compare equal",
        "the order was " + ", ".join(rec.labels()),
    )
    await kit.within(bus.stop_worker(), "stop_worker returns")


@pytest.mark.rule("POST-3")
@pytest.mark.needs("worker")
async def test_posted_events_are_delivered_in_order(kit: Kit) -> None:
    await _fifo(kit, from_thread=False)


@pytest.mark.rule("POST-3")
@pytest.mark.needs("threadsafe_post", "worker")
async def test_events_posted_from_a_thread_are_delivered_in_order(kit: Kit) -> None:
    await _fifo(kit, from_thread=True)


@pytest.mark.rule("POST-4")
@pytest.mark.needs("task", "threadpool", "worker")
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
@pytest.mark.needs("worker")
async def test_worker_awaits_inline_handlers_before_the_next_event(kit: Kit) -> None:
    kit.slow_handlers()  # its handlers take kit.patience: every wait allows that much more
    Num = kit.numbered_event()
    bus = kit.new_bus()
    rec = kit.recorder()
    steps = 10

    async def slow(event: Any) -> None:
        rec.record(f"start-{event.n}", event)
        if event.n == 0:  # takes kit.patience over many loop iterations: no hidden timeout may cut it short
            for _ in range(steps):
                await asyncio.sleep(kit.patience / steps)
        else:
            await asyncio.sleep(0)  # a suspension point where a second dispatch could interleave
        rec.record(f"end-{event.n}", event)

    def blocking(event: Any) -> None:
        if event.n == 0:
            time.sleep(kit.patience / 20)  # a sync INLINE handler blocks the loop's thread briefly
        rec.record(f"sync-{event.n}", event)

    kit.add(bus, Num, slow)
    kit.add(bus, Num, blocking)
    await kit.within(bus.start_worker(), "start_worker returns")
    for n in range(3):
        bus.post(Num(n=n))
    if not await rec.until_count(1, "sync-2"):
        kit.fail("the worker dispatches all three events", f"calls: {rec.labels()}")
    expected = [f"{step}-{n}" for n in range(3) for step in ("start", "end", "sync")]
    kit.check(
        rec.labels() == expected,
        "the worker awaits each event's INLINE handlers, however long they take, before dispatching the next, "
        "as publish would",
        f"the order was {' '.join(rec.labels())} (event 0's async handler takes {kit.patience:g} s)",
    )
    await kit.within(bus.stop_worker(), "stop_worker returns")


@pytest.mark.rule("POST-4")
@pytest.mark.needs("task", "threadpool", "worker")
async def test_worker_does_not_wait_for_task_and_threadpool_handlers(kit: Kit) -> None:
    Num = kit.numbered_event()
    bus = kit.new_bus()
    rec = kit.recorder()
    task_in, pool_in = kit.gate("event 0's TASK handler entered"), kit.gate("event 0's THREADPOOL handler entered")
    release = kit.gate("background handlers released")
    next_in = kit.gate("event 1's INLINE handler ran")

    async def task_handler(event: Any) -> None:
        if event.n == 0:
            task_in.open()
            await release.wait(bound=3 * kit.bound)
        rec.record(f"task-{event.n}", event)

    def pool_handler(event: Any) -> None:
        if threading.get_ident() == kit.loop_thread_id:
            rec.record("pool-on-the-loop", event)  # POST-4's other test reports this; never block the loop
            pool_in.open()
            return
        if event.n == 0:
            pool_in.open()
            release.wait_blocking(3 * kit.bound)
        rec.record(f"pool-{event.n}", event)

    def inline(event: Any) -> None:
        rec.record(f"inline-{event.n}", event)
        if event.n == 1:
            next_in.open()

    kit.add(bus, Num, task_handler, policy="TASK")
    kit.add(bus, Num, pool_handler, policy="THREADPOOL")
    kit.add(bus, Num, inline)
    await kit.within(bus.start_worker(), "start_worker returns")
    bus.post(Num(n=0))
    await kit.reached(task_in, "the worker starts event 0's TASK handler")
    await kit.reached(pool_in, "the worker starts event 0's THREADPOOL handler")
    bus.post(Num(n=1))
    # Decided in loop iterations, not seconds: a grace period for the background handlers fails too.
    await kit.prompt(
        next_in.wait(bound=3 * kit.bound),
        "the worker dispatches the next event while the TASK and THREADPOOL handlers of the previous one "
        "are still blocked (it does not wait for them)",
    )
    release.open()
    if not await rec.until_count(6):
        kit.fail("every handler of both events runs", f"calls: {rec.labels()}")
    await kit.within(bus.stop_worker(), "stop_worker returns")


@pytest.mark.rule("POST-4", "PUB-1", "POST-2")
@pytest.mark.needs("task", "threadpool", "threadsafe_post", "worker")
async def test_worker_delivers_each_event_once_to_every_handler(kit: Kit) -> None:
    Num = kit.numbered_event(frozen=False)  # unhashable, equal by value
    Odd = kit.odd_event()  # all equal, one hash
    bus = kit.new_bus()
    rec = kit.recorder()
    labels: list[str] = []
    for event_type, name in ((Num, "num"), (Odd, "odd")):
        for policy, kinds in (
            (None, rec.every_kind(f"{name}-inline-")),
            ("TASK", rec.every_kind(f"{name}-task-", sync=False)),
            ("THREADPOOL", rec.every_kind(f"{name}-pool-", is_async=False)),
        ):
            for kind in kinds:
                kit.add(bus, event_type, kind.fn, policy=policy)  # type: ignore[arg-type]
                labels.append(kind.label)
    per_producer = 4
    await kit.within(bus.start_worker(), "start_worker returns")

    def producer(make: Any) -> None:
        for _ in range(per_producer):
            bus.post(make())

    first = kit.thread(lambda: producer(lambda: Num(n=7)), "producer-num")
    second = kit.thread(lambda: producer(lambda: Odd(n=7)), "producer-odd")
    await kit.join(first, "the first producer's posts return")
    await kit.join(second, "the second producer's posts return")
    await kit.within(bus.stop_worker(), "stop_worker returns once the posted events were dispatched")
    if not await rec.until_count(per_producer * len(labels)):
        kit.fail(
            f"each of the {2 * per_producer} posted (equal) events reaches each of its handlers",
            f"{rec.count()} of {per_producer * len(labels)} calls happened",
        )
    await kit.exactly_each(
        rec,
        dict.fromkeys(labels, per_producer),
        f"every handler receives each of the {per_producer} equal events posted for its type exactly once",
    )


async def _no_worker_no_drop(kit: Kit, bus: Any, rec: Any, event: Any, situation: str) -> None:
    error = kit.raised_now(lambda: bus.post(event))
    if error is not None:
        kit.check(
            str(error).strip() != "",
            f"post {situation} raises a clear error (one with a message)",
            f"it raised {type(error).__name__} with an empty message",
        )
        # Positive control: with a worker running, the same post is accepted.
        await kit.within(bus.start_worker(), "start_worker returns")
        kit.accepted(lambda: bus.post(event), "post of the same event while a worker runs")
        await kit.within(bus.stop_worker(), "stop_worker returns")
        await kit.exactly(rec, 1, None, "the event posted while a worker ran is delivered once")
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
@pytest.mark.needs("worker")
async def test_post_before_start_worker_raises_or_buffers(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("ping"))
    await _no_worker_no_drop(kit, bus, rec, Ping(), "before any start_worker")


@pytest.mark.rule("POST-6")
@pytest.mark.needs("worker")
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
            exc = kit.raised_now(lambda: bus.post(Num(n=n)))  # noqa: B023 - called at once
            if exc is not None:
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
@pytest.mark.needs("bounded_queue", "worker")
async def test_full_queue_raises_on_the_loop_thread(kit: Kit) -> None:
    await _fill_bounded_queue(kit, from_thread=False)


@pytest.mark.rule("POST-8")
@pytest.mark.needs("bounded_queue", "threadsafe_post", "worker")
async def test_full_queue_raises_in_the_posting_thread(kit: Kit) -> None:
    await _fill_bounded_queue(kit, from_thread=True)


@pytest.mark.rule("POST-7", "POST-5")
@pytest.mark.needs("bounded_queue", "worker")
async def test_bound_holds_for_posts_before_start_worker(kit: Kit) -> None:
    size = 3
    Num = kit.numbered_event(frozen=False)
    bus = kit.new_bus(max_queue_size=size)
    rec = kit.recorder()
    kit.add(bus, Num, lambda e: rec.record(str(e.n), e))
    first = kit.raised_now(lambda: bus.post(Num(n=0)))
    if first is not None:
        # IMPL-4: this bus refuses posts without a worker, so it buffers nothing. Positive control:
        # with a worker running, post is accepted and delivered.
        await kit.within(bus.start_worker(), "start_worker returns")
        kit.accepted(lambda: bus.post(Num(n=1)), "post while the worker runs")
        await kit.within(bus.stop_worker(), "stop_worker returns")
        await kit.exactly(rec, 1, "1", "the event posted while the worker ran is delivered once")
        return
    # This bus buffers posts until a worker runs (IMPL-4): the bound holds for that buffer.
    accepted = [0]
    rejected: tuple[int, Exception] | None = None
    for n in range(1, size + 1):
        exc = kit.raised_now(lambda: bus.post(Num(n=n)))  # noqa: B023 - called at once
        if exc is not None:
            rejected = (n, exc)
            break
        accepted.append(n)
    if rejected is None:
        kit.fail(
            f"with max_queue_size={size} and no worker started, the post of event {size + 1} raises "
            f"once {size} events are buffered",
            f"all {size + 1} posts were accepted before start_worker: the bound is not applied to the buffer",
        )
    assert rejected is not None  # fail raised
    kit.check(
        len(accepted) == size,
        f"with max_queue_size={size} and no worker started, {size} posts are buffered before post raises",
        f"post raised {describe(rejected[1])} after only {len(accepted)} buffered events",
    )
    await kit.within(bus.start_worker(), "start_worker returns")
    await kit.within(bus.stop_worker(), "stop_worker returns once the buffered events were dispatched")
    kit.check(
        rec.labels() == [str(n) for n in accepted],
        f"every buffered event ({', '.join(map(str, accepted))}) is delivered, in order, once a worker runs",
        "deliveries were " + (", ".join(rec.labels()) or "none"),
    )
    await kit.exactly_each(rec, dict.fromkeys(map(str, accepted), 1), "each buffered event is delivered once")


UNBOUNDED_POSTS = 2**13 + 1
"""Posts POST-9's test makes while the worker is busy: beyond every power of two up to 8,192, so a hidden
cap of 1,024, 4,096 or 8,192 events shows."""


@pytest.mark.rule("POST-9")
@pytest.mark.parametrize("size", ["omitted", "zero"])
@pytest.mark.needs("worker")
async def test_no_queue_size_means_unbounded(kit: Kit, size: str) -> None:
    # Domain: both spellings of "unbounded" x a count beyond the usual hidden caps.
    Num = kit.numbered_event()
    bus = kit.new_bus() if size == "omitted" else kit.new_bus(max_queue_size=0)
    how = "EventBus()" if size == "omitted" else "EventBus(max_queue_size=0)"
    entered, release = kit.gate("worker busy with event 0"), kit.gate("worker released")
    count = UNBOUNDED_POSTS
    kit.exercise(count=count)
    everything = kit.gate(f"all {count + 1} posted events delivered")
    delivered: list[int] = []  # not a Recorder: thousands of calls, checked once

    async def handler(event: Any) -> None:
        if event.n == 0:
            entered.open()
            await release.wait(bound=3 * kit.bound)
        delivered.append(event.n)
        if len(delivered) >= count + 1:
            everything.open()

    kit.add(bus, Num, handler)
    await kit.within(bus.start_worker(), "start_worker returns")
    kit.accepted(lambda: bus.post(Num(n=0)), f"post on {how} with a running worker")
    await kit.reached(entered, "the worker takes the first event")
    rejected: tuple[int, Exception] | None = None
    for n in range(1, count + 1):
        exc = kit.raised_now(lambda: bus.post(Num(n=n)))  # noqa: B023 - called at once
        if exc is not None:
            rejected = (n, exc)
            break
    release.open()
    kit.check(
        rejected is None,
        f"{how} accepts any number of posts while the worker is busy ({count:,} here, beyond the powers of two "
        "a hidden cap would use)",
        f"post raised {describe(rejected[1])} at event {rejected[0]:,}" if rejected is not None else "",
    )
    if not await everything.wait():
        kit.fail(f"all {count + 1:,} posted events are delivered", f"{len(delivered):,} were delivered")
    await kit.within(bus.stop_worker(), "stop_worker returns")
    kit.check(
        delivered == list(range(count + 1)),
        f"each of the {count + 1:,} posted events is delivered once, in order",
        f"{len(delivered):,} deliveries; first out of place at index "
        f"{next((i for i, n in enumerate(delivered) if n != i), len(delivered)):,}",
    )
    kit.to_the_end(
        lambda: len(delivered) == count + 1,
        f"each of the {count + 1:,} posted events is delivered once, also later (no second delivery)",
        lambda: f"{len(delivered):,} deliveries by the end of the test",
    )


@pytest.mark.rule("WRK-1")
@pytest.mark.needs("worker")
async def test_second_start_worker_is_a_no_op(kit: Kit) -> None:
    Odd = kit.odd_event()
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Odd, lambda e: rec.record(str(e.n), e))
    await kit.within(bus.start_worker(), "start_worker returns")
    await kit.within(bus.start_worker(), "a second start_worker returns")
    count = 20
    for n in range(count):
        bus.post(Odd(n=n))
    if not await rec.until_count(count):
        kit.fail(f"all {count} posted events are delivered", f"delivered: {rec.labels()}")
    await kit.within(bus.stop_worker(), "stop_worker returns")
    kit.check(
        rec.labels() == [str(n) for n in range(count)],
        "after two start_worker calls, every event is still delivered exactly once, in order",
        "deliveries were " + ", ".join(rec.labels()),
    )
    await kit.exactly(rec, count, None, f"after two start_worker calls, the {count} events are delivered once each")


@pytest.mark.rule("WRK-1")
@pytest.mark.needs("worker")
async def test_start_worker_while_events_wait_changes_nothing(kit: Kit) -> None:
    Odd = kit.odd_event()  # the waiting events compare equal
    bus = kit.new_bus()
    rec = kit.recorder()
    entered, release = kit.gate("worker busy with event 0"), kit.gate("worker released")

    async def handler(event: Any) -> None:
        if event.n == 0:
            entered.open()
            await release.wait(bound=3 * kit.bound)
        rec.record(str(event.n), event)

    kit.add(bus, Odd, handler)
    await kit.within(bus.start_worker(), "start_worker returns")
    bus.post(Odd(n=0))
    await kit.reached(entered, "the worker takes event 0")
    count = 5
    for n in range(1, count):
        bus.post(Odd(n=n))
    # Events 1..4 wait in the queue behind the busy worker while start_worker is called, twice.
    await kit.within(bus.start_worker(), "a second start_worker, while events wait, returns")
    await kit.within(bus.start_worker(), "a third start_worker, while events wait, returns")
    release.open()
    await kit.within(bus.stop_worker(), "stop_worker returns")
    kit.check(
        rec.labels() == [str(n) for n in range(count)],
        "start_worker while events wait in the queue loses none and delivers each once, in order (0..4)",
        "deliveries were " + (", ".join(rec.labels()) or "none"),
    )
    await kit.exactly(rec, count, None, f"the {count} events are delivered once each")


@pytest.mark.rule("WRK-2")
@pytest.mark.needs("worker")
async def test_stop_worker_delivers_what_was_posted_before(kit: Kit) -> None:
    kit.slow_handlers()  # its handlers take kit.patience: every wait allows that much more
    Num = kit.numbered_event()
    bus = kit.new_bus()
    rec = kit.recorder()
    count = 10
    # Each event's two INLINE handlers take kit.patience / 20 each, kit.patience in all: a drain with a
    # hidden timeout (a grace period, then cancel) anywhere from about 10 ms to half the bound is cut short.
    slow_async = rec.slow_async_handler("async", kit.patience / (2 * count), steps=5)
    slow_sync = rec.slow_sync_handler("sync", kit.patience / (2 * count), steps=5)
    kit.add(bus, Num, slow_async)
    kit.add(bus, Num, slow_sync)
    await kit.within(bus.start_worker(), "start_worker returns")
    for n in range(count):
        bus.post(Num(n=n))
    await kit.within(bus.stop_worker(), "stop_worker returns after draining the queue")
    done = [(c.label, c.event.n) for c in rec.calls]
    expected = [(label, n) for n in range(count) for label in ("async", "sync")]
    kit.check(
        done == expected,
        f"when stop_worker returns, all {count} events posted before it have been dispatched, their INLINE "
        f"handlers finished (they take {kit.patience:g} s in all)",
        f"{len(done)} of {len(expected)} handler calls had finished: {done}",
    )
    await kit.exactly(rec, 2 * count, None, "each event reaches each of its two handlers once")


@pytest.mark.rule("WRK-2")
@pytest.mark.needs("worker")
async def test_stop_worker_delivers_thousands_posted_before(kit: Kit) -> None:
    # Domain: the count of events waiting when stop_worker is called, beyond the caps a drain could hide.
    Num = kit.numbered_event()
    bus = kit.new_bus()
    count = UNBOUNDED_POSTS
    kit.exercise(count=count)
    delivered: list[int] = []  # not a Recorder: thousands of calls, checked once
    entered, release = kit.gate("worker busy with event 0"), kit.gate("worker released")

    async def handler(event: Any) -> None:
        if event.n == 0:  # holds the worker, so that the others are still waiting when stop_worker is called
            entered.open()
            await release.wait(bound=3 * kit.bound)
        delivered.append(event.n)

    kit.add(bus, Num, handler)
    await kit.within(bus.start_worker(), "start_worker returns")
    bus.post(Num(n=0))
    await kit.reached(entered, "the worker takes the first event")
    refused = ""
    for n in range(1, count):
        exc = kit.raised_now(lambda: bus.post(Num(n=n)))  # noqa: B023 - called at once
        if exc is not None:  # a queue with a cap is POST-9's finding: this rule is about the accepted events
            refused, count = f" (post refused event {n:,} with {describe(exc)}: POST-9's finding)", n
            break
    stopping = asyncio.ensure_future(bus.stop_worker())
    for _ in range(100):  # the iterations stop_worker needs to begin its drain; then the worker goes on
        if stopping.done():
            break
        await asyncio.sleep(0)
    release.open()
    await kit.within(stopping, f"stop_worker returns after draining {count:,} events")
    missing = sorted(set(range(count)) - set(delivered))
    kit.check(
        delivered == list(range(count)),
        f"when stop_worker returns, all {count:,} events posted before it have been dispatched, in order{refused}",
        f"{len(delivered):,} had been dispatched"
        + (f"; {len(missing):,} missing, the first is event {missing[0]:,}" if missing else "; out of order"),
    )
    await kit.settle()
    kit.check(len(delivered) == count, f"each of the {count:,} events is dispatched once", f"{len(delivered):,} calls")


@pytest.mark.rule("WRK-3")
@pytest.mark.needs("worker")
async def test_stop_worker_without_a_worker_is_a_no_op(kit: Kit) -> None:
    bus = kit.new_bus()
    steps = [
        ("stop_worker on a bus that never started a worker", bus.stop_worker),
        ("start_worker", bus.start_worker),
        ("stop_worker", bus.stop_worker),
        ("a second stop_worker", bus.stop_worker),
    ]
    for what, call in steps:
        exc = await kit.raised(call, f"{what} returns")
        kit.check(
            exc is None,
            "stop_worker without a running worker returns normally",
            f"{what} raised {describe(exc)}" if exc is not None else "",
        )


@pytest.mark.rule("WRK-4")
@pytest.mark.needs("worker")
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
            follow_up = event.n + 1
            if kit.raised_now(lambda: bus.post(Num(n=follow_up))) is None:
                accepted.append(follow_up)
            else:
                rejected.append(follow_up)

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
@pytest.mark.needs("worker")
async def test_worker_can_be_restarted(kit: Kit) -> None:
    Num = kit.numbered_event(frozen=False)
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Num, lambda e: rec.record(str(e.n), e))
    kit.add(bus, Num, rec.async_handler("async"))
    await kit.within(bus.start_worker(), "start_worker returns")
    for n in (0, 1):
        kit.accepted(lambda: bus.post(Num(n=n)), "post while the first worker runs")  # noqa: B023
    if not await rec.until_count(1, "1"):
        kit.fail("the first worker delivers the two events posted to it", f"deliveries: {rec.labels()}")
    await kit.within(bus.stop_worker(), "stop_worker returns")
    await kit.within(bus.start_worker(), "start_worker after stop_worker returns")
    for n in (2, 3):
        kit.accepted(lambda: bus.post(Num(n=n)), "post once the worker was started again")  # noqa: B023
    if not await rec.until_count(1, "3"):
        kit.fail(
            "the restarted worker delivers the events posted after the restart",
            f"deliveries: {rec.labels()}; the events posted after the restart were never delivered",
        )
    await kit.within(bus.stop_worker(), "stop_worker returns")
    await kit.exactly_each(
        rec,
        {"0": 1, "1": 1, "2": 1, "3": 1, "async": 4},
        "each event is delivered once to each of its two handlers, across the stop and the restart",
    )


@pytest.mark.rule("WRK-6")
@pytest.mark.needs("worker")
async def test_failing_handler_does_not_stop_the_worker(kit: Kit) -> None:
    # Domain: every policy the bus declares x sync and async handlers, each failing on the first posted event.
    Num = kit.numbered_event()
    bus = kit.new_bus()
    rec = kit.recorder()
    booms: dict[str, RuntimeError] = {}
    # INLINE last: after a failing INLINE handler a bus may skip the rest of them (IMPL-2), never a background one.
    for policy in sorted(kit.policies(), key=lambda p: p == "INLINE"):
        for is_async in (False, True):
            label = f"{policy} {'async' if is_async else 'sync'}"
            booms[label] = RuntimeError(f"the {label} handler of posted event 0 failed")

            def fails(event: Any, label: str = label) -> None:
                rec.record(f"{label}-{event.n}", event)
                if event.n == 0:
                    raise booms[label]

            async def fails_async(event: Any, label: str = label) -> None:
                await asyncio.sleep(0)
                fails(event, label)

            kit.add(bus, Num, fails_async if is_async else fails, policy=policy)
    kit.exercise(failure_kind="Exception")
    await kit.within(bus.start_worker(), "start_worker returns")
    for n in range(3):
        bus.post(Num(n=n))
    later = {f"{label}-{n}" for label in booms for n in (1, 2)}
    if not await rec.until(lambda calls: {c.label for c in calls} >= later, "events 1 and 2 delivered"):
        kit.fail(
            f"after every handler ({', '.join(booms)}) failed on one posted event, the worker goes on with the next",
            f"deliveries: {rec.labels()}; missing: {sorted(later - set(rec.labels()))}: the worker seems to have died",
        )
    ran = [label for label in booms if rec.count(f"{label}-0")]  # INLINE ones after a failure may be skipped
    for label in ran:
        if not await kit.logged(booms[label]):
            kit.fail(
                f"each failing handler's exception, here the {label} handler's {describe(booms[label])}, is "
                "logged at ERROR or above with the exception attached",
                kit.log_summary(),
            )
    await kit.within(bus.stop_worker(), "stop_worker returns")


@pytest.mark.rule("WRK-7")
@pytest.mark.needs("threadsafe_post", "worker")
async def test_posted_events_are_dispatched_on_the_workers_loop(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("ping"))
    await kit.within(bus.start_worker(), "start_worker returns")
    await kit.join(kit.thread(lambda: bus.post(Ping()), "producer-1"), "post from another thread returns")
    await kit.join(kit.thread(lambda: bus.post(Ping()), "producer-2"), "post from a second thread returns")
    if not await rec.until_count(2):
        kit.fail("the events posted from other threads are delivered", f"deliveries: {rec.labels()}")
    kit.check(
        all(call.on_loop_thread for call in rec.of("ping")),
        "a sync INLINE handler of an event posted from another thread runs on the worker's loop thread",
        "it ran on another thread",
    )
    await kit.within(bus.stop_worker(), "stop_worker returns")

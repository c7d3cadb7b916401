"""SPEC.md §3: the execution policies INLINE, TASK and THREADPOOL.

Every rule runs through both paths (`dispatch`: `publish`, then `post` + worker).
"Does not wait" is decided in loop iterations (`kit.prompt`) with handlers held on
gates that the test opens only afterwards; "waits for" with handlers that really
take time (`kit.patience`); "exactly once" with `kit.exactly`, which also catches
a late second call from a thread or a task.
"""

import asyncio
import gc
import itertools
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from conformance._paths import LOOP_USE, LOOPS_IN_TURN, run_on_fresh_loop
from conformance.adapter import PolicyName
from conformance.domain import NESTED
from conformance.kit import Dispatch, Gate, HandlerKind, Kit, Recorder, describe

Finish = Callable[[], Awaitable[None]]


def _release_after(entered: Gate, release: Gate) -> "asyncio.Task[None]":
    """A helper task that opens `release` once `entered` is open: a handler's partner on the loop."""

    async def partner() -> None:
        if await entered.wait():
            release.open()

    return asyncio.ensure_future(partner())


async def _launch(kit: Kit, dispatch: Dispatch, bus: Any, event: Any) -> Finish:
    """Start dispatching `event` without waiting for its handlers; return what completes the dispatch.

    Through publish, `publish` runs in a task of its own (so the test does not
    depend on publish returning early); through the worker, the event is posted.
    """
    if dispatch.through_worker:
        await dispatch.begin(bus)
        bus.post(event)

        async def finish_worker() -> None:
            await dispatch.end(bus)

        return finish_worker
    publishing = asyncio.ensure_future(bus.publish(event))

    async def finish_publish() -> None:
        await kit.within(publishing, "publish returns")

    return finish_publish


# -- POL-1 -----------------------------------------------------------------------------


async def _delivered(kit: Kit, rec: Recorder, kinds: list[HandlerKind]) -> list[HandlerKind]:
    """The kinds an explicit INLINE publish on a control bus delivers; `rec`'s calls are cleared after.

    A kind the bus does not call at all is PUB-1's failure (test_every_kind_of_handler_receives_each_event),
    not that of a rule about how the handlers it calls run.
    """
    Control = kit.event_class("Control")
    control = kit.new_bus()
    kinds = rec.register_kinds(control, Control, kinds, "INLINE")
    await kit.within(control.publish(Control()), "publish on the control bus returns")
    delivered = [k for k in kinds if rec.count(k.label)]
    rec.calls.clear()
    return delivered


@pytest.mark.rule("POL-1")
async def test_handlers_without_policy_are_inline(kit: Kit, dispatch: Dispatch) -> None:
    # Domain: every handler kind, registered without a policy x both paths.
    Ping = kit.event_class("Ping")
    Next = kit.event_class("Next")
    bus = kit.new_bus()
    rec = kit.recorder()

    async def default_async(event: object) -> None:
        rec.record("async-start", event)
        for _ in range(5):  # suspends: a handler run as a task would still be running when Next is dispatched
            await asyncio.sleep(0)
        rec.record("async-end", event)

    # The sync kinds, between two explicit INLINE handlers: run in place, they run between the two (a sync
    # handler run as a task or on a thread would come after the second). Then the async kinds, awaited in turn.
    sync_kinds = await _delivered(kit, rec, rec.every_kind("default ", is_async=False))
    async_kinds = await _delivered(kit, rec, rec.every_kind("default ", sync=False))
    kit.add(bus, Ping, rec.sync_handler("explicit INLINE before"), policy="INLINE")
    sync_kinds = rec.register_kinds(bus, Ping, sync_kinds)  # no policy
    kit.add(bus, Ping, rec.sync_handler("explicit INLINE"), policy="INLINE")
    kit.add(bus, Ping, default_async)  # no policy
    async_kinds = rec.register_kinds(bus, Ping, async_kinds)  # no policy
    kit.add(bus, Next, rec.sync_handler("next"), policy="INLINE")
    await dispatch(bus, Ping(), Next())
    labels = rec.labels()
    defaults = ["async-start", "async-end", *(k.label for k in sync_kinds + async_kinds)]
    kit.check(
        sorted(labels[:-1]) == sorted([*defaults, "explicit INLINE before", "explicit INLINE"])
        and labels[-1:] == ["next"],
        "handlers registered without a policy run as INLINE ones: the dispatch of a Ping awaits each of its "
        f"handlers ({', '.join(k.kind for k in sync_kinds + async_kinds)}, and one suspending five times) before "
        "it returns, so all have finished before the next event, Next, is dispatched",
        "the calls were " + ", ".join(labels),
    )
    # In place: in the dispatch's own task, as the explicit INLINE handlers are (judged by task, not by
    # order, so a bus that does not keep subscription order fails POL-ORDER-1, not this).
    dispatching = rec.of("explicit INLINE before")[0].task
    late = [
        k.kind for k in sync_kinds if rec.of(k.label)[0].on_loop_thread and rec.of(k.label)[0].task is not dispatching
    ]
    kit.check(
        not late,
        "a sync handler registered without a policy runs in place, as INLINE ones do: in the task that dispatches "
        "the event, the one the explicit INLINE handlers run in",
        f"these ran in a task of their own (as TASK handlers?): {late}; calls: {', '.join(labels)}",
    )
    off = [k.kind for k in sync_kinds if not rec.of(k.label)[0].on_loop_thread]
    kit.check(
        not off,
        "a sync handler registered without a policy runs in place, on the loop's thread",
        f"these ran on another thread: {off}",
    )


# -- POL-INLINE-1, POL-INLINE-2, POL-ORDER-1 ----------------------------------------------


@pytest.mark.rule("POL-INLINE-1")
async def test_inline_handlers_that_take_time_are_awaited(kit: Kit) -> None:
    # Through publish only: the worker's side of "waits for its INLINE handlers" is POST-4's
    # test_worker_awaits_inline_handlers_before_the_next_event, with handlers as slow as these.
    kit.slow_handlers()  # its handlers take kit.patience: every wait allows that much more
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    share = kit.patience / 4  # the handlers take kit.patience in all, each over many loop iterations
    kit.add(bus, Ping, rec.slow_async_handler("async-1", share), policy="INLINE")
    kit.add(bus, Ping, rec.slow_sync_handler("sync", share, steps=2), policy="INLINE")
    kit.add(bus, Ping, rec.slow_async_handler("async-2", share), policy="INLINE")
    kit.add(bus, Ping, rec.slow_async_handler("async-3", share), policy="INLINE")
    expected = ["async-1", "sync", "async-2", "async-3"]
    await kit.within(bus.publish(Ping()), "publish returns once its INLINE handlers have finished")
    kit.check(
        sorted(rec.labels()) == sorted(expected),
        f"when the dispatch returns, every INLINE handler has finished, although each took {share * 1000:.0f} ms "
        "(async ones over ten suspensions): " + " ".join(expected),
        "finished by then: "
        + (" ".join(rec.labels()) or "none")
        + " (was a handler awaited with a timeout, or the dispatch cut short?)",
    )


NESTING = 3
"""How deep the re-entrant publish test nests: a publish from a handler of an event that a handler published."""


@pytest.mark.rule("POL-INLINE-1", "PUB-1")
async def test_a_publish_awaited_inside_a_handler_has_delivered_when_it_returns(kit: Kit, dispatch: Dispatch) -> None:
    # Domain: both paths for the outermost event x publish depths 1 to NESTING x every handler kind, INLINE.
    levels = [kit.numbered_event(f"Level{depth}") for depth in range(NESTING + 1)]
    bus = kit.new_bus()
    rec = kit.recorder()
    kinds = {depth: rec.every_kind(f"depth {depth} ") for depth in range(1, NESTING + 1)}
    missing: list[tuple[int, list[str]]] = []  # (depth of the publish, kinds not called when it returned)

    def relay(depth: int) -> Any:
        async def publish_deeper(event: Any) -> None:
            inner = levels[depth + 1](n=event.n)
            await bus.publish(inner)  # a publish at depth + 1, from inside an INLINE handler
            not_yet = [k.kind for k in kinds[depth + 1] if not any(c.event is inner for c in rec.of(k.label))]
            missing.append((depth + 1, not_yet))

        return publish_deeper

    # Control: the kinds a publish at depth 0 delivers, on another bus. A kind the bus does not call at all is
    # PUB-1's failure (test_every_kind_of_handler_receives_each_event), not a re-entrant publish's.
    control = kit.new_bus()
    for depth in kinds:
        kinds[depth] = rec.register_kinds(control, levels[depth], kinds[depth])
    for depth in kinds:
        alone = levels[depth](n=0)
        await kit.within(control.publish(alone), "publish on the control bus returns")
        kinds[depth] = [k for k in kinds[depth] if any(c.event is alone for c in rec.of(k.label))]
    rec.calls.clear()
    for depth, level in enumerate(levels):
        if depth:
            half = len(kinds[depth]) // 2
            for kind in kinds[depth][:half]:
                kit.add(bus, level, kind.fn)
        if depth < NESTING:
            kit.add(bus, level, relay(depth))
        if depth:
            for kind in kinds[depth][half:]:
                kit.add(bus, level, kind.fn)
    kit.exercise(path=NESTED)
    await dispatch(bus, levels[0](n=1))
    kit.check(
        sorted(d for d, _ in missing) == list(range(1, NESTING + 1)),
        f"each handler that awaits a publish (at depths 1 to {NESTING}) gets past it once",
        f"publishes that returned, by depth: {sorted(d for d, _ in missing)}",
    )
    for depth, not_yet in sorted(missing):
        kit.check(
            not not_yet,
            f"`await bus.publish(event)` awaited inside an INLINE handler (a publish at depth {depth}) returns "
            f"only once every INLINE handler of that event has run, async ones awaited to their end",
            f"when it returned, these handlers of the event had not run yet: {not_yet} (deferred until the outer "
            "dispatch ends?)",
        )
    await kit.exactly_each(
        rec,
        {k.label: 1 for d in kinds for k in kinds[d]},
        "each handler at every depth is called once for its event",
    )


@pytest.mark.rule("POL-INLINE-2")
async def test_sync_inline_handlers_run_in_place(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kinds = rec.every_kind(is_async=False)
    for kind in kinds:
        kit.add(bus, Ping, kind.fn, policy="INLINE")
    await dispatch(bus, Ping())
    for kind in kinds:
        calls = rec.of(kind.label)
        kit.check(
            len(calls) == 1,
            f"the sync INLINE {kind.kind} handler has run once when the dispatch returns",
            f"{len(calls)} calls; all calls: {rec.labels()}",
        )
        kit.check(
            calls[0].on_loop_thread,
            f"the sync INLINE {kind.kind} handler runs on the event loop's thread",
            "it ran on another thread",
        )


@pytest.mark.rule("POL-ORDER-1")
async def test_inline_handlers_run_one_after_another_in_subscription_order(kit: Kit, dispatch: Dispatch) -> None:
    # Domain: every handler kind x both paths x a count of INLINE handlers (25) past the caps a bus may hide.
    Num = kit.numbered_event("Num")
    bus = kit.new_bus()
    rec = kit.recorder()

    def make_async(label: str) -> Any:
        async def handler(event: Any) -> None:
            rec.record(f"{label}-start", event)
            await asyncio.sleep(0)  # gives a concurrent dispatch the chance to interleave
            rec.record(f"{label}-end", event)

        return handler

    def make_sync(label: str) -> Any:
        def handler(event: Any) -> None:
            rec.record(f"{label}-start", event)
            rec.record(f"{label}-end", event)

        return handler

    # Between each two handlers of the kinds, one that shows its start and end: async and sync in turn.
    order: list[str] = []
    for i, kind in enumerate(await _delivered(kit, rec, rec.every_kind())):
        marker = f"marker {i + 1}"
        kit.add(bus, Num, (make_sync if i % 2 else make_async)(marker), policy="INLINE")
        order += [f"{marker}-start", f"{marker}-end"]
        if rec.register_kinds(bus, Num, [kind], "INLINE"):
            order.append(kind.label)
    kit.add(bus, Num, make_async("last"), policy="INLINE")
    order += ["last-start", "last-end"]
    kit.exercise(count=len([o for o in order if not o.endswith("-end")]))
    events = [Num(n=1), Num(n=2)]
    await dispatch(bus, *events)
    for event in events:
        got = [c.label for c in rec.calls if c.event is event]
        kit.check(
            got == order,
            f"for {event!r}, its {len([o for o in order if not o.endswith('-end')])} INLINE handlers (every kind, "
            "and between them ones that show their start and end) run in the order they were registered, each "
            "after the previous finished: " + ", ".join(order),
            "the order was " + ", ".join(got),
        )


# -- POL-TASK-1 .. POL-TASK-4 ------------------------------------------------------------------


@pytest.mark.rule("POL-TASK-1")
@pytest.mark.needs("task")
async def test_task_handlers_run_in_tasks_of_their_own(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kinds = rec.every_kind("task ", sync=False)
    kit.add(bus, Ping, rec.sync_handler("inline"), policy="INLINE")
    for kind in kinds:
        kit.add(bus, Ping, kind.fn, policy="TASK")
    test_task = asyncio.current_task()
    await dispatch(bus, Ping())
    if not await rec.until(lambda calls: all(any(c.label == k.label for c in calls) for k in kinds), "TASK calls"):
        kit.fail(
            "every async TASK handler (" + ", ".join(k.kind for k in kinds) + ") runs",
            f"calls after {kit.bound:g} s: {rec.labels()} (a coroutine never awaited?)",
        )
    inline = rec.of("inline")[0].task
    for kind in kinds:
        call = rec.of(kind.label)[0]
        kit.check(call.on_loop_thread, f"the TASK {kind.kind} handler runs on the loop's thread", "another thread")
        kit.check(
            call.task is not None and call.task is not test_task and call.task is not inline,
            f"the TASK {kind.kind} handler runs inside an asyncio.Task other than the publisher's",
            "it ran outside any asyncio task"
            if call.task is None
            else "it ran inside the task that dispatched the event (where its INLINE handler ran)",
        )


@pytest.mark.rule("POL-TASK-1", "PUB-1", "POL-THREAD-1", "WRK-7")
@pytest.mark.needs("task")
async def test_a_bus_serves_each_loop_it_is_used_on(kit: Kit) -> None:
    # Domain: loops in turn (a first loop that then ends, a second loop in the same thread, the test's loop in
    # another thread) x both paths x the policies (INLINE sync and async, TASK, THREADPOOL sync and async).
    Ping = kit.numbered_event("Ping")
    bus = kit.new_bus()
    pool = kit.supports("threadpool")
    worker = kit.supports("worker")
    lock = threading.Lock()
    calls: list[tuple[str, Any, int, asyncio.Task[Any] | None]] = []  # label, event, thread, task
    awaited: dict[int, tuple[set[str], Gate]] = {}  # id(event) -> the labels that must run, and who waits

    def note(label: str, event: Any) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no loop runs in this thread
            task = None
        with lock:
            calls.append((label, event, threading.get_ident(), task))
            ran = {c[0] for c in calls if c[1] is event}
            entry = awaited.get(id(event))
        if entry is not None and entry[0] <= ran:
            entry[1].open()

    async def task_handler(event: Any) -> None:
        await asyncio.sleep(0)
        note("TASK", event)

    async def inline_async(event: Any) -> None:
        await asyncio.sleep(0)
        note("INLINE async", event)

    async def pool_async(event: Any) -> None:
        await asyncio.sleep(0)
        note("THREADPOOL async", event)

    kit.add(bus, Ping, lambda event: note("INLINE sync", event))
    kit.add(bus, Ping, inline_async)
    kit.add(bus, Ping, task_handler, policy="TASK")
    labels = {"INLINE sync", "INLINE async", "TASK"}
    if pool:
        kit.add(bus, Ping, lambda event: note("THREADPOOL", event), policy="THREADPOOL")
        kit.add(bus, Ping, pool_async, policy="THREADPOOL")
        labels |= {"THREADPOOL", "THREADPOOL async"}
    numbers = itertools.count(1)
    problems: list[tuple[str, str, str]] = []  # rule, expected, observed

    async def use(where: str) -> None:
        """Dispatch one event through each path on the running loop; note what went wrong."""
        loop = asyncio.get_running_loop()
        kit.exercise(loop=LOOP_USE[where])  # the bus is called directly here: the handle would not see the loop
        for path in ("publish", "post + worker") if worker else ("publish",):
            event = Ping(n=next(numbers))
            done = Gate(f"{path} on the {where} loop: every handler ran", loop, kit.wait_bound)
            awaited[id(event)] = (labels, done)
            point = f"on the {where} loop, through {path}"
            # A failure of the call itself belongs to the path's own rule: PUB-1 for publish, WRK-7 for the worker.
            path_rule = "PUB-1" if path == "publish" else "WRK-7"
            step = "publish"
            try:
                if path == "publish":
                    await asyncio.wait_for(kit.impl.publish(bus.raw, event), kit.wait_bound)
                else:
                    step = "start_worker"
                    await asyncio.wait_for(kit.impl.start_worker(bus.raw), kit.wait_bound)
                    step = "post"
                    kit.impl.post(bus.raw, event)
                    step = "stop_worker"
                    await asyncio.wait_for(kit.impl.stop_worker(bus.raw), kit.wait_bound)
            except asyncio.TimeoutError:  # bounded: a hang is reported as one
                problems.append((path_rule, f"{step} returns {point}", f"it hung ({kit.wait_bound:g} s)"))
                return
            except Exception as exc:  # the finding, whatever it is (no kit call inside: no verdict is caught)
                problems.append((path_rule, f"{step} works {point}", f"it raised {describe(exc)}"))
                return
            if not await done.wait():
                with lock:
                    ran = {c[0] for c in calls if c[1] is event}
                inline = {"INLINE sync", "INLINE async"} <= ran
                rule = path_rule if not inline else "POL-TASK-1" if "TASK" not in ran else "PUB-1"
                problems.append(
                    (rule, f"every handler runs for a Ping dispatched {point}", f"only these ran: {sorted(ran)}")
                )
                return  # one wait of the bound per loop at most
            with lock:
                mine = {c[0]: c for c in calls if c[1] is event}
            task, thread = mine["TASK"][3], mine["TASK"][2]
            if task is None or thread != threading.get_ident() or task.get_loop() is not loop:
                problems.append(
                    (
                        "POL-TASK-1",
                        f"the TASK handler runs inside an asyncio.Task on the loop it was dispatched on ({point})",
                        "it ran outside any task" if task is None else "it ran in a task of another loop or thread",
                    )
                )
            if pool and mine["THREADPOOL"][2] == threading.get_ident():
                problems.append(
                    ("POL-THREAD-1", f"the THREADPOOL handler runs off the loop's thread ({point})", "it ran on it")
                )

    assert kit.loop is not None  # the test runs on it
    new_loop = type(kit.loop)  # the kind of loop the test runs on: asyncio's or uvloop's
    first, second, other = LOOPS_IN_TURN

    ended = kit.gate("the helper thread's two loops ended")

    def helper() -> None:
        try:
            run_on_fresh_loop(new_loop, lambda: use(first), 2 * kit.wait_bound)
            run_on_fresh_loop(new_loop, lambda: use(second), 2 * kit.wait_bound)
        finally:
            ended.open()

    helping = kit.thread(helper, "loops in turn")
    if not await ended.wait(bound=5 * kit.wait_bound):  # each loop's waits are bounded: this is the last resort
        kit.fail("the bus is used on two loops in turn in a helper thread", "it hung", kind="hang")
    await kit.join(helping, "the helper thread ends once its loops have")
    await use(other)
    for rule, expected, observed in problems:
        kit.fail(expected, observed, rule=rule)


async def _dispatch_does_not_wait(kit: Kit, dispatch: Dispatch, policy: PolicyName) -> None:
    """One handler of `policy` of every kind its rule speaks of, each held on a gate: the dispatch goes on
    within kit.prompt's loop iterations."""
    # Domain: both paths x every handler kind of the policy (async for TASK, sync for THREADPOOL).
    Ping = kit.event_class("Ping")
    Next = kit.event_class("Next")
    bus = kit.new_bus()
    rec = kit.recorder()
    release = kit.gate(f"{policy} handlers released")

    async def hold_task(label: str, event: object) -> None:
        # Held until the test opens the gate, which it does only after the check.
        await release.wait(bound=3 * kit.bound)
        rec.record(f"{label}-finished", event)

    def hold_thread(label: str, event: object) -> None:
        release.wait_blocking(bound=3 * kit.bound)
        rec.record(f"{label}-finished", event)

    if policy == "TASK":
        kinds = rec.every_kind("task ", sync=False, then_async=hold_task)
    else:
        kinds = rec.every_kind("pool ", is_async=False, then=hold_thread)
    for kind in kinds:
        kit.add(bus, Ping, kind.fn, policy=policy)
    held = f"{len(kinds)} {policy} handlers (" + ", ".join(k.kind for k in kinds) + ")"
    next_reached = kit.gate("the next event's INLINE handler reached")
    kit.add(bus, Next, lambda event: next_reached.open())
    try:
        if dispatch.through_worker:
            await dispatch.begin(bus)
            bus.post(Ping())
            bus.post(Next())
            await kit.prompt(
                next_reached.wait(bound=3 * kit.bound),
                f"the worker takes the next posted event while the first event's {held} are blocked",
            )
        else:
            await kit.prompt(bus.publish(Ping()), f"publish returns while its {held} are blocked")
        finished = [label for label in rec.labels() if label.endswith("-finished")]
        kit.check(not finished, f"the {policy} handlers are still blocked at that point", f"{finished} had finished")
    finally:
        release.open()
    # A kind the bus never calls is PUB-1's finding, not this rule's: the handlers that started must finish.
    started = [k.label for k in kinds if rec.count(k.label)]
    if not await rec.until(lambda calls: sum(c.label.endswith("-finished") for c in calls) >= len(started), "done"):
        kit.fail(f"the {policy} handlers that started ({started}) finish once released", f"calls: {rec.labels()}")
    await dispatch.end(bus)


@pytest.mark.rule("POL-TASK-2")
@pytest.mark.needs("task")
async def test_dispatch_does_not_wait_for_task_handlers(kit: Kit, dispatch: Dispatch) -> None:
    await _dispatch_does_not_wait(kit, dispatch, "TASK")


@pytest.mark.rule("POL-TASK-3")
@pytest.mark.needs("task")
async def test_running_task_handlers_survive_garbage_collection(kit: Kit, dispatch: Dispatch) -> None:
    # Domain: both paths x every async handler kind, all running at once.
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    # A recorder that keeps no task: only the bus's strong reference may keep a running handler's task alive.
    rec = kit.recorder(keeps_tasks=False)
    waiting_on: dict[str, weakref.ref[asyncio.Future[None]]] = {}
    all_entered = kit.gate("every TASK handler entered")

    async def hold(label: str, event: object) -> None:
        # A future nothing else references: only the task awaiting it, so only a strong reference to that
        # task keeps the future alive.
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting_on[label] = weakref.ref(future)
        if len(waiting_on) == len(kinds):
            all_entered.open()
        await future
        rec.record(f"{label}-finished", event)

    kinds = rec.every_kind("task ", sync=False, then_async=hold)
    for kind in kinds:
        kit.add(bus, Ping, kind.fn, policy="TASK")
    finish = await _launch(kit, dispatch, bus, Ping())
    # A kind the bus never calls is PUB-1's finding; this rule is about the tasks that run.
    if not await all_entered.wait() and not waiting_on:
        kit.fail(f"the {len(kinds)} TASK handlers start", f"none started within {kit.bound:g} s")
    judged = dict(waiting_on)
    for _ in range(3):
        gc.collect()
    gone = [label for label, ref in judged.items() if ref() is None]
    for ref in judged.values():
        future = ref()
        if future is not None:
            future.set_result(None)
        del future
    kit.check(
        not gone,
        "the bus keeps a strong reference to every running TASK handler's task (" + ", ".join(judged) + ")",
        f"after gc.collect() the running tasks of {gone} were gone: garbage-collected mid-run, they never finish",
    )
    if not await rec.until(lambda calls: sum(c.label.endswith("-finished") for c in calls) >= len(judged), "done"):
        kit.fail("every TASK handler that started finishes once its future resolves", f"calls: {rec.labels()}")
    await finish()


BLOCKED_TASKS = 17
"""TASK handlers of one dispatch that POL-TASK-4's test holds at once: beyond a hidden limit of up to 16."""


@pytest.mark.rule("POL-TASK-4")
@pytest.mark.needs("task")
async def test_task_handlers_of_one_dispatch_run_concurrently(kit: Kit, dispatch: Dispatch) -> None:
    # Domain: both paths x a count of TASK handlers beyond the small limits a pool or semaphore would use.
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    release = kit.gate("the TASK handlers released")
    labels = [f"task-{i}" for i in range(1, BLOCKED_TASKS + 1)]

    def make(label: str) -> Any:
        async def blocked(event: object) -> None:
            rec.record(label, event)
            await release.wait(bound=3 * kit.bound)  # held until every one has started
            rec.record(f"{label}-finished", event)

        return blocked

    for label in labels:
        kit.add(bus, Ping, make(label), policy="TASK")
    kit.exercise(count=BLOCKED_TASKS)
    finish = await _launch(kit, dispatch, bus, Ping())
    try:
        started = await rec.until(
            lambda calls: set(labels) <= {c.label for c in calls}, f"all {BLOCKED_TASKS} TASK handlers started"
        )
        if not started:
            running = [label for label in labels if rec.count(label)]
            kit.fail(
                f"all {BLOCKED_TASKS} TASK handlers of the dispatch start while every one that started is still "
                "blocked",
                f"after {kit.bound:g} s only {len(running)} had started: {running} (at most {len(running)} TASK "
                "handlers at once, the rest waiting for one to finish?)",
            )
        tasks = [rec.of(label)[0].task for label in labels]
        kit.check(
            all(t is not None for t in tasks) and len({id(t) for t in tasks}) == BLOCKED_TASKS,
            f"each of the {BLOCKED_TASKS} TASK handlers of the dispatch runs in an asyncio.Task of its own",
            f"they ran in {len({id(t) for t in tasks if t is not None})} distinct tasks"
            + (" (some outside any task)" if any(t is None for t in tasks) else ""),
        )
    finally:
        release.open()
    if not await rec.until(lambda calls: sum(c.label.endswith("-finished") for c in calls) >= BLOCKED_TASKS, "done"):
        kit.fail(f"the {BLOCKED_TASKS} TASK handlers finish once released", f"calls: {rec.labels()}")
    await finish()


# -- POL-THREAD-1 .. POL-THREAD-3 ------------------------------------------------------------------


@pytest.mark.rule("POL-THREAD-1")
@pytest.mark.needs("threadpool")
async def test_threadpool_handlers_run_off_the_loop_thread(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kinds = rec.every_kind("pool ", is_async=False)
    for kind in kinds:
        kit.add(bus, Ping, kind.fn, policy="THREADPOOL")
    await dispatch(bus, Ping())
    if not await rec.until(lambda calls: len(calls) >= len(kinds), "every THREADPOOL handler called"):
        kit.fail(
            "every sync THREADPOOL handler (" + ", ".join(k.kind for k in kinds) + ") runs",
            f"calls after {kit.bound:g} s: {rec.labels()}",
        )
    on_loop = [c.label for c in rec.calls if c.on_loop_thread]
    kit.check(
        not on_loop,
        "every THREADPOOL handler runs on a thread other than the event loop's",
        f"these ran on the event loop's thread: {on_loop}",
    )


@pytest.mark.rule("POL-THREAD-2")
@pytest.mark.needs("threadpool")
async def test_loop_runs_while_threadpool_handler_blocks(kit: Kit, dispatch: Dispatch) -> None:
    # Domain: both paths x every sync handler kind, each blocked until a coroutine on the loop runs.
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    entered, tick = kit.gate("a THREADPOOL handler entered"), kit.gate("loop ticked")
    rec = kit.recorder()

    def block(label: str, event: object) -> None:
        entered.open()
        # Only a coroutine on the loop opens `tick`: it can do so only if the loop runs.
        rec.record(f"{label}: the loop ran" if tick.wait_blocking() else f"{label}: the loop did not run", event)

    kinds = rec.every_kind("pool ", is_async=False, then=block)
    for kind in kinds:
        kit.add(bus, Ping, kind.fn, policy="THREADPOOL")
    partner = _release_after(entered, tick)
    finish = await _launch(kit, dispatch, bus, Ping())
    if not await rec.until(lambda calls: sum(": the loop" in c.label for c in calls) >= len(kinds), "all done"):
        kit.fail(f"the {len(kinds)} THREADPOOL handlers finish", f"calls after {kit.bound:g} s: {rec.labels()}")
    stuck = [label.split(":")[0] for label in rec.labels() if label.endswith("did not run")]
    kit.check(
        not stuck,
        "while a THREADPOOL handler blocks, a coroutine on the loop runs and releases it ("
        + ", ".join(k.kind for k in kinds)
        + ")",
        f"for {kit.bound:g} s the loop did not run while {stuck} waited for it in their threads: running a "
        "THREADPOOL handler, or waiting for one, blocked the loop",
    )
    await finish()
    await kit.within(partner, "the loop partner ends")


@pytest.mark.rule("POL-THREAD-3")
@pytest.mark.needs("threadpool")
async def test_dispatch_does_not_wait_for_threadpool_handlers(kit: Kit, dispatch: Dispatch) -> None:
    await _dispatch_does_not_wait(kit, dispatch, "THREADPOOL")


# -- POL-MIX-1, POL-MIX-2 ----------------------------------------------------------------------


@pytest.mark.rule("POL-MIX-1")
@pytest.mark.needs("task")
async def test_sync_handlers_under_task_run_exactly_once(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kinds = rec.every_kind("sync-task ", is_async=False)
    for kind in kinds:
        kit.add(bus, Ping, kind.fn, policy="TASK")
    await dispatch(bus, Ping())
    if not await rec.until(lambda calls: all(any(c.label == k.label for c in calls) for k in kinds), "all called"):
        kit.fail(
            "every sync handler registered with TASK (" + ", ".join(k.kind for k in kinds) + ") is called",
            f"calls after {kit.bound:g} s: {rec.labels()}",
        )
    await kit.exactly(
        rec, len(kinds), None, f"each of the {len(kinds)} sync TASK handlers is called exactly once for the dispatch"
    )
    twice = [k.kind for k in kinds if rec.count(k.label) != 1]
    kit.check(not twice, "each sync TASK handler is called exactly once", f"not once: {twice}; calls {rec.labels()}")


@pytest.mark.rule("POL-MIX-2")
@pytest.mark.needs("threadpool")
async def test_async_handlers_under_threadpool_run_exactly_once(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    kinds = rec.every_kind("async-pool ", sync=False)  # each records only after a suspension: at its end
    for kind in kinds:
        kit.add(bus, Ping, kind.fn, policy="THREADPOOL")
    await dispatch(bus, Ping())
    if not await rec.until(lambda calls: all(any(c.label == k.label for c in calls) for k in kinds), "all ran"):
        kit.fail(
            "every async handler registered with THREADPOOL (" + ", ".join(k.kind for k in kinds) + ") runs to "
            "completion",
            f"completed after {kit.bound:g} s: {rec.labels()} (a coroutine created but never awaited?)",
        )
    await kit.exactly(
        rec,
        len(kinds),
        None,
        f"each of the {len(kinds)} async THREADPOOL handlers runs to completion exactly once for the dispatch",
    )
    twice = [k.kind for k in kinds if rec.count(k.label) != 1]
    kit.check(not twice, "each async THREADPOOL handler runs exactly once", f"not once: {twice}; calls {rec.labels()}")

"""SPEC.md §8, profile `extended`: priority, `once`, duplicates, `unsubscribe`, closing,
`publish_sync` and the named exception classes."""

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from conformance.adapter import ERROR_NAMES
from conformance.kit import Gate, Kit, Recorder, describe

# Annotations here must stay real objects (no `from __future__ import annotations`):
# containers resolve constructor parameters from them.

QUEUE_SIZE = 2
"""The `max_queue_size` of the bounded-queue tests."""


# -- local helpers (candidates for kit.py) --------------------------------------------


def _add(kit: Kit, bus: Any, event_type: Any, fn: Callable[..., Any], **options: Any) -> None:
    """`kit.add` with extended options (`priority`, `once`, `policy`); fails if they are refused."""
    try:
        kit.add(bus, event_type, fn, **options)
    except Exception as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items())
        kit.fail(f"subscribe(event_type, fn, {shown}) is accepted", f"it raised {describe(exc)}")


def _decorator(kit: Kit, event_type: Any, **options: Any) -> Callable[[Any], Any]:
    """`kit.on(event_type, **options)`; fails if the decorator refuses the options."""
    try:
        return kit.on(event_type, **options)
    except Exception as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items())
        kit.fail(f"@subscribe({event_type.__name__}, {shown}) is accepted", f"it raised {describe(exc)}")
        raise  # unreachable: fail raises


def _post(kit: Kit, bus: Any, event: Any) -> None:
    """`bus.post(event)` on the loop's thread while a worker runs; fails if it raises."""
    exc = kit.raised_now(lambda: bus.post(event))
    if exc is not None:
        kit.fail(
            f"post({event!r}) with the worker running and room in the queue is accepted", f"raised {describe(exc)}"
        )


async def _hold_worker(kit: Kit, bus: Any, rec: Recorder, release: Gate) -> Any:
    """Subscribe an async INLINE handler that holds the worker on `release` during event 0,
    start the worker, post event 0, and return once its handler has been entered.

    The handler awaits an asyncio gate, so the loop stays free while the worker is held.
    Returns the event class (a `numbered` one).
    """
    Numbered = kit.numbered_event()
    entered = kit.gate("the handler of event 0 entered")

    async def handler(event: Any) -> None:
        rec.record(f"n{event.n}", event)
        if event.n == 0:
            entered.open()
            await release.wait()

    kit.add(bus, Numbered, handler)
    await kit.within(bus.start_worker(), "start_worker returns")
    _post(kit, bus, Numbered(0))
    await kit.reached(entered, "the worker dispatches the first posted event")
    return Numbered


# -- §7: shutdown through the container ------------------------------------------------


# -- §8: priority, once, duplicates -------------------------------------------------------


@pytest.mark.rule("EXT-PRI-1")
async def test_higher_priority_runs_first_and_ties_keep_subscription_order(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    for label, priority in [("low", 0), ("high", 10), ("mid-a", 5), ("mid-b", 5), ("top", 20), ("mid-c", 5)]:
        _add(kit, bus, Ping, rec.sync_handler(label), priority=priority)
    await kit.within(bus.publish(Ping()), "publish returns")
    expected = ["top", "high", "mid-a", "mid-b", "mid-c", "low"]
    kit.check(
        rec.labels() == expected,
        f"INLINE handlers run by descending priority, ties in subscription order: {expected} "
        "(subscribed as low=0, high=10, mid-a=5, mid-b=5, top=20, mid-c=5)",
        f"they ran as {rec.labels()}",
    )


@pytest.mark.rule("EXT-PRI-1")
async def test_priority_orders_async_handlers_and_negative_priorities(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()

    async def pause(event: Any) -> None:
        await asyncio.sleep(0)  # a suspension point inside each handler; the order is the bus's

    subscriptions = [("minus-5", -5), ("zero-a", 0), ("plus-3", 3), ("minus-1", -1), ("zero-b", 0)]
    for label, priority in subscriptions:
        _add(kit, bus, Ping, rec.async_handler(label, pause), priority=priority)
    await kit.within(bus.publish(Ping()), "publish returns")
    expected = ["plus-3", "zero-a", "zero-b", "minus-1", "minus-5"]
    kit.check(
        rec.labels() == expected,
        f"async INLINE handlers run by descending priority, negatives last, ties in subscription order: {expected}",
        f"they ran as {rec.labels()}",
    )


@pytest.mark.rule("EXT-ONCE-1")
async def test_once_handler_runs_for_the_first_dispatch_only(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    _add(kit, bus, Ping, rec.sync_handler("once"), once=True)
    kit.add(bus, Ping, rec.sync_handler("every"))
    for i in range(3):
        await kit.within(bus.publish(Ping()), f"publish #{i + 1} returns")
    kit.check(
        rec.count("once") == 1 and rec.count("every") == 3,
        "over three publishes, the once=True handler runs once (the first) and the plain handler "
        "subscribed after it three times",
        f"the once handler ran {rec.count('once')} times, the plain handler {rec.count('every')} times; "
        f"calls in order: {rec.labels()}",
    )
    kit.check(
        rec.labels()[:1] == ["once"], "the once=True handler runs for the first dispatch", f"calls: {rec.labels()}"
    )


@pytest.mark.rule("EXT-ONCE-1")
async def test_once_handler_that_raised_is_not_called_again(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()

    def fails(event: Any) -> None:
        rec.record("once", event)
        raise RuntimeError("once-handler failure (raised on purpose by the test)")

    _add(kit, bus, Ping, fails, once=True)
    first = await kit.raised(lambda: bus.publish(Ping()), "first publish returns or raises")
    # Whether and how the exception reaches the publisher is ERR-1's business, not this rule's.
    second = await kit.raised(lambda: bus.publish(Ping()), "second publish returns or raises")
    kit.check(
        rec.count("once") == 1,
        "a once=True handler is not called again for a later dispatch, even when its one call raised",
        f"it was called {rec.count('once')} times over two publishes "
        f"(first publish: {describe(first) if first else 'returned'}; "
        f"second publish: {describe(second) if second else 'returned'})",
    )


@pytest.mark.rule("EXT-ONCE-1")
async def test_once_handler_is_skipped_by_a_dispatch_that_starts_while_it_runs(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    entered = kit.gate("the once handler entered for the first dispatch")
    release = kit.gate("the first dispatch's once handler may finish")

    async def once(event: Any) -> None:
        rec.record("once", event)
        if rec.count("once") == 1:
            entered.open()
            await release.wait()

    _add(kit, bus, Ping, once, once=True)
    first = asyncio.ensure_future(bus.publish(Ping()))
    try:
        await kit.reached(entered, "the first publish calls the once=True handler")
        second = await kit.raised(lambda: bus.publish(Ping()), "a second publish, started later, returns")
        kit.check(
            second is None and rec.count("once") == 1,
            "a dispatch started after the first one (while the first one's once=True handler still runs) "
            "does not call that handler again",
            f"the once handler was called {rec.count('once')} times"
            + (f"; the second publish raised {describe(second)}" if second else ""),
        )
    finally:
        release.open()
    await kit.within(first, "the first publish returns once its handler is released")
    kit.check(rec.count("once") == 1, "the once=True handler ran exactly once", f"calls: {rec.labels()}")


@pytest.mark.rule("EXT-DUP-1")
async def test_registering_the_same_handler_twice_calls_it_twice(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    sync = rec.sync_handler("sync")
    async_ = rec.async_handler("async")
    for fn in (sync, sync, async_, async_):
        kit.add(bus, Ping, fn)
    await kit.within(bus.publish(Ping()), "first publish returns")
    await kit.within(bus.publish(Ping()), "second publish returns")
    kit.check(
        rec.count("sync") == 4 and rec.count("async") == 4,
        "a sync and an async function, each registered twice for Ping, are each called twice per publish "
        "(4 times over two publishes)",
        f"sync was called {rec.count('sync')} times, async {rec.count('async')} times; calls: {rec.labels()}",
    )


@pytest.mark.rule("EXT-DUP-1")
async def test_registering_the_same_bound_method_twice_calls_it_twice(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()

    class Holder:
        def on_ping(self, event: Any) -> None:
            rec.record("method", event)

    holder = Holder()
    kit.add(bus, Ping, holder.on_ping)
    kit.add(bus, Ping, holder.on_ping)  # equal (==) to the first, another object
    await kit.within(bus.publish(Ping()), "publish returns")
    kit.check(
        rec.count("method") == 2,
        "a bound method registered twice (holder.on_ping, twice) is called twice per publish",
        f"it was called {rec.count('method')} times",
    )


# -- §8: unsubscribe -----------------------------------------------------------------------


@pytest.mark.rule("EXT-UNSUB-1")
async def test_unsubscribe_removes_the_handler(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    gone_sync = rec.sync_handler("gone-sync")
    gone_async = rec.async_handler("gone-async")
    kit.add(bus, Ping, gone_sync)
    _add(kit, bus, Ping, gone_async, priority=3)
    kit.add(bus, Ping, rec.sync_handler("stays"))
    await kit.within(bus.publish(Ping()), "first publish returns")
    for fn in (gone_sync, gone_async):
        exc = kit.raised_now(lambda fn=fn: bus.unsubscribe(Ping, fn))
        if exc is not None:
            kit.fail("unsubscribe(Ping, fn) of a registered handler returns", f"raised {describe(exc)}")
    await kit.within(bus.publish(Ping()), "second publish returns")
    kit.check(
        rec.count("gone-sync") == 1 and rec.count("gone-async") == 1 and rec.count("stays") == 2,
        "after unsubscribe(Ping, fn) the unsubscribed handlers (a sync one, and an async one registered with "
        "priority=3) are not called by the second publish; the other handler still is",
        f"calls over the two publishes: {rec.labels()}",
    )


@pytest.mark.rule("EXT-UNSUB-1")
async def test_unsubscribe_removes_a_bound_method(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()

    class Listener:
        def on_ping(self, event: Any) -> None:
            rec.record("method", event)

    listener = Listener()
    kit.add(bus, Ping, listener.on_ping)
    await kit.within(bus.publish(Ping()), "first publish returns")
    # `listener.on_ping` is evaluated again, as in `bus.unsubscribe(Ping, self.on_ping)`: a new
    # bound-method object, equal (==) to the registered one.
    exc = kit.raised_now(lambda: bus.unsubscribe(Ping, listener.on_ping))
    if exc is not None:
        kit.fail("unsubscribe(Ping, listener.on_ping) returns", f"raised {describe(exc)}")
    await kit.within(bus.publish(Ping()), "second publish returns")
    kit.check(
        rec.count("method") == 1,
        "after unsubscribe(Ping, listener.on_ping), the bound method registered as "
        "subscribe(Ping, listener.on_ping) is no longer called (bound methods of the same object "
        "and function compare equal, though each attribute access makes a new object)",
        f"it was called {rec.count('method')} times over two publishes, the second after unsubscribe",
    )


@pytest.mark.rule("EXT-UNSUB-2")
async def test_unsubscribe_of_a_type_nobody_subscribed_to_is_a_no_op(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    exc = kit.raised_now(lambda: bus.unsubscribe(Ping, rec.sync_handler("never")))
    kit.check(
        exc is None,
        "unsubscribe(Ping, fn) for a type nobody subscribed to returns normally",
        f"raised {describe(exc) if exc else ''}",
    )
    await kit.within(bus.publish(Ping()), "publish afterwards returns")
    kit.check(rec.count() == 0, "no handler is called", f"calls: {rec.labels()}")


@pytest.mark.rule("EXT-UNSUB-2")
async def test_unsubscribe_of_an_unknown_handler_keeps_the_others(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    Pong = kit.event_class("Pong")

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("ping"))
    pong_only = rec.sync_handler("pong")
    kit.add(bus, Pong, pong_only)
    removed = rec.sync_handler("removed")
    kit.add(bus, Ping, removed)
    exc = kit.raised_now(lambda: bus.unsubscribe(Ping, removed))
    if exc is not None:
        kit.fail("unsubscribe(Ping, fn) of a registered handler returns", f"raised {describe(exc)}")
    cases = [
        ("a function never registered", lambda: bus.unsubscribe(Ping, rec.sync_handler("stranger"))),
        ("a function registered for Pong only", lambda: bus.unsubscribe(Ping, pong_only)),
        ("a function already unsubscribed", lambda: bus.unsubscribe(Ping, removed)),
    ]
    for what, call in cases:
        exc = kit.raised_now(call)
        if exc is not None:
            kit.fail(f"unsubscribe(Ping, fn) of {what} returns normally (a no-op)", f"raised {describe(exc)}")
    await kit.within(bus.publish(Ping()), "publish Ping returns")
    await kit.within(bus.publish(Pong()), "publish Pong returns")
    kit.check(
        rec.labels() == ["ping", "pong"],
        "no-op unsubscribes leave the registered handlers alone: one call of the Ping handler, one of the Pong handler",
        f"calls: {rec.labels()}",
    )


# -- §8: the decorator's options -----------------------------------------------------------


@pytest.mark.rule("EXT-SUB-1")
async def test_decorator_priority_applies_to_auto_subscribed_methods(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    rec = kit.recorder()
    Mixin = kit.AutoSubscriberMixin
    low = _decorator(kit, Ping, priority=1)
    high = _decorator(kit, Ping, priority=10)

    class Listener(Mixin):
        # Defined (and alphabetically) low first: only the priorities can put `high` first.
        @low
        def a_low(self, event: Any) -> None:
            rec.record("method-priority-1", event)

        @high
        def z_high(self, event: Any) -> None:
            rec.record("method-priority-10", event)

    container = kit.container(Listener)
    container.get(Listener)
    bus = container.get(kit.EventBus)
    _add(kit, bus, Ping, rec.sync_handler("plain-priority-5"), priority=5)
    await kit.within(bus.publish(Ping()), "publish returns")
    expected = ["method-priority-10", "plain-priority-5", "method-priority-1"]
    kit.check(
        rec.labels() == expected,
        f"methods marked @subscribe(Ping, priority=10) and priority=1 run around a handler subscribed "
        f"with priority=5: {expected}",
        f"they ran as {rec.labels()}",
    )


@pytest.mark.rule("EXT-SUB-1")
async def test_decorator_once_applies_to_auto_subscribed_methods(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    rec = kit.recorder()
    Mixin = kit.AutoSubscriberMixin
    once = _decorator(kit, Ping, once=True)

    class Listener(Mixin):
        @once
        def first_only(self, event: Any) -> None:
            rec.record("once", event)

        @kit.on(Ping)
        def every(self, event: Any) -> None:
            rec.record("every", event)

    container = kit.container(Listener)
    container.get(Listener)
    bus = container.get(kit.EventBus)
    for i in range(3):
        await kit.within(bus.publish(Ping()), f"publish #{i + 1} returns")
    kit.check(
        rec.count("once") == 1 and rec.count("every") == 3,
        "over three publishes, the method marked @subscribe(Ping, once=True) runs once, "
        "the plain @subscribe(Ping) method of the same component three times",
        f"the once method ran {rec.count('once')} times, the plain one {rec.count('every')} times; "
        f"calls in order: {rec.labels()}",
    )


@pytest.mark.rule("EXT-SUB-1")
async def test_decorator_accepts_policy_priority_and_once_together(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    rec = kit.recorder()
    Mixin = kit.AutoSubscriberMixin
    options = _decorator(kit, Ping, policy="TASK", priority=5, once=True)

    class Listener(Mixin):
        @options
        async def on_ping(self, event: Any) -> None:
            rec.record("task-once", event)

    container = kit.container(Listener)
    container.get(Listener)
    bus = container.get(kit.EventBus)
    started: set[asyncio.Task[Any]] = set()
    for i in range(2):
        before = asyncio.all_tasks()
        await kit.within(bus.publish(Ping()), f"publish #{i + 1} returns")
        started |= asyncio.all_tasks() - before
        if i == 0 and not await rec.until_count(1, "task-once"):
            kit.fail(
                "the method marked @subscribe(Ping, policy=TASK, priority=5, once=True) runs for the first publish",
                f"it was not called within {kit.bound:g} s",
            )
    # TASK handlers run in tasks that publish creates: let them finish before counting the calls.
    running = [t for t in started if not t.done()]
    if running:
        await kit.within(asyncio.wait(running), "the tasks started by the two publishes finish")
    kit.check(
        rec.count("task-once") == 1,
        "the TASK method marked once=True runs for the first publish only",
        f"it ran {rec.count('task-once')} times over two publishes",
    )


# -- §8: aclose ------------------------------------------------------------------------------


@pytest.mark.rule("EXT-CLOSE-1")
async def test_aclose_drains_queued_events_then_closes(kit: Kit) -> None:
    bus = kit.new_bus()
    if getattr(bus, "aclose", None) is None:
        kit.fail("the bus has an async method aclose()", f"{type(bus).__name__} has no attribute aclose")
    rec = kit.recorder()
    release = kit.gate("the worker may go on")
    try:
        Numbered = await _hold_worker(kit, bus, rec, release)
        _post(kit, bus, Numbered(1))
        _post(kit, bus, Numbered(2))
        closing = asyncio.ensure_future(bus.aclose())
        release.open()
        await kit.within(closing, "aclose returns once the queued events are dispatched")
    finally:
        release.open()
    kit.check(
        rec.labels() == ["n0", "n1", "n2"],
        "aclose dispatches the events posted before it was called (0, then 1 and 2 queued behind it) before it returns",
        f"handler calls when aclose returned: {rec.labels()}",
    )
    delivered = rec.count()
    after = kit.recorder()
    # Subscribing on a closed bus may raise or be accepted (IMPL-11); either way nothing may run.
    kit.raised_now(lambda: kit.add(bus, Numbered, after.sync_handler("late")))
    exc = await kit.raised(lambda: bus.publish(Numbered(3)), "publish after aclose returns or raises")
    kit.expect_error(exc, "EventBusClosedError", "publish(event) after aclose() returned", after)
    exc = kit.raised_now(lambda: bus.post(Numbered(4)))
    kit.expect_error(exc, "EventBusClosedError", "post(event) after aclose() returned", after)
    kit.check(rec.count() == delivered, "no handler runs after aclose", f"handler calls: {rec.labels()}")


@pytest.mark.rule("EXT-CLOSE-1")
async def test_aclose_without_worker_closes(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    aclose = getattr(bus, "aclose", None)
    if aclose is None:
        kit.fail("the bus has an async method aclose()", f"{type(bus).__name__} has no attribute aclose")
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("sync"))
    kit.add(bus, Ping, rec.async_handler("async"))
    await kit.within(bus.aclose(), "aclose of a bus whose worker never started returns")
    exc = await kit.raised(lambda: bus.publish(Ping()), "publish after aclose returns or raises")
    kit.expect_error(
        exc, "EventBusClosedError", "publish(event) after aclose() returned (the worker never started)", rec
    )
    exc = await kit.raised_in_thread(lambda: bus.post(Ping()), "post from a producer thread returns or raises")
    kit.expect_error(exc, "EventBusClosedError", "post(event) from another thread after aclose() returned", rec)


# -- §8: publish_sync ------------------------------------------------------------------------


@pytest.mark.rule("EXT-SYNC-1")
async def test_publish_sync_without_a_loop_runs_sync_handlers_before_returning(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("sync"))
    event = Ping()
    seen: dict[str, Any] = {}

    def caller() -> None:  # a thread of its own: no event loop runs here
        seen["error"] = kit.raised_now(lambda: bus.publish_sync(event))
        seen["calls"] = rec.labels()

    await kit.join(kit.thread(caller, "publish_sync"), "publish_sync called where no loop runs returns")
    if seen["error"] is not None:
        kit.fail(
            "publish_sync(event) where no event loop runs delivers and returns", f"raised {describe(seen['error'])}"
        )
    kit.check(
        seen["calls"] == ["sync"],
        "when publish_sync returns (called where no loop runs), the sync INLINE handler has run once",
        f"handler calls at that moment: {seen['calls']}",
    )
    kit.check(rec.calls[0].event is event, "the handler receives the event object", f"it got {rec.calls[0].event!r}")


@pytest.mark.rule("EXT-SYNC-1")
async def test_publish_sync_without_a_loop_awaits_async_handlers_before_returning(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()

    async def handler(event: Any) -> None:
        rec.record("async-start", event)
        await asyncio.sleep(0)  # a suspension point: publish_sync must await past it
        rec.record("async-end", event)

    kit.add(bus, Ping, handler)
    seen: dict[str, Any] = {}

    def caller() -> None:
        seen["error"] = kit.raised_now(lambda: bus.publish_sync(Ping()))
        seen["calls"] = rec.labels()

    await kit.join(kit.thread(caller, "publish_sync"), "publish_sync called where no loop runs returns")
    if seen["error"] is not None:
        kit.fail(
            "publish_sync(event) where no event loop runs delivers and returns", f"raised {describe(seen['error'])}"
        )
    kit.check(
        seen["calls"] == ["async-start", "async-end"],
        "when publish_sync returns (called where no loop runs), the async INLINE handler has run to completion",
        f"handler calls at that moment: {seen['calls']}",
    )


@pytest.mark.rule("EXT-SYNC-2")
async def test_publish_sync_on_a_running_loop_schedules_the_publish(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.async_handler("async"))
    event = Ping()
    exc = kit.raised_now(lambda: bus.publish_sync(event))
    if exc is not None:
        kit.fail("publish_sync(event) on a running loop returns (it schedules the publish)", f"raised {describe(exc)}")
    kit.check(
        rec.count() == 0,
        "publish_sync on a running loop returns before the async handler has run",
        f"handler calls when it returned: {rec.labels()}",
    )
    if not await rec.until_count(1):
        kit.fail(
            "after publish_sync on a running loop, the event is delivered once the caller yields to the loop",
            f"the async handler was not called within {kit.bound:g} s",
        )
    await kit.settle()  # give a duplicate delivery the chance to show
    kit.check(
        rec.count() == 1 and rec.calls[0].event is event,
        "the scheduled publish delivers the event exactly once, to the handler, as the same object",
        f"calls: {[(c.label, c.event) for c in rec.calls]}",
    )


@pytest.mark.rule("EXT-SYNC-2")
async def test_publish_sync_from_a_sync_handler_schedules_the_publish(kit: Kit) -> None:
    Outer = kit.event_class("Outer")

    Inner = kit.event_class("Inner")

    bus = kit.new_bus()
    rec = kit.recorder()
    errors: list[Exception] = []

    def outer(event: Any) -> None:  # a `def` function on the running loop: publish_sync's use case
        rec.record("outer-start", event)
        exc = kit.raised_now(lambda: bus.publish_sync(Inner()))
        if exc is not None:
            errors.append(exc)
        rec.record("outer-end", event)

    kit.add(bus, Outer, outer)
    kit.add(bus, Inner, rec.async_handler("inner"))
    await kit.within(bus.publish(Outer()), "publish of the outer event returns")
    if errors:
        kit.fail(
            "publish_sync(event) called by a sync handler on the running loop returns",
            f"raised {describe(errors[0])}",
        )
    if not await rec.until_count(1, "inner"):
        kit.fail(
            "the event given to publish_sync inside a sync handler is delivered once the loop gets control",
            f"its async handler was not called within {kit.bound:g} s; calls: {rec.labels()}",
        )
    await kit.settle()
    labels = rec.labels()
    kit.check(
        labels.count("inner") == 1 and labels.index("outer-end") < labels.index("inner"),
        "publish_sync returns before the async handler runs (outer-end before inner), and the handler runs once",
        f"calls: {labels}",
    )


# -- §8: the exception classes -----------------------------------------------------------


@pytest.mark.rule("EXT-ERR-1")
async def test_exception_classes_exist(kit: Kit) -> None:
    found = {name: kit.impl.error(name) for name in ERROR_NAMES}
    missing = [name for name, cls in found.items() if cls is None]
    kit.check(
        not missing,
        f"the bus module (or its package) exports the exception classes {', '.join(ERROR_NAMES)}",
        f"missing (or not exception classes): {', '.join(missing)}",
    )
    not_exceptions = [name for name, cls in found.items() if cls is not None and not issubclass(cls, Exception)]
    kit.check(
        not not_exceptions,
        "each of them is an Exception subclass (so `except Exception` catches it)",
        f"only BaseException subclasses: {', '.join(not_exceptions)}",
    )


@pytest.mark.rule("EXT-ERR-2")
async def test_full_queue_raises_queue_full_error(kit: Kit) -> None:
    bus = kit.new_bus(max_queue_size=QUEUE_SIZE)
    rec = kit.recorder()
    release = kit.gate("the worker may go on")
    try:
        Numbered = await _hold_worker(kit, bus, rec, release)
        accepted: list[int] = []
        error: Exception | None = None
        for n in range(1, QUEUE_SIZE + 2):
            error = kit.raised_now(lambda n=n: bus.post(Numbered(n)))
            if error is not None:
                break
            accepted.append(n)
        if error is None:
            kit.fail(
                f"with max_queue_size={QUEUE_SIZE} and the worker held, one of {QUEUE_SIZE + 1} posts raises",
                f"all {QUEUE_SIZE + 1} posts returned normally",
            )
        full = kit.error_class("EventBusQueueFullError")
        kit.check(
            isinstance(error, full),
            "post on a full queue raises EventBusQueueFullError",
            f"post #{len(accepted) + 1} after the held one raised {describe(error)}" if error else "",
        )
    finally:
        release.open()
    if not await rec.until_count(1 + len(accepted)):
        kit.fail("every accepted event is delivered once the worker goes on", f"calls: {rec.labels()}")
    kit.check(
        rec.labels() == [f"n{n}" for n in [0, *accepted]],
        "the held event and every accepted event are delivered, in order",
        f"calls: {rec.labels()}",
    )


@pytest.mark.rule("EXT-ERR-2")
async def test_full_queue_raises_queue_full_error_in_a_producer_thread(kit: Kit) -> None:
    bus = kit.new_bus(max_queue_size=QUEUE_SIZE)
    rec = kit.recorder()
    release = kit.gate("the worker may go on")
    try:
        Numbered = await _hold_worker(kit, bus, rec, release)
        outcomes: list[Exception | None] = []

        def producer() -> None:
            for n in range(1, QUEUE_SIZE + 2):
                outcomes.append(kit.raised_now(lambda n=n: bus.post(Numbered(n))))
                if outcomes[-1] is not None:
                    return

        await kit.join(kit.thread(producer, "producer"), f"{QUEUE_SIZE + 1} posts from a producer thread return")
        error = outcomes[-1]
        if error is None:
            await kit.settle()  # let callbacks the posts may have scheduled run, so the log shows them
            kit.fail(
                f"with max_queue_size={QUEUE_SIZE} and the worker held, one of {QUEUE_SIZE + 1} posts "
                "from a producer thread raises, in that thread",
                f"all {QUEUE_SIZE + 1} posts returned normally in the producer thread (log: {kit.log_summary()})",
            )
        full = kit.error_class("EventBusQueueFullError")
        kit.check(
            isinstance(error, full),
            "post on a full queue from a producer thread raises EventBusQueueFullError in that thread",
            f"post #{len(outcomes)} after the held one raised {describe(error)}" if error else "",
        )
    finally:
        release.open()
    accepted = len(outcomes) - 1
    if not await rec.until_count(1 + accepted):
        kit.fail("every accepted event is delivered once the worker goes on", f"calls: {rec.labels()}")
    kit.check(
        rec.labels() == [f"n{n}" for n in range(accepted + 1)],
        "the held event and every accepted event are delivered, in order",
        f"calls: {rec.labels()}",
    )


@pytest.mark.rule("EXT-ERR-3")
async def test_post_without_worker_raises_event_bus_error_if_it_raises(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    exc = kit.raised_now(lambda: bus.post(Ping()))
    if exc is None:
        return  # buffering until a worker runs is allowed (IMPL-4); POST-5 checks the delivery
    base = kit.error_class("EventBusError")
    kit.check(
        isinstance(exc, base),
        "post without a worker, when it raises, raises an EventBusError (or a subclass)",
        f"it raised {describe(exc)}",
    )


@pytest.mark.rule("EXT-ERR-3")
async def test_post_after_stop_worker_raises_event_bus_error_if_it_raises(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    await kit.within(bus.start_worker(), "start_worker returns")
    await kit.within(bus.stop_worker(), "stop_worker returns")
    exc = await kit.raised_in_thread(lambda: bus.post(Ping()), "post from a producer thread returns or raises")
    if exc is None:
        return  # buffering until a worker runs again is allowed (IMPL-4); POST-6 checks the delivery
    base = kit.error_class("EventBusError")
    kit.check(
        isinstance(exc, base),
        "post after stop_worker (no worker running), when it raises, raises an EventBusError (or a subclass)",
        f"it raised {describe(exc)}",
    )

"""SPEC.md §8, profile `extended`: priority, `once`, duplicates, `unsubscribe`, closing,
`publish_sync` and the named exception classes.

The dispatch rules (priority, `once`, duplicates, `unsubscribe`) run once per path
(`[publish]`, `[worker]`: the `dispatch` fixture), with equal events and handlers of
several kinds. "Waits for" (EXT-CLOSE-1, EXT-SYNC-1, EXT-SYNC-3) is probed with
handlers that really take time (`kit.patience` in all).
"""

import asyncio
import contextlib
import functools
import gc
import inspect
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conformance.adapter import ERROR_NAMES, PolicyName
from conformance.kit import Call, Dispatch, Gate, Kit, Recorder, describe

# Annotations here must stay real objects (no `from __future__ import annotations`):
# containers resolve constructor parameters from them.

QUEUE_SIZE = 2
"""The `max_queue_size` of the bounded-queue tests."""
QUEUED = 10
"""Events queued before `aclose` in the drain test; the first one's handler takes `kit.patience`."""


# -- helpers ------------------------------------------------------------------------------


def _shown(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


def _add(kit: Kit, bus: Any, event_type: Any, fn: Callable[..., Any], **options: Any) -> None:
    """`kit.add` with extended options (`priority`, `once`, `policy`); fails if they are refused."""
    kit.accepted(
        lambda: kit.add(bus, event_type, fn, **options),
        f"subscribe({event_type.__name__}, fn, {_shown(options)})",
    )


def _decorator(kit: Kit, event_type: Any, **options: Any) -> Callable[[Any], Any]:
    """`kit.on(event_type, **options)`; fails if the decorator refuses the options."""
    return kit.accepted(lambda: kit.on(event_type, **options), f"@subscribe({event_type.__name__}, {_shown(options)})")


def _post(kit: Kit, bus: Any, event: Any) -> None:
    """`bus.post(event)` on the loop's thread while a worker runs; fails if it raises."""
    kit.accepted(lambda: bus.post(event), f"post({event!r}) with the worker running and room in the queue")


def _unsubscribe(kit: Kit, bus: Any, event_type: Any, fn: Callable[..., Any], what: str) -> None:
    """`bus.unsubscribe(event_type, fn)` of a registered handler; fails if it raises."""
    kit.accepted(lambda: bus.unsubscribe(event_type, fn), f"unsubscribe({event_type.__name__}, {what})")


def _counts(rec: Recorder, n: int) -> dict[str, int]:
    """How often each label was called for events whose field `n` is `n`."""
    counts: dict[str, int] = {}
    for call in rec.calls:
        if call.event.n == n:
            counts[call.label] = counts.get(call.label, 0) + 1
    return counts


def _option_sets(kit: Kit) -> list[dict[str, Any]]:
    """Registration options to cycle through: none, priority, once, both (those the implementation declares)."""
    wanted: list[dict[str, Any]] = [{}, {"priority": 5}, {"once": True}, {"priority": -2, "once": True}]
    found: list[dict[str, Any]] = []
    for options in wanted:
        kept = kit.where_supported(**options)
        if kept not in found:
            found.append(kept)
    return found


def _fresh(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` again, as a user writes it at the unsubscribe: a bound method is bound anew (`obj.method`)."""
    if inspect.ismethod(fn):
        rebound: Callable[..., Any] = getattr(fn.__self__, fn.__func__.__name__)
        return rebound
    return fn


async def _delivers_every_policy_and_kind(
    kit: Kit, bus: Any, dispatch: Dispatch | None = None, policies: tuple[PolicyName, ...] | None = None
) -> None:
    """Positive control: the bus delivers a handler of every policy and kind at all (else PUB-1 fails).

    Through `dispatch`'s path, or `publish` without one; over `policies`, or every policy the bus declares.
    """
    Probe = kit.numbered_event("Probe", frozen=False)
    rec = kit.recorder()
    probes: dict[str, str] = {}
    for policy in policies or kit.policies():
        for kind in rec.every_kind(f"probe {policy} "):
            kit.add(bus, Probe, kind.fn, policy=policy)
            probes[kind.label] = f"{policy} {kind.kind}"
    if dispatch is None:
        await kit.within(bus.publish(Probe(n=0)), "publish returns")
    else:
        await dispatch(bus, Probe(n=0))
    if not await rec.until(lambda calls: {c.label for c in calls} >= set(probes), "every probe handler ran"):
        kit.fail(
            "before the test proper, a handler of every policy and kind is delivered an event (PUB-1)",
            "never called: " + ", ".join(what for label, what in probes.items() if rec.count(label) == 0),
            rule="PUB-1",
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
    _post(kit, bus, Numbered(n=0))
    await kit.reached(entered, "the worker dispatches the first posted event")
    return Numbered


async def _pause(event: Any) -> None:
    await asyncio.sleep(0)  # a suspension point inside a handler; the order stays the bus's


# -- §8: priority ---------------------------------------------------------------------------


@pytest.mark.rule("EXT-PRI-1")
@pytest.mark.needs("priority")
async def test_higher_priority_runs_first_and_ties_keep_subscription_order(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.numbered_event("Ping", frozen=False)  # equal by value, unhashable

    bus = kit.new_bus()
    rec = kit.recorder()
    subscriptions = [
        ("low", 0, False),
        ("high", 10, True),
        ("mid-a", 5, False),
        ("mid-b", 5, True),
        ("top", 20, False),
        ("mid-c", 5, False),
        ("minus-3", -3, True),
        ("zero", 0, True),
    ]
    for label, priority, is_async in subscriptions:
        fn = rec.async_handler(label, _pause) if is_async else rec.sync_handler(label)
        _add(kit, bus, Ping, fn, priority=priority)
    await dispatch(bus, Ping(n=1), Ping(n=1))
    once = ["top", "high", "mid-a", "mid-b", "mid-c", "low", "zero", "minus-3"]
    kit.check(
        rec.labels() == once + once,
        f"for each of two equal events, the INLINE handlers run by descending priority, ties in subscription "
        f"order: {once} (subscribed as {', '.join(f'{label}={p}' for label, p, _ in subscriptions)}; sync and "
        "async mixed)",
        f"they ran as {rec.labels()}",
    )


PRIORITIES = (3, 1000, -1, 3, 0, -1000, 42, 0, -1, 7, 3, 1000, -42, 0)
"""Priorities dealt to handlers in turn: large and negative values, and ties at several levels."""


@pytest.mark.rule("EXT-PRI-1", "PUB-1")
@pytest.mark.needs("priority")
async def test_priority_orders_every_kind_of_handler(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.numbered_event("Ping", frozen=False)

    bus = kit.new_bus()
    await _delivers_every_policy_and_kind(kit, bus, dispatch)
    rec = kit.recorder()
    kinds = rec.every_kind()
    dealt = [(kind, PRIORITIES[i % len(PRIORITIES)]) for i, kind in enumerate(kinds)]
    for kind, priority in dealt:
        _add(kit, bus, Ping, kind.fn, priority=priority)
    await dispatch(bus, Ping(n=1), Ping(n=1))
    order = [kind.label for kind, _ in sorted(dealt, key=lambda d: -d[1])]  # sorted() is stable: ties keep order
    kit.check(
        rec.labels() == order + order,
        "for each of two equal events, INLINE handlers of every kind run by descending priority, ties in "
        f"subscription order: {order} (subscribed as {', '.join(f'{k.kind}={p}' for k, p in dealt)})",
        f"they ran as {rec.labels()}",
    )


# -- §8: once ---------------------------------------------------------------------------------


@pytest.mark.rule("EXT-ONCE-1")
@pytest.mark.needs("once")
async def test_once_handler_runs_for_the_first_dispatch_only(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.numbered_event("Ping", frozen=False)

    bus = kit.new_bus()
    rec = kit.recorder()
    _add(kit, bus, Ping, rec.sync_handler("once-sync"), once=True)
    _add(kit, bus, Ping, rec.async_handler("once-async", _pause), once=True)
    kit.add(bus, Ping, rec.sync_handler("every"))
    events = [Ping(n=1), Ping(n=1), Ping(n=1)]  # equal events: the second is no "repeat" of the first
    await dispatch(bus, *events)
    kit.check(
        rec.count("once-sync") == 1 and rec.count("once-async") == 1 and rec.count("every") == 3,
        "over three dispatches of equal events, each of two once=True handlers (a sync and an async one) runs "
        "once, and the plain handler subscribed after them three times",
        f"once-sync ran {rec.count('once-sync')} times, once-async {rec.count('once-async')} times, the plain "
        f"handler {rec.count('every')} times; calls in order: {rec.labels()}",
    )
    firsts = [c for c in rec.calls if c.label.startswith("once")]
    kit.check(
        all(c.event is events[0] for c in firsts),
        "the once=True handlers run for the first dispatch",
        f"they received event #{[next(i for i, e in enumerate(events) if e is c.event) + 1 for c in firsts]}",
    )


@pytest.mark.rule("EXT-ONCE-1", "PUB-1")
@pytest.mark.needs("once")
async def test_once_holds_for_every_policy_and_kind(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.numbered_event("Ping", frozen=False)

    bus = kit.new_bus()
    await _delivers_every_policy_and_kind(kit, bus, dispatch)
    rec = kit.recorder()
    where: dict[str, str] = {}
    for policy in kit.policies():
        for kind in rec.every_kind(f"{policy} "):
            _add(kit, bus, Ping, kind.fn, policy=policy, once=True)
            where[kind.label] = f"{policy} {kind.kind}"
    events = [Ping(n=1), Ping(n=1), Ping(n=1)]  # equal events: the second is no "repeat" of the first
    await dispatch(bus, *events)
    if not await rec.until(lambda calls: {c.label for c in calls} >= set(where), "every once handler ran"):
        kit.fail(
            "each once=True handler (every policy and handler kind) runs for the first dispatch",
            "never called: " + ", ".join(w for label, w in where.items() if rec.count(label) == 0),
        )
    await kit.settle()
    again = {w: rec.count(label) for label, w in where.items() if rec.count(label) > 1}
    kit.check(
        not again,
        "over three dispatches of equal events, each once=True handler (every policy and handler kind) runs once",
        f"called more than once: {again}",
    )
    late = [where[c.label] for c in rec.calls if c.event is not events[0]]
    kit.check(not late, "the once=True handlers run for the first dispatch", f"run for a later one: {late}")
    await kit.exactly_each(rec, dict.fromkeys(where, 1), "each once=True handler runs exactly once")


@pytest.mark.rule("EXT-ONCE-1")
@pytest.mark.needs("once")
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


@pytest.mark.rule("EXT-ONCE-2")
@pytest.mark.needs("once")
async def test_once_handler_that_raised_is_not_called_again_under_every_policy(kit: Kit, dispatch: Dispatch) -> None:
    # Domain: both paths x every policy the bus declares x sync and async once=True handlers that raise.
    kit.exercise(failure_kind="Exception")
    Ping = kit.numbered_event("Ping", frozen=False)

    bus = kit.new_bus()
    rec = kit.recorder()
    # A plain handler first (a failing INLINE handler may end its dispatch, IMPL-2): it runs every time.
    kit.add(bus, Ping, rec.sync_handler("every"))
    where: dict[str, str] = {}
    # INLINE last, for the same reason: the background ones are started in every dispatch.
    for policy in sorted(kit.policies(), key=lambda p: p == "INLINE"):
        for is_async in (False, True):
            label = f"{policy} {'async' if is_async else 'sync'}"

            def fails(event: Any, label: str = label) -> None:
                rec.record(label, event)
                raise RuntimeError(f"{label} once-handler failure (raised on purpose by the test)")

            async def fails_async(event: Any, label: str = label) -> None:
                await asyncio.sleep(0)
                fails(event, label)

            _add(kit, bus, Ping, fails_async if is_async else fails, policy=policy, once=True)
            where[label] = f"a {label} once=True handler that raises"
    background = {label for label in where if not label.startswith("INLINE")}
    await dispatch.begin(bus)
    for _ in range(3):
        await dispatch.attempt(bus, Ping(n=1))  # how the failure reaches anyone is ERR-1's and ERR-3's business
        # Let the background ones fail before the next dispatch: a bus may re-arm a once handler only then.
        # (Not the INLINE ones: after a failure a bus may skip the rest, IMPL-2; they get their turn later.)
        await rec.until(lambda calls: {c.label for c in calls} >= background, "the background once handlers ran")
    await dispatch.end(bus)
    if not await rec.until(lambda calls: {c.label for c in calls} >= set(where), "every once handler ran"):
        kit.fail(
            "each once=True handler that raises (sync and async, every policy) is called for the first dispatch",
            "never called: " + ", ".join(w for label, w in where.items() if rec.count(label) == 0),
        )
    await kit.exactly_each(
        rec,
        {**dict.fromkeys(where, 1), "every": 3},
        "over three dispatches of equal events, each once=True handler that raises (sync and async, every policy) "
        "is called once, not again after its call raised; the plain handler subscribed before them three times",
    )


# -- §8: duplicates -------------------------------------------------------------------------


@pytest.mark.rule("EXT-DUP-1")
async def test_registering_the_same_handler_twice_calls_it_twice(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.numbered_event("Ping", frozen=False)

    bus = kit.new_bus()
    rec = kit.recorder()
    sync_a, sync_b = rec.sync_handler("sync-a"), rec.sync_handler("sync-b")
    async_ = rec.async_handler("async", _pause)
    for fn in (sync_a, sync_b, async_, sync_a, async_, sync_b):
        kit.add(bus, Ping, fn)
    await dispatch(bus, Ping(n=1), Ping(n=1))
    got = {label: rec.count(label) for label in ("sync-a", "sync-b", "async")}
    kit.check(
        got == {"sync-a": 4, "sync-b": 4, "async": 4},
        "two sync functions and an async one, each registered twice for Ping, are each called twice per "
        "dispatch: 4 times over two dispatches of equal events",
        f"calls per handler: {got}; calls in order: {rec.labels()}",
    )


@pytest.mark.rule("EXT-DUP-1")
async def test_registering_the_same_bound_method_twice_calls_it_twice(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.numbered_event("Ping", frozen=False)

    bus = kit.new_bus()
    rec = kit.recorder()

    class Holder:
        def on_ping(self, event: Any) -> None:
            rec.record("method", event)

        async def on_ping_async(self, event: Any) -> None:
            await asyncio.sleep(0)
            rec.record("async method", event)

    holder = Holder()
    for _ in range(2):
        kit.add(bus, Ping, holder.on_ping)  # a new bound-method object each time, equal (==) to the other
        kit.add(bus, Ping, holder.on_ping_async)
    await dispatch(bus, Ping(n=1), Ping(n=1))
    got = {label: rec.count(label) for label in ("method", "async method")}
    kit.check(
        got == {"method": 4, "async method": 4},
        "a sync and an async bound method, each registered twice (holder.on_ping, twice), are each called twice "
        "per dispatch: 4 times over two dispatches of equal events",
        f"calls per handler: {got}",
    )


@pytest.mark.rule("EXT-DUP-1", "PUB-1")
async def test_every_policy_and_kind_registered_twice_runs_twice(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.numbered_event("Ping", frozen=False)

    bus = kit.new_bus()
    await _delivers_every_policy_and_kind(kit, bus, dispatch)
    rec = kit.recorder()
    where: dict[str, str] = {}
    for policy in kit.policies():
        for kind in rec.every_kind(f"{policy} "):
            for _ in range(2):
                kit.add(bus, Ping, _fresh(kind.fn), policy=policy)  # a bound method: a new binding each time
            where[kind.label] = f"{policy} {kind.kind}"
    await dispatch(bus, Ping(n=1), Ping(n=1))

    def all_four(calls: list[Call]) -> bool:  # judged on the snapshot: rec.count would take the recorder's lock
        return all(sum(1 for c in calls if c.label == label) >= 4 for label in where)

    if not await rec.until(all_four, "every handler ran 4 times"):
        kit.fail(
            "each handler registered twice for Ping (every policy and handler kind) is called twice per dispatch: "
            "4 times over two dispatches of equal events",
            "called fewer times: "
            + ", ".join(f"{w}: {rec.count(label)}" for label, w in where.items() if rec.count(label) < 4),
        )
    await kit.exactly_each(
        rec,
        dict.fromkeys(where, 4),
        "each handler registered twice (every policy and handler kind) is called exactly twice per dispatch",
    )


# -- §8: unsubscribe -----------------------------------------------------------------------


@pytest.mark.rule("EXT-UNSUB-1", "PUB-1")
@pytest.mark.needs("unsubscribe")
async def test_unsubscribe_removes_every_registration_of_the_handler(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.numbered_event("Ping", frozen=False)
    Pong = kit.numbered_event("Pong", frozen=False)

    bus = kit.new_bus()
    await _delivers_every_policy_and_kind(kit, bus, dispatch)
    rec = kit.recorder()
    option_sets = _option_sets(kit)
    # Over every policy and handler kind: fn registered twice for Ping (a duplicate, with other options:
    # priority, once) and once for Pong. Another handler of the same policy and kind stays for Ping.
    gone: dict[str, tuple[str, str, Callable[..., Any]]] = {}  # label -> (policy and kind, options, handler)
    stays: dict[str, str] = {}
    for policy in kit.policies():
        for kind in rec.every_kind(f"gone {policy} "):
            first, second = option_sets[len(gone) % len(option_sets)], option_sets[(len(gone) + 1) % len(option_sets)]
            _add(kit, bus, Ping, kind.fn, policy=policy, **first)
            _add(kit, bus, Ping, kind.fn, policy=policy, **second)
            kit.add(bus, Pong, kind.fn, policy=policy)
            options = f"{_shown(first) or 'no options'}, then {_shown(second) or 'no options'}"
            gone[kind.label] = (f"{policy} {kind.kind}", options, kind.fn)
        for kind in rec.every_kind(f"stays {policy} "):
            kit.add(bus, Ping, kind.fn, policy=policy)
            stays[kind.label] = f"{policy} {kind.kind}"
    for what, options, fn in gone.values():
        _unsubscribe(kit, bus, Ping, _fresh(fn), f"fn: a {what} registered twice ({options})")
    await dispatch(bus, Ping(n=1), Pong(n=1))
    expected = {**dict.fromkeys(stays, 1), **dict.fromkeys(gone, 1)}  # gone ones: their Pong registration

    def arrived(calls: list[Call]) -> bool:
        return {c.label for c in calls} >= set(expected)

    def missing(rec: Recorder) -> list[str]:
        return [label for label in expected if rec.count(label) == 0]

    if not await rec.until(arrived, "every handler that stays was called"):
        kit.fail(
            "after unsubscribe(Ping, fn), the other Ping handlers (one of each policy and kind) and fn's "
            "registration for Pong are still called",
            "never called: "
            + ", ".join(stays.get(label) or f"{gone[label][0]}, registered for Pong" for label in missing(rec)),
        )
    await kit.settle()
    still: dict[str, int] = {}
    for call in rec.calls:
        if call.label in gone and isinstance(call.event, Ping):
            still[call.label] = still.get(call.label, 0) + 1
    kit.check(
        not still,
        "after unsubscribe(Ping, fn), no registration of fn for Ping is called: every policy and handler kind, "
        "both registrations of a duplicate, whatever their priority or once option, unsubscribed with a fresh "
        "binding for bound methods",
        "still called for Ping: "
        + "; ".join(f"{gone[label][0]} ({gone[label][1]}): {n} calls" for label, n in still.items()),
    )
    await kit.exactly_each(
        rec,
        expected,
        "each handler that stays, and fn's registration for Pong, is called exactly once per dispatch",
    )


@pytest.mark.rule("EXT-UNSUB-1", "EXT-DUP-1")
@pytest.mark.needs("unsubscribe")
async def test_unsubscribe_removes_the_handler(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.numbered_event("Ping", frozen=False)
    Pong = kit.numbered_event("Pong", frozen=False)

    bus = kit.new_bus()
    rec = kit.recorder()
    gone_sync = rec.sync_handler("gone-sync")
    gone_async = rec.async_handler("gone-async", _pause)
    kit.add(bus, Ping, gone_sync)
    _add(kit, bus, Ping, gone_async, **kit.where_supported(priority=3))
    kit.add(bus, Ping, rec.sync_handler("stays"))
    kit.add(bus, Ping, gone_sync)  # a duplicate registration [EXT-DUP-1]
    kit.add(bus, Ping, gone_async)  # another one, with another priority
    kit.add(bus, Pong, gone_sync)  # the same function for another type
    await dispatch(bus, Ping(n=1), Pong(n=1))
    before = _counts(rec, 1)
    if before != {"gone-sync": 3, "gone-async": 2, "stays": 1}:
        kit.fail(
            "before unsubscribe, every registration is called (gone-sync twice for Ping and once for Pong, "
            "gone-async twice, stays once)",
            f"calls per handler: {before}",
            rule="EXT-DUP-1",
        )
    _unsubscribe(kit, bus, Ping, gone_sync, "a sync function registered twice")
    _unsubscribe(kit, bus, Ping, gone_async, "an async function registered twice")
    await dispatch(bus, Ping(n=2), Pong(n=2))
    after = _counts(rec, 2)
    kit.check(
        after == {"gone-sync": 1, "stays": 1},
        "after unsubscribe(Ping, fn), no registration of fn for Ping is called (a sync and an async function, "
        "each registered twice); the other Ping handler still is, and so is fn's registration for Pong "
        "(expected: gone-sync once, for Pong; stays once)",
        f"calls per handler for the second Ping and Pong: {after}",
    )


@pytest.mark.rule("EXT-UNSUB-1", "EXT-DUP-1")
@pytest.mark.needs("unsubscribe")
async def test_unsubscribe_removes_a_bound_method(kit: Kit, dispatch: Dispatch) -> None:
    Ping = kit.numbered_event("Ping", frozen=False)

    bus = kit.new_bus()
    rec = kit.recorder()

    class Listener:
        def __init__(self, name: str) -> None:
            self.name = name

        def on_ping(self, event: Any) -> None:
            rec.record(f"{self.name}.on_ping", event)

        async def on_ping_async(self, event: Any) -> None:
            await asyncio.sleep(0)
            rec.record(f"{self.name}.on_ping_async", event)

        def on_other(self, event: Any) -> None:
            rec.record(f"{self.name}.on_other", event)

    listener, other = Listener("listener"), Listener("other")
    for _ in range(2):
        kit.add(bus, Ping, listener.on_ping)  # twice, through two bindings
    kit.add(bus, Ping, listener.on_ping_async)
    kit.add(bus, Ping, listener.on_other)
    kit.add(bus, Ping, other.on_ping)  # the same function bound to another object: not equal
    await dispatch(bus, Ping(n=1))
    if _counts(rec, 1).get("listener.on_ping") != 2:
        kit.fail(
            "before unsubscribe, listener.on_ping, registered twice, is called twice",
            f"calls per handler: {_counts(rec, 1)}",
            rule="EXT-DUP-1",
        )
    # `listener.on_ping` is evaluated again, as in `bus.unsubscribe(Ping, self.on_ping)`: a new
    # bound-method object, equal (==) to the registered ones.
    _unsubscribe(kit, bus, Ping, listener.on_ping, "listener.on_ping (a fresh binding)")
    _unsubscribe(kit, bus, Ping, listener.on_ping_async, "listener.on_ping_async (a fresh binding)")
    await dispatch(bus, Ping(n=2))
    before, after = _counts(rec, 1), _counts(rec, 2)
    kit.check(
        after == {"listener.on_other": 1, "other.on_ping": 1},
        "after unsubscribe(Ping, listener.on_ping) and unsubscribe(Ping, listener.on_ping_async), with fresh "
        "bindings, neither method of listener is called any more (on_ping was registered twice); "
        "listener.on_other and other.on_ping (the same function bound to another object) still are",
        f"calls per handler before unsubscribe: {before}; after: {after}",
    )


@pytest.mark.rule("EXT-UNSUB-2")
@pytest.mark.needs("unsubscribe")
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
@pytest.mark.needs("unsubscribe")
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
    _unsubscribe(kit, bus, Ping, removed, "a registered handler")
    # Domain: a handler of every kind never registered, one registered for another type, one already removed.
    strangers = rec.every_kind("stranger ")
    kit.exercise(handler_kind=[k.kind for k in strangers])
    cases: list[tuple[str, Callable[[], Any]]] = [
        (f"a {k.kind} never registered", lambda k=k: bus.unsubscribe(Ping, k.fn)) for k in strangers
    ]
    cases += [
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
@pytest.mark.needs("container", "priority")
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
    bus = kit.bus_of(container)
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
@pytest.mark.needs("container", "once")
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
    bus = kit.bus_of(container)
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
@pytest.mark.needs("container", "once", "priority", "task")
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
    bus = kit.bus_of(container)
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
@pytest.mark.needs("aclose", "error_classes", "worker")
async def test_aclose_drains_queued_events_then_closes(kit: Kit) -> None:
    kit.slow_handlers()  # its handlers take kit.patience: every wait allows that much more
    Numbered = kit.numbered_event()

    bus = kit.new_bus()
    kit.require("aclose")
    rec = kit.recorder()
    # The first queued event's handler alone takes kit.patience over ten suspensions: a drain cut short
    # by a hidden timeout anywhere from ~10 ms to that, on the whole drain or on one event, misses events.
    slow = rec.slow_async_handler("drained", kit.patience)
    quick = rec.async_handler("drained", _pause)

    async def handler(event: Any) -> None:
        await (slow if event.n == 0 else quick)(event)

    kit.add(bus, Numbered, handler)
    await kit.within(bus.start_worker(), "start_worker returns")
    for n in range(QUEUED):
        _post(kit, bus, Numbered(n=n))
    await kit.within(bus.aclose(), f"aclose returns once the {QUEUED} queued events are dispatched")
    delivered = [c.event.n for c in rec.calls]
    kit.check(
        delivered == list(range(QUEUED)),
        f"aclose dispatches the {QUEUED} events posted before it was called, in order, before it returns, "
        f"although the handler of the first one takes {kit.patience * 1000:.0f} ms",
        f"events delivered when aclose returned: {delivered}",
    )
    after = kit.recorder()
    # Subscribing on a closed bus may raise or be accepted (IMPL-11); either way nothing may run.
    kit.raised_now(lambda: kit.add(bus, Numbered, after.sync_handler("late")))
    exc = await kit.raised(lambda: bus.publish(Numbered(n=QUEUED)), "publish after aclose returns or raises")
    kit.expect_error(exc, "EventBusClosedError", "publish(event) after aclose() returned", after)
    exc = kit.raised_now(lambda: bus.post(Numbered(n=QUEUED + 1)))
    kit.expect_error(exc, "EventBusClosedError", "post(event) after aclose() returned", after)
    kit.check(rec.count() == QUEUED, "no handler runs after aclose", f"handler calls: {rec.count()}")


@pytest.mark.rule("EXT-CLOSE-1")
@pytest.mark.needs("aclose", "error_classes", "threadsafe_post", "worker")
async def test_aclose_without_worker_closes(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    kit.require("aclose")
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("sync"))
    kit.add(bus, Ping, rec.async_handler("async"))
    # Positive control: the same publish before aclose delivers.
    await kit.within(bus.publish(Ping()), "publish before aclose returns")
    kit.check(sorted(rec.labels()) == ["async", "sync"], "publish before aclose delivers", f"calls: {rec.labels()}")
    closed = kit.recorder()
    kit.add(bus, Ping, closed.sync_handler("after"))
    await kit.within(bus.aclose(), "aclose of a bus whose worker never started returns")
    exc = await kit.raised(lambda: bus.publish(Ping()), "publish after aclose returns or raises")
    kit.expect_error(exc, "EventBusClosedError", "publish(event) after aclose() returned (the worker never started)")
    exc = await kit.raised_in_thread(lambda: bus.post(Ping()), "post from a producer thread returns or raises")
    kit.expect_error(exc, "EventBusClosedError", "post(event) from another thread after aclose() returned")
    kit.check(rec.count() == 2 and closed.count() == 0, "no handler runs after aclose", f"calls: {rec.labels()}")


@pytest.mark.rule("EXT-CLOSE-2")
@pytest.mark.needs("aclose", "error_classes", "worker")
async def test_start_worker_after_aclose_raises_closed_error(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    for history in ("whose worker ran and was stopped", "whose worker never started"):
        bus = kit.new_bus()
        rec = kit.recorder()
        kit.add(bus, Ping, rec.sync_handler("ping"))
        if history.startswith("whose worker ran"):
            # Positive control: start_worker works on this bus before aclose.
            exc = await kit.raised(bus.start_worker, "start_worker before aclose returns")
            if exc is not None:
                kit.fail("start_worker() before aclose() starts the worker", f"it raised {describe(exc)}")
            _post(kit, bus, Ping())
            await kit.within(bus.stop_worker(), "stop_worker returns")
            kit.check(rec.count() == 1, "the worker started before aclose delivers", f"calls: {rec.labels()}")
        await kit.within(bus.aclose(), "aclose returns")
        before = asyncio.all_tasks()
        exc = await kit.raised(bus.start_worker, "start_worker after aclose returns or raises")
        kit.expect_error(exc, "EventBusClosedError", f"start_worker() after aclose() of a bus {history}")
        for _ in range(5):
            await asyncio.sleep(0)
        started = [t for t in asyncio.all_tasks() - before if not t.done()]
        kit.check(
            not started,
            f"start_worker() after aclose() of a bus {history} starts nothing",
            f"tasks still running that it started: {started}",
        )


@pytest.mark.rule("EXT-CLOSE-3")
@pytest.mark.needs("aclose")
async def test_aclose_lets_go_of_the_subscribed_handlers(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    # Domain: every handler kind x every policy the bus declares, registration options cycling; each handler
    # has run once (what a bus learns of a handler by calling it, it must let go of too).
    bus = kit.new_bus()
    rec = kit.recorder(keeps_tasks=False)
    refs = _subscribe_unreferenced(kit, bus, Ping, rec)
    gc.collect()
    kit.check(
        all(ref() is not None for _, ref in refs),
        "before aclose, the bus keeps its handlers alive (positive control)",
        "some were collected while subscribed: " + ", ".join(what for what, ref in refs if ref() is None),
    )
    with _warnings_without_sources():
        await kit.within(bus.publish(Ping()), "publish returns")
        # Each handler the bus calls has run; one it never calls is PUB-1's finding, and is let go all the same.
        await rec.until_count(len(refs) * len(kit.policies()))
        await kit.settle()
        await kit.within(bus.aclose(), "aclose returns")
    gc.collect()
    alive = [what for what, ref in refs if ref() is not None]
    kit.check(
        not alive,
        "after aclose (clearing all subscribers), handlers that nothing but the bus referenced can be "
        "garbage-collected",
        f"still alive after gc.collect(): {', '.join(alive)} (the closed bus still references them)",
    )


def _subscribe_unreferenced(kit: Kit, bus: Any, event_type: Any, rec: Recorder) -> list[tuple[str, Any]]:
    """Subscribe a handler of every kind, under every policy, that only the bus references; weak references.

    For a bound method the reference is to its object (the method is made afresh at each attribute access).
    """
    kinds = rec.every_kind()
    # Each one under every policy, with the options cycling (none, priority, once, both): a bus that keeps
    # background or once registrations in lists of their own must clear those too.
    option_sets = _option_sets(kit)
    for i, kind in enumerate(kinds):
        for j, policy in enumerate(kit.policies()):
            _add(kit, bus, event_type, kind.fn, policy=policy, **option_sets[(i + j) % len(option_sets)])
    return [
        (f"the object of the {k.kind}" if inspect.ismethod(k.fn) else f"the {k.kind}", weakref.ref(_target(k.fn)))
        for k in kinds
    ]


@contextlib.contextmanager
def _warnings_without_sources() -> Iterator[None]:
    """Re-issue the warnings raised inside, once it ends, without their `source`.

    A bus that calls an async handler and drops its coroutine causes "coroutine was never awaited", whose
    source is that coroutine; its frame holds the handler (an async callable object's `self`), and pytest's
    record of the warning would keep the handler alive to the end of the test: no reference of the bus's.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    caught.clear()


def _target(fn: Any) -> Any:
    """What a handler's weak reference watches: a bound method's object, else the callable itself."""
    return fn.__self__ if inspect.ismethod(fn) else fn


# -- §8: publish_sync ------------------------------------------------------------------------


async def _publish_sync_without_a_loop(kit: Kit, bus: Any, rec: Recorder, *events: Any) -> list[list[str]]:
    """Call `bus.publish_sync(event)` for each event at once, each on a thread of its own where no loop runs.

    Returns, per event, the labels of the calls that had received that very event
    object when its `publish_sync` returned. The calls run at the same time so
    that handlers which each take `kit.patience` cost the test that much, not more.
    """
    seen: list[dict[str, Any]] = [{} for _ in events]

    def caller(i: int, event: Any) -> None:  # a thread of its own: no event loop runs here
        seen[i]["error"] = kit.raised_now(lambda: bus.publish_sync(event))
        seen[i]["calls"] = [c.label for c in list(rec.calls) if c.event is event]

    threads = [kit.thread(functools.partial(caller, i, e), f"publish_sync-{i}") for i, e in enumerate(events)]
    for thread, event in zip(threads, events, strict=True):
        await kit.join(thread, f"publish_sync({event!r}) called where no loop runs returns")
    for entry, event in zip(seen, events, strict=True):
        if entry["error"] is not None:
            kit.fail(
                f"publish_sync({event!r}) where no event loop runs delivers and returns",
                f"raised {describe(entry['error'])}",
            )
    return [entry["calls"] for entry in seen]


def _missing_and_extra(calls: list[str], expected: list[str]) -> str:
    """What `calls` lacks and has in excess of `expected` (both multisets), for failure messages."""
    missing, extra = list(expected), []
    for label in calls:
        if label in missing:
            missing.remove(label)
        else:
            extra.append(label)
    return f"not (yet) run: {missing or 'none'}; run more often than once or unexpected: {extra or 'none'}"


@pytest.mark.rule("EXT-SYNC-1", "PUB-1")
@pytest.mark.needs("publish_sync")
async def test_publish_sync_without_a_loop_waits_for_its_inline_handlers(kit: Kit) -> None:
    kit.slow_handlers()  # its handlers take kit.patience: every wait allows that much more
    Ping, Pong, Pang = kit.event_class("Ping"), kit.event_class("Pong"), kit.event_class("Pang")

    bus = kit.new_bus()
    await _delivers_every_policy_and_kind(kit, bus)
    rec = kit.recorder()
    kinds = rec.every_kind()
    for kind in kinds:
        kit.add(bus, Ping, kind.fn)
    # "Waits for": each slow handler alone takes kit.patience, so a hidden timeout up to that, on the
    # whole call or on one handler, cuts it short. One blocks its thread, one suspends many times on
    # publish_sync's loop, one suspends once; three calls at once keep the test at kit.patience.
    slow = {
        Ping: "slow sync (blocks its thread)",
        Pong: "slow async (many suspensions)",
        Pang: "slow async (one long suspension)",
    }
    kit.add(bus, Ping, rec.slow_sync_handler(slow[Ping], kit.patience))
    kit.add(bus, Pong, rec.slow_async_handler(slow[Pong], kit.patience))
    kit.add(bus, Pang, rec.slow_async_handler(slow[Pang], kit.patience, steps=1))
    events = [Ping(), Pong(), Pang()]
    expected = {Ping: [k.label for k in kinds] + [slow[Ping]], Pong: [slow[Pong]], Pang: [slow[Pang]]}
    seen = await _publish_sync_without_a_loop(kit, bus, rec, *events)
    for event, calls in zip(events, seen, strict=True):
        want = expected[type(event)]
        kit.check(
            sorted(calls) == sorted(want),
            f"when publish_sync({type(event).__name__}()) returns (called where no loop runs), each of its INLINE "
            f"handlers has run to completion once with that event ({', '.join(want)}), although a slow one takes "
            f"{kit.patience * 1000:.0f} ms",
            _missing_and_extra(calls, want),
        )


@pytest.mark.rule("EXT-SYNC-3", "PUB-1")
@pytest.mark.needs("publish_sync", "task")
async def test_publish_sync_without_a_loop_finishes_its_task_handlers(kit: Kit) -> None:
    kit.slow_handlers()  # its handlers take kit.patience: every wait allows that much more
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    await _delivers_every_policy_and_kind(kit, bus, policies=("TASK",))
    rec = kit.recorder()
    kinds = rec.every_kind("task ")
    for kind in kinds:
        kit.add(bus, Ping, kind.fn, policy="TASK")
    # Each slow one alone takes kit.patience (they run concurrently): a hidden timeout up to that before
    # the loop publish_sync made ends (and cancels what is left) cuts them short.
    slow = ["slow task (many suspensions)", "slow task (one long suspension)"]
    kit.add(bus, Ping, rec.slow_async_handler(slow[0], kit.patience), policy="TASK")
    kit.add(bus, Ping, rec.slow_async_handler(slow[1], kit.patience, steps=1), policy="TASK")
    kit.add(bus, Ping, rec.sync_handler("inline"))
    [calls] = await _publish_sync_without_a_loop(kit, bus, rec, Ping())
    want = ["inline", *slow, *(k.label for k in kinds)]
    kit.check(
        sorted(calls) == sorted(want),
        f"when publish_sync returns (called where no loop runs), its {len(kinds) + 2} TASK handlers (every kind: "
        f"{', '.join(k.kind for k in kinds)}; two of them take {kit.patience * 1000:.0f} ms) have run to "
        "completion, once each; the loop it made must not cancel them",
        _missing_and_extra(calls, want),
    )


@pytest.mark.rule("EXT-SYNC-3", "PUB-1")
@pytest.mark.needs("publish_sync", "threadpool")
async def test_publish_sync_without_a_loop_runs_its_threadpool_handlers_exactly_once(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    await _delivers_every_policy_and_kind(kit, bus, policies=("THREADPOOL",))
    rec = kit.recorder()
    kinds = rec.every_kind("pool ")
    labels = [k.label for k in kinds] + ["slow pool"]
    for kind in kinds:
        kit.add(bus, Ping, kind.fn, policy="THREADPOOL")
    kit.add(bus, Ping, rec.slow_sync_handler("slow pool", 0.02, steps=2), policy="THREADPOOL")
    await _publish_sync_without_a_loop(kit, bus, rec, Ping())
    if not await rec.until(lambda calls: {c.label for c in calls} >= set(labels), "every THREADPOOL handler ran"):
        kit.fail(
            "the THREADPOOL handlers of publish_sync (called where no loop runs), one of each kind ("
            + ", ".join(k.kind for k in kinds)
            + "), run to completion, before or after it returns",
            f"after {kit.bound:g} s: " + _missing_and_extra(rec.labels(), labels),
        )
    await kit.exactly_each(
        rec,
        dict.fromkeys(labels, 1),
        "each THREADPOOL handler (one of each kind) of a publish_sync called where no loop runs, exactly once",
    )


@pytest.mark.rule("EXT-SYNC-2", "PUB-1")
@pytest.mark.needs("publish_sync")
async def test_publish_sync_on_a_running_loop_schedules_the_publish(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    await _delivers_every_policy_and_kind(kit, bus)
    rec = kit.recorder()
    kit.add(bus, Ping, rec.async_handler("async"))  # records before its first suspension: run in place, it shows
    kit.add(bus, Ping, rec.async_handler("async-2"))
    # And a handler of every kind under every policy: each is delivered once, whatever makes it async.
    where = {"async": "INLINE async function", "async-2": "INLINE async function"}
    for policy in kit.policies():
        for kind in rec.every_kind(f"{policy} "):
            kit.add(bus, Ping, kind.fn, policy=policy)
            where[kind.label] = f"{policy} {kind.kind}"
    event = Ping()
    exc = kit.raised_now(lambda: bus.publish_sync(event))
    if exc is not None:
        kit.fail("publish_sync(event) on a running loop returns (it schedules the publish)", f"raised {describe(exc)}")
    kit.check(
        rec.count("async") == 0 and rec.count("async-2") == 0,
        "publish_sync on a running loop returns before the async handlers have run",
        f"handler calls when it returned: {rec.labels()}",
    )
    if not await rec.until(lambda calls: {c.label for c in calls} >= set(where), "every handler was called"):
        kit.fail(
            "after publish_sync on a running loop, the event is delivered once the caller yields to the loop, to "
            "every handler (every kind, every policy)",
            f"after {kit.bound:g} s, never called: "
            + ", ".join(w for label, w in where.items() if rec.count(label) == 0),
        )
    kit.check(
        all(c.event is event for c in rec.calls),
        "the scheduled publish delivers the event object itself",
        f"calls: {[(c.label, c.event) for c in rec.calls]}",
    )
    await kit.exactly_each(
        rec, dict.fromkeys(where, 1), "the scheduled publish calls each handler (every kind and policy) exactly once"
    )


@pytest.mark.rule("EXT-SYNC-2")
@pytest.mark.needs("publish_sync")
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
    labels = rec.labels()
    kit.check(
        labels.index("outer-end") < labels.index("inner"),
        "publish_sync returns before the async handler runs (outer-end before inner)",
        f"calls: {labels}",
    )
    await kit.exactly(rec, 1, "inner", "the event given to publish_sync is delivered exactly once")


# -- §8: the exception classes -----------------------------------------------------------


@pytest.mark.rule("EXT-ERR-1")
@pytest.mark.needs("error_classes")
async def test_exception_classes_exist(kit: Kit) -> None:
    kit.require("error_classes")
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
@pytest.mark.needs("bounded_queue", "error_classes", "worker")
async def test_full_queue_raises_queue_full_error(kit: Kit) -> None:
    bus = kit.new_bus(max_queue_size=QUEUE_SIZE)
    rec = kit.recorder()
    release = kit.gate("the worker may go on")
    try:
        Numbered = await _hold_worker(kit, bus, rec, release)
        accepted: list[int] = []
        error: Exception | None = None
        for n in range(1, QUEUE_SIZE + 2):
            error = kit.raised_now(lambda n=n: bus.post(Numbered(n=n)))
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
@pytest.mark.needs("bounded_queue", "error_classes", "threadsafe_post", "worker")
async def test_full_queue_raises_queue_full_error_in_a_producer_thread(kit: Kit) -> None:
    bus = kit.new_bus(max_queue_size=QUEUE_SIZE)
    rec = kit.recorder()
    release = kit.gate("the worker may go on")
    try:
        Numbered = await _hold_worker(kit, bus, rec, release)
        outcomes: list[Exception | None] = []

        def producer() -> None:
            for n in range(1, QUEUE_SIZE + 2):
                outcomes.append(kit.raised_now(lambda n=n: bus.post(Numbered(n=n))))
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


async def _post_accepted_with_a_worker(kit: Kit, event_type: Any) -> None:
    """Positive control of EXT-ERR-3: with a worker running, the same post is accepted and delivered."""
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, event_type, rec.sync_handler("delivered"))
    await kit.within(bus.start_worker(), "start_worker returns")
    _post(kit, bus, event_type())
    await kit.within(bus.stop_worker(), "stop_worker returns")
    kit.check(rec.count() == 1, "an event posted while the worker runs is delivered", f"calls: {rec.labels()}")


@pytest.mark.rule("EXT-ERR-3")
@pytest.mark.needs("error_classes", "worker")
async def test_post_without_worker_raises_event_bus_error_if_it_raises(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    await _post_accepted_with_a_worker(kit, Ping)
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
@pytest.mark.needs("error_classes", "threadsafe_post", "worker")
async def test_post_after_stop_worker_raises_event_bus_error_if_it_raises(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    await _post_accepted_with_a_worker(kit, Ping)
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

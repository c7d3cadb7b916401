"""SPEC.md §9, profile `robustness`: bad input, thread safety, shutdown.

Every must-raise test also makes the same call with valid input and requires it
to succeed (a positive control): a bus, or an adapter, that raises for
everything fails it.
"""

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from conformance.kit import Kit, describe

# Annotations here must stay real objects (no `from __future__ import annotations`):
# containers resolve constructor parameters from them.

PRODUCERS = 4
"""Producer threads of the concurrency tests."""
PER_PRODUCER = 200
"""Events each producer posts."""
SUBSCRIBERS = 4
"""Subscribing threads of the concurrent-subscription tests."""
PER_SUBSCRIBER = 50
"""Handlers each subscribing thread registers."""


# -- local helpers (candidates for kit.py) --------------------------------------------


class NotAnEvent:
    """A plain class that does not subclass Event."""


def _non_events(kit: Kit) -> list[tuple[str, Any]]:
    """Objects that are not Event instances, each with a description."""
    Ping = kit.event_class("Ping")
    return [
        ("object()", object()),
        ("None", None),
        ("the string 'Ping'", "Ping"),
        ("an instance of a plain class (not an Event subclass)", NotAnEvent()),
        ("the Event subclass Ping itself (a class, not an instance)", Ping),
    ]


def _item_class(kit: Kit) -> Any:
    """An event naming its producer and its position in that producer's sequence.

    All its instances compare equal and hash alike: a bus that drops, merges or
    indexes events by equality loses them.
    """

    def __eq__(self: Any, other: object) -> bool:  # noqa: N807 - a method of the class made below
        return True

    def __hash__(self: Any) -> int:  # noqa: N807
        return 0

    def __repr__(self: Any) -> str:  # noqa: N807
        return f"Item(producer={self.producer}, seq={self.seq})"

    namespace = {"__eq__": __eq__, "__hash__": __hash__, "__repr__": __repr__}
    return kit.impl.event_class("Item", fields=[("producer", int), ("seq", int)], namespace=namespace)


async def _publish_delivers(kit: Kit, bus: Any, event: Any, rec: Any, expected: int) -> None:
    """Positive control: publishing a valid event succeeds and calls the `expected` handlers."""
    before = rec.count()
    exc = await kit.raised(lambda: bus.publish(event), f"publish({event!r}) returns")
    if exc is not None:
        kit.fail(f"publish({event!r}) of a valid event on the same bus succeeds", f"it raised {describe(exc)}")
    kit.check(
        rec.count() - before == expected,
        f"publish({event!r}) of a valid event calls the {expected} handlers of its type",
        f"handler calls: {rec.labels()[before:]}",
    )


def _check_exactly_once_in_order(kit: Kit, items: list[Any], producers: int, per_producer: int) -> None:
    """Fail unless `items` hold each (producer, seq) once, in seq order per producer."""
    keys = [(item.producer, item.seq) for item in items]
    counts = Counter(keys)
    expected = {(p, s) for p in range(producers) for s in range(per_producer)}
    missing = sorted(expected - counts.keys())
    twice = sorted(k for k, n in counts.items() if n > 1)
    kit.check(
        not missing and not twice and len(keys) == len(expected),
        f"each of the {len(expected)} posted events is delivered exactly once",
        f"{len(keys)} deliveries; missing {len(missing)} (first: {missing[:5]}), "
        f"delivered more than once {len(twice)} (first: {twice[:5]})",
    )
    for p in range(producers):
        seqs = [s for q, s in keys if q == p]
        if seqs != sorted(seqs):
            first_bad = next(i for i in range(1, len(seqs)) if seqs[i] < seqs[i - 1])
            kit.fail(
                f"the events of producer {p} are delivered in the order it posted them",
                f"producer {p}'s event {seqs[first_bad]} was delivered after its event {seqs[first_bad - 1]}",
            )


# -- ROB-1 to ROB-5: bad input ---------------------------------------------------------------


@pytest.mark.rule("ROB-1")
@pytest.mark.needs("event_base")
async def test_publishing_the_event_class_raises(kit: Kit) -> None:
    kit.require("event_base")  # with no Event base class, every object is an event
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("sync"))
    kit.add(bus, Ping, rec.async_handler("async"))
    exc = await kit.raised(lambda: bus.publish(Ping), "publish(Ping) returns or raises")
    kit.check(
        exc is not None,
        "publish(Ping), given the event class instead of an instance, raises an error",
        f"it returned normally; handler calls: {rec.labels()}",
    )
    kit.check(
        rec.count() == 0,
        "no handler runs for publish(Ping) of the class itself",
        f"handler calls: {rec.labels()} (publish raised {describe(exc) if exc else 'nothing'})",
    )
    await _publish_delivers(kit, bus, Ping(), rec, 2)


@pytest.mark.rule("ROB-1")
@pytest.mark.needs("event_base")
async def test_publishing_non_event_objects_raises(kit: Kit) -> None:
    kit.require("event_base")  # with no Event base class, every object is an event
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("ping"))
    accepted = []
    for what, value in _non_events(kit)[:-1]:
        exc = await kit.raised(lambda value=value: bus.publish(value), f"publish({what}) returns or raises")
        if exc is None:
            accepted.append(what)
    kit.check(
        not accepted,
        "publish of an object that is not an Event instance raises an error",
        f"publish returned normally for: {'; '.join(accepted)}",
    )
    kit.check(rec.count() == 0, "no handler runs for those publishes", f"handler calls: {rec.labels()}")
    await _publish_delivers(kit, bus, Ping(), rec, 1)


@pytest.mark.rule("ROB-2")
@pytest.mark.needs("event_base", "worker")
async def test_posting_non_events_raises_in_the_caller(kit: Kit) -> None:
    kit.require("event_base")  # with no Event base class, every object is an event
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("ping"))
    # With the worker running, an error from post can only be about the event.
    await kit.within(bus.start_worker(), "start_worker returns")
    accepted = [what for what, value in _non_events(kit) if kit.raised_now(lambda value=value: bus.post(value)) is None]
    kit.check(
        not accepted,
        "post (on the loop's thread, the worker running) of an object that is not an Event instance raises "
        "an error in the caller",
        f"post returned normally for: {'; '.join(accepted)}",
    )
    kit.accepted(lambda: bus.post(Ping()), "post(Ping()) of a valid event on the same bus, the worker running")
    if not await rec.until_count(1, "ping"):
        kit.fail("the valid event posted after the bad ones is delivered", f"calls: {rec.labels()}")


@pytest.mark.rule("ROB-2")
@pytest.mark.needs("event_base", "threadsafe_post", "worker")
async def test_posting_non_events_from_a_thread_raises_in_that_thread(kit: Kit) -> None:
    kit.require("event_base")  # with no Event base class, every object is an event
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Ping, rec.sync_handler("ping"))
    await kit.within(bus.start_worker(), "start_worker returns")
    cases = _non_events(kit)
    accepted: list[str] = []

    def producer() -> None:
        accepted.extend(what for what, value in cases if kit.raised_now(lambda value=value: bus.post(value)) is None)
        kit.accepted(lambda: bus.post(Ping()), "post(Ping()) of a valid event from the same producer thread")

    await kit.join(kit.thread(producer, "producer"), "posts of non-events from a producer thread return or raise")
    kit.check(
        not accepted,
        "post from a thread other than the loop's, of an object that is not an Event instance, raises an error "
        "in that thread (not later in the worker)",
        f"post returned normally in the producer thread for: {'; '.join(accepted)}",
    )
    if not await rec.until_count(1, "ping"):
        kit.fail("the valid event the producer thread posted after the bad ones is delivered", f"calls: {rec.labels()}")


NON_CALLABLES: list[tuple[str, Any]] = [("the int 42", 42), ("None", None), ("the string 'handler'", "handler")]


@pytest.mark.rule("ROB-3")
async def test_subscribing_a_non_callable_raises(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    accepted = [what for what, fn in NON_CALLABLES if kit.raised_now(lambda fn=fn: kit.add(bus, Ping, fn)) is None]
    kit.check(
        not accepted,
        "subscribe(Ping, fn) with a fn that is not callable raises an error at once",
        f"subscribe returned normally for: {'; '.join(accepted)}",
    )
    kinds = rec.every_kind()
    for kind in kinds:
        kit.accepted(lambda kind=kind: kit.add(bus, Ping, kind.fn), f"subscribe(Ping, fn) with fn a {kind.kind}")
    await _publish_delivers(kit, bus, Ping(), rec, len(kinds))


@pytest.mark.rule("ROB-3")
async def test_subscribing_a_non_callable_with_a_policy_raises(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    policies = kit.background_policies()
    if not policies:
        kit.require("task")  # neither background policy: unsupported
    accepted = [
        f"{what} with policy {policy}"
        for policy in policies
        for what, fn in NON_CALLABLES
        if kit.raised_now(lambda fn=fn, policy=policy: kit.add(bus, Ping, fn, policy=policy)) is None
    ]
    kit.check(
        not accepted,
        "subscribe(Ping, fn, policy=TASK or THREADPOOL) with a fn that is not callable raises an error at once",
        f"subscribe returned normally for: {'; '.join(accepted)}",
    )
    rec = kit.recorder()
    for policy in policies:
        kit.accepted(
            lambda policy=policy: kit.add(bus, Ping, rec.sync_handler(policy.lower()), policy=policy),
            f"subscribe(Ping, fn, policy={policy}) with a callable fn",
        )


def _non_types(kit: Kit) -> list[tuple[str, Any]]:
    """Subscription targets that are not classes at all."""
    Ping = kit.event_class("Ping")
    return [("an instance of the event Ping", Ping()), ("the string 'Ping'", "Ping"), ("the int 1", 1)]


NON_EVENT_TYPES: list[tuple[str, Any]] = [
    ("the class int", int),
    ("the class dict", dict),
    ("a plain class that does not subclass Event", NotAnEvent),
]


@pytest.mark.rule("ROB-4")
@pytest.mark.needs("event_base")
async def test_subscribing_to_a_non_class_raises(kit: Kit) -> None:
    kit.require("event_base")  # with no Event base class, every object is an event
    bus = kit.new_bus()
    rec = kit.recorder()
    fn = rec.sync_handler("handler")
    accepted = [what for what, x in _non_types(kit) if kit.raised_now(lambda x=x: kit.add(bus, x, fn)) is None]
    kit.check(
        not accepted,
        "subscribe(x, fn) where x is not an Event subclass (here: not a class at all) raises an error at once",
        f"subscribe returned normally for x = {'; '.join(accepted)}",
    )
    Ping = kit.event_class("Ping")
    kit.accepted(lambda: kit.add(bus, Ping, fn), "subscribe(Ping, fn) with Ping an Event subclass, on the same bus")
    await _publish_delivers(kit, bus, Ping(), rec, 1)


@pytest.mark.rule("ROB-4")
@pytest.mark.needs("event_base")
async def test_subscribing_to_a_class_that_is_not_an_event_raises(kit: Kit) -> None:
    kit.require("event_base")  # with no Event base class, every object is an event
    bus = kit.new_bus()
    rec = kit.recorder()
    fn = rec.sync_handler("handler")
    accepted = [what for what, x in NON_EVENT_TYPES if kit.raised_now(lambda x=x: kit.add(bus, x, fn)) is None]
    kit.check(
        not accepted,
        "subscribe(x, fn) where x is a class that does not subclass Event raises an error at once",
        f"subscribe returned normally for x = {'; '.join(accepted)}",
    )
    Ping = kit.event_class("Ping")
    kit.accepted(lambda: kit.add(bus, Ping, fn), "subscribe(Ping, fn) with Ping an Event subclass, on the same bus")
    await _publish_delivers(kit, bus, Ping(), rec, 1)


def _method(self: Any, event: Any) -> None:
    """A method body for the decorator tests."""


@pytest.mark.rule("ROB-5")
@pytest.mark.needs("container")
async def test_decorator_on_a_non_class_raises(kit: Kit) -> None:
    accepted = [what for what, x in _non_types(kit) if kit.raised_now(lambda x=x: kit.on(x)(_method)) is None]
    kit.check(
        not accepted,
        "@subscribe(x) where x is not an Event subclass (here: not a class at all) raises when it is applied",
        f"the decorator was applied without error for x = {'; '.join(accepted)}",
    )
    _decorator_accepts_an_event_class(kit)


@pytest.mark.rule("ROB-5")
@pytest.mark.needs("container", "task")
async def test_decorator_on_a_class_that_is_not_an_event_raises(kit: Kit) -> None:
    accepted = [
        what for what, x in NON_EVENT_TYPES if kit.raised_now(lambda x=x: kit.on(x, policy="TASK")(_method)) is None
    ]
    kit.check(
        not accepted,
        "@subscribe(x, policy=TASK) where x is a class that does not subclass Event raises when it is applied",
        f"the decorator was applied without error for x = {'; '.join(accepted)}",
    )
    _decorator_accepts_an_event_class(kit, policy="TASK")


def _decorator_accepts_an_event_class(kit: Kit, **options: Any) -> None:
    """Positive control of ROB-5: `@subscribe(Ping, **options)` applies, leaving a callable method."""
    Ping = kit.event_class("Ping")
    shown = "".join(f", {k}={v}" for k, v in options.items())

    def method(self: Any, event: Any) -> str:
        return "called"

    decorated = kit.accepted(lambda: kit.on(Ping, **options)(method), f"@subscribe(Ping{shown}) applied to a method")
    kit.check(
        callable(decorated) and decorated(None, Ping()) == "called",
        f"@subscribe(Ping{shown}) leaves the method callable",
        f"the decorator returned {decorated!r}",
    )


# -- ROB-6 and ROB-7: threads ----------------------------------------------------------------


async def _post_concurrently(kit: Kit, bus: Any, Item: Any, producers: int, on_loop: int | None = None) -> None:
    """Post PER_PRODUCER items from each of `producers` threads at once (and, if `on_loop` is a
    producer number, from the loop's thread too), then wait until every post has returned."""
    start = kit.gate("the producers may start")
    errors: list[str] = []

    def producer(p: int) -> Callable[[], None]:
        def run() -> None:
            start.wait_blocking()
            for seq in range(PER_PRODUCER):
                exc = kit.raised_now(lambda seq=seq: bus.post(Item(producer=p, seq=seq)))
                if exc is not None:
                    errors.append(f"producer {p}, event {seq}: {describe(exc)}")
                    return

        return run

    threads = [kit.thread(producer(p), f"producer-{p}") for p in range(producers)]
    start.open()
    if on_loop is not None:
        producer(on_loop)()
    for t in threads:
        await kit.join(t, f"{t.name} posts its {PER_PRODUCER} events (post returns each time)")
    kit.check(
        not errors,
        "post accepts every event while the worker runs and the queue has room",
        f"post raised: {'; '.join(errors[:5])}",
    )


@pytest.mark.rule("ROB-6")
@pytest.mark.needs("threadsafe_post", "worker")
async def test_concurrent_producers_lose_nothing(kit: Kit) -> None:
    Item = _item_class(kit)
    bus = kit.new_bus()
    rec = kit.recorder()
    kit.add(bus, Item, rec.sync_handler("item"))
    await kit.within(bus.start_worker(), "start_worker returns")
    await _post_concurrently(kit, bus, Item, PRODUCERS)
    total = PRODUCERS * PER_PRODUCER
    kit.exercise(count=total)
    if not await rec.until_count(total):
        kit.fail(f"all {total} events posted by {PRODUCERS} threads are delivered", f"{rec.count()} were delivered")
    await kit.within(bus.stop_worker(), "stop_worker returns")
    _check_exactly_once_in_order(kit, [c.event for c in rec.calls], PRODUCERS, PER_PRODUCER)
    await kit.exactly(rec, total, "item", f"each of the {total} posted events is delivered exactly once")


@pytest.mark.rule("ROB-6")
@pytest.mark.needs("bounded_queue", "threadsafe_post", "worker")
async def test_concurrent_producers_and_the_loop_lose_nothing_in_a_bounded_queue(kit: Kit) -> None:
    Item = _item_class(kit)
    total = (PRODUCERS + 1) * PER_PRODUCER
    kit.exercise(count=total)
    bus = kit.new_bus(max_queue_size=total + 1)  # large enough, even counting the event in flight
    rec = kit.recorder()
    kit.add(bus, Item, rec.async_handler("item"))
    await kit.within(bus.start_worker(), "start_worker returns")
    # Producer number PRODUCERS posts from the loop's thread while the threads post.
    await _post_concurrently(kit, bus, Item, PRODUCERS, on_loop=PRODUCERS)
    if not await rec.until_count(total):
        kit.fail(
            f"all {total} events posted by {PRODUCERS} threads and the loop's thread into a queue of "
            f"max_queue_size={total + 1} are delivered",
            f"{rec.count()} were delivered",
        )
    await kit.within(bus.stop_worker(), "stop_worker returns")
    _check_exactly_once_in_order(kit, [c.event for c in rec.calls], PRODUCERS + 1, PER_PRODUCER)
    await kit.exactly(rec, total, "item", f"each of the {total} posted events is delivered exactly once")


async def _subscribe_concurrently(kit: Kit, bus: Any, jobs: list[list[tuple[Any, Callable[..., Any]]]]) -> None:
    """Run each job (a list of (event_type, fn) to subscribe on `bus`) on a thread of its own, all at once."""
    start = kit.gate("the subscribing threads may start")
    errors: list[str] = []

    def run(job: list[tuple[Any, Callable[..., Any]]]) -> Callable[[], None]:
        def body() -> None:
            start.wait_blocking()
            for event_type, fn in job:
                exc = kit.raised_now(lambda event_type=event_type, fn=fn: kit.add(bus, event_type, fn))
                if exc is not None:
                    errors.append(f"{fn!r}: {describe(exc)}")

        return body

    threads = [kit.thread(run(job), f"subscriber-{i}") for i, job in enumerate(jobs)]
    start.open()
    for t in threads:
        await kit.join(t, f"{t.name} registers its handlers (subscribe returns each time)")
    kit.check(
        not errors,
        "subscribe called from several threads at once accepts every handler",
        f"subscribe raised: {'; '.join(errors[:5])}",
    )


@pytest.mark.rule("ROB-7")
async def test_concurrent_subscriptions_to_one_type_are_all_registered(kit: Kit) -> None:
    Ping = kit.event_class("Ping")

    bus = kit.new_bus()
    rec = kit.recorder()
    kit.exercise(count=SUBSCRIBERS * PER_SUBSCRIBER)
    # Each thread registers handlers of every callable kind (function, lambda, bound and static
    # method, partial, callable object, and their async forms), several rounds of them.
    kinds = [
        [kind for r in range(PER_SUBSCRIBER // 10) for kind in rec.every_kind(f"t{t}-r{r}-")]
        for t in range(SUBSCRIBERS)
    ]
    # Control: the same handlers subscribed one at a time on another bus. What that bus accepts and
    # delivers is what the concurrent subscriptions must deliver (a handler kind the bus refuses or
    # does not call at all is PUB-1's failure, not this rule's).
    control_bus = kit.new_bus()
    kinds = [
        [kind for kind in mine if kit.raised_now(lambda k=kind: kit.add(control_bus, Ping, k.fn)) is None]
        for mine in kinds
    ]
    jobs = [[(Ping, kind.fn) for kind in mine] for mine in kinds]
    control = Ping()
    await kit.within(control_bus.publish(control), "publish on the control bus returns")
    expected = {c.label for c in rec.calls if c.event is control}
    accepted_sync = sum(1 for mine in kinds for kind in mine if not kind.is_async)
    kit.check(
        accepted_sync > 0 and len(expected) >= accepted_sync,
        "subscribed one at a time, every sync handler the control bus accepted is called (the control of this test)",
        f"it accepted {accepted_sync} sync handlers and called: {sorted(expected)}",
    )
    await _subscribe_concurrently(kit, bus, jobs)
    event = Ping()
    await kit.within(bus.publish(event), "publish returns")
    counts = Counter(c.label for c in rec.calls if c.event is event)
    missing = sorted(expected - counts.keys())
    twice = sorted(label for label, n in counts.items() if n > 1)
    kit.check(
        not missing and not twice,
        f"all {len(expected)} handlers that {SUBSCRIBERS} threads registered at once for Ping are called, once each",
        f"{len(missing)} were never called (first: {missing[:5]}); {len(twice)} were called more than once "
        f"(first: {twice[:5]})",
    )


@pytest.mark.rule("ROB-7")
async def test_concurrent_first_subscriptions_to_new_types_are_all_registered(kit: Kit) -> None:
    types_ = [kit.event_class(f"New{i}") for i in range(PER_SUBSCRIBER)]
    kit.exercise(count=SUBSCRIBERS * PER_SUBSCRIBER)
    bus = kit.new_bus()
    rec = kit.recorder()
    # Every thread registers one handler for each new type, in the same order: the threads race
    # to make each type's first registration.
    jobs = [[(cls, rec.sync_handler(f"{cls.__name__}-t{t}")) for cls in types_] for t in range(SUBSCRIBERS)]
    await _subscribe_concurrently(kit, bus, jobs)
    for cls in types_:
        await kit.within(bus.publish(cls()), f"publish {cls.__name__} returns")
    counts = Counter(rec.labels())
    expected = {f"{cls.__name__}-t{t}" for cls in types_ for t in range(SUBSCRIBERS)}
    missing = sorted(expected - counts.keys())
    twice = sorted(label for label, n in counts.items() if n > 1)
    kit.check(
        not missing and not twice,
        f"for each of {len(types_)} event types nobody had subscribed to, the {SUBSCRIBERS} handlers that "
        f"{SUBSCRIBERS} threads registered at once are all called, once each",
        f"{len(missing)} handlers were never called (first: {missing[:5]}); {len(twice)} were called more than "
        f"once (first: {twice[:5]})",
    )


# -- ROB-8: shutdown ---------------------------------------------------------------------------


async def _close_twice(kit: Kit, close: Callable[[], Awaitable[Any]], what: str) -> None:
    """Await `close()` twice; fail if either call raises or hangs."""
    for attempt in ("first", "second"):
        exc = await kit.raised(close, f"the {attempt} {what} returns")
        if exc is not None:
            kit.fail(f"the {attempt} {what} returns normally", f"it raised {describe(exc)}")


@pytest.mark.rule("ROB-8")
@pytest.mark.needs("container")
async def test_container_shutdown_twice_without_worker_returns(kit: Kit) -> None:
    container = kit.container()
    bus = kit.bus_of(container)
    await _close_twice(kit, container.cleanup_all_async, "container.cleanup_all_async() (the worker never started)")
    if kit.supports("aclose"):  # the extended API: closing again, after the container did, is a no-op too
        await _close_twice(kit, bus.aclose, "bus.aclose() after container.cleanup_all_async()")


@pytest.mark.rule("ROB-8")
@pytest.mark.needs("container", "worker")
async def test_container_shutdown_twice_with_running_worker_returns(kit: Kit) -> None:
    container = kit.container()
    bus = kit.bus_of(container)
    await kit.within(bus.start_worker(), "start_worker returns")
    await _close_twice(
        kit, container.cleanup_all_async, "container.cleanup_all_async() (the worker was started and is idle)"
    )


@pytest.mark.rule("ROB-8")
@pytest.mark.needs("aclose", "worker")
async def test_aclose_twice_returns(kit: Kit) -> None:
    idle = kit.new_bus()
    kit.require("aclose")
    await _close_twice(kit, idle.aclose, "bus.aclose() (the worker never started)")
    running = kit.new_bus()
    await kit.within(running.start_worker(), "start_worker returns")
    await _close_twice(kit, running.aclose, "bus.aclose() (the worker was started and is idle)")


# -- ROB-9: construction -------------------------------------------------------------------------


@pytest.mark.rule("ROB-9")
@pytest.mark.needs("bounded_queue", "worker")
async def test_negative_queue_size_is_rejected(kit: Kit) -> None:
    accepted = [
        size for size in (-1, -10) if kit.raised_now(lambda size=size: kit.new_bus(max_queue_size=size)) is None
    ]
    kit.check(
        not accepted,
        "EventBus(max_queue_size=N) with a negative N raises at once",
        f"construction succeeded for max_queue_size = {', '.join(map(str, accepted))}",
    )
    _valid_sizes_are_accepted(kit)


@pytest.mark.rule("ROB-9")
@pytest.mark.needs("bounded_queue", "worker")
async def test_non_integer_queue_size_is_rejected(kit: Kit) -> None:
    accepted = [
        repr(size) for size in ("10", 2.5) if kit.raised_now(lambda size=size: kit.new_bus(max_queue_size=size)) is None
    ]
    kit.check(
        not accepted,
        "EventBus(max_queue_size=x) with a non-integer x (a string, a float) raises at once",
        f"construction succeeded for max_queue_size = {', '.join(accepted)}",
    )
    _valid_sizes_are_accepted(kit)


def _valid_sizes_are_accepted(kit: Kit) -> None:
    """Positive control of ROB-9: `EventBus(max_queue_size=N)` with N = 0, 1 or 10 is constructed."""
    for size in (0, 1, 10):
        kit.accepted(lambda size=size: kit.new_bus(max_queue_size=size), f"EventBus(max_queue_size={size})")

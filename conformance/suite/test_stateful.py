"""SPEC.md §2, §3, §4, §5 (and §8 when claimed): a model-based test of a live bus.

A Hypothesis `RuleBasedStateMachine` drives one bus per program. The bus lives on
an event loop running in a thread of its own for the whole program
(`conformance._stateful.LiveLoop`); every rule submits a coroutine to that loop
and waits for it with a bound, so each step acts on the live bus, and the
`@invariant`s compare what the bus did with a plain model after every step.

Rules: subscribe (a handler of any kind: function, lambda, bound or static
method, partial, callable object, and their async forms; any policy; sometimes
failing), subscribe again (the same handler a second time: one call per
registration), publish, post (one to three in a row, from the loop's thread or
from a producer thread), start_worker, and stop_worker (right after up to three
posts, so the queue holds events when it is called). When the implementation
claims the extended profile: subscribe with a priority and/or `once`, and
unsubscribe (with a fresh binding of a bound method). The event types are Base,
Child (a subclass of Base), Other, and Twin (another class called "Base", from
another module); all events of a type compare equal (`==`), Base and Child are
unhashable dataclasses, and Other and Twin all hash alike: a bus that finds
handlers, or skips events, by name, equality or hash fails.

The model checks, after every step:

- every dispatch calls each handler once per registration for the event's type
  made before it, with the event object itself; a base class's handler at most
  once per registration (IMPL-1); nothing else [PUB-1, PUB-2, PUB-3, PUB-5];
- INLINE handlers have finished when `publish` returns, in subscription order
  (priority first), never two at once [POL-INLINE-1, POL-INLINE-2, POL-ORDER-1,
  EXT-PRI-1]; an INLINE failure reaches the publisher [ERR-1] (after one, the
  handlers after it may be skipped, IMPL-2); TASK and THREADPOOL failures do not,
  and are logged [ERR-3, ERR-4, ERR-5]; a sync TASK or async THREADPOOL handler
  runs exactly once [POL-MIX-1, POL-MIX-2];
- `post` is a plain call that runs no handler [POST-1], works from a thread
  [POST-2]; while a worker runs each posted event is dispatched as publish does
  [POST-4], in posting order per producer [POST-3]; without a worker `post`
  raises or buffers, and what it accepted is delivered once a worker runs
  [POST-5, POST-6, WRK-5]; `stop_worker` returns after the queue is drained
  [WRK-2], and is a no-op without a worker [WRK-3]; a second `start_worker` is a
  no-op [WRK-1]; a failing posted event is logged and the worker goes on [WRK-6];
- extended: a `once` handler runs once, even when it raised [EXT-ONCE-1,
  EXT-ONCE-2]; unsubscribe removes every registration of the handler, and an
  unknown handler is a no-op [EXT-UNSUB-1, EXT-UNSUB-2].

Background (TASK, THREADPOOL) and posted deliveries the model predicts are
awaited with bounded waits on the recorder; nothing sleeps to decide an order.
At the end of a program the worker is started and stopped once more (buffered
events come out), the bus is closed and its loop ended, and the counts are
checked again: a late second delivery fails.

Each failure is a `RuleViolation` naming the precise rule it breaks, and the test
is charged to that rule (the plugin's report reads it). A call that does not
return within the bound is a failure of kind "hang" naming the rule the step
checks (WRK-2 for stop_worker with a worker running, say). Hypothesis reports the
first failure it finds (`report_multiple_bugs=False`, so distinct failures never
merge into one exception group) as a reproducible list of steps.

Cost and settings (environment variables; the defaults keep the test's share of
the suite to about a second):

- `CONFORMANCE_STATEFUL_EXAMPLES`: programs per run (default 30);
- `CONFORMANCE_STATEFUL_STEPS`: steps per program at most (default 20);
- `CONFORMANCE_STATEFUL_SHRINK=0`: report the first failing program without
  shrinking it (the kill matrix sets this). While a failure is shrunk, every wait
  is bounded by 0.1 s instead of `--bound`, so shrinking a program that hangs
  costs seconds rather than minutes;
- `CONFORMANCE_STATEFUL_RANDOM=1`: draw new programs on every run. By default the
  programs are the same on every run (Hypothesis's `derandomize`), so that a
  verdict, and an expectation file listing this test, is reproducible.

A long run: `CONFORMANCE_STATEFUL_RANDOM=1 CONFORMANCE_STATEFUL_EXAMPLES=2000
CONFORMANCE_STATEFUL_STEPS=40 pytest --impl=reference conformance/suite/test_stateful.py`
(add Hypothesis's `--hypothesis-seed=N` to repeat one). No example database is written.
"""

import asyncio
import functools
import inspect
import os
import queue
import threading
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conformance._stateful import LiveLoop, StepTimeout
from conformance.adapter import Implementation
from conformance.kit import Call, Kit, RuleViolation, describe, exception_chain
from conformance.rules import RULES
from conformance.runner import loop_factory

T = TypeVar("T")


def _setting(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise pytest.UsageError(f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise pytest.UsageError(f"{name} must not be negative, got {value}")
    return value


EXAMPLES = _setting("CONFORMANCE_STATEFUL_EXAMPLES", 30)
STEPS = _setting("CONFORMANCE_STATEFUL_STEPS", 20)
SHRINK = _setting("CONFORMANCE_STATEFUL_SHRINK", 1) != 0
RANDOM = _setting("CONFORMANCE_STATEFUL_RANDOM", 0) != 0
SHRINK_BOUND = 0.1
"""Seconds a wait may take while a failing program is shrunk (if `--bound` is not smaller)."""

TYPES = ("Base", "Child", "Other", "Twin")
"""The event types of a program; Child subclasses Base; Twin is another class called "Base"."""
BASES = {"Base": (), "Child": ("Base",), "Other": (), "Twin": ()}
"""The proper base classes (among TYPES) of each type."""
POLICIES = (None, "INLINE", "TASK", "THREADPOOL")
"""None registers without a policy: INLINE by default [POL-1]."""
KINDS = (
    "function",
    "lambda",
    "bound method",
    "static method",
    "partial",
    "callable object",
    "async function",
    "async bound method",
    "async partial",
    "async callable object",
)
"""The callable kinds of handlers (SPEC.md, Terms: *Handler*)."""
BACKGROUND = ("TASK", "THREADPOOL")


class StatefulHandlerError(Exception):
    """What a failing handler of the program raises: a new instance per call."""


# -- the model -----------------------------------------------------------------------------------


@dataclass
class Fn:
    """A handler callable of the program; it records its calls as `h<index>`."""

    index: int
    kind: str
    policy: str | None
    fails: bool
    once: bool = False

    @property
    def label(self) -> str:
        return f"h{self.index}"

    @property
    def is_async(self) -> bool:
        return self.kind.startswith("async")

    @property
    def run_policy(self) -> str:
        return self.policy or "INLINE"

    def describe(self) -> str:
        extra = ", failing" if self.fails else ""
        extra += ", once" if self.once else ""
        return f"{self.label} ({self.kind}, {self.run_policy}{extra})"


@dataclass
class Reg:
    """One registration: `fn` subscribed for `event_type`."""

    index: int
    fn: Fn
    event_type: str
    priority: int = 0
    removed_at: int | None = None
    """The number of events sent when it was unsubscribed."""
    once_state: str = "live"
    """For `once` registrations: 'live', 'unsure' (it may have been used up) or 'spent'."""

    def describe(self) -> str:
        pri = f", priority {self.priority}" if self.priority else ""
        return f"{self.fn.describe()} registered for {self.event_type}{pri}"


@dataclass
class Sent:
    """An event the program published or posted, and who must receive it."""

    eid: int
    event_type: str
    posted: bool
    obj: Any = None
    producer: str = "loop"
    context: str = ""
    """For posts: 'running', 'before-start' or 'after-stop' (of the worker, when post was called)."""
    after_restart: bool = False
    """Posted while a restarted worker ran."""
    accepted: bool = True
    """False for a post that raised (allowed while no worker runs): nothing to deliver."""
    sure: list[int] = field(default_factory=list)
    """Registrations that must each deliver it once (for its type, made before the dispatch)."""
    maybe: set[int] = field(default_factory=set)
    """Registrations that may each deliver it at most once (a base class's; or changed while it was queued)."""
    due: bool = False
    """It must be (or have been) dispatched by now: published, or posted while a worker ran."""
    settled: bool = False
    """Its dispatch is over: registrations from now on must not receive it."""

    @property
    def label(self) -> str:
        how = f"posted from the {self.producer} thread" if self.posted else "published"
        return f"event e{self.eid} ({self.event_type}, {how})"


class Model:
    """The program's registrations and events, what the spec promises of them, and the live bus."""

    def __init__(self, kit: Kit, extended: bool) -> None:
        self.kit = kit
        self.extended = extended
        self.rec = kit.recorder()
        self.bus: Any = None
        self.types: dict[str, Any] = {}
        self.fns: list[Fn] = []
        self.callables: list[Callable[[Any], Any]] = []
        self.regs: list[Reg] = []
        self.sent: list[Sent] = []
        self.failures: dict[tuple[int, int], list[BaseException]] = {}
        self.logged_ok: set[int] = set()
        self.active: Counter[int] = Counter()
        """INLINE handler calls running now, per event: two at once break POL-ORDER-1."""
        self.overlaps: list[tuple[int, int]] = []
        self.posted_eids: set[int] = set()
        self.worker_active: list[int] = []
        """INLINE handler calls of posted events running now: the worker runs one event at a time [POST-4]."""
        self.worker_overlaps: list[tuple[int, int, int]] = []
        self.running = False
        self.stopped = False
        self.restarted = False
        self.producer: _Producer | None = None

    # -- setting up (on the loop) ----------------------------------------------------

    async def open(self) -> None:
        kit = self.kit
        impl = kit.impl

        def same_class(self: Any, other: object) -> bool:
            return other.__class__ is self.__class__

        def alike(self: Any) -> int:
            return 0

        # Base's instances compare equal and are unhashable, Twin's (another class called "Base")
        # compare equal and hash alike: a bus that finds handlers or events by equality mixes them up.
        try:
            base = impl.event_class("Base", fields=[("eid", int)], namespace={"__eq__": same_class, "__hash__": None})
            twin = impl.event_class(
                "Base",
                fields=[("eid", int)],
                frozen=True,
                module="conformance.stateful.twin",
                namespace={"__eq__": same_class, "__hash__": alike},
            )
        except Exception as exc:
            self.kit.fail(
                "event classes with fields can subclass Event", f"defining one raised {describe(exc)}", rule="EVT-1"
            )
        self.types = {
            "Base": base,
            "Child": impl.event_class("Child", base=base),
            "Other": _all_equal_class(kit),
            "Twin": twin,
        }
        self.bus = kit.new_bus()
        self.producer = _Producer(kit)

    # -- handlers -------------------------------------------------------------------------

    def make_callable(self, fn: Fn) -> Callable[[Any], Any]:
        rec, failures, label = self.rec, self.failures, fn.label
        active, overlaps = self.active, self.overlaps
        posted, worker_active, worker_overlaps = self.posted_eids, self.worker_active, self.worker_overlaps

        def finish(event: Any) -> None:
            rec.record(label, event)
            if fn.fails:
                eid = getattr(event, "eid", -1)
                exc = StatefulHandlerError(f"{label} failed on e{eid} (on purpose)")
                failures.setdefault((fn.index, eid), []).append(exc)
                raise exc

        async def afinish(event: Any) -> None:
            eid = getattr(event, "eid", -1)
            inline = fn.run_policy == "INLINE"
            by_worker = inline and eid in posted
            if inline:
                active[eid] += 1
                if active[eid] > 1:
                    overlaps.append((fn.index, eid))
            if by_worker:
                worker_overlaps.extend((fn.index, eid, other) for other in worker_active if other != eid)
                worker_active.append(eid)
            try:
                await asyncio.sleep(0)  # a suspension point: the bus must await past it
            finally:
                if inline:
                    active[eid] -= 1
                if by_worker:
                    worker_active.remove(eid)
            finish(event)

        kind = fn.kind
        if kind == "function":

            def function(event: Any) -> None:
                finish(event)

            return function
        if kind == "lambda":
            return lambda event: finish(event)
        if kind == "bound method":

            class Listener:
                def on_event(self, event: Any) -> None:
                    finish(event)

            return Listener().on_event
        if kind == "static method":

            class Static:
                @staticmethod
                def on_event(event: Any) -> None:
                    finish(event)

            return Static.on_event
        if kind == "partial":

            def tagged(tag: str, event: Any) -> None:
                finish(event)

            return functools.partial(tagged, label)
        if kind == "callable object":

            class SyncCallable:
                def __call__(self, event: Any) -> None:
                    finish(event)

            return SyncCallable()
        if kind == "async function":

            async def async_function(event: Any) -> None:
                await afinish(event)

            return async_function
        if kind == "async bound method":

            class AsyncListener:
                async def on_event(self, event: Any) -> None:
                    await afinish(event)

            return AsyncListener().on_event
        if kind == "async partial":

            async def async_tagged(tag: str, event: Any) -> None:
                await afinish(event)

            return functools.partial(async_tagged, label)

        class AsyncCallable:
            async def __call__(self, event: Any) -> None:
                await afinish(event)

        return AsyncCallable()

    # -- the model's questions ------------------------------------------------------------

    @staticmethod
    def tally(calls: list[Call]) -> Counter[tuple[str, Any]]:
        return Counter((c.label, getattr(c.event, "eid", None)) for c in calls)

    def inline_failed(self, sent: Sent) -> list[Reg]:
        """The INLINE registrations (for `sent`) whose handler raised on it."""
        regs = [self.regs[r] for r in [*sent.sure, *sorted(sent.maybe)]]
        return [r for r in regs if r.fn.run_policy == "INLINE" and (r.fn.index, sent.eid) in self.failures]

    def inline_order(self, sent: Sent) -> list[Reg]:
        """The INLINE registrations of `sent`, in the order they must run (priority, then subscription)."""
        inline = [self.regs[r] for r in sent.sure if self.regs[r].fn.run_policy == "INLINE"]
        return sorted(inline, key=lambda r: (-r.priority, r.index))

    def required(self, sent: Sent) -> list[Reg]:
        """The registrations that must each have delivered `sent` once.

        All of `sure`; after a failing INLINE handler, only the INLINE ones before
        it, which have run by then [POL-ORDER-1] (IMPL-2), or none if a base
        class's handler failed (its place is the bus's).
        """
        failed = self.inline_failed(sent)
        if not failed:
            return [self.regs[r] for r in sent.sure]
        if any(r.index not in sent.sure for r in failed):
            return []
        before: list[Reg] = []
        for reg in self.inline_order(sent):
            if reg.fn.fails:
                break
            before.append(reg)
        return before

    def shortfall(self, calls: list[Call], only_inline: bool = False) -> list[tuple[Sent, Reg, int, int]]:
        """(event, a registration, calls wanted, calls seen) for each due delivery still missing."""
        seen = self.tally(calls)
        short = []
        for sent in self.sent:
            if not (sent.accepted and sent.due):
                continue
            wanted: Counter[int] = Counter()
            first: dict[int, Reg] = {}
            for reg in self.required(sent):
                if only_inline and reg.fn.run_policy != "INLINE":
                    continue
                wanted[reg.fn.index] += 1
                first.setdefault(reg.fn.index, reg)
            for f, n in wanted.items():
                got = seen[(f"h{f}", sent.eid)]
                if got < n:
                    short.append((sent, first[f], n, got))
        return short

    def allowed(self, sent: Sent, fn: Fn) -> int:
        """How many calls of `fn` `sent` may cause at most."""
        if not sent.accepted:
            return 0
        return sum(1 for r in [*sent.sure, *sent.maybe] if self.regs[r].fn is fn)

    def missing_rule(self, sent: Sent, reg: Reg) -> str:
        """The rule a missing delivery of `sent` through `reg` most likely breaks."""
        policy = reg.fn.run_policy
        if policy in BACKGROUND:
            siblings = {self.regs[r].fn.index for r in sent.sure if self.regs[r].fn.run_policy == policy}
            if any((f, sent.eid) in self.failures for f in siblings - {reg.fn.index}):
                return "ERR-3" if policy == "TASK" else "ERR-4"
            mixed = mixed_rule(reg.fn)
            if mixed:
                return mixed
            return "POST-4" if sent.posted else "PUB-1"
        if self.inline_failed(sent):
            return "POL-ORDER-1"
        if not sent.posted:
            return "PUB-1"
        if sent.context in ("before-start", "after-stop"):
            return "POST-5" if sent.context == "before-start" else "POST-6"
        if any(s.posted and s.eid < sent.eid and self.inline_failed(s) for s in self.sent):
            return "WRK-6"  # an earlier posted event failed: did the worker die?
        if sent.after_restart:
            return "WRK-5"
        return "POST-2" if sent.producer == "thread" else "POST-4"

    def excess_rule(self, sent: Sent, fn: Fn) -> str:
        """The rule an extra call of `fn` for `sent` most likely breaks."""
        if not sent.accepted:
            return "POST-6" if sent.context == "after-stop" else "POST-5"
        if fn.once:
            return "EXT-ONCE-2" if fn.fails else "EXT-ONCE-1"
        regs = [r for r in self.regs if r.fn is fn]
        related = [r for r in regs if r.event_type == sent.event_type or r.event_type in BASES[sent.event_type]]
        if any(r.removed_at is not None and r.removed_at <= sent.eid for r in related):
            return "EXT-UNSUB-1"
        mixed = mixed_rule(fn)
        if mixed:
            return mixed
        if not related:
            return "PUB-2"
        if all(r.event_type != sent.event_type for r in related):
            return "PUB-3"
        if all(r.index not in sent.sure and r.index not in sent.maybe for r in related):
            return "PUB-5"
        return "POST-4" if sent.posted else "PUB-1"

    def check_counts(self, calls: list[Call], late: str = "") -> None:
        """No handler got more calls of an event than its registrations allow, each with the event itself."""
        seen = self.tally(calls)
        by_eid = {s.eid: s for s in self.sent}
        for (label, eid), n in seen.items():
            sent = by_eid.get(eid)
            if sent is None:
                continue
            fn = self.fns[int(label[1:])]
            limit = self.allowed(sent, fn)
            if n > limit:
                extra = ", refused by post," if not sent.accepted else ""
                self.kit.fail(
                    f"{fn.describe()} is called at most {limit} time(s) for {sent.label}{extra} "
                    f"({self._why(sent, fn)})",
                    f"it was called {n} times{late}",
                    rule=self.excess_rule(sent, fn),
                )
        for fn in self.fns:
            if fn.once:
                n = sum(1 for c in calls if c.label == fn.label)
                if n > 1:
                    self.kit.fail(
                        f"{fn.describe()} runs for one dispatch only",
                        f"it was called {n} times{late}",
                        rule="EXT-ONCE-2" if fn.fails else "EXT-ONCE-1",
                    )
        for c in calls:
            sent = by_eid.get(getattr(c.event, "eid", -1))
            if sent is not None and c.event is not sent.obj:
                self.kit.fail(
                    f"{c.label} receives the {'posted' if sent.posted else 'published'} event object itself",
                    f"it received {c.event!r}, another object (a copy?)",
                    rule="POST-4" if sent.posted else "PUB-1",
                )

    def _why(self, sent: Sent, fn: Fn) -> str:
        regs = [self.regs[r] for r in [*sent.sure, *sent.maybe] if self.regs[r].fn is fn]
        if not regs:
            return "it has no registration for that event's type at that time"
        return f"{len(regs)} registration(s) for the event's type or a base class"

    def check_order(self, calls: list[Call]) -> None:
        """INLINE handlers ran one at a time, in priority then subscription order; per producer, posting order."""
        if self.worker_overlaps:
            f, eid, other = self.worker_overlaps[0]
            self.kit.fail(
                "the worker dispatches one posted event at a time: its INLINE handlers finish before the next "
                "event's start",
                f"{self.fns[f].describe()} started on e{eid} while an INLINE handler of e{other} was still running",
                rule="POST-4",
            )
        for c in calls:
            fn = self.fns[int(c.label[1:])]
            if fn.run_policy == "THREADPOOL" and not fn.is_async and c.on_loop_thread:
                sent = self.sent[getattr(c.event, "eid", 0)]
                self.kit.fail(
                    f"{fn.describe()} runs off the event loop's thread for {sent.label}",
                    "it ran on the loop's thread",
                    rule="POST-4" if sent.posted else "POL-THREAD-1",
                )
        if self.overlaps:
            f, eid = self.overlaps[0]
            self.kit.fail(
                f"the INLINE handlers of e{eid} run one after another, each starting after the previous finished",
                f"{self.fns[f].describe()} started while another INLINE handler of that event was still running",
                rule="POL-ORDER-1",
            )
        for sent in self.sent:
            if not (sent.due and sent.accepted):
                continue
            order = self.inline_order(sent)
            expected: list[str] = []
            for reg in order:
                expected.append(reg.fn.label)
                if reg.fn.fails:
                    break
            labels = {r.fn.label for r in order}
            observed = [c.label for c in calls if getattr(c.event, "eid", None) == sent.eid and c.label in labels]
            if len(observed) < len(expected) or observed[: len(expected)] == expected:
                continue
            by_subscription = [r.fn.label for r in sorted(order, key=lambda r: r.index)][: len(observed)]
            prioritised = len({r.priority for r in order}) > 1
            self.kit.fail(
                f"the INLINE handlers of {sent.label} run in "
                f"{'priority, then ' if prioritised else ''}subscription order: {expected}",
                f"they ran as {observed}",
                rule="EXT-PRI-1" if prioritised and observed == by_subscription else "POL-ORDER-1",
            )
        posted = {s.eid: s for s in self.sent if s.posted and s.accepted}
        for fn in self.fns:
            if fn.run_policy != "INLINE":
                continue
            for producer in ("loop", "thread"):
                seen = [
                    c.event.eid
                    for c in calls
                    if c.label == fn.label
                    and getattr(c.event, "eid", None) in posted
                    and posted[c.event.eid].producer == producer
                ]
                if seen != sorted(seen):
                    self.kit.fail(
                        f"{fn.describe()} receives the events posted from the {producer} thread in the "
                        "order they were posted",
                        f"it received e{', e'.join(map(str, seen))}",
                        rule="POST-3",
                    )

    # -- the steps (each runs on the loop) -------------------------------------------------

    async def call(self, awaitable: Awaitable[T], what: str, rule: str) -> tuple[T | None, Exception | None]:
        """Await within the bound: (value, None) or (None, exception); a hang fails naming `rule`."""
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task}, timeout=self.kit.bound)
        if not done:
            task.cancel()
            self.kit.fail(what, f"still not done after {self.kit.bound:g} s", rule=rule, kind="hang")
        try:
            return task.result(), None
        except Exception as exc:
            return None, exc

    def subscribe(self, fn: Fn, event_type: str, priority: int = 0, again: bool = False) -> None:
        """Register `fn` (a new callable, or the same one again) for `event_type`."""
        if not again:
            self.fns.append(fn)
            self.callables.append(self.make_callable(fn))
        reg = Reg(len(self.regs), fn, event_type, priority)
        options: dict[str, Any] = {}
        if priority:
            options["priority"] = priority
        if fn.once:
            options["once"] = True
        try:
            self.kit.add(self.bus, self.types[event_type], self.callables[fn.index], fn.policy, **options)  # type: ignore[arg-type]
        except Exception as exc:
            self.kit.fail(
                f"subscribe of {reg.describe()} is accepted",
                f"it raised {describe(exc)}",
                rule="EXT-SUB-1" if options else "EXT-DUP-1" if again and self.extended else "PUB-1",
            )
        self.regs.append(reg)
        for sent in self.sent:
            matches = event_type == sent.event_type or event_type in BASES[sent.event_type]
            if matches and not sent.settled:
                sent.maybe.add(reg.index)
                if fn.once:
                    reg.once_state = "unsure"

    def unsubscribe(self, reg: Reg) -> None:
        """`bus.unsubscribe(type, fn)`, with a fresh binding for bound methods: every registration goes."""
        target = self.callables[reg.fn.index]
        if inspect.ismethod(target):
            target = getattr(target.__self__, target.__func__.__name__)  # equal, not identical [EXT-UNSUB-1]
        known = reg.removed_at is None and reg.once_state != "spent"
        try:
            self.bus.unsubscribe(self.types[reg.event_type], target)
        except Exception as exc:
            self.kit.fail(
                f"unsubscribe of {reg.fn.label} for {reg.event_type} returns normally"
                + ("" if known else " (it may no longer be registered: a no-op)"),
                f"it raised {describe(exc)}",
                rule="EXT-UNSUB-1" if known else "EXT-UNSUB-2",
            )
        for other in self.regs:
            if other.fn is reg.fn and other.event_type == reg.event_type and other.removed_at is None:
                other.removed_at = len(self.sent)
                for sent in self.sent:
                    if not sent.settled and other.index in sent.sure:
                        sent.sure.remove(other.index)
                        sent.maybe.add(other.index)

    def new_event(self, event_type: str, posted: bool) -> Sent:
        sent = Sent(len(self.sent), event_type, posted)
        for reg in self.regs:
            if reg.removed_at is not None or reg.once_state == "spent":
                continue
            if reg.event_type == event_type and not (reg.fn.once and (posted or reg.once_state == "unsure")):
                sent.sure.append(reg.index)
            elif reg.event_type == event_type or reg.event_type in BASES[event_type]:
                sent.maybe.add(reg.index)
                if reg.fn.once:
                    reg.once_state = "unsure"
        sent.obj = self.types[event_type](eid=sent.eid)
        self.sent.append(sent)
        return sent

    async def publish(self, event_type: str) -> None:
        sent = self.new_event(event_type, posted=False)
        sent.due = sent.settled = True
        for r in sent.sure:
            if self.regs[r].fn.once:
                self.regs[r].once_state = "spent"
        _, raised = await self.call(self.bus.publish(sent.obj), f"publish of {sent.label} returns", "PUB-1")
        inline_errors = [e for r in self.inline_failed(sent) for e in self.failures[(r.fn.index, sent.eid)]]
        for r in sent.sure:
            reg = self.regs[r]
            if reg.fn.once and reg not in self.required(sent):
                reg.once_state = "unsure"  # skipped after a failure (IMPL-2): perhaps still registered
        if inline_errors:
            if raised is None:
                self.kit.fail(
                    f"publish of {sent.label} raises the exception of its failing INLINE handler",
                    f"it returned normally; {self.kit.log_summary()}",
                    rule="ERR-1",
                )
            elif not any(e is x for e in exception_chain(raised) for x in inline_errors):
                self.kit.fail(
                    f"publish of {sent.label} raises its INLINE handler's exception, or one chaining or grouping it",
                    f"it raised {describe(raised)}, which carries none of {[describe(x) for x in inline_errors]}",
                    rule="ERR-1",
                )
        elif raised is not None:
            failing = {self.fns[f].run_policy for (f, eid) in list(self.failures) if eid == sent.eid}
            rule = "ERR-3" if "TASK" in failing else "ERR-4" if "THREADPOOL" in failing else "PUB-1"
            self.kit.fail(
                f"publish of {sent.label} returns normally (no INLINE handler failed)", describe(raised), rule=rule
            )
        # INLINE handlers have finished when publish returns: no waiting for them.
        short = [(s, r, n, g) for s, r, n, g in self.shortfall(list(self.rec.calls), only_inline=True) if s is sent]
        if short:
            _, reg, n, got = short[0]
            later = await self.rec.until(
                lambda calls: sum(1 for c in calls if c.label == reg.fn.label and c.event is sent.obj) >= n,
                f"{reg.fn.label} finishes",
            )
            rule = "POL-INLINE-1" if reg.fn.is_async else "POL-INLINE-2"
            self.kit.fail(
                f"{reg.describe()} has finished ({n} call(s)) when publish of {sent.label} returns",
                f"{got} call(s) when it returned; "
                + ("the rest came only after publish returned" if later else "no more came"),
                rule=rule if later else self.missing_rule(sent, reg),
            )

    async def post(self, event_type: str, producer: str) -> None:
        sent = self.new_event(event_type, posted=True)
        self.posted_eids.add(sent.eid)
        sent.producer = producer
        sent.context = "running" if self.running else "after-stop" if self.stopped else "before-start"
        sent.after_restart = self.running and self.restarted
        sent.due = self.running
        if producer == "thread":
            assert self.producer is not None
            error = await self.producer.post(self.bus, sent.obj)
        else:
            result: Any = None
            error = None
            try:
                result = self.bus.post(sent.obj)
            except Exception as exc:
                error = exc
            if hasattr(result, "__await__"):
                getattr(result, "close", lambda: None)()  # an unawaited coroutine would only warn later
                self.kit.fail(
                    "post is a plain call that returns nothing to await", f"it returned {result!r}", rule="POST-1"
                )
            ran = [c.label for c in list(self.rec.calls) if c.event is sent.obj]
            if ran:
                self.kit.fail(
                    f"post of {sent.label} returns before any handler of it has run",
                    f"{', '.join(ran)} had already run when it returned",
                    rule="POST-1",
                )
        if error is None:
            return
        if self.running:
            rule = "WRK-5" if self.restarted else "POST-2" if producer == "thread" else "POST-1"
            self.kit.fail(
                f"post of {sent.label} is accepted while the worker runs (unbounded queue)",
                f"it raised {describe(error)}",
                rule=rule,
            )
        sent.accepted = False  # refused at once: allowed while no worker runs (IMPL-4)
        sent.settled = True
        if not str(error).strip():
            self.kit.fail(
                f"post of {sent.label} without a worker raises a clear error",
                describe(error),
                rule="POST-6" if self.stopped else "POST-5",
            )

    async def start_worker(self) -> None:
        rule = "WRK-1" if self.running else "WRK-5" if self.stopped else "POST-5"
        _, error = await self.call(self.bus.start_worker(), "start_worker returns", rule)
        if error is not None:
            self.kit.fail("start_worker returns normally", f"it raised {describe(error)}", rule=rule)
        if not self.running and self.stopped:
            self.restarted = True
        self.running = True
        for sent in self.sent:
            if sent.posted and sent.accepted:
                sent.due = True  # buffered events come out now

    async def stop_worker(self, posts: tuple[str, ...] = ()) -> None:
        """Post `posts` from the loop's thread, then at once `stop_worker`: it must drain them [WRK-2]."""
        for event_type in posts:
            await self.post(event_type, "loop")
        rule = "WRK-2" if self.running else "WRK-3"
        _, error = await self.call(self.bus.stop_worker(), "stop_worker returns", rule)
        if error is not None:
            self.kit.fail("stop_worker returns normally", f"it raised {describe(error)}", rule=rule)
        if not self.running:
            return  # a no-op: what is buffered stays buffered
        self.running = False
        self.stopped = True
        for sent, reg, n, got in self.shortfall(list(self.rec.calls), only_inline=True):
            if not sent.posted or sent.settled:
                continue
            rule = self.missing_rule(sent, reg)
            self.kit.fail(
                f"{sent.label}, accepted by post, has been dispatched to {reg.describe()} ({n} call(s)) when "
                "stop_worker returns",
                f"{got} call(s) then (the worker was {'running' if sent.context == 'running' else 'not running'} "
                "when it was posted)",
                rule="WRK-2" if rule in ("POST-4", "POST-2") else rule,
            )
        for sent in self.sent:
            if sent.posted and sent.accepted:
                sent.settled = True

    async def check(self) -> None:
        """The invariant: every due delivery arrives (bounded waits), nothing else, in order; failures logged."""
        if not await self.rec.until(lambda calls: not self.shortfall(calls), "the deliveries the model predicts"):
            sent, reg, n, got = self.shortfall(list(self.rec.calls))[0]
            self.kit.fail(
                f"{reg.describe()} is called {n} time(s) for {sent.label}",
                f"{got} call(s) within {self.kit.bound:g} s",
                rule=self.missing_rule(sent, reg),
            )
        calls = list(self.rec.calls)
        self.check_counts(calls)
        self.check_order(calls)
        for sent in self.sent:
            if sent.due and sent.accepted and any(c.event is sent.obj for c in calls):
                sent.settled = True
        for reg in self.regs:
            if reg.fn.once and any(c.label == reg.fn.label for c in calls):
                reg.once_state = "spent"
        for (f, eid), excs in list(self.failures.items()):
            fn, sent = self.fns[f], self.sent[eid]
            if fn.run_policy == "INLINE" and not sent.posted:
                continue  # it reached the publisher [ERR-1]
            for exc in excs:
                if id(exc) in self.logged_ok:
                    continue
                if not await self.kit.logged(exc):
                    self.kit.fail(
                        f"the failure of {fn.describe()} on {sent.label}, {describe(exc)}, is logged at "
                        "ERROR with the exception attached",
                        self.kit.log_summary(),
                        rule="WRK-6" if fn.run_policy == "INLINE" else "ERR-5",
                    )
                self.logged_ok.add(id(exc))

    async def drain(self) -> None:
        """At the end: start the worker if needed and stop it, so buffered events come out."""
        if not self.kit.supports("worker"):
            await self.check()
            return
        if not self.running:
            await self.start_worker()
        await self.check()
        await self.stop_worker()
        await self.check()
        assert self.producer is not None
        self.producer.close()


def mixed_rule(fn: Fn) -> str | None:
    """POL-MIX-1 for a sync handler under TASK, POL-MIX-2 for an async one under THREADPOOL."""
    if fn.run_policy == "TASK" and not fn.is_async:
        return "POL-MIX-1"
    if fn.run_policy == "THREADPOOL" and fn.is_async:
        return "POL-MIX-2"
    return None


def _all_equal_class(kit: Kit) -> Any:
    """An event class "Other" with a field `eid` whose instances all compare equal and hash alike."""

    def __eq__(self: Any, other: object) -> bool:  # noqa: N807 - a method of the class made below
        return True

    def __hash__(self: Any) -> int:  # noqa: N807
        return 0

    def __repr__(self: Any) -> str:  # noqa: N807
        return f"Other(eid={self.eid})"

    namespace = {"__eq__": __eq__, "__hash__": __hash__, "__repr__": __repr__}
    return kit.impl.event_class("Other", fields=[("eid", int)], namespace=namespace)


class _Producer:
    """One producer thread that posts on request, so its posts have a single, ordered origin [POST-3]."""

    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self.jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.thread: threading.Thread | None = None

    def _serve(self) -> None:
        while (job := self.jobs.get()) is not None:
            job()

    async def post(self, bus: Any, event: Any) -> Exception | None:
        if self.thread is None:
            self.thread = self.kit.thread(self._serve, "stateful-producer")
        done = self.kit.gate("the producer thread's post returned")
        outcome: list[Exception] = []

        def job() -> None:
            try:
                bus.post(event)
            except Exception as exc:  # the post's outcome, looked at by the model
                outcome.append(exc)
            finally:
                done.open()

        self.jobs.put(job)
        if not await done.wait():
            self.kit.fail(
                "post from a thread returns", f"still not done after {self.kit.bound:g} s", rule="POST-2", kind="hang"
            )
        return outcome[0] if outcome else None

    def close(self) -> None:
        self.jobs.put(None)


# -- Hypothesis ----------------------------------------------------------------------------


@dataclass
class _Run:
    """What the programs of one test run share."""

    implementation: Implementation
    bound: float
    new_loop: Callable[[], asyncio.AbstractEventLoop]
    caplog: pytest.LogCaptureFixture | None
    failed: bool = False
    problems: set[str] = field(default_factory=set)


def _machine(run: _Run) -> type[RuleBasedStateMachine]:
    """The state machine: each instance is one program on one live bus."""
    impl = run.implementation
    extended = "extended" in impl.profiles
    has = impl.capabilities.__contains__
    # Only what the implementation declares is drawn: a program never meets an unsupported call.
    background = [p for p in BACKGROUND if has(p.lower())]
    fn_kinds = st.sampled_from(KINDS)
    policies = st.sampled_from([p for p in POLICIES if p is None or p == "INLINE" or p in background])
    types = st.sampled_from(TYPES)
    fails = st.sampled_from((False, False, False, True))
    producers = st.sampled_from(("loop", "thread") if has("threadsafe_post") else ("loop",))
    priorities = st.sampled_from((0, 1, -1, 2) if extended and has("priority") else (0,))
    onces = st.booleans() if extended and has("once") else st.just(False)

    class BusProgram(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            # Once a program has failed, Hypothesis only shrinks it: shorter waits keep that cheap.
            self.bound = min(run.bound, SHRINK_BOUND) if run.failed else run.bound
            if run.caplog is not None:
                run.caplog.clear()  # a failure's report shows the logs of its own program
            self.kit = Kit(run.implementation, RULES["PUB-1"], bound=self.bound)
            self.model = Model(self.kit, extended)
            self.broken = False
            self.live = LiveLoop(self.kit, run.new_loop, "stateful")
            self.act("EVT-1", "a new bus is made", self.model.open)

        def act(self, rule_id: str, what: str, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
            """Run `body()` on the live loop, bounded; a timeout is a hang of `rule_id`."""
            __tracebackhide__ = True
            try:
                self.live.run(body, 3 * self.bound)
            except StepTimeout:
                self.broken = run.failed = True
                self.kit.fail(
                    what,
                    f"still not done after {3 * self.bound:g} s: the event loop's thread is blocked, or a call "
                    "never returned",
                    rule=rule_id,
                    kind="hang",
                )
            except BaseException:
                self.broken = run.failed = True
                raise

        def new_fn(self, kind: str, policy: str | None, fails: bool, once: bool = False) -> Fn:
            return Fn(len(self.model.fns), kind, policy, fails, once)

        @initialize(
            start_worker=st.booleans() if has("worker") else st.just(False),
            background=st.sampled_from(background) if background else st.none(),
            pair_type=types,
        )
        def first_handlers(self, start_worker: bool, background: str | None, pair_type: str) -> None:
            # Per type an async INLINE handler before a sync one: every dispatch checks that INLINE
            # handlers run one after another, in subscription order, whatever their kind [POL-ORDER-1].
            # Two handlers of one background policy, the first failing: a failure must not stop the
            # other [ERR-3, ERR-4]. Extended: a higher priority registered last [EXT-PRI-1].
            async def body() -> None:
                for t in TYPES:
                    self.model.subscribe(self.new_fn("async function", None, False), t)
                    self.model.subscribe(self.new_fn("function", "INLINE", False), t)
                if background is not None:
                    pair = ("async function", "async bound method") if background == "TASK" else ("function", "partial")
                    self.model.subscribe(self.new_fn(pair[0], background, True), pair_type)
                    self.model.subscribe(self.new_fn(pair[1], background, False), pair_type)
                if extended and has("priority"):
                    self.model.subscribe(self.new_fn("bound method", "INLINE", False), "Base", priority=1)
                if start_worker:
                    await self.model.start_worker()

            self.act("PUB-1", "subscribing the first handlers", body)

        @rule(event_type=types, policy=policies, kind=fn_kinds, fails=fails)
        def subscribe(self, event_type: str, policy: str | None, kind: str, fails: bool) -> None:
            fn = self.new_fn(kind, policy, fails)

            async def body() -> None:
                self.model.subscribe(fn, event_type)

            self.act("PUB-1", "subscribe returns", body)

        @precondition(lambda self: any(not r.fn.once for r in self.model.regs))
        @rule(pick=st.integers(min_value=0, max_value=63))
        def subscribe_again(self, pick: int) -> None:
            regs = [r for r in self.model.regs if not r.fn.once]
            reg = regs[pick % len(regs)]

            async def body() -> None:
                self.model.subscribe(reg.fn, reg.event_type, reg.priority, again=True)

            self.act("PUB-1", "subscribe returns", body)

        @rule(event_type=types)
        def publish(self, event_type: str) -> None:
            self.act("PUB-1", "publish returns", lambda: self.model.publish(event_type))

        @rule(event_type=types, times=st.integers(2, 3))
        def publish_equal_events(self, event_type: str, times: int) -> None:
            # All events of a type compare equal: each is a dispatch of its own [PUB-1].
            async def body() -> None:
                for _ in range(times):
                    await self.model.publish(event_type)

            self.act("PUB-1", "publish returns", body)

        @precondition(lambda self: has("worker"))
        @rule(event_type=types, producer=producers, times=st.integers(1, 3))
        def post(self, event_type: str, producer: str, times: int) -> None:
            async def body() -> None:
                for _ in range(times):
                    await self.model.post(event_type, producer)

            self.act("POST-2" if producer == "thread" else "POST-1", "post returns", body)

        @precondition(lambda self: has("worker"))
        @rule()
        def start_worker(self) -> None:
            self.act("WRK-1" if self.model.running else "WRK-5", "start_worker returns", self.model.start_worker)

        @precondition(lambda self: has("worker"))
        @rule(posts=st.lists(types, max_size=3).map(tuple))
        def stop_worker(self, posts: tuple[str, ...]) -> None:
            self.act(
                "WRK-2" if self.model.running else "WRK-3",
                "stop_worker returns",
                lambda: self.model.stop_worker(posts),
            )

        @precondition(lambda self: self.model.extended and (has("priority") or has("once")))
        @rule(event_type=types, policy=policies, kind=fn_kinds, fails=fails, priority=priorities, once=onces)
        def subscribe_extended(
            self, event_type: str, policy: str | None, kind: str, fails: bool, priority: int, once: bool
        ) -> None:
            fn = self.new_fn(kind, policy, fails, once)

            async def body() -> None:
                self.model.subscribe(fn, event_type, priority)

            self.act("EXT-SUB-1", "subscribe with priority and once returns", body)

        @precondition(lambda self: self.model.extended and has("unsubscribe") and bool(self.model.regs))
        @rule(pick=st.integers(min_value=0, max_value=63))
        def unsubscribe(self, pick: int) -> None:
            reg = self.model.regs[pick % len(self.model.regs)]

            async def body() -> None:
                self.model.unsubscribe(reg)

            self.act("EXT-UNSUB-1", "unsubscribe returns", body)

        @invariant()
        def deliveries_match_the_model(self) -> None:
            self.act("PUB-1", "the model's checks finish", self.model.check)

        def teardown(self) -> None:
            try:
                if not self.broken:
                    self.act("WRK-2", "the final start_worker and stop_worker return", self.model.drain)
            finally:
                if self.model.producer is not None:
                    self.model.producer.close()
                run.problems.update(self.live.close(self.bound))
            if not self.broken and self.live.ended:
                # The bus is closed and its loop has ended: nothing may come later.
                self.model.check_counts(list(self.model.rec.calls), late=" by the end of the program (late)")

    return BusProgram


def _caplog(request: pytest.FixtureRequest) -> pytest.LogCaptureFixture | None:
    """pytest's `caplog`, unless its logging plugin is disabled."""
    try:
        caplog: pytest.LogCaptureFixture = request.getfixturevalue("caplog")
    except pytest.FixtureLookupError:
        return None
    return caplog


@pytest.mark.rule(
    "PUB-1",
    "PUB-2",
    "PUB-3",
    "PUB-5",
    "POL-INLINE-1",
    "POL-INLINE-2",
    "POL-ORDER-1",
    "POL-THREAD-1",
    "POL-MIX-1",
    "POL-MIX-2",
    "ERR-1",
    "ERR-3",
    "ERR-4",
    "ERR-5",
    "POST-1",
    "POST-2",
    "POST-3",
    "POST-4",
    "POST-5",
    "POST-6",
    "WRK-1",
    "WRK-2",
    "WRK-3",
    "WRK-5",
    "WRK-6",
    "EVT-1",
    "EXT-PRI-1",
    "EXT-ONCE-1",
    "EXT-ONCE-2",
    "EXT-DUP-1",
    "EXT-UNSUB-1",
    "EXT-UNSUB-2",
    "EXT-SUB-1",
)
def test_random_programs_match_the_model(implementation: Implementation, request: pytest.FixtureRequest) -> None:
    run = _Run(
        implementation,
        request.config.getoption("bound"),
        loop_factory(request.config.getoption("loop")),
        _caplog(request),
    )
    phases = [p for p in Phase if SHRINK or p is not Phase.shrink]
    try:
        run_state_machine_as_test(
            _machine(run),
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                derandomize=not RANDOM,
                print_blob=True,
                phases=phases,
                report_multiple_bugs=False,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    except RuleViolation as exc:
        # The program Hypothesis found is in the exception's notes; the kit's concise report
        # prints only the message, so the program goes into it.
        program = "\n".join(getattr(exc, "__notes__", ()))
        bound = f"(waits bounded by {min(run.bound, SHRINK_BOUND):g} s while shrinking)" if SHRINK else ""
        raise RuleViolation(exc.rule, exc.expected, f"{exc.observed}\n{program}\n{bound}".rstrip(), exc.kind) from None
    for problem in sorted(run.problems):
        warnings.warn(pytest.PytestWarning(f"[stateful] after a program: {problem}"), stacklevel=1)

"""SPEC.md §2, §3, §4, §5: a model-based test driving random sequences of bus operations.

A Hypothesis state machine draws a program: subscribe (a sync or async handler,
any policy, sometimes failing), publish, post (from the loop's thread or from a
producer thread), start_worker and stop_worker, over the event types Base,
Child (a subclass of Base) and Other. Each example runs the program on a fresh,
bounded event loop (`conformance.runner.run_test`, a fresh `Kit`), against a
plain model of what the spec promises, and ends by starting and stopping the
worker once more so that buffered events come out. The model checks:

- every dispatch calls each handler registered for the event's type exactly
  once (a handler of a base class: at most once, IMPL-1), no other handler, and
  no handler registered after the dispatch began [PUB-1, PUB-2, PUB-3, PUB-5];
- INLINE handlers have finished, in subscription order, when `publish` returns
  [POL-INLINE-1, POL-INLINE-2, POL-ORDER-1]; an INLINE failure reaches the
  publisher [ERR-1] (after one, the other handlers of that dispatch may be
  skipped, IMPL-2); TASK and THREADPOOL failures do not, and are logged
  [ERR-3, ERR-4, ERR-5];
- `post` (one to three times in a row) is accepted while a worker runs;
  without one it raises or buffers, whichever the implementation does, and
  nothing it accepted is lost across stop and restart [POST-5, POST-6, WRK-2,
  WRK-5]; posted events reach each INLINE handler in the order each producer
  posted them [POST-3]; a failing posted event is logged and the worker goes on
  [WRK-6].

A violation fails naming its rule, and Hypothesis prints the program as a
reproducible list of steps (plus a `@reproduce_failure` blob).

Cost and settings (environment variables; the defaults keep the test's share of
the suite small):

- `CONFORMANCE_STATEFUL_EXAMPLES`: programs per run (default 100, about a second);
- `CONFORMANCE_STATEFUL_STEPS`: steps per program at most (default 20);
- `CONFORMANCE_STATEFUL_SHRINK=0`: report the first failing program without
  shrinking it (the kill matrix sets this). While a failure is shrunk, every wait
  is bounded by 0.1 s instead of `--bound`, so shrinking a program that hangs
  costs seconds (typically 10 to 30) rather than minutes; the report says which
  bound applied.

- `CONFORMANCE_STATEFUL_RANDOM=1`: draw new programs on every run. By default the
  programs are the same on every run (Hypothesis's `derandomize`), so that a
  verdict, and an expectation file listing this test, is reproducible.

A long run: `CONFORMANCE_STATEFUL_RANDOM=1 CONFORMANCE_STATEFUL_EXAMPLES=2000
CONFORMANCE_STATEFUL_STEPS=40 pytest --impl=reference conformance/suite/test_stateful.py`
(add Hypothesis's `--hypothesis-seed=N` to repeat one). No example database is written.
"""

import asyncio
import dataclasses
import os
import queue
import threading
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from conformance.adapter import Implementation
from conformance.kit import Kit, RuleViolation, describe, exception_chain
from conformance.rules import RULES
from conformance.runner import loop_factory, run_test

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


EXAMPLES = _setting("CONFORMANCE_STATEFUL_EXAMPLES", 100)
STEPS = _setting("CONFORMANCE_STATEFUL_STEPS", 20)
SHRINK = _setting("CONFORMANCE_STATEFUL_SHRINK", 1) != 0
RANDOM = _setting("CONFORMANCE_STATEFUL_RANDOM", 0) != 0
SHRINK_BOUND = 0.1
"""Seconds a wait may take while a failing program is shrunk (if `--bound` is not smaller)."""

TYPES = ("Base", "Child", "Other")
"""The event types of a program; Child subclasses Base."""
BASES = {"Base": (), "Child": ("Base",), "Other": ()}
"""The proper base classes (among TYPES) of each type."""
POLICIES = (None, "INLINE", "TASK", "THREADPOOL")
"""None registers without a policy: INLINE by default [POL-1]."""


# -- the program ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscribe:
    """Register handler number `len(handlers)` for `event_type`."""

    event_type: str
    policy: str | None
    is_async: bool
    fails: bool


@dataclass(frozen=True)
class Publish:
    """`await bus.publish(<event_type>(eid))`."""

    event_type: str


@dataclass(frozen=True)
class Post:
    """`bus.post(<event_type>(eid))`, from the loop's thread or from the producer thread."""

    event_type: str
    producer: str


@dataclass(frozen=True)
class StartWorker:
    """`await bus.start_worker()`."""


@dataclass(frozen=True)
class StopWorker:
    """`await bus.stop_worker()`."""


Step = Subscribe | Publish | Post | StartWorker | StopWorker


class StatefulHandlerError(Exception):
    """What a failing handler of the program raises: a new instance per call."""


# -- the model -----------------------------------------------------------------------------------


@dataclass
class Handler:
    """A registered handler of the program."""

    index: int
    spec: Subscribe

    @property
    def label(self) -> str:
        return f"h{self.index}"

    @property
    def policy(self) -> str:
        return self.spec.policy or "INLINE"

    def describe(self) -> str:
        kind = "async" if self.spec.is_async else "sync"
        fails = ", failing" if self.spec.fails else ""
        return f"{self.label} ({kind} {self.policy} handler of {self.spec.event_type}{fails})"


@dataclass
class Sent:
    """An event the program published or posted, and who must receive it."""

    eid: int
    event_type: str
    posted: bool
    producer: str = "loop"
    context: str = ""
    """For posts: 'running', 'before-start' or 'after-stop' (of the worker, when post was called)."""
    accepted: bool = True
    """False for a post that raised (allowed while no worker runs): nothing to deliver."""
    sure: list[int] = field(default_factory=list)
    """Handlers that must receive it exactly once (registered for its type before the dispatch)."""
    maybe: set[int] = field(default_factory=set)
    """Handlers that may receive it at most once (a base class's; or registered while it waited in the queue)."""
    settled: bool = False
    """Known to be dispatched: handlers registered from now on must not receive it."""

    @property
    def label(self) -> str:
        how = f"posted from the {self.producer} thread" if self.posted else "published"
        return f"event e{self.eid} ({self.event_type}, {how})"


class Program:
    """Runs a program against the implementation on the kit's loop, checking it against the model."""

    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self.rec = kit.recorder()
        self.bus: Any = None
        self.types: dict[str, Any] = {}
        self.handlers: list[Handler] = []
        self.sent: list[Sent] = []
        self.failures: dict[tuple[int, int], list[BaseException]] = {}
        self.running = False
        self.stopped = False
        self.restarted = False
        self.producer: _Producer | None = None

    # -- helpers ----------------------------------------------------------------------

    def fail(self, rule: str, expected: str, observed: str) -> None:
        __tracebackhide__ = True
        self.kit.fail(expected, observed, rule=rule)

    async def bounded(self, awaitable: Awaitable[T], what: str, rule: str) -> T:
        """Await within the bound; a timeout fails naming `rule`."""
        __tracebackhide__ = True
        try:
            return await asyncio.wait_for(awaitable, self.kit.bound)
        except asyncio.TimeoutError:
            pass
        self.fail(rule, what, f"still not done after {self.kit.bound:g} s")
        raise AssertionError("unreachable")

    def count(self, handler: int, eid: int) -> int:
        label = f"h{handler}"
        return sum(1 for c in list(self.rec.calls) if c.label == label and getattr(c.event, "eid", None) == eid)

    async def delivered(self, pairs: list[tuple[int, int]], what: str) -> list[tuple[int, int]]:
        """Wait until each (handler, eid) pair was recorded at least once; the pairs still missing after the bound."""
        wanted = {(f"h{h}", e) for h, e in pairs}

        def done(calls: list[Any]) -> bool:
            seen = {(c.label, getattr(c.event, "eid", None)) for c in calls}
            return wanted <= seen

        if pairs:
            await self.rec.until(done, what)
        return [(h, e) for h, e in pairs if self.count(h, e) == 0]

    def failed(self, sent: Sent) -> list[Handler]:
        """The handlers that raised while handling `sent` (a snapshot: handler threads add to it)."""
        return [self.handlers[h] for (h, eid) in list(self.failures) if eid == sent.eid]

    def inline_failures(self, sent: Sent) -> list[BaseException]:
        return [
            exc for h in self.handlers if h.policy == "INLINE" for exc in self.failures.get((h.index, sent.eid), [])
        ]

    def relaxed(self, sent: Sent) -> bool:
        """After a failing INLINE handler ran, the dispatch's other handlers may be skipped (IMPL-2)."""
        return bool(self.inline_failures(sent))

    def required(self, sent: Sent) -> list[int]:
        """The handlers that must receive `sent` exactly once.

        All those registered for its type before the dispatch; after a failing INLINE
        handler, only the INLINE ones registered before it, which have run by then
        [POL-ORDER-1] (unless a base class's handler failed: its place is the bus's).
        """
        if not self.relaxed(sent):
            return list(sent.sure)
        failed = {h.index for h in self.failed(sent) if h.policy == "INLINE"}
        if failed - set(sent.sure):
            return []
        return [h for h in sent.sure if h < min(failed) and self.handlers[h].policy == "INLINE"]

    def receivers(self, event_type: str) -> tuple[list[int], set[int]]:
        sure = [h.index for h in self.handlers if h.spec.event_type == event_type]
        maybe = {h.index for h in self.handlers if h.spec.event_type in BASES[event_type]}
        return sure, maybe

    def missing_rule(self, sent: Sent, handler: Handler) -> str:
        """The rule a missing delivery of `sent` to `handler` most likely breaks."""
        failed = {h.policy for h in self.failed(sent) if h is not handler} - {"INLINE"}
        if handler.policy in failed:  # a failing sibling of the same policy kept it from running
            return "ERR-3" if handler.policy == "TASK" else "ERR-4"
        mixed = self.mixed_rule(handler)
        if mixed:
            return mixed
        if failed:
            return "ERR-3" if "TASK" in failed else "ERR-4"
        return "POST-4" if sent.posted else "PUB-1"

    @staticmethod
    def mixed_rule(handler: Handler) -> str | None:
        """POL-MIX-1 for a sync handler under TASK, POL-MIX-2 for an async one under THREADPOOL."""
        if handler.policy == "TASK" and not handler.spec.is_async:
            return "POL-MIX-1"
        if handler.policy == "THREADPOOL" and handler.spec.is_async:
            return "POL-MIX-2"
        return None

    def make_handler(self, index: int, spec: Subscribe) -> Callable[[Any], Any]:
        rec, failures = self.rec, self.failures

        def finish(event: Any) -> None:
            rec.record(f"h{index}", event)
            if spec.fails:
                exc = StatefulHandlerError(f"h{index} failed on e{getattr(event, 'eid', '?')} (on purpose)")
                failures.setdefault((index, getattr(event, "eid", -1)), []).append(exc)
                raise exc

        if spec.is_async:

            async def async_handler(event: Any) -> None:
                await asyncio.sleep(0)  # a suspension point: the bus must await past it
                finish(event)

            async_handler.__name__ = async_handler.__qualname__ = f"stateful_h{index}"
            return async_handler

        def sync_handler(event: Any) -> None:
            finish(event)

        sync_handler.__name__ = sync_handler.__qualname__ = f"stateful_h{index}"
        return sync_handler

    # -- the steps --------------------------------------------------------------------------

    async def run(self, steps: list[Step]) -> None:
        kit = self.kit
        try:
            base = dataclasses.make_dataclass("Base", [("eid", int)], bases=(kit.Event,))
            self.types = {
                "Base": base,
                "Child": dataclasses.make_dataclass("Child", [], bases=(base,)),
                "Other": dataclasses.make_dataclass("Other", [("eid", int)], bases=(kit.Event,)),
            }
        except Exception as exc:
            self.fail("EVT-1", "dataclass events can subclass Event", f"defining one raised {describe(exc)}")
        self.bus = kit.new_bus()
        self.producer = _Producer(kit)
        try:
            for step in steps:
                await self.step(step)
            # Let buffered events out, then check everything that was sent.
            if not self.running:
                await self.step(StartWorker())
            await self.step(StopWorker())
            await self.final_checks()
        finally:
            self.producer.close()

    async def step(self, step: Step) -> None:
        if isinstance(step, Subscribe):
            self.subscribe(step)
        elif isinstance(step, Publish):
            await self.publish(step)
        elif isinstance(step, Post):
            await self.post(step)
        elif isinstance(step, StartWorker):
            await self.start_worker()
        else:
            await self.stop_worker()

    def subscribe(self, spec: Subscribe) -> None:
        # A posted event whose dispatch has visibly begun took its subscriber set already.
        for sent in self.sent:
            if sent.posted and not sent.settled and any(self.count(h, sent.eid) for h in sent.sure):
                sent.settled = True
        handler = Handler(len(self.handlers), spec)
        try:
            self.kit.add(self.bus, self.types[spec.event_type], self.make_handler(handler.index, spec), spec.policy)  # type: ignore[arg-type]
        except Exception as exc:
            self.fail("PUB-1", f"subscribe of {handler.describe()} is accepted", f"it raised {describe(exc)}")
        self.handlers.append(handler)
        for sent in self.sent:
            matches = spec.event_type == sent.event_type or spec.event_type in BASES[sent.event_type]
            if matches and not sent.settled:
                sent.maybe.add(handler.index)

    def new_event(self, event_type: str, posted: bool) -> tuple[Sent, Any]:
        sure, maybe = self.receivers(event_type)
        sent = Sent(len(self.sent), event_type, posted, sure=sure, maybe=maybe)
        self.sent.append(sent)
        return sent, self.types[event_type](eid=sent.eid)

    async def publish(self, step: Publish) -> None:
        sent, event = self.new_event(step.event_type, posted=False)
        sent.settled = True
        raised: BaseException | None = None
        try:
            await self.bounded(self.bus.publish(event), f"publish of {sent.label} returns", "PUB-1")
        except RuleViolation:
            raise
        except Exception as exc:
            raised = exc
        inline_errors = self.inline_failures(sent)
        if inline_errors:
            if raised is None:
                self.fail(
                    "ERR-1",
                    f"publish of {sent.label} raises the exception of its failing INLINE handler",
                    f"it returned normally; {self.kit.log_summary()}",
                )
            elif not any(e is x for e in exception_chain(raised) for x in inline_errors):
                self.fail(
                    "ERR-1",
                    f"publish of {sent.label} raises its INLINE handler's exception, or one chaining or grouping it",
                    f"it raised {describe(raised)}, which carries none of {[describe(x) for x in inline_errors]}",
                )
            for h in self.required(sent):
                if self.count(h, sent.eid) != 1:
                    self.fail(
                        "POL-ORDER-1",
                        f"{self.handlers[h].describe()}, registered before the failing INLINE handler, has run once "
                        f"when publish of {sent.label} raises",
                        f"it ran {self.count(h, sent.eid)} times",
                    )
            return
        if raised is not None:
            failing = {h.policy for h in self.failed(sent)}
            rule = "ERR-3" if "TASK" in failing else "ERR-4" if "THREADPOOL" in failing else "PUB-1"
            self.fail(rule, f"publish of {sent.label} returns normally (no INLINE handler failed)", describe(raised))
        await self.check_inline_done(sent)

    async def check_inline_done(self, sent: Sent) -> None:
        """Every INLINE handler of `sent` has finished once, in subscription order."""
        inline = [self.handlers[h] for h in sent.sure if self.handlers[h].policy == "INLINE"]
        for handler in inline:
            n = self.count(handler.index, sent.eid)
            if n == 1:
                continue
            if n > 1:
                self.fail("PUB-1", f"{handler.describe()} is called once for {sent.label}", f"it was called {n} times")
            late = not await self.delivered([(handler.index, sent.eid)], f"{handler.label} finishes")
            rule = "POL-INLINE-1" if handler.spec.is_async else "POL-INLINE-2"
            self.fail(
                rule if late else "PUB-1",
                f"{handler.describe()} has finished when publish of {sent.label} returns",
                "it finished only after publish returned" if late else "it was never called",
            )
        order = [
            c.label
            for c in list(self.rec.calls)
            if getattr(c.event, "eid", None) == sent.eid and c.label in {h.label for h in inline}
        ]
        expected = [h.label for h in inline]
        if order != expected:
            self.fail(
                "POL-ORDER-1",
                f"the INLINE handlers of {sent.label} run in subscription order: {expected}",
                f"they ran as {order}",
            )

    async def post(self, step: Post) -> None:
        sent, event = self.new_event(step.event_type, posted=True)
        sent.producer = step.producer
        sent.context = "running" if self.running else "after-stop" if self.stopped else "before-start"
        if step.producer == "thread":
            assert self.producer is not None
            error = await self.producer.post(self.bus, event)
        else:
            result: Any = None
            error = None
            try:
                result = self.bus.post(event)
            except Exception as exc:
                error = exc
            if hasattr(result, "__await__"):
                getattr(result, "close", lambda: None)()  # an unawaited coroutine would only warn later
                self.fail("POST-1", "post is a plain call that returns nothing to await", f"it returned {result!r}")
        if error is None:
            return
        if self.running:
            rule = "WRK-5" if self.restarted else "POST-2" if step.producer == "thread" else "POST-1"
            self.fail(
                rule,
                f"post of {sent.label} is accepted while the worker runs (unbounded queue)",
                f"it raised {describe(error)}",
            )
        sent.accepted = False  # refused at once: allowed while no worker runs (IMPL-4)
        sent.settled = True
        rule = "POST-6" if self.stopped else "POST-5"
        if not str(error).strip():
            self.fail(rule, f"post of {sent.label} without a worker raises a clear error", describe(error))

    async def start_worker(self) -> None:
        rule = "WRK-1" if self.running else "WRK-5" if self.stopped else "POST-5"
        try:
            await self.bounded(self.bus.start_worker(), "start_worker returns", rule)
        except RuleViolation:
            raise
        except Exception as exc:
            self.fail(rule, "start_worker returns normally", f"it raised {describe(exc)}")
        if not self.running and self.stopped:
            self.restarted = True
        self.running = True

    async def stop_worker(self) -> None:
        rule = "WRK-2" if self.running else "WRK-3"
        try:
            await self.bounded(self.bus.stop_worker(), "stop_worker returns", rule)
        except RuleViolation:
            raise
        except Exception as exc:
            self.fail(rule, "stop_worker returns normally", f"it raised {describe(exc)}")
        if not self.running:
            return  # a no-op: what is buffered stays buffered
        self.running = False
        self.stopped = True
        for sent in [s for s in self.sent if s.posted and not s.settled]:
            await self.check_drained(sent)
            sent.settled = True

    async def check_drained(self, sent: Sent) -> None:
        """`sent` was dispatched before stop_worker returned: its INLINE handlers have run.

        No waiting here: a late dispatch is as wrong as none [WRK-2], and a failing
        program must fail fast, or shrinking it takes minutes.
        """
        for h in sent.sure:
            handler = self.handlers[h]
            if handler.policy != "INLINE" or h not in self.required(sent) or self.count(h, sent.eid):
                continue
            if any(self.relaxed(s) for s in self.sent if s.posted and s.eid < sent.eid):
                rule = "WRK-6"  # an earlier posted event failed: did the worker die?
            else:
                rule = {"before-start": "POST-5", "after-stop": "POST-6"}.get(sent.context, "WRK-2")
            self.fail(
                rule,
                f"{sent.label}, accepted by post, has been dispatched to {handler.describe()} when stop_worker returns",
                f"it had not been (the worker was {'running' if sent.context == 'running' else 'not running'} "
                "when it was posted)",
            )

    # -- the end --------------------------------------------------------------------------------

    async def final_checks(self) -> None:
        # Background handlers (TASK, THREADPOOL) of every dispatch must all have run.
        pending = [
            (h, s.eid) for s in self.sent if s.accepted for h in self.required(s) if self.handlers[h].policy != "INLINE"
        ]
        missing = await self.delivered(pending, "the TASK and THREADPOOL handlers of every dispatch ran")
        for h, eid in missing:
            sent, handler = self.sent[eid], self.handlers[h]
            self.fail(
                self.missing_rule(sent, handler),
                f"{handler.describe()} is called for {sent.label}",
                "it was never called",
            )
        await self.kit.settle()
        self.check_counts()
        self.check_fifo()
        await self.check_logged()

    def check_counts(self) -> None:
        for sent in self.sent:
            if not sent.accepted:
                for handler in self.handlers:
                    if self.count(handler.index, sent.eid):
                        self.fail(
                            "POST-6" if sent.context == "after-stop" else "POST-5",
                            f"{sent.label}, refused by post, is never delivered",
                            f"{handler.describe()} received it",
                        )
                continue
            required = self.required(sent)
            for handler in self.handlers:
                n = self.count(handler.index, sent.eid)
                if handler.index in sent.sure:
                    if n > 1:
                        self.fail(
                            self.mixed_rule(handler) or ("POST-4" if sent.posted else "PUB-1"),
                            f"{handler.describe()} is called once for {sent.label}",
                            f"it was called {n} times",
                        )
                    if n == 0 and handler.index in required:
                        self.fail(
                            self.missing_rule(sent, handler),
                            f"{handler.describe()} is called for {sent.label}",
                            "it was never called",
                        )
                elif handler.index in sent.maybe:
                    if n > 1:
                        base = handler.spec.event_type != sent.event_type
                        self.fail(
                            self.mixed_rule(handler) or ("PUB-3" if base else "PUB-1"),
                            f"{handler.describe()} is called at most once for {sent.label}",
                            f"it was called {n} times",
                        )
                elif n:
                    unrelated = (
                        handler.spec.event_type != sent.event_type
                        and handler.spec.event_type not in BASES[sent.event_type]
                    )
                    self.fail(
                        "PUB-2" if unrelated else "PUB-5",
                        f"{handler.describe()} is not called for {sent.label}"
                        + ("" if unrelated else " (it was registered after that dispatch began)"),
                        f"it was called {n} times",
                    )

    def check_fifo(self) -> None:
        posted = {s.eid: s for s in self.sent if s.posted and s.accepted}
        for handler in self.handlers:
            if handler.policy != "INLINE":
                continue
            for producer in ("loop", "thread"):
                seen = [
                    c.event.eid
                    for c in list(self.rec.calls)
                    if c.label == handler.label
                    and getattr(c.event, "eid", None) in posted
                    and posted[c.event.eid].producer == producer
                ]
                if seen != sorted(seen):
                    self.fail(
                        "POST-3",
                        f"{handler.describe()} receives the events posted from the {producer} thread in the "
                        "order they were posted",
                        f"it received e{', e'.join(map(str, seen))}",
                    )

    async def check_logged(self) -> None:
        for (h, eid), excs in list(self.failures.items()):
            handler, sent = self.handlers[h], self.sent[eid]
            if handler.policy == "INLINE" and not sent.posted:
                continue  # it reached the publisher [ERR-1]
            for exc in excs:
                if not await self.kit.logged(exc):
                    rule = "WRK-6" if handler.policy == "INLINE" else "ERR-5"
                    self.fail(
                        rule,
                        f"the failure of {handler.describe()} on {sent.label}, {describe(exc)}, is logged at "
                        "ERROR with the exception attached",
                        self.kit.log_summary(),
                    )


class _Producer:
    """One producer thread that posts on request, so its posts have a single, ordered origin [POST-3]."""

    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self.jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.thread: threading.Thread | None = None

    def _serve(self) -> None:
        while (job := self.jobs.get()) is not None:
            job()

    async def post(self, bus: Any, event: Any) -> BaseException | None:
        if self.thread is None:
            self.thread = self.kit.thread(self._serve, "stateful-producer")
        done = self.kit.gate("the producer thread's post returned")
        outcome: list[BaseException] = []

        def job() -> None:
            try:
                bus.post(event)
            except Exception as exc:
                outcome.append(exc)
            finally:
                done.open()

        self.jobs.put(job)
        if not await done.wait():
            self.kit.fail("post from a thread returns", f"still not done after {self.kit.bound:g} s", rule="POST-2")
        return outcome[0] if outcome else None

    def close(self) -> None:
        self.jobs.put(None)


# -- Hypothesis ----------------------------------------------------------------------------


def _machine(run_program: Callable[[list[Step]], None]) -> type[RuleBasedStateMachine]:
    """A state machine that draws a program and, at teardown, has `run_program` run it."""

    class BusProgram(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.steps: list[Step] = []

        @initialize(start_worker=st.booleans())
        def one_inline_handler_per_type(self, start_worker: bool) -> None:
            self.steps += [Subscribe(t, None, False, False) for t in TYPES]
            if start_worker:
                self.steps.append(StartWorker())

        @rule(
            event_type=st.sampled_from(TYPES),
            policy=st.sampled_from(POLICIES),
            is_async=st.booleans(),
            fails=st.sampled_from((False, False, False, True)),
        )
        def subscribe(self, event_type: str, policy: str | None, is_async: bool, fails: bool) -> None:
            self.steps.append(Subscribe(event_type, policy, is_async, fails))

        @rule(event_type=st.sampled_from(TYPES))
        def publish(self, event_type: str) -> None:
            self.steps.append(Publish(event_type))

        @rule(
            event_type=st.sampled_from(TYPES),
            producer=st.sampled_from(("loop", "thread")),
            times=st.integers(min_value=1, max_value=3),
        )
        def post(self, event_type: str, producer: str, times: int) -> None:
            # Several posts in a row leave events waiting in the queue when the next step runs.
            self.steps += [Post(event_type, producer)] * times

        @rule()
        def start_worker(self) -> None:
            self.steps.append(StartWorker())

        @rule()
        def stop_worker(self) -> None:
            self.steps.append(StopWorker())

        def teardown(self) -> None:
            run_program(self.steps)

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
)
def test_random_programs_match_the_model(implementation: Implementation, request: pytest.FixtureRequest) -> None:
    bound: float = request.config.getoption("bound")
    new_loop = loop_factory(request.config.getoption("loop"))
    caplog = _caplog(request)
    problems: set[str] = set()
    failed: list[BaseException] = []

    def run_program(steps: list[Step]) -> None:
        # Once a program has failed, Hypothesis only shrinks it: shorter waits keep that cheap.
        wait = min(bound, SHRINK_BOUND) if failed else bound
        if caplog is not None:
            caplog.clear()  # a failure's report shows the logs of its own program, not of every program run
        kit = Kit(implementation, RULES["PUB-1"], bound=wait)
        program = Program(kit)
        try:
            problems.update(run_test(kit, lambda: program.run(steps), new_loop, hard_bound=10 * wait))
        except BaseException as exc:
            failed.append(exc)
            raise

    phases = [p for p in Phase if SHRINK or p is not Phase.shrink]
    try:
        run_state_machine_as_test(
            _machine(run_program),
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                derandomize=not RANDOM,
                print_blob=True,
                phases=phases,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    except RuleViolation as exc:
        # The program Hypothesis found is in the exception's notes; the kit's concise report
        # prints only the message, so the program goes into it.
        program = "\n".join(getattr(exc, "__notes__", ()))
        raise RuleViolation(exc.rule, exc.expected, f"{exc.observed}\n{program}") from None
    for problem in sorted(problems):
        warnings.warn(pytest.PytestWarning(f"[stateful] after a program: {problem}"), stacklevel=1)

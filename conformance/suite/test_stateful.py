"""SPEC.md §2, §3, §4, §5 (and §8 when claimed): a model-based test of a live bus.

A Hypothesis `RuleBasedStateMachine` drives one bus per program. The bus lives on
an event loop running in a thread of its own for the whole program
(`conformance.stateful.LiveLoop`); every rule submits a coroutine to that loop
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

The model, its records, the handlers of every kind, the producer thread and
the live loop are the kit's (`conformance.stateful`); this module holds the
state machine, whose rules and strategies make the programs, and the test.

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

import warnings
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conformance.adapter import Implementation
from conformance.kit import Kit, RuleViolation
from conformance.rules import RULES
from conformance.runner import loop_factory
from conformance.stateful import (
    BACKGROUND,
    KINDS,
    POLICIES,
    SHRINK_BOUND,
    TYPES,
    Fn,
    LiveLoop,
    Model,
    Run,
    Settings,
    StepTimeout,
    log_capture,
)

SETTINGS = Settings.from_environment()


def _machine(run: Run) -> type[RuleBasedStateMachine]:
    """The state machine: each instance is one program on one live bus.

    Hypothesis seeds the derandomized programs from this class's source (comments
    and blank lines aside): editing `BusProgram` changes the programs, and so the
    failing programs that reports quote.
    """
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
    run = Run(
        implementation,
        request.config.getoption("bound"),
        loop_factory(request.config.getoption("loop")),
        log_capture(request),
    )
    phases = [p for p in Phase if SETTINGS.shrink or p is not Phase.shrink]
    try:
        run_state_machine_as_test(
            _machine(run),
            settings=settings(
                max_examples=SETTINGS.examples,
                stateful_step_count=SETTINGS.steps,
                deadline=None,
                database=None,
                derandomize=not SETTINGS.random,
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
        bound = f"(waits bounded by {min(run.bound, SHRINK_BOUND):g} s while shrinking)" if SETTINGS.shrink else ""
        raise RuleViolation(exc.rule, exc.expected, f"{exc.observed}\n{program}\n{bound}".rstrip(), exc.kind) from None
    except Flaky as exc:
        # The failing program did not fail the same way when Hypothesis replayed it (a bus whose
        # order depends on memory addresses, a machine too loaded for the shrinking bound): the
        # failure it first saw is still a failure of its rule, not a crash of the kit.
        first = _first_violation(exc)
        if first is None:
            raise
        raise RuleViolation(
            first.rule,
            first.expected,
            f"{first.observed}\n(the program failed this way once, then differently when Hypothesis replayed it: "
            f"{type(exc).__name__})",
            first.kind,
        ) from None
    for problem in sorted(run.problems):
        warnings.warn(pytest.PytestWarning(f"[stateful] after a program: {problem}"), stacklevel=1)


def _first_violation(exc: BaseException) -> RuleViolation | None:
    """The first `RuleViolation` inside `exc` (an exception group, its causes and contexts), if any."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, RuleViolation):
            return current
        todo += list(getattr(current, "exceptions", ()))
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    return None

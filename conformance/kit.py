"""The `Kit` fixture every conformance test receives: the implementation's names, helpers, and its rule.

The pieces live in small modules by concern and are re-exported here:
`_failures` (RuleViolation, exception chains), `_sync` (gates, time scales),
`_recording` (Recorder, handlers of every kind), `_logs` (log capture) and
`_paths` (publish and post + worker). Every wait has a bound; a test never
sleeps to decide an order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ._failures import FailureKind, RuleViolation, describe, exception_chain
from ._logs import LogCapture, logs_error
from ._paths import PATHS, Dispatch, PathName
from ._recording import Call, HandlerKind, Recorder
from ._sync import DEFAULT_BOUND, PROMPT_TURNS, SETTLE_TURNS, Gate, patience, settle_window
from .adapter import Implementation, PolicyName
from .rules import RULES, Rule

__all__ = [
    "DEFAULT_BOUND",
    "PATHS",
    "PROMPT_TURNS",
    "Call",
    "Dispatch",
    "FailureKind",
    "Gate",
    "HandlerKind",
    "Kit",
    "Outcome",
    "PathName",
    "Recorder",
    "RuleViolation",
    "describe",
    "exception_chain",
]

T = TypeVar("T")

_shared_classes: dict[tuple[str, str], type] = {}


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """How a call ended that completed within the bound: its value, or the exception it raised."""

    value: T | None
    error: Exception | None


class Kit:
    """The fixture every conformance test receives: the implementation, helpers, and its rule.

    It knows which rule the running test checks, so `fail` and `check` name it, and
    it tracks what the test starts (buses, containers, threads) so that teardown
    can stop it all.
    """

    def __init__(self, impl: Implementation, rule: Rule, bound: float = DEFAULT_BOUND) -> None:
        self.impl = impl
        self.rule = rule
        self.bound = bound
        self.patience = patience(bound)
        """Seconds that "waits for" handlers take in all (SPEC.md, Terms)."""
        self.path: str | None = None
        """The dispatch path of a test that takes the `dispatch` fixture, named in its failures."""
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread_id: int | None = None
        self._buses: list[Any] = []
        self._containers: list[Any] = []
        self._threads: list[threading.Thread] = []
        self._thread_errors: list[tuple[str, BaseException]] = []
        self._to_the_end: list[tuple[Callable[[], bool], str, Callable[[], str]]] = []
        self._logs = LogCapture()

    # -- the implementation's names ------------------------------------------------

    @property
    def Event(self) -> Any:  # noqa: N802 - mirrors the documented name
        """The implementation's `Event` base class."""
        return self.impl.event_type

    @property
    def EventBus(self) -> Any:  # noqa: N802 - mirrors the documented name
        """The implementation's `EventBus` class (for constructor annotations)."""
        return self.impl.bus_type

    @property
    def AutoSubscriberMixin(self) -> Any:  # noqa: N802 - mirrors the documented name
        """The implementation's `AutoSubscriberMixin`."""
        return self.impl.mixin

    def event_class(self, name: str, base: Any = None, *, module: str | None = None) -> Any:
        """A new event class called `name`, subclassing `base` or the implementation's `Event`.

        `module` sets its `__module__`: two classes of one name in two modules are
        two event types.
        """
        namespace = {"__module__": module} if module else {}
        return type(name, (base if base is not None else self.impl.event_type,), namespace)

    def numbered_event(self, name: str = "Numbered", *, frozen: bool = True) -> Any:
        """A new dataclass event with one field `n`, so messages can say which event it was.

        Frozen, it is hashable; not frozen, it is a plain `@dataclass`: equal by
        value and unhashable (`__hash__` is None).
        """
        return dataclasses.make_dataclass(name, [("n", int)], bases=(self.impl.event_type,), frozen=frozen)

    def odd_event(self, name: str = "Odd") -> Any:
        """An event class with a field `n` whose instances all compare equal and hash alike.

        A bus that dedupes, indexes or routes by equality or hash mixes its events up.
        """

        def __init__(self: Any, n: int) -> None:  # noqa: N807 - a method of the class made below
            self.n = n

        def __eq__(self: Any, other: object) -> bool:  # noqa: N807
            return True

        def __hash__(self: Any) -> int:  # noqa: N807
            return 0

        def __repr__(self: Any) -> str:  # noqa: N807
            return f"{name}(n={self.n})"

        namespace = {"__init__": __init__, "__eq__": __eq__, "__hash__": __hash__, "__repr__": __repr__}
        return type(name, (self.impl.event_type,), namespace)

    def shared_event_class(self, name: str) -> Any:
        """An event class made once per implementation and process, the same object in every test.

        Like an event class defined at module level: state a bus keeps per class
        must not leak from one bus or container to the next.
        """
        key = (self.impl.name, name)
        if key not in _shared_classes:
            _shared_classes[key] = dataclasses.make_dataclass(
                name, [("n", int)], bases=(self.impl.event_type,), frozen=True
            )
        return _shared_classes[key]

    def error_class(self, name: str) -> type[BaseException]:
        """The implementation's exception class `name`; the test fails if it has none."""
        cls = self.impl.error(name)
        if cls is None:
            self.fail(
                f"the bus module (or its package) exports an exception class called {name}",
                f"{self.impl.name} has no exception class of that name",
            )
        assert cls is not None  # fail raised
        return cls

    def on(self, event_type: Any, **options: Any) -> Callable[[T], T]:
        """The implementation's `@subscribe(event_type, ...)` decorator.

        `policy` may be given by name ("INLINE", "TASK", "THREADPOOL").
        """
        if isinstance(options.get("policy"), str):
            options["policy"] = self.impl.policy(options["policy"])
        decorator: Callable[[T], T] = self.impl.subscribe_decorator(event_type, **options)
        return decorator

    # -- building things -----------------------------------------------------------

    def new_bus(self, **options: Any) -> Any:
        """A fresh bus (closed at teardown); options such as `max_queue_size` pass through."""
        bus = self.impl.new_bus(**options)
        self._buses.append(bus)
        return bus

    def add(
        self,
        bus: Any,
        event_type: Any,
        fn: Callable[..., Any],
        policy: PolicyName | None = None,
        **options: Any,
    ) -> None:
        """Register `fn` for `event_type` on `bus` (policy by name; None means the default)."""
        self.impl.add_handler(bus, event_type, fn, policy=policy, **options)

    def container(self, *components: type) -> Any:
        """A container holding the bus and `components` (cleaned up at teardown)."""
        container = self.impl.new_container(components)
        self._containers.append(container)
        return container

    def container_from(self, modules: str, *components: type, lazy: tuple[type, ...] = ()) -> Any:
        """`container(*components)`, with `init` given its modules as `modules` says (CTR-4), `lazy` marked lazy.

        `modules` is "mixed", "swapped", "names" or "objects" (`ModuleAdapter.new_container`).
        An adapter whose `new_container` takes no such options fails the test: it cannot show the rule.
        """
        new_container: Any = self.impl.new_container
        accepted = inspect.signature(new_container).parameters
        if "modules" not in accepted or "lazy" not in accepted:
            self.fail(
                f"the adapter builds a container with init given its modules as {modules!r}"
                + (" and components marked lazy" if lazy else ""),
                "its new_container takes no `modules` and `lazy` options (see ModuleAdapter.new_container)",
            )
        container = new_container(components, modules=modules, lazy=lazy)
        self._containers.append(container)
        return container

    def gate(self, name: str) -> Gate:
        """A gate bound to this test's loop and bound."""
        assert self.loop is not None, "gates are made inside the test's coroutine"
        return Gate(name, self.loop, self.bound)

    def recorder(self) -> Recorder:
        """A fresh recorder of handler calls."""
        return Recorder(self)

    def thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Start a daemon thread that teardown joins (with a bound).

        If `target` raises, that exception is the test's failure: it is raised by
        `join`, by any wait of the test that then runs out, and at the end.
        """

        def run() -> None:
            try:
                target()
            except BaseException as exc:  # handed to the test's thread
                self._thread_errors.append((threading.current_thread().name, exc))

        t = threading.Thread(target=run, name=f"conformance-{name}", daemon=True)
        self._threads.append(t)
        t.start()
        return t

    async def join(self, thread: threading.Thread, what: str) -> None:
        """Wait, without blocking the loop, until `thread` ends; fail naming `what` if it does not."""
        done = self.gate(f"thread {thread.name} ended")

        def watch() -> None:
            thread.join(self.bound)
            if not thread.is_alive():
                done.open()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        if not await done.wait():
            self.fail(what, f"still not done after {self.bound:g} s", kind="hang")
        self.raise_thread_errors()

    def raise_thread_errors(self) -> None:
        """Raise the first exception a thread of `thread` raised, if any: it is the real failure."""
        __tracebackhide__ = True
        if self._thread_errors:
            name, exc = self._thread_errors[0]
            add_note = getattr(exc, "add_note", None)  # Python 3.11+
            if not isinstance(exc, RuleViolation) and add_note is not None:
                add_note(f"(raised in the test's helper thread {name})")
            raise exc

    # -- checking ----------------------------------------------------------------

    def fail(self, expected: str, observed: str, rule: str | None = None, kind: FailureKind = "assertion") -> None:
        """Fail the test for its rule (or `rule`), saying what was expected and what happened."""
        __tracebackhide__ = True
        self.raise_thread_errors()
        if self.path is not None:
            observed = f"{observed} (events dispatched through {self.path})"
        raise RuleViolation(RULES[rule] if rule else self.rule, expected, observed, kind)

    def check(self, condition: object, expected: str, observed: str) -> None:
        """`fail(expected, observed)` unless `condition` holds."""
        __tracebackhide__ = True
        if not condition:
            self.fail(expected, observed)

    def expect_error(self, exc: Exception | None, error_name: str, call: str, rec: Recorder | None = None) -> None:
        """Check that `call` raised the implementation's `error_name` (`exc`) and, given `rec`, ran no handler."""
        __tracebackhide__ = True
        cls = self.error_class(error_name)
        calls = f"; handler calls so far: {rec.labels()}" if rec is not None else ""
        if exc is None:
            self.fail(f"{call} raises {error_name}", f"it returned normally{calls}")
        elif not isinstance(exc, cls):
            self.fail(f"{call} raises {error_name}", f"it raised {describe(exc)}, which is not an {error_name}")
        if rec is not None:
            self.check(rec.count() == 0, f"no handler runs for {call}", f"handler calls: {rec.labels()}")

    def hang(self, what: str) -> None:
        """Fail as a hang: `what` did not complete within the bound."""
        __tracebackhide__ = True
        self.fail(
            what, f"still not done after {self.bound:g} s (it hangs or waits for something it should not)", kind="hang"
        )

    async def within(self, awaitable: Awaitable[T], what: str) -> T:
        """Await `awaitable`, failing as a hang with `what` if it takes longer than the bound.

        What the awaitable raises propagates unchanged; a hang is never an
        assertion (use `outcome` to look at an exception).
        """
        __tracebackhide__ = True
        try:
            return await asyncio.wait_for(awaitable, self.bound)
        except asyncio.TimeoutError:
            pass
        self.hang(what)
        raise AssertionError("unreachable")

    async def outcome(self, awaitable: Awaitable[T], what: str) -> Outcome[T]:
        """Await `awaitable` within the bound: its value or the `Exception` it raised.

        The one way a test looks at what a call raised: a hang stays a hang
        (`RuleViolation` of kind "hang"), it is never taken for the call's exception.
        """
        __tracebackhide__ = True
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task}, timeout=self.bound)
        if not done:
            task.cancel()
            self.hang(what)
        try:
            return Outcome(task.result(), None)
        except RuleViolation:
            raise  # a verdict of the kit (a nested hang, a handler's check), never the call's exception
        except Exception as exc:
            return Outcome(None, exc)

    async def raised(self, call: Callable[[], Awaitable[Any]], what: str) -> Exception | None:
        """Await `call()` within the bound; the exception it raised (calling or awaiting), or None."""
        __tracebackhide__ = True
        try:
            awaitable = call()
        except RuleViolation:
            raise
        except Exception as exc:
            return exc
        return (await self.outcome(awaitable, what)).error

    @staticmethod
    def raised_now(call: Callable[[], Any]) -> Exception | None:
        """Call `call()`; the exception it raised, or None (a `RuleViolation` of the kit propagates)."""
        try:
            call()
        except RuleViolation:
            raise
        except Exception as exc:
            return exc
        return None

    def accepted(self, call: Callable[[], T], what: str) -> T:
        """Call `call()` and return its value; fail, saying `what` should have succeeded, if it raises.

        The positive control of a must-raise test: the same call with valid input
        succeeds, so a bus (or adapter) that raises for everything fails.
        """
        __tracebackhide__ = True
        box: list[T] = []
        exc = self.raised_now(lambda: box.append(call()))
        if exc is not None:
            self.fail(f"{what} succeeds", f"it raised {describe(exc)}")
        return box[0]

    async def raised_in_thread(self, call: Callable[[], Any], what: str) -> Exception | None:
        """Run `call()` on a new thread (it may block); the exception it raised there, or None."""
        box: list[Exception | None] = []
        thread = self.thread(lambda: box.append(self.raised_now(call)), "caller")
        await self.join(thread, what)
        return box[0]

    async def reached(self, gate: Gate, expected: str) -> None:
        """Fail unless `gate` opens within the bound."""
        __tracebackhide__ = True
        if not await gate.wait():
            self.fail(expected, f"{gate.name!r} did not happen within {self.bound:g} s")

    async def prompt(self, awaitable: Awaitable[T], what: str, turns: int = PROMPT_TURNS) -> T:
        """Await `awaitable`, which must complete within `turns` event-loop iterations ("does not wait").

        Iterations are counted, not seconds, so a grace period or a short hidden
        wait fails as surely as a long one. A call that completes later within
        the bound fails as an assertion saying how long it took; one that never
        completes is a hang.
        """
        __tracebackhide__ = True
        task = asyncio.ensure_future(awaitable)
        started = time.monotonic()
        spent = 0
        while not task.done() and spent < turns:
            await asyncio.sleep(0)
            spent += 1
        if task.done():
            return task.result()
        done, _ = await asyncio.wait({task}, timeout=self.bound)
        if not done:
            task.cancel()
            self.hang(what)
        elapsed = time.monotonic() - started
        self.fail(
            f"{what}, within {turns} event-loop iterations",
            f"it completed only after more than {turns} iterations and {elapsed * 1000:.0f} ms: "
            "it waited (for the handler, a grace period or a timeout)",
        )
        raise AssertionError("unreachable")

    async def settle(self, turns: int = SETTLE_TURNS) -> None:
        """Let already-scheduled work show itself before the test counts calls.

        It runs `turns` loop iterations, keeps the loop running for a short
        window (`bound / 100`, 20 ms by default) in which a thread or a timer can
        deliver late, and runs `turns` iterations again. It decides no order.
        """
        for _ in range(turns):
            await asyncio.sleep(0)
        await asyncio.sleep(settle_window(self.bound))
        for _ in range(turns):
            await asyncio.sleep(0)

    def to_the_end(self, condition: Callable[[], bool], expected: str, observed: Callable[[], str]) -> None:
        """Check `condition` again after teardown, once the bus is closed and the loop has ended."""
        self._to_the_end.append((condition, expected, observed))

    async def exactly(self, rec: Recorder, n: int, label: str | None, expected: str) -> None:
        """Check that `label` (or any handler) was called exactly `n` times, now and to the end of the test.

        It settles first; afterwards a late call, from a task, a timer or a
        thread, fails the test when the kit checks again after teardown.
        """
        __tracebackhide__ = True
        await self.settle()
        got = rec.count(label)
        self.check(got == n, expected, f"{got} calls of {label or 'the handlers'}: {rec.labels()}")
        self.to_the_end(
            lambda: rec.count(label) == n,
            expected,
            lambda: (
                f"{rec.count(label)} calls of {label or 'the handlers'} by the end of the test, {n} when the "
                "test checked: a late second delivery"
            ),
        )

    async def exactly_each(self, rec: Recorder, counts: dict[str, int], expected: str) -> None:
        """`exactly` for several labels at once (label -> calls), settling only once."""
        __tracebackhide__ = True
        await self.settle()

        def wrong() -> dict[str, int]:
            return {label: rec.count(label) for label, n in counts.items() if rec.count(label) != n}

        off = wrong()
        self.check(not off, expected, f"calls per handler that differ from {counts}: {off}; calls: {rec.labels()}")
        self.to_the_end(
            lambda: not wrong(),
            expected,
            lambda: f"by the end of the test, calls per handler differ from {counts}: {wrong()} (a late delivery)",
        )

    def final_checks(self) -> None:
        """Run the checks deferred with `to_the_end`; called by the runner after the loop has closed."""
        __tracebackhide__ = True
        for condition, expected, observed in self._to_the_end:
            if not condition():
                self.fail(expected, observed())

    # -- logs ---------------------------------------------------------------------

    def error_logs_with(self, exc: BaseException) -> list[logging.LogRecord]:
        """Log records at ERROR or above whose attached exception chain contains `exc`."""
        return [r for r in self._logs.snapshot() if logs_error(r, exc)]

    def error_records(self) -> list[logging.LogRecord]:
        """Every log record of the test at ERROR or above."""
        return [r for r in self._logs.snapshot() if r.levelno >= logging.ERROR]

    def log_summary(self) -> str:
        """The captured log records, one short line each, for failure messages."""
        recs = self._logs.snapshot()
        if not recs:
            return "nothing was logged"
        return "; ".join(
            f"{r.levelname} {r.name}: {r.getMessage()[:80]!r}"
            + (f" with {describe(r.exc_info[1])}" if r.exc_info and r.exc_info[1] else " (no exception attached)")
            for r in recs[:5]
        )

    async def logged(self, exc: BaseException) -> bool:
        """Wait until `exc` is logged at ERROR with the exception attached; False after the bound."""
        gate = self.gate(f"{describe(exc)} logged")
        self._logs.watch(lambda r: logs_error(r, exc), gate)
        return await gate.wait()

    # -- lifecycle (driven by the runner) ------------------------------------------

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the test's loop; called by the runner on the loop's thread."""
        self.loop = loop
        self.loop_thread_id = threading.get_ident()
        logging.getLogger().addHandler(self._logs)

    async def teardown(self) -> list[str]:
        """Stop what the test started; return what could not be stopped, one line each."""
        problems: list[str] = []
        for container in reversed(self._containers):
            problems += await self._bounded(self.impl.close_container(container), "container shutdown")
        for bus in reversed(self._buses):
            problems += await self._bounded(self.impl.close_bus(bus), "bus shutdown")
        for t in self._threads:
            t.join(self.bound)
            if t.is_alive():
                problems.append(f"thread {t.name} still running")
        logging.getLogger().removeHandler(self._logs)
        return problems

    async def _bounded(self, aw: Awaitable[Any], what: str) -> list[str]:
        try:
            await asyncio.wait_for(aw, self.bound)
        except asyncio.TimeoutError:
            return [f"{what} did not finish within {self.bound:g} s"]
        except Exception as exc:  # teardown reports, the test has already spoken
            return [f"{what} raised {describe(exc)}"]
        return []

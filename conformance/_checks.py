"""Checks that name their rule: failing, bounded waits, "does not wait" in loop iterations, "exactly once".

`Kit` builds on `Checks`; everything here needs only the rule, the bound and the
test's loop, not the implementation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ._failures import FailureKind, RuleViolation, describe
from ._recording import Recorder
from ._sync import PROMPT_TURNS, SETTLE_TURNS, Gate, settle_window
from .rules import RULES, Rule

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """How a call ended that completed within the bound: its value, or the exception it raised."""

    value: T | None
    error: Exception | None


class Checks:
    """The part of the kit that checks: every failure names the test's rule (or the one given)."""

    def __init__(self, rule: Rule, bound: float) -> None:
        self.rule = rule
        self.bound = bound
        self.slack = 0.0
        """Extra seconds every wait of this test allows: the time its slow handlers take (`slow_handlers`)."""
        self.path: str | None = None
        """The dispatch path of a test that takes the `dispatch` fixture, named in its failures."""
        self._to_the_end: list[tuple[Callable[[], bool], str, Callable[[], str]]] = []

    @property
    def wait_bound(self) -> float:
        """How long any single wait of this test may take: the bound, plus the slack of slow handlers."""
        return self.bound + self.slack

    def raise_thread_errors(self) -> None:
        """Raise what a helper thread of the test raised, if anything (the kit's threads; none here)."""

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

    def hang(self, what: str) -> None:
        """Fail as a hang: `what` did not complete within the bound."""
        __tracebackhide__ = True
        self.fail(
            what,
            f"still not done after {self.wait_bound:g} s (it hangs or waits for something it should not)",
            kind="hang",
        )

    async def within(self, awaitable: Awaitable[T], what: str) -> T:
        """Await `awaitable`, failing as a hang with `what` if it takes longer than the bound.

        What the awaitable raises propagates unchanged; a hang is never an
        assertion (use `outcome` to look at an exception).
        """
        __tracebackhide__ = True
        try:
            return await asyncio.wait_for(awaitable, self.wait_bound)
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
        done, _ = await asyncio.wait({task}, timeout=self.wait_bound)
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

    async def reached(self, gate: Gate, expected: str) -> None:
        """Fail unless `gate` opens within the bound."""
        __tracebackhide__ = True
        if not await gate.wait():
            self.fail(expected, f"{gate.name!r} did not happen within {self.wait_bound:g} s")

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
        done, _ = await asyncio.wait({task}, timeout=self.wait_bound)
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

"""Running one conformance test: a fresh event loop on its own thread, with a bound.

The loop runs on a thread of its own so that an implementation that blocks the
loop's thread (a deadlock, a sync handler run where it must not be) cannot stall
the run: the test fails after its bound, naming its rule, and the run goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ._leftovers import new_executor, shut_executor
from ._loops import LOOPS, loop_factory
from .capabilities import Unsupported
from .kit import Kit, RuleViolation, describe

__all__ = ["LOOPS", "cancel_leftovers", "loop_factory", "run_test"]

LOOP_THREAD = "event-loop"
"""The name of the thread a test's event loop runs on (the stateful test's live loop too)."""


@dataclass
class _TestState:
    """What the loop's thread hands back to pytest's thread about one test."""

    body_done: bool = False
    """The test's coroutine ended (passed or failed); only teardown may still run."""
    body_error: BaseException | None = None
    """What the test's coroutine raised."""
    error: BaseException | None = None
    """What the loop's thread raised, the test's error included."""
    problems: list[str] = field(default_factory=list)
    """What teardown could not stop."""


def run_test(
    kit: Kit,
    test: Callable[[], Coroutine[Any, Any, None]],
    new_loop: Callable[[], asyncio.AbstractEventLoop],
    hard_bound: float,
) -> list[str]:
    """Run `test()` on a new loop in a new thread; return teardown problems.

    The test's own waits are bounded by `kit.bound`; `hard_bound` is the last
    resort for a loop that is blocked and cannot even time out. Once the loop has
    closed, the checks the test deferred to the end (a late second delivery, say)
    run here.
    """
    state = _TestState()

    def main() -> None:
        loop = new_loop()
        executor = new_executor(kit.rule.id)
        loop.set_default_executor(executor)
        try:
            asyncio.set_event_loop(loop)
            kit.bind(loop)
            state.problems = loop.run_until_complete(_body(kit, test, hard_bound, state))
        except BaseException as exc:  # handed back to pytest's thread below
            state.error = exc
        finally:
            try:
                _close_loop(loop, executor, kit.bound)
            finally:
                asyncio.set_event_loop(None)

    # A plain, fixed name: neither the rule nor the kit shows to the bus under test.
    thread = threading.Thread(target=main, name=LOOP_THREAD, daemon=True)
    thread.start()
    thread.join(hard_bound + 4 * kit.bound)
    if thread.is_alive() and state.body_done:
        # The test's verdict is in; only stopping what it started hangs. That fault
        # belongs to the shutdown rules' own tests, not to this test's rule.
        if state.body_error is not None:
            raise state.body_error
        kit.final_checks()
        return [
            "shutting down after the test (stop_worker/aclose/cleanup_all_async) blocked the event "
            "loop's thread; the thread was abandoned"
        ]
    if thread.is_alive():
        raise RuleViolation(
            kit.rule,
            f"the test finishes within {hard_bound:g} s",
            "it was still running: the implementation blocks the event loop's thread "
            "(or deadlocks), so not even a timeout could fire; its thread was abandoned",
            kind="hang",
        )
    if state.error is not None:
        if not isinstance(state.error, (Exception, Unsupported)):
            # SystemExit, KeyboardInterrupt and the like escaped the loop: that is the test's
            # failure, not a reason to stop the whole run.
            raise RuleViolation(
                kit.rule,
                "the test runs to its end",
                f"{describe(state.error)} escaped from the event loop (raised in a task or callback)",
                kind="crash",
            ) from state.error
        raise state.error
    # Teardown joined the test's helper threads: one may have failed after the test's last check.
    kit.raise_thread_errors()
    kit.final_checks()
    return state.problems


async def _body(
    kit: Kit, test: Callable[[], Coroutine[Any, Any, None]], hard_bound: float, state: _TestState
) -> list[str]:
    try:
        try:
            await asyncio.wait_for(test(), hard_bound)
        except asyncio.TimeoutError:
            raise RuleViolation(
                kit.rule,
                f"the test finishes within {hard_bound:g} s",
                "it was still waiting: a call of the implementation never returned",
                kind="hang",
            ) from None
        kit.raise_thread_errors()
    except BaseException as exc:
        state.body_error = exc
        raise
    finally:
        state.body_done = True
        # GeneratorExit: a BaseException escaped the loop (SystemExit from a handler), which left this
        # coroutine suspended and closed with the loop; it is being closed now, with no loop to tear down
        # on, and awaiting here would only end in an unraisable RuntimeError in whichever test runs then.
        if not isinstance(state.body_error, GeneratorExit):
            problems = await kit.teardown()
            problems += await cancel_leftovers(kit.bound, "teardown")
    return problems


async def cancel_leftovers(bound: float, after: str) -> list[str]:
    """Cancel the tasks still running on this loop `after` something ended; a line saying which, if any."""
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    if not left:
        return []
    for t in left:
        t.cancel()
    _, pending = await asyncio.wait(left, timeout=bound)
    names = ", ".join(sorted(t.get_name() for t in left))
    note = f"{len(left)} task(s) were still running after {after} and were cancelled: {names}"
    if pending:
        note += f"; {len(pending)} ignored the cancellation"
    return [note]


def _close_loop(loop: asyncio.AbstractEventLoop, executor: concurrent.futures.ThreadPoolExecutor, bound: float) -> None:
    if loop.is_closed():
        return
    try:
        # A BaseException that escaped from a task (SystemExit from a handler, say) ends
        # run_until_complete with the test's coroutine still suspended: finish it here, on its
        # loop, or it would be closed later by the garbage collector, with no loop, inside
        # whichever test happens to run then.
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        if left:
            # One more SystemExit from a task changes nothing: the test's verdict is in.
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.wait(left, timeout=bound))
        loop.run_until_complete(loop.shutdown_asyncgens())
        # A thread-pool handler may still be finishing: it gets a bound, not for ever
        # (`loop.shutdown_default_executor()` would wait for a job that never ends). The kit's own
        # gates wait up to 3 bounds, so a test's handler still waiting on one is not a leftover.
        shut_executor(executor, 4 * bound)
    except (asyncio.TimeoutError, RuntimeError):
        pass
    finally:
        loop.close()

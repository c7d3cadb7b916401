"""The kit's own guarantees: a hang stays a hang, a helper thread's exception is the failure,
"does not wait" is counted in loop iterations, and "exactly once" holds to the end of the test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parent.parent / "conformance" / "suite"

HANG_IN_OUTCOME = """
import asyncio
import pytest

@pytest.mark.rule("PUB-4")
async def test_hangs(kit):
    never = asyncio.get_running_loop().create_future()
    outcome = await kit.outcome(never, "publish returns")
    kit.check(outcome.error is None, "no error", "an error")
"""


def test_a_hang_inside_outcome_is_a_hang_not_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HANG_IN_OUTCOME)
    report = pytester.path / "report.md"
    result = pytester.runpytest_subprocess("--impl=reference", "--bound=0.2", f"--conformance-report={report}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*[[]PUB-4[]]*", "*observed: still not done after 0.2 s*"])
    assert "no error" not in result.stdout.str()
    assert "[hang]" in report.read_text(), report.read_text()


def test_a_helper_threads_exception_is_the_reported_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.rule("POST-2")
async def test_producer_crashes(kit):
    def produce():
        raise ValueError("the producer thread crashed")

    kit.thread(produce, "producer")
    never = kit.gate("the event is delivered")
    await kit.reached(never, "the posted event is delivered")
"""
    )
    result = pytester.runpytest_subprocess("--impl=reference", "--bound=0.3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ValueError*the producer thread crashed*"])
    assert "did not happen within" not in result.stdout.str()


def test_a_helper_threads_exception_fails_a_test_that_would_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.rule("POST-2")
async def test_producer_crashes_quietly(kit):
    done = kit.gate("thread done")

    def produce():
        done.open()
        raise RuntimeError("lost in a thread")

    kit.thread(produce, "producer")
    await kit.reached(done, "the thread ran")
"""
    )
    result = pytester.runpytest_subprocess("--impl=reference")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError*lost in a thread*"])


PROMPT = """
import asyncio
import pytest

@pytest.mark.rule("POL-TASK-2")
async def test_a_few_turns_are_prompt(kit):
    async def few():
        for _ in range(5):
            await asyncio.sleep(0)
        return "done"

    assert await kit.prompt(few(), "publish returns") == "done"

@pytest.mark.rule("POL-TASK-2")
async def test_a_grace_period_is_not(kit):
    await kit.prompt(asyncio.sleep(0.03), "publish returns while its TASK handler is blocked")
"""


def test_does_not_wait_is_counted_in_loop_iterations(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PROMPT)
    # A 30 ms "grace period" is far inside the 5 s bound, and still fails.
    result = pytester.runpytest_subprocess("--impl=reference", "--bound=5")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*within 100 event-loop iterations*", "*it waited*"])


def test_exactly_once_holds_to_the_end_of_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.rule("POL-MIX-1")
async def test_late_second_delivery(kit):
    rec = kit.recorder()
    checked = kit.gate("the test checked")

    def late():
        checked.wait_blocking()
        rec.record("handler")  # a second delivery, after the test's own check

    rec.record("handler")
    kit.thread(late, "late deliverer")
    await kit.exactly(rec, 1, "handler", "the handler is called exactly once")
    checked.open()

@pytest.mark.rule("POL-MIX-1")
async def test_single_delivery(kit):
    rec = kit.recorder()
    rec.record("handler")
    await kit.exactly(rec, 1, "handler", "the handler is called exactly once")
"""
    )
    result = pytester.runpytest_subprocess("--impl=reference")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*[[]POL-MIX-1[]]*", "*2 calls of handler by the end of the test*late second*"])


def test_failures_of_a_dispatch_test_name_the_path(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.rule("POST-4")
async def test_paths(kit, dispatch):
    kit.check(dispatch.path == "publish", "the publish path", "another path")
"""
    )
    result = pytester.runpytest_subprocess("--impl=reference", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_paths?publish? PASSED*", "*events dispatched through post + worker*"])


BROAD = {"Exception", "BaseException", "AssertionError"}


def _broad_handlers(fn: ast.AST) -> list[int]:
    """Lines of `except` clauses in `fn` (not in functions nested in it) that catch broadly."""
    found: list[int] = []
    todo = list(ast.iter_child_nodes(fn))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue  # a handler or helper defined inside the test may catch what it needs
        if isinstance(node, ast.ExceptHandler):
            names = (
                {ast.unparse(t) for t in (node.type.elts if isinstance(node.type, ast.Tuple) else [node.type])}
                if node.type
                else {"(bare)"}
            )
            if names & (BROAD | {"(bare)"}):
                found.append(node.lineno)
        todo.extend(ast.iter_child_nodes(node))
    return found


@pytest.mark.parametrize("module", sorted(p.name for p in SUITE.glob("test_*.py")))
def test_suite_never_catches_broadly_around_kit_calls(module: str) -> None:
    """A hang (a RuleViolation, an AssertionError) must never be caught and re-labelled: tests use
    kit.outcome / kit.raised to look at what a call raised."""
    tree = ast.parse((SUITE / module).read_text(encoding="utf-8"))
    offenders = [
        f"{module}:{line} in {node.name}"
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for line in _broad_handlers(node)
    ]
    assert not offenders, "broad except clauses in suite tests (use kit.outcome / kit.raised): " + ", ".join(offenders)

"""A bus that hangs makes tests fail, naming their rule, within the bound; the run goes on."""

from __future__ import annotations

from tests.pytest_run import PytestRun, run_pytest


def run_suite(impl: str, *selection: str, bound: float = 0.5) -> tuple[PytestRun, float]:
    run = run_pytest(f"--impl={impl}", f"--bound={bound}", "-q", *selection, timeout=120)
    return run, run.seconds


def test_publish_that_never_returns_fails_its_rules_quickly() -> None:
    proc, took = run_suite(
        "tests.mutants:publish_never_returns",
        "conformance/suite/test_policies.py::test_dispatch_does_not_wait_for_task_handlers[publish]",
        "conformance/suite/test_publish.py::test_every_kind_of_handler_receives_each_event[publish]",
        "conformance/suite/test_worker.py::test_post_is_a_plain_call",
    )
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "[POL-TASK-2]" in out and "[PUB-1]" in out, out
    assert "still not done after 0.5 s" in out, out
    # The worker dispatches through publish, so posting fails too; each names its own rule.
    assert "[POST-1]" in out and "3 failed" in out, out
    assert took < 30, f"the run took {took:.1f} s"


def test_stop_worker_that_blocks_the_loop_fails_and_the_run_goes_on() -> None:
    proc, took = run_suite(
        "tests.mutants:stop_worker_blocks_the_loop",
        "conformance/suite/test_worker.py::test_stop_worker_delivers_what_was_posted_before",
        "conformance/suite/test_publish.py::test_every_kind_of_handler_receives_each_event[publish]",
    )
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "[WRK-2]" in out, out
    assert "blocks the event loop's thread" in out, out
    # The publish test passes; the blocked shutdown after it is a warning, not a PUB-1 failure.
    assert "1 failed, 1 passed" in out, out
    assert "blocked the event loop's thread; the thread was abandoned" in out, out
    assert took < 30, f"the run took {took:.1f} s"

"""Hostile buses (tests/hostile) cannot take the run down: each run ends, in bounded time, with a complete verdict.

Each case runs a few tests of the suite on one hostile bus, as a user would (a
subprocess), and checks the exit status, the summary, the JSON result and the
time. The "once" behaviours happen on the first publish of the run
(`HOSTILE_ONCE`), so the test that crashes is the first one selected.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.pytest_run import ROOT, PytestRun, run_pytest

CRASH_FIRST = "conformance/suite/test_publish.py::test_every_kind_of_handler_receives_each_event"
"""PUB-1: the first selected test, where a "once" behaviour strikes."""
AFTER = (
    "conformance/suite/test_publish.py::test_a_handler_registered_twice_is_called_twice",
    "conformance/suite/test_publish.py::test_publish_without_subscribers_returns",
)
"""Tests selected after it (PUB-1 and PUB-4), which must still run and pass."""
BOUND = 0.5


def _supervised(impl: str, tmp_path: Path, keyword: str = "") -> tuple[PytestRun, dict[str, Any]]:
    """`python -m conformance --impl=IMPL` over the selected tests (`-k`), as a user runs it; its JSON result."""
    result = tmp_path / "result.json"
    result.write_text('{"stale": "from an earlier run"}', encoding="utf-8")
    keyword = keyword or " or ".join(n.split("::")[1] for n in (CRASH_FIRST, *AFTER))
    command = [
        sys.executable,
        "-m",
        "conformance",
        f"--impl={impl}",
        f"--bound={BOUND}",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "-q",
        "-k",
        keyword,
        f"--conformance-json={result}",
    ]
    env = {"HOSTILE_ONCE": str(tmp_path / "once")}
    started = time.monotonic()
    proc = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    run = PytestRun(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
    return run, json.loads(result.read_text(encoding="utf-8"))


def _in_process(impl: str, tmp_path: Path, *args: str) -> tuple[PytestRun, dict[str, Any]]:
    """`pytest --impl=IMPL` over the selected tests; its JSON result."""
    result = tmp_path / "result.json"
    result.write_text('{"stale": "from an earlier run"}', encoding="utf-8")
    run = run_pytest(
        f"--impl={impl}",
        f"--bound={BOUND}",
        "-p",
        "no:randomly",
        "-q",
        CRASH_FIRST,
        *AFTER,
        f"--conformance-json={result}",
        *args,
        env={"HOSTILE_ONCE": str(tmp_path / "once")},
        timeout=120,
    )
    return run, json.loads(result.read_text(encoding="utf-8"))


def _by_test(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["test"]: t for t in document.get("tests", [])}


def _check_crash_charged(run: PytestRun, document: dict[str, Any], how: str) -> None:
    """One test crashed, charged to PUB-1; all the others ran and passed; every output says so."""
    assert run.returncode == 1, f"expected exit status 1 (a failure), got {run.returncode}:\n{run.output}"
    assert "incomplete" not in document, f"the result file is still the incomplete one:\n{run.output}"
    tests = _by_test(document)
    crashed = [t for t in tests.values() if t["kind"] == "crash"]
    assert len(crashed) == 1, f"expected exactly one crashed test, got {crashed}\n{run.output}"
    assert crashed[0]["rule"] == "PUB-1" and crashed[0]["verdict"] == "fail", crashed[0]
    assert how in crashed[0]["observed"], crashed[0]
    others = [t for t in tests.values() if t is not crashed[0]]
    # 2 + 2 parametrizations of PUB-1 tests and the PUB-4 test: everything but the crash ran on.
    assert len(others) == 4 and all(t["verdict"] == "pass" for t in others), others
    verdicts = {r["id"]: r["verdict"] for r in document["rules"]}
    assert verdicts["PUB-1"] == "fail" and verdicts["PUB-4"] == "pass", verdicts
    assert document["totals"]["fail"] == 1, document["totals"]
    assert "FAIL  PUB-1" in run.stdout, run.output
    assert run.seconds < 60, f"the run took {run.seconds:.1f} s"


@pytest.mark.parametrize(
    ("impl", "how"),
    [
        ("tests.hostile:exit_0", "exit status 0"),
        ("tests.hostile:exit_3", "exit status 3"),
        ("tests.hostile:segfault", "killed by SIGSEGV"),
    ],
)
def test_a_crash_in_a_test_is_charged_to_its_rule_and_the_run_goes_on(impl: str, how: str, tmp_path: Path) -> None:
    run, document = _supervised(impl, tmp_path)
    _check_crash_charged(run, document, how)
    assert "while running " in run.stderr and "receives_each_event[publish]; that test is charged" in run.stderr, (
        run.stderr
    )


def test_a_crash_in_the_last_test_still_ends_with_a_complete_result(tmp_path: Path) -> None:
    run, document = _supervised("tests.hostile:segfault", tmp_path, CRASH_FIRST.split("::")[1] + " and not worker")
    assert run.returncode == 1, run.output
    tests = list(_by_test(document).values())
    assert [(t["rule"], t["verdict"], t["kind"]) for t in tests] == [("PUB-1", "fail", "crash")], tests
    assert "incomplete" not in document, document


def test_a_crash_outside_any_test_ends_the_run_with_incomplete_results(tmp_path: Path) -> None:
    run, document = _supervised("tests.hostile:exit_at_load", tmp_path)
    assert run.returncode == 3, run.output
    assert "died (exit status 3) outside any test" in run.stderr, run.output
    assert document.get("incomplete") is True and document["tests"] == [], document


@pytest.mark.parametrize("impl", ["tests.hostile:exit_3", "tests.hostile:segfault"])
def test_a_crashed_xdist_worker_is_a_failure_of_its_rule(impl: str, tmp_path: Path) -> None:
    run, document = _in_process(impl, tmp_path, "-n", "2")
    _check_crash_charged(run, document, "pytest-xdist worker")


def test_a_crash_in_process_leaves_an_incomplete_result_not_a_stale_one(tmp_path: Path) -> None:
    run, document = _in_process("tests.hostile:exit_0", tmp_path)
    assert run.returncode == 0, run.output  # what os._exit(0) leaves: the file must not agree
    assert document.get("incomplete") is True, document
    assert document["tests"] == [] and document["totals"]["pass"] == 0, document


@pytest.mark.parametrize(
    ("impl", "what"),
    [
        ("tests.hostile:thread_left", "non-daemon thread(s) the implementation started"),
        ("tests.hostile:executor_job_left", "job(s) in the event loop's default executor"),
    ],
)
def test_leftover_threads_are_named_and_cannot_keep_the_run_alive(impl: str, what: str, tmp_path: Path) -> None:
    run, document = _in_process(impl, tmp_path)
    assert not run.timed_out and run.returncode == 0, run.output
    assert f"[PUB-1] after the test: 1 {what}" in run.stdout, run.output
    assert "stop_worker" not in run.stdout, f"the warning blames stop_worker:\n{run.output}"
    assert "would keep the process alive" in run.stderr, run.output
    assert all(t["verdict"] == "pass" for t in document["tests"]) and len(document["tests"]) == 5, document
    assert run.seconds < 60, f"the run took {run.seconds:.1f} s"


def test_a_global_loop_policy_set_by_the_bus_changes_nothing_and_is_named(tmp_path: Path) -> None:
    run, document = _in_process("tests.hostile:fast_clock_policy", tmp_path)
    assert run.returncode == 0, run.output
    assert all(t["verdict"] == "pass" for t in document["tests"]) and len(document["tests"]) == 5, document
    assert "replaced the global event-loop policy" in run.stdout and "FastClockPolicy" in run.stdout, run.output
    assert "[PUB-1] after the test" in run.stdout, run.output


def test_the_supervised_runner_and_pytest_give_the_same_results(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    supervised, first = _supervised("reference", tmp_path / "a")
    plain, second = _in_process("reference", tmp_path / "b")
    assert supervised.returncode == plain.returncode == 0, supervised.output + plain.output
    # The commands differ (a -k selection against node ids); the verdicts must not.
    for key in ("totals", "rules", "tests"):
        assert first[key] == second[key], f"{key} differs:\n{first[key]}\n{second[key]}"


def test_a_loop_policy_set_while_the_implementation_loads_is_named(tmp_path: Path) -> None:
    run, document = _in_process("tests.hostile:policy_at_load", tmp_path)
    assert run.returncode == 0, run.output
    assert all(t["verdict"] == "pass" for t in document["tests"]) and len(document["tests"]) == 5, document
    assert "loading --impl=tests.hostile:policy_at_load: the implementation replaced the global" in run.stdout, (
        run.output
    )

"""Running the whole conformance suite against one implementation, in a subprocess, and reading its verdicts.

The suite runs as users run it (`python -m pytest --impl=...`), with a JUnit XML
report; each test case there carries its rule as `<property name="rule">`, and a
failure written by the kit starts its message with `[RULE-ID]`. The stateful test
checks several rules and names the violated one that way.

`run_many` runs the whole suite, one process per bus; `run_selected`, for the fast kill
matrix, runs each bus on the tests of one rule (`tests.mutants.selecting`), many buses
per process (`tests.mutants.batch`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.pytest_run import ROOT, PytestRun, run_pytest

from .batch import FORKS, RUN_TIMEOUT, Job

MUTANT_BOUND = 0.5
"""`--bound` for broken buses: a hang fails in half a second instead of two."""
CONFORMING_BOUND = 2.0
"""`--bound` for the conforming buses: the kit's default, so a slow machine does not fail them."""
TIMEOUT = 300.0
"""Seconds one whole suite run may take before it counts as hung."""
WORKERS = 4
"""Suite runs in parallel (they mostly wait, on bounds and handler threads)."""

_RULE_IN_MESSAGE = re.compile(r"^\[([A-Z]+(?:-[A-Z]+)*-\d+)\]", re.MULTILINE)


@dataclass(frozen=True)
class Failure:
    """One failing (or erroring) test of a run."""

    test: str
    """`module::name`, e.g. `test_worker::test_post_is_a_plain_call`."""
    rule: str | None
    """The test's own rule (its marker's first ID)."""
    checks: frozenset[str]
    """Every rule the test checks (all its marker's IDs; `tests.mutants.selecting` records them)."""
    named: frozenset[str]
    """The rules its failure message names as violated (`[ID]` at the start of a line)."""

    def names(self, rule: str) -> bool:
        """Whether this failure is charged to `rule`: it is the test's rule, or the message names it."""
        return rule == self.rule or rule in self.named

    def wrongly_names(self, rule: str) -> bool:
        """Whether this failure is charged to `rule` although the test does not check it."""
        return self.names(rule) and rule not in self.checks and rule != self.rule


@dataclass(frozen=True)
class SuiteRun:
    """The outcome of one suite run."""

    impl: str
    returncode: int
    seconds: float
    tests: int
    failures: tuple[Failure, ...]
    output: str
    """The tail of pytest's output, for assertion messages."""
    scope: str = "the whole suite"
    """Which tests the run was given, in words (`run_selected` runs a selection)."""

    def failing_for(self, rule: str) -> list[str]:
        """The failing tests charged to `rule`."""
        return [f.test for f in self.failures if f.names(rule)]

    def wrongly_charged(self, rule: str) -> list[str]:
        """The failing tests charged to `rule` by their message although they check other rules."""
        return [f.test for f in self.failures if f.wrongly_names(rule)]

    @property
    def completed(self) -> bool:
        """Whether pytest ran the suite to the end (exit status 0 or 1, a report with tests in it)."""
        return self.returncode in (0, 1) and self.tests > 0


def run_suite(impl: str, *, bound: float, extra_env: dict[str, str] | None = None) -> SuiteRun:
    """Run the whole conformance suite on `impl` in a subprocess and parse its JUnit report."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        run = run_pytest(
            *("-p", "tests.mutants.selecting", f"--impl={impl}", f"--bound={bound:g}", "-q", f"--junitxml={report}"),
            env=extra_env,
            timeout=TIMEOUT,
        )
        return suite_run(impl, run, report)


def suite_run(impl: str, run: PytestRun, report: Path) -> SuiteRun:
    """The `SuiteRun` of a whole-suite pytest run of `impl` that wrote the JUnit report `report`."""
    tests, failures = _parse(report) if report.exists() and not run.timed_out else (0, ())
    return SuiteRun(impl, run.returncode, run.seconds, tests, failures, run.output[-3000:])


def _parse(report: Path) -> tuple[int, tuple[Failure, ...]]:
    root = ET.parse(report).getroot()
    cases = list(root.iter("testcase"))
    failures = []
    for case in cases:
        bad = [child for child in case if child.tag in ("failure", "error")]
        if not bad:
            continue
        props = {p.get("name"): p.get("value") or "" for p in case.iter("property")}
        rule = props.get("rule")
        checks = frozenset(filter(None, props.get("rules", "").split(",")))
        text = "\n".join((child.get("message") or "") + "\n" + (child.text or "") for child in bad)
        module = (case.get("classname") or "").rsplit(".", 1)[-1]
        named = frozenset(_RULE_IN_MESSAGE.findall(text))
        failures.append(Failure(f"{module}::{case.get('name')}", rule, checks, named))
    return len(cases), tuple(failures)


def run_selected(
    jobs: Sequence[tuple[str, float, str]],
    *,
    stateful: bool = True,
    workers: int = WORKERS,
    extra_env: dict[str, str] | None = None,
) -> dict[str, SuiteRun]:
    """Run each `(impl, bound, rule)` on its rule's tests and controls (`tests.mutants.selecting`); by impl.

    An empty rule runs the whole suite (within `TIMEOUT`). With `stateful=False`, the selections leave
    the stateful test out.

    Where runs fork (`batch.FORKS`), one `tests.mutants.batch` process runs them all, `workers` at a
    time, in the order given; elsewhere they are dealt round-robin to `workers` batch processes, each
    running its share one after another. A run that does not finish (killed past its time limit,
    `batch.RUN_TIMEOUT` for a selection, or lost with a batch that hung past its own) counts as not
    completed.
    """
    parallel = workers if FORKS else 1
    workers = 1 if FORKS else workers
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        specs = [
            Job(
                impl=impl,
                bound=f"{bound:g}",
                rule=rule,
                stateful=stateful,
                timeout=RUN_TIMEOUT if rule else TIMEOUT,
                junit=str(folder / f"{n}.xml"),
                result=str(folder / f"{n}.json"),
            )
            for n, (impl, bound, rule) in enumerate(jobs)
        ]
        shares = [specs[k::workers] for k in range(workers) if specs[k::workers]]
        for k, share in enumerate(shares):
            (folder / f"batch{k}.json").write_text(json.dumps(share))
        with ThreadPoolExecutor(max_workers=len(shares) or 1) as pool:
            batches = list(
                pool.map(
                    lambda k: _run_batch(folder / f"batch{k}.json", extra_env, shares[k], parallel),
                    range(len(shares)),
                )
            )
        runs = {}
        for spec in specs:
            junit, result = Path(spec["junit"]), Path(spec["result"])
            scope = "the whole suite"
            if spec["rule"]:
                scope = f"the tests of {spec['rule']} and controls" + (
                    "" if stateful else ", the stateful test left out"
                )
            if result.exists():
                done = json.loads(result.read_text())
                tests, failures = _parse(junit) if junit.exists() else (0, ())
                runs[spec["impl"]] = SuiteRun(
                    spec["impl"], done["returncode"], done["seconds"], tests, failures, done["output"], scope
                )
            else:
                lost = next(b for b, share in zip(batches, shares, strict=True) if spec in share)
                runs[spec["impl"]] = SuiteRun(spec["impl"], -1, lost.seconds, 0, (), lost.output[-3000:], scope)
        return runs


def _run_batch(jobs: Path, extra_env: dict[str, str] | None, share: list[Job], parallel: int) -> PytestRun:
    """`python -m tests.mutants.batch JOBS PARALLEL` in the project's root, bounded by its runs' time limits."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | (extra_env or {})
    command = [sys.executable, "-m", "tests.mutants.batch", str(jobs), str(parallel)]
    # Every run at its time limit, `parallel` at a time: the longest the batch can take.
    bound = max(TIMEOUT, sum(job["timeout"] for job in share) / parallel + max(job["timeout"] for job in share))
    started = time.monotonic()
    try:
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=bound)
    except subprocess.TimeoutExpired:
        return PytestRun(-1, "", f"the batch timed out after {bound:g} s", time.monotonic() - started, True)
    return PytestRun(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def run_many(impls: Iterable[tuple[str, float]], *, extra_env: dict[str, str] | None = None) -> dict[str, SuiteRun]:
    """Run the suite on each `(impl, bound)`, `WORKERS` at a time; results by impl."""
    jobs = list(impls)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        runs = pool.map(lambda job: run_suite(job[0], bound=job[1], extra_env=extra_env), jobs)
        return {run.impl: run for run in runs}

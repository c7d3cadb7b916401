"""Running the whole conformance suite against one implementation, in a subprocess, and reading its verdicts.

The suite runs as users run it (`python -m pytest --impl=...`), with a JUnit XML
report; each test case there carries its rule as `<property name="rule">`, and a
failure written by the kit starts its message with `[RULE-ID]`. The stateful test
checks several rules and names the violated one that way.
"""

from __future__ import annotations

import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.pytest_run import run_pytest

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
    named: frozenset[str]
    """The rules its failure message names as violated (`[ID]` at the start of a line)."""

    def names(self, rule: str) -> bool:
        """Whether this failure is charged to `rule`: it is the test's rule, or the message names it."""
        return rule == self.rule or rule in self.named


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

    def failing_for(self, rule: str) -> list[str]:
        """The failing tests charged to `rule`."""
        return [f.test for f in self.failures if f.names(rule)]

    @property
    def completed(self) -> bool:
        """Whether pytest ran the suite to the end (exit status 0 or 1, a report with tests in it)."""
        return self.returncode in (0, 1) and self.tests > 0


def run_suite(impl: str, *, bound: float, extra_env: dict[str, str] | None = None) -> SuiteRun:
    """Run the whole conformance suite on `impl` in a subprocess and parse its JUnit report."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        run = run_pytest(
            f"--impl={impl}", f"--bound={bound:g}", "-q", f"--junitxml={report}", env=extra_env, timeout=TIMEOUT
        )
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
        rule = next((p.get("value") for p in case.iter("property") if p.get("name") == "rule"), None)
        text = "\n".join((child.get("message") or "") + "\n" + (child.text or "") for child in bad)
        module = (case.get("classname") or "").rsplit(".", 1)[-1]
        failures.append(Failure(f"{module}::{case.get('name')}", rule, frozenset(_RULE_IN_MESSAGE.findall(text))))
    return len(cases), tuple(failures)


def run_many(impls: Iterable[tuple[str, float]], *, extra_env: dict[str, str] | None = None) -> dict[str, SuiteRun]:
    """Run the suite on each `(impl, bound)`, `WORKERS` at a time; results by impl."""
    jobs = list(impls)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        runs = pool.map(lambda job: run_suite(job[0], bound=job[1], extra_env=extra_env), jobs)
        return {run.impl: run for run in runs}

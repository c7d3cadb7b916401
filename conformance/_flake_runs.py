"""A flake check's runs: the suite in fresh processes, J at a time, busy processes alongside, read from JUnit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

USAGE_STATUSES = {4: "pytest usage error", 5: "no tests were collected"}
"""pytest exit statuses after which the other runs would fail the same way."""
STATUS_NAMES = {2: "interrupted", 3: "internal error", **USAGE_STATUSES}


@dataclass
class Run:
    """One run of the suite."""

    index: int
    status: int | None = None
    """pytest's exit status; None if it was killed after the time limit."""
    seconds: float = 0.0
    verdicts: dict[str, str] = field(default_factory=dict)
    """Test id -> verdict; empty when the run wrote no report."""
    problem: str | None = None
    """Why the run gave no usable report."""
    tail: str = ""
    """The end of its output, when there is a problem."""

    @property
    def ok(self) -> bool:
        return self.problem is None


def junit_verdicts(path: Path) -> dict[str, str]:
    """Test id (`module::name`) -> verdict, from a pytest JUnit XML report.

    A test reported twice (a failure in its call and an error in its teardown)
    gets both verdicts, joined with "+".
    """
    found: dict[str, set[str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "")
        module = module.removeprefix("conformance.suite.")
        test = f"{module}::{case.get('name', '')}" if module else case.get("name", "")
        verdicts = found.setdefault(test, set())
        outcome = "passed"
        for child in case:
            if child.tag == "failure":
                verdicts.add("failed")
                outcome = ""
            elif child.tag == "error":
                verdicts.add("error")
                outcome = ""
            elif child.tag == "skipped":
                verdicts.add("xfailed" if child.get("type") == "pytest.xfail" else "skipped")
                outcome = ""
        if outcome:
            verdicts.add(outcome)
    return {test: "+".join(sorted(v)) for test, v in found.items()}


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


class Busy:
    """K processes that spin on a CPU each, to make the suite's threads compete."""

    def __init__(self, count: int) -> None:
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-c", "while True: pass"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(count)
        ]

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill a run and whatever it started (it leads a process group of its own on POSIX)."""
    try:
        if sys.platform == "win32":
            proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_suite(
    impl: str,
    runs: int,
    jobs: int,
    pytest_args: Sequence[str],
    workdir: Path,
    *,
    run_timeout: float,
    progress: Callable[[Run, int, int], None] | None = None,
) -> list[Run]:
    """Run the suite `runs` times, `jobs` at a time, reports and output in `workdir`.

    `progress(run, done, outcome_so_far)` is called as each run ends. Stops early
    after a run whose exit status means every run would fail alike.
    """
    results = [Run(i) for i in range(1, runs + 1)]
    waiting = list(results)
    active: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
    done = 0
    abort = False
    try:
        while (waiting and not abort) or active:
            while waiting and not abort and len(active) < jobs:
                run = waiting.pop(0)
                xml = workdir / f"run-{run.index}.xml"
                with open(workdir / f"run-{run.index}.out", "wb") as out:
                    proc = subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "conformance",
                            f"--impl={impl}",
                            "-p",
                            "no:cacheprovider",
                            f"--junitxml={xml}",
                            "-q",
                            *pytest_args,
                        ],
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=sys.platform != "win32",
                    )
                active[run.index] = (proc, time.monotonic())
            time.sleep(0.05)
            for index, (proc, started) in list(active.items()):
                run = results[index - 1]
                status = proc.poll()
                elapsed = time.monotonic() - started
                if status is None and elapsed <= run_timeout:
                    continue
                del active[index]
                run.seconds = elapsed
                if status is None:
                    _kill(proc)
                    run.problem = f"killed after {run_timeout:g} s"
                else:
                    run.status = status
                    _read(run, workdir)
                    if status in USAGE_STATUSES:
                        abort = True
                if run.problem:
                    run.tail = _tail(workdir / f"run-{index}.out")
                done += 1
                if progress is not None:
                    progress(run, done, runs)
    finally:
        for proc, _ in active.values():
            _kill(proc)
    return [run for run in results if run.status is not None or run.problem is not None]


def _read(run: Run, workdir: Path) -> None:
    xml = workdir / f"run-{run.index}.xml"
    if run.status not in (0, 1):
        run.problem = f"pytest exited with status {run.status} ({STATUS_NAMES.get(run.status or 0, 'unknown')})"
        return
    try:
        run.verdicts = junit_verdicts(xml)
    except (OSError, ET.ParseError) as exc:
        run.problem = f"no readable JUnit report ({exc})"

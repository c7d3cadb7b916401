"""`python -m conformance.flake --impl=NAME --runs N --jobs J [pytest args]`: is the suite's verdict stable?

Runs the conformance suite against one implementation N times, J runs at a time,
each in a fresh `python -m conformance` process writing a JUnit XML report,
optionally while K busy-looping processes compete for the CPUs (`--stress K`).
It then lists every test whose verdict (passed, failed, error, xfailed, skipped,
or absent from a run) was not the same in every run, with counts, and exits 1
if there is any, or if a run did not finish; 2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .soak.runner import machine

JSON_SCHEMA = "event-bus-conformance/flake/1"
ABSENT = "absent"
"""The verdict of a test that a run which did report did not report."""
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


@dataclass
class Outcome:
    """All runs, and what changed between them."""

    runs: list[Run]
    changed: dict[str, Counter[str]]
    """Test id -> verdict counts, for the tests whose verdict was not always the same."""
    odd_runs: dict[str, dict[str, list[int]]]
    """Test id -> verdict -> the runs that gave it, for each changed test's verdicts other than its commonest."""
    totals: Counter[str]
    """Verdict counts of the first usable run."""
    tests: int


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


def compare(runs: Sequence[Run]) -> Outcome:
    """Which tests' verdicts differ between the usable runs."""
    usable = [run for run in runs if run.ok]
    tests = sorted({test for run in usable for test in run.verdicts})
    changed: dict[str, Counter[str]] = {}
    odd_runs: dict[str, dict[str, list[int]]] = {}
    for test in tests:
        counts = Counter(run.verdicts.get(test, ABSENT) for run in usable)
        if len(counts) > 1:
            changed[test] = counts
            usual = counts.most_common(1)[0][0]
            odd: dict[str, list[int]] = {}
            for run in usable:
                verdict = run.verdicts.get(test, ABSENT)
                if verdict != usual:
                    odd.setdefault(verdict, []).append(run.index)
            odd_runs[test] = odd
    totals = Counter(usable[0].verdicts.values()) if usable else Counter()
    return Outcome(list(runs), changed, odd_runs, totals, len(tests))


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


class _Busy:
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.flake",
        description="Run the conformance suite several times and report every test whose verdict changed. "
        "Arguments it does not know (e.g. -k EXPR, --bound=S, --loop=uvloop) go to every pytest run; "
        "so does everything after --.",
        allow_abbrev=False,
    )
    parser.add_argument("--impl", required=True, metavar="NAME", help="the implementation, as for `pytest --impl`")
    parser.add_argument("--runs", type=int, default=10, metavar="N", help="runs of the suite (default 10)")
    parser.add_argument("--jobs", type=int, default=1, metavar="J", help="runs at a time (default 1)")
    parser.add_argument(
        "--stress",
        type=int,
        default=0,
        metavar="K",
        help="keep K busy-looping processes running meanwhile, to add CPU contention (default 0)",
    )
    parser.add_argument(
        "--run-timeout",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="kill a run that takes longer, and count it as a failed run (default 900)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the outcome as JSON")
    parser.add_argument("--keep", metavar="DIR", help="keep every run's JUnit report and output in DIR")
    return parser


class _Progress:
    def __init__(self) -> None:
        self.seen: dict[str, set[str]] = {}

    def __call__(self, run: Run, done: int, total: int) -> None:
        for test, verdict in run.verdicts.items():
            self.seen.setdefault(test, set()).add(verdict)
        changed = sum(1 for v in self.seen.values() if len(v) > 1)
        if run.ok:
            counts = Counter(run.verdicts.values())
            what = ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items()))
        else:
            what = f"PROBLEM: {run.problem}"
        print(
            f"[flake] run {run.index} ({done}/{total} done) in {run.seconds:.1f} s: {what}; "
            f"tests whose verdict changed so far: {changed}",
            file=sys.stderr,
            flush=True,
        )


def _plural(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def _runs(indices: list[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:10])
    more = f" and {len(indices) - 10} more" if len(indices) > 10 else ""
    return f"run{'' if len(indices) == 1 else 's'} {shown}{more}"


VERDICTS = ("passed", "failed", "error", "xfailed", "skipped", ABSENT)
"""The order of the report's columns; combined verdicts ("error+failed") come last."""


def _verdict_order(verdict: str) -> tuple[int, str]:
    return (VERDICTS.index(verdict) if verdict in VERDICTS else len(VERDICTS), verdict)


def report(
    outcome: Outcome, impl: str, runs: int, jobs: int, stress: int, pytest_args: Sequence[str], m: dict[str, str]
) -> str:
    """The outcome as Markdown; `m` describes the machine, as `conformance.soak.runner.machine()` does."""
    usable = [run for run in outcome.runs if run.ok]
    broken = [run for run in outcome.runs if not run.ok]
    args = shlex.join(pytest_args) or "(none)"
    lines = [
        f"# Flake check of the conformance suite against {impl}",
        "",
        f"{len(outcome.runs)} of {runs} runs finished ({len(usable)} with a report), {jobs} at a time, "
        f"{stress} busy-looping processes alongside; pytest arguments: {args}; "
        f"{m['python']}, {m['cores']} cores, load average {m['load']} at the start.",
        "",
    ]
    if usable:
        seconds = [run.seconds for run in usable]
        totals = ", ".join(f"{n} {verdict}" for verdict, n in sorted(outcome.totals.items()))
        lines.append(f"- tests: {outcome.tests}; first run: {totals}")
        lines.append(
            f"- seconds per run: min {min(seconds):.1f}, median {statistics.median(seconds):.1f}, "
            f"max {max(seconds):.1f}"
        )
    if outcome.changed:
        verdicts = sorted({v for counts in outcome.changed.values() for v in counts}, key=_verdict_order)
        lines += ["", f"## {_plural(len(outcome.changed), 'test')} whose verdict changed", ""]
        lines.append("| test | " + " | ".join(verdicts) + " | the runs that differed |")
        lines.append("|---|" + "---|" * len(verdicts) + "---|")
        for test, counts in sorted(outcome.changed.items()):
            odd = "; ".join(
                f"{verdict} in {_runs(indices)}" for verdict, indices in sorted(outcome.odd_runs[test].items())
            )
            lines.append(f"| {test} | " + " | ".join(str(counts.get(v, 0)) for v in verdicts) + f" | {odd} |")
    for run in broken:
        lines += ["", f"## run {run.index}: {run.problem}", ""]
        if run.tail:
            lines += ["```", run.tail, "```"]
    lines.append("")
    if not usable:
        lines.append("**FAIL**: no run produced a report.")
    elif outcome.changed or broken:
        found = [f"{_plural(len(outcome.changed), 'test')} changed verdict"] if outcome.changed else []
        found += [f"{_plural(len(broken), 'run')} gave no report"] if broken else []
        lines.append("**FAIL**: " + "; ".join(found) + ".")
    else:
        lines.append(f"**STABLE**: every test had the same verdict in all {len(usable)} runs.")
    return "\n".join(lines)


def to_json(
    outcome: Outcome, impl: str, runs: int, jobs: int, stress: int, pytest_args: Sequence[str], m: dict[str, str]
) -> dict[str, Any]:
    """The outcome as a JSON-able document."""
    return {
        "schema": JSON_SCHEMA,
        "implementation": impl,
        "runs_asked": runs,
        "jobs": jobs,
        "stress": stress,
        "pytest_args": list(pytest_args),
        "machine": m,
        "tests": outcome.tests,
        "first_run_totals": dict(outcome.totals),
        "changed": {test: dict(counts) for test, counts in sorted(outcome.changed.items())},
        "changed_in_runs": outcome.odd_runs,
        "runs": [
            {"index": r.index, "status": r.status, "seconds": r.seconds, "problem": r.problem} for r in outcome.runs
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the flake check: 0 if every verdict was stable, 1 if not, 2 on usage errors."""
    parser = _parser()
    raw = list(sys.argv[1:] if argv is None else argv)
    after = raw.index("--") if "--" in raw else len(raw)
    args, extra = parser.parse_known_args(raw[:after])
    pytest_args = [*extra, *raw[after + 1 :]]
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.stress < 0:
        parser.error("--stress must be 0 or more")
    if args.run_timeout <= 0:
        parser.error("--run-timeout must be positive")
    print(
        f"[flake] {args.runs} runs of the suite against {args.impl}, {args.jobs} at a time, "
        f"{args.stress} busy processes",
        file=sys.stderr,
        flush=True,
    )
    m = machine()
    busy = _Busy(args.stress)
    try:
        with tempfile.TemporaryDirectory(prefix="conformance-flake-") as scratch:
            workdir = Path(args.keep) if args.keep else Path(scratch)
            workdir.mkdir(parents=True, exist_ok=True)
            runs = run_suite(
                args.impl,
                args.runs,
                args.jobs,
                pytest_args,
                workdir,
                run_timeout=args.run_timeout,
                progress=_Progress(),
            )
    finally:
        busy.stop()
    usage = next((run for run in runs if run.status in USAGE_STATUSES), None)
    if usage is not None:
        print(f"error: {usage.problem}; its output:\n{usage.tail}", file=sys.stderr)
        return 2
    outcome = compare(runs)
    print(report(outcome, args.impl, args.runs, args.jobs, args.stress, pytest_args, m))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            document = to_json(outcome, args.impl, args.runs, args.jobs, args.stress, pytest_args, m)
            json.dump(document, out, indent=2)
            out.write("\n")
        print(f"wrote {args.json}", file=sys.stderr)
    stable = bool(outcome.runs) and all(run.ok for run in outcome.runs) and not outcome.changed
    return 0 if stable else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m conformance.flake --impl=NAME --runs N --jobs J [pytest args]`: is the suite's verdict stable?

Runs the conformance suite against one implementation N times, J runs at a time,
each in a fresh `python -m conformance` process writing a JUnit XML report,
optionally while K busy-looping processes compete for the CPUs (`--stress K`).
It then lists every test whose verdict (passed, failed, error, xfailed, skipped,
or absent from a run) was not the same in every run, with counts, and exits 1
if there is any, or if a run did not finish; 2 on usage errors.

This module compares and reports; `_flake_runs` starts the runs and reads them.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._flake_runs import STATUS_NAMES, USAGE_STATUSES, Busy, Run, junit_verdicts, run_suite
from .soak.runner import machine

__all__ = [
    "ABSENT",
    "JSON_SCHEMA",
    "STATUS_NAMES",
    "USAGE_STATUSES",
    "VERDICTS",
    "Outcome",
    "Run",
    "compare",
    "junit_verdicts",
    "main",
    "report",
    "run_suite",
    "to_json",
]

JSON_SCHEMA = "event-bus-conformance/flake/1"
ABSENT = "absent"
"""The verdict of a test that a run which did report did not report."""


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
    busy = Busy(args.stress)
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

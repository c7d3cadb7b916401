"""`python -m tests.mutants.matrix`: run the suite against every broken bus and write `docs/kill-matrix.md`.

Options: `--check` compares the file with a fresh run instead of writing it (exit
status 1 if it is stale); `--output PATH` writes elsewhere; names of mutants
restrict the run to them (then nothing is written unless `--output` is given).

A broken bus is *caught* when the suite fails on it and one of the failing tests
is charged to the rule it breaks (the test's own rule, or a rule its failure
message names). The file lists, per mutant, those tests: the count of other
failing tests is left out because collateral failures of a deliberately broken
bus are not stable enough to commit.

This command always runs the whole suite against every broken bus, one pytest
process each (`run_all`), as `tests/test_kill_matrix.py` does with
`CONFORMANCE_FULL_KILL_MATRIX=1`. By default that test runs the fast matrix
(`run_fast`): each broken bus on the tests of its rule and a control sample only
(`tests.mutants.selecting`; the stateful test only where the others do not catch
it), batched in forks of one process (`tests.mutants.batch`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from conformance.rules import RULES
from tests.pytest_run import ROOT

from .base import Mutant
from .catalogue import CATCHABLE as MUTANTS
from .conforming import VARIANTS
from .running import CONFORMING_BOUND, MUTANT_BOUND, SuiteRun, run_many, run_selected

MATRIX = ROOT / "docs" / "kill-matrix.md"
"""Where the kill matrix is kept."""
CONFORMING = ("reference", "tests.alt_impl", *(v.impl for v in VARIANTS))
"""The buses that must pass the whole suite: the two conforming buses and the conforming variants."""
SUITE_ENV = {"CONFORMANCE_STATEFUL_SHRINK": "0"}
"""Environment of the suite runs: the stateful test reports its first failing example unshrunk."""
FULL_ENV = "CONFORMANCE_FULL_KILL_MATRIX"
"""Set to 1, `tests/test_kill_matrix.py` runs the whole suite against every broken bus (as `.ci/run` does)."""
FAST_WORKERS = 4
"""Batches of the fast matrix: its runs mostly wait on bounds and handler threads, so more than the cores."""


def full_requested() -> bool:
    """Whether the environment asks for the full kill matrix (`CONFORMANCE_FULL_KILL_MATRIX=1`)."""
    return os.environ.get(FULL_ENV, "").strip() not in ("", "0")


NOT_EXERCISED = {
    "EXT-ERR-4": "MAY: wrapping INLINE exceptions or not is a free choice, with no bound to break (ERR-1 "
    "checks that the handler's exception is found).",
    "CTR-5": "the guide's Step 4 shape is the conjunction of CTR-2 to CTR-4, SUB-2, SUB-3, POL-TASK-2 and LIFE-1; "
    "every broken bus found that fails it breaks one of those first, and their broken buses fail its test too.",
    "EXT-MIX-1": "MAY, and not observable through the documented API once the bus is closed; SPEC.md says "
    "it is not tested.",
}
"""Rules without a broken bus, and why."""


def caught(mutant: Mutant, run: SuiteRun) -> bool:
    """Whether the run failed and charged a failure to the mutant's rule."""
    return run.completed and run.returncode == 1 and bool(run.failing_for(mutant.rule))


def verdict(mutant: Mutant, run: SuiteRun) -> str:
    """`caught`, `known gap`, `SURVIVED`, or why the run is unusable."""
    if not run.completed:
        return f"NO VERDICT (the run did not complete: exit status {run.returncode})"
    if caught(mutant, run):
        return "caught"
    return "known gap" if mutant.gap else "SURVIVED"


def run_all(mutants: Sequence[Mutant], *, conforming: Iterable[str] = CONFORMING) -> dict[str, SuiteRun]:
    """Suite runs of the mutants (short bound) and of the conforming buses (default bound), by `--impl`."""
    jobs = [(name, CONFORMING_BOUND) for name in conforming] + [(m.impl, m.bound or MUTANT_BOUND) for m in mutants]
    return run_many(jobs, extra_env=SUITE_ENV)


def run_fast(mutants: Sequence[Mutant], *, conforming: Iterable[str] = CONFORMING) -> dict[str, SuiteRun]:
    """The fast matrix: each broken bus on its rule's tests and a control sample (`tests.mutants.selecting`).

    The stateful test runs for a broken bus only when the rest of that selection does not catch
    it: the bus's run is then done again with the stateful test in, and that run is its result.
    The verdict is the one the whole selection would give at once: a test added to a run only
    adds failures, and the stateful test checks every rule it is selected for, so it cannot be
    charged to the broken bus's rule wrongly. It costs more than all the other tests of a run
    together, and it is the only test to catch almost no broken bus (docs/kill-matrix.md).
    A run that did not complete is not run again: it keeps its verdict.

    The conforming buses still run the whole suite, first, in the same batch as the broken buses.
    """
    whole = [(name, CONFORMING_BOUND, "") for name in conforming]
    jobs = {m.impl: (m.impl, m.bound or MUTANT_BOUND, m.rule) for m in mutants}
    first = run_selected(whole + list(jobs.values()), stateful=False, workers=FAST_WORKERS, extra_env=SUITE_ENV)
    again = [m.impl for m in mutants if first[m.impl].completed and not caught(m, first[m.impl])]
    second = run_selected([jobs[impl] for impl in again], workers=FAST_WORKERS, extra_env=SUITE_ENV)
    return first | second


def render(mutants: Sequence[Mutant], runs: dict[str, SuiteRun]) -> str:
    """The Markdown kill matrix."""
    lines = [
        "# Kill matrix",
        "",
        "Generated by `python -m tests.mutants.matrix`; checked by `tests/test_kill_matrix.py`. Do not edit.",
        "",
        "Each broken bus (`tests/mutants/`) breaks one rule of SPEC.md and is otherwise its base: the reference",
        "(`reference`) or the second conforming bus (`alt`, `tests/alt_impl/`). The whole conformance suite runs",
        f"against each one (`--bound={MUTANT_BOUND:g}`; the conforming buses, and the broken buses whose defect is a",
        "duration sized against the default bound, get the default bound). It is *caught*",
        "when a failing test is charged to its rule: the test checks that rule, or its failure message names it.",
        "Other tests may fail too (a broken bus often breaks what depends on the rule); they are not listed. The",
        "stateful test draws the same programs on every run (Hypothesis's `derandomize`), so each run of this",
        "matrix sees the same ones. The *caught by* column lists the tests of the run that wrote this file; a",
        "timing-sensitive test may join or leave it from run to run, so `tests/test_kill_matrix.py` compares",
        "everything else (`skeleton`).",
        "",
        "## Conforming buses",
        "",
        "| bus | verdict |",
        "|---|---|",
    ]
    for name in CONFORMING:
        run = runs.get(name)
        if run is not None:
            passed = run.completed and run.returncode == 0 and not run.failures
            lines.append(f"| `{name}` | {'passes every test' if passed else f'{len(run.failures)} failing tests'} |")
    lines += [
        "",
        "## Broken buses",
        "",
        "| broken bus | base | rule | defect | caught by | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for m in mutants:
        run = runs[m.impl]
        by = "<br>".join(f"`{t}`" for t in sorted(run.failing_for(m.rule))) or "—"
        base = "reference" if m.base == "reference" else "alt"
        level = RULES[m.rule].level
        target = m.rule if level == "MUST" else f"{m.rule} ({level})"
        lines.append(f"| `{m.name}` | {base} | {target} | {m.description} | {by} | {verdict(m, run)} |")
    gaps = [m for m in mutants if m.gap]
    if gaps:
        lines += ["", "## Known gaps", ""]
        lines += [f"- `{m.name}` ({m.rule}): {m.gap}" for m in gaps]
    lines += [
        "",
        "## Limits",
        "",
        "- ROB-6 and ROB-7 are races. Their broken buses widen the race window with `time.sleep(0)`; an unlocked",
        "  bus without that help loses events too rarely for any bounded test to catch it reliably.",
        "- A broken bus that hangs costs its tests a bound each, so the slowest rows take half a minute.",
    ]
    covered = {m.rule for m in mutants}
    lines += ["", "## Rules without a broken bus", ""]
    for rule_id, rule in RULES.items():
        if rule_id not in covered:
            lines.append(f"- {rule_id} ({rule.level}, {rule.profile}): {NOT_EXERCISED.get(rule_id, 'none yet.')}")
    return "\n".join(lines) + "\n"


def skeleton(text: str) -> str:
    """The matrix without its *caught by* cells: what must not change from one run to the next."""
    out = []
    for line in text.splitlines():
        cells = line.split(" | ")
        if line.startswith("| `") and len(cells) == 6:
            cells[4] = "…"
        out.append(" | ".join(cells))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run, then write or check the kill matrix."""
    parser = argparse.ArgumentParser(prog="python -m tests.mutants.matrix", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="run only these mutants")
    parser.add_argument("--check", action="store_true", help="fail if docs/kill-matrix.md is not current")
    parser.add_argument("--output", type=Path, help="write here instead of docs/kill-matrix.md")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in {m.name for m in MUTANTS}]
    if unknown:
        parser.error(f"unknown mutants: {', '.join(unknown)}")
    mutants = [m for m in MUTANTS if not args.names or m.name in args.names]
    runs = run_all(mutants)
    text = render(mutants, runs)
    for m in mutants:
        run = runs[m.impl]
        print(f"{verdict(m, run):>10}  {m.rule:<12} {m.name}  ({run.seconds:.1f} s)")
    for name in CONFORMING:
        run = runs[name]
        print(f"{name}: {run.tests} tests, {len(run.failures)} failures ({run.seconds:.1f} s)")
    if args.check:
        current = MATRIX.read_text() if MATRIX.exists() else ""
        if skeleton(current) != skeleton(text):
            print(f"{MATRIX} is not current: run python -m tests.mutants.matrix", file=sys.stderr)
            return 1
        return 0
    target = args.output or (None if args.names else MATRIX)
    if target is not None:
        target.write_text(text)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

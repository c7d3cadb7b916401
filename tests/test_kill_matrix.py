"""The suite catches every broken bus of `tests/mutants/`, and passes both conforming buses.

A broken bus must make the suite fail with a failure charged to the rule it breaks
(a known gap must not: it is an xfail, strict); the reference and the second bus
(`tests/alt_impl/`) must pass the whole suite.

Two depths, one set of assertions:

- By default (the fast matrix, under two minutes on two cores), each broken bus runs
  only the tests that check its rule (every test whose `rule` marker lists it) and a
  fixed control sample of up to six other tests of the same suite modules
  (`tests.mutants.selecting`), many broken buses per process (`tests.mutants.batch`);
  the stateful test joins a broken bus's run only when the rest do not catch it
  (`tests.mutants.matrix.run_fast`). That is enough for the verdict: a failure counts for a
  rule only when the failing test is charged to it, and every test the full matrix
  has ever listed as catching a broken bus checks that bus's rule, which
  `test_kill_matrix_document_lists_the_catalogue` checks on the committed document
  on every run. The controls are the neighbours most likely to blame the wrong rule;
  they show that no test of another rule is charged to the broken one.
- With `CONFORMANCE_FULL_KILL_MATRIX=1` (as `.ci/run` sets), the whole suite runs
  against every broken bus, each in its own pytest process (`tests.mutants.running`),
  and `docs/kill-matrix.md` must be what `python -m tests.mutants.matrix` writes from
  those very runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conformance._expectation_file import suite_tests
from conformance.rules import RULES
from tests.mutants.base import Mutant
from tests.mutants.batch import FORKS, Job
from tests.mutants.catalogue import CATCHABLE as MUTANTS
from tests.mutants.catalogue import MUTANTS as EVERY_MUTANT
from tests.mutants.matrix import CONFORMING, FULL_ENV, MATRIX, full_requested, render, run_all, run_fast, skeleton
from tests.mutants.running import SuiteRun, suite_run
from tests.pytest_run import ROOT
from tests.reference_run import shared_reference_run

HANGING = next(m for m in EVERY_MUTANT if m.hangs and m.rule == "WRK-2")
"""A broken bus whose `stop_worker` never returns: its run can only end by being killed."""

FULL = full_requested()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SuiteRun]:
    """The suite's runs on every broken bus and on the conforming buses, by `--impl`.

    The reference's is the plain run that other project tests read too (`tests/reference_run.py`).
    """
    others = [name for name in CONFORMING if name != "reference"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        shared = pool.submit(shared_reference_run, tmp_path_factory)
        found = run_all(MUTANTS, conforming=others) if FULL else run_fast(MUTANTS, conforming=others)
        reference = shared.result()
    return found | {"reference": suite_run("reference", reference.run, reference.junit)}


def _summary(run: SuiteRun) -> str:
    failing = "\n".join(f"  {f.test} [{f.rule}] names {sorted(f.named)}" for f in run.failures) or "  none"
    depth = run.scope if FULL else f"{run.scope}; set {FULL_ENV}=1 for the whole suite"
    return (
        f"exit status {run.returncode}, {run.tests} tests ({depth}), {run.seconds:.1f} s; failing:\n"
        f"{failing}\n{run.output}"
    )


@pytest.mark.parametrize("impl", CONFORMING)
def test_conforming_bus_passes_the_whole_suite(runs: dict[str, SuiteRun], impl: str) -> None:
    run = runs[impl]
    assert run.completed and run.returncode == 0 and not run.failures, _summary(run)


def _cases() -> list[object]:
    return [
        pytest.param(m, id=m.name, marks=[pytest.mark.xfail(reason=m.gap, strict=True)] if m.gap else [])
        for m in MUTANTS
    ]


@pytest.mark.parametrize("mutant", _cases())
def test_suite_catches_the_broken_bus(runs: dict[str, SuiteRun], mutant: Mutant) -> None:
    run = runs[mutant.impl]
    assert run.completed, f"the suite did not run to the end on {mutant.name}: {_summary(run)}"
    assert run.returncode == 1 and run.failures, f"the suite passed on {mutant.name} ({mutant.description})"
    assert run.failing_for(mutant.rule), (
        f"the suite failed on {mutant.name}, but no failing test is charged to {mutant.rule}: {_summary(run)}"
    )
    assert not run.wrongly_charged(mutant.rule), (
        f"on {mutant.name}, tests that do not check {mutant.rule} charge their failure to it "
        f"({', '.join(run.wrongly_charged(mutant.rule))}): a failure message names a rule its test does not "
        f"check; {_summary(run)}"
    )


@pytest.mark.skipif(not FULL, reason=f"the document is written from full runs only: set {FULL_ENV}=1")
def test_kill_matrix_document_is_current(runs: dict[str, SuiteRun]) -> None:
    expected = render(MUTANTS, runs)
    assert MATRIX.exists(), f"{MATRIX} is missing: run python -m tests.mutants.matrix"
    assert skeleton(MATRIX.read_text()) == skeleton(expected), f"{MATRIX} is stale: run python -m tests.mutants.matrix"


_ROW = re.compile(r"^\| `(?P<name>[^`]+)` \| (?P<base>\w+) \| (?P<rule>[A-Z0-9-]+)(?: \((?P<level>\w+)\))? \| ")


def test_mutant_names_are_unique() -> None:
    """`--impl=tests.mutants:<attr>` and the matrix's runs are keyed by name: two mutants of one name share a run."""
    seen: dict[str, Mutant] = {}
    twice = []
    for m in EVERY_MUTANT:
        if m.attr in seen:
            twice.append(f"{m.name} ({seen[m.attr].rule} and {m.rule})")
        seen[m.attr] = m
    assert not twice, f"broken buses share a name, so one of each pair is never run: {', '.join(twice)}"


def test_kill_matrix_document_lists_the_catalogue() -> None:
    """Cheap, every run: the committed document has one row per catchable mutant, as the catalogue says.

    Its *caught by* cells are the full matrix's; each test there must check the row's rule, which is what
    lets the fast matrix run only those tests (and a control sample) on each broken bus.
    """
    assert MATRIX.exists(), f"{MATRIX} is missing: run python -m tests.mutants.matrix"
    rows = [(match, line) for line in MATRIX.read_text().splitlines() if (match := _ROW.match(line))]
    documented = [(match["name"], match["rule"]) for match, _ in rows]
    catalogue = [(m.name, m.rule) for m in MUTANTS]
    missing = [f"{n} ({r})" for n, r in catalogue if (n, r) not in documented]
    extra = [f"{n} ({r})" for n, r in documented if (n, r) not in catalogue]
    assert not missing and not extra, (
        f"{MATRIX} does not list the catalogue's broken buses: missing {missing or 'none'}, not in the catalogue "
        f"{extra or 'none'}; run CONFORMANCE_FULL_KILL_MATRIX=1 python -m tests.mutants.matrix"
    )
    assert documented == catalogue, f"{MATRIX} lists the broken buses in another order than the catalogue"
    checks = suite_tests()
    for (match, line), m in zip(rows, MUTANTS, strict=True):
        level = RULES[m.rule].level
        cells = line.split(" | ")
        assert match["base"] == ("reference" if m.base == "reference" else "alt"), f"{m.name}: base differs: {line}"
        assert (match["level"] or "MUST") == level, f"{m.name}: {m.rule} is {level} in SPEC.md, not so in: {line}"
        assert cells[3] == m.description, f"{m.name}: description differs: {cells[3]!r} != {m.description!r}"
        assert cells[5].rstrip(" |") == ("known gap" if m.gap else "caught"), f"{m.name}: verdict {cells[5]!r}"
        for test in re.findall(r"`([^`]+)`", cells[4]):
            module, _, name = test.partition("::")
            rules = checks.get(f"{module}.py::{name.split('[')[0]}") or ()
            assert m.rule in rules, (
                f"{MATRIX}: {m.name} is caught by {test}, which checks {', '.join(rules) or 'no rule'}, not "
                f"{m.rule}; the fast matrix runs only the tests of the broken bus's rule, so it would miss this"
            )


@pytest.mark.skipif(not FORKS, reason="runs fork only where children can be awaited by pidfd (Linux 5.3 and newer)")
def test_a_run_that_hangs_is_killed_and_loses_only_its_own_result(tmp_path: Path) -> None:
    """The fast matrix's batch kills a run past its time limit; the runs beside it still write their results."""
    jobs = [
        Job(
            impl=m.impl,
            bound="0.5",
            rule=m.rule,
            stateful=True,
            timeout=10.0,
            junit=str(tmp_path / f"{n}.xml"),
            result=str(tmp_path / f"{n}.json"),
        )
        for n, m in enumerate([HANGING, MUTANTS[0]])
    ]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    script = f"from tests.mutants import batch; batch.main([{str(tmp_path / 'jobs.json')!r}, '2'])"
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (tmp_path / "0.json").exists(), f"{HANGING.name} never returns, yet its run wrote a result"
    done = json.loads((tmp_path / "1.json").read_text())
    assert done["returncode"] == 1, f"{MUTANTS[0].name} runs beside it and fails its rule's tests: {done}"

"""The suite catches every broken bus of `tests/mutants/`, and passes both conforming buses.

The whole conformance suite runs once per bus, each in a subprocess, four at a
time (`tests.mutants.running`): 94 runs, about a minute on two cores. A broken
bus must make the suite fail with a failure charged to the rule it breaks (a
known gap must not: it is an xfail, strict); the reference and the second bus
(`tests/alt_impl/`) must pass it all. `docs/kill-matrix.md` must be what
`python -m tests.mutants.matrix` writes from these very runs, so the committed
matrix cannot go stale.
"""

from __future__ import annotations

import pytest

from tests.mutants.base import Mutant
from tests.mutants.catalogue import CATCHABLE as MUTANTS
from tests.mutants.matrix import CONFORMING, MATRIX, render, run_all, skeleton
from tests.mutants.running import SuiteRun


@pytest.fixture(scope="module")
def runs() -> dict[str, SuiteRun]:
    """The suite's runs on every broken bus and on the conforming buses, by `--impl`."""
    return run_all(MUTANTS)


def _summary(run: SuiteRun) -> str:
    failing = "\n".join(f"  {f.test} [{f.rule}] names {sorted(f.named)}" for f in run.failures) or "  none"
    return f"exit status {run.returncode}, {run.tests} tests, {run.seconds:.1f} s; failing:\n{failing}\n{run.output}"


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


def test_kill_matrix_document_is_current(runs: dict[str, SuiteRun]) -> None:
    expected = render(MUTANTS, runs)
    assert MATRIX.exists(), f"{MATRIX} is missing: run python -m tests.mutants.matrix"
    assert skeleton(MATRIX.read_text()) == skeleton(expected), f"{MATRIX} is stale: run python -m tests.mutants.matrix"

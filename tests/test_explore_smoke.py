"""`python -m conformance explore` in small: quiet on the reference, and a runnable reproduction for a broken bus.

The broken bus is the kill matrix's `one-handler-per-type` (PUB-1): its first
program fails. The explorer writes the program as a pytest file; that file,
run on its own, fails with PUB-1 on the broken bus and passes on the reference.
Shrinking is left out and the bound kept small, so this costs seconds (most of
them the explorer's own runs of the file); the long runs are the coordinator's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conformance.explore import steps_of
from tests.pytest_run import ROOT

BROKEN = "tests.mutants:one_handler_per_type"


def _explore(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", "explore", "--minutes", "0.01", "--batch", "4", "--steps", "8", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}, "PYTHONPATH": str(ROOT)},
    )


def test_a_short_run_on_the_reference_finds_nothing(tmp_path: Path) -> None:
    run = _explore("--impl=reference", "--seed", "5", "--batch", "2", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no failure" in run.stdout and "0 distinct failure(s)" in run.stdout, run.stdout
    assert not (tmp_path / "out").exists()


def test_a_broken_bus_gets_a_reproduction_that_runs_on_its_own(tmp_path: Path) -> None:
    """The explorer runs the file it wrote on its own: on the broken bus it fails with the rule it names
    (the explorer looks for `[RULE]` in that run's output), on the reference it passes."""
    out = tmp_path / "out"
    run = _explore(f"--impl={BROKEN}", "--seed", "1", "--bound", "0.3", "--no-shrink", "--out", str(out), cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    (written,) = sorted(out.glob("explore_*.py"))
    source = written.read_text()
    rule = re.search(r'@pytest.mark.rule\("([A-Z0-9-]+)"\)', source)
    assert rule is not None and f"FAILURE of {rule[1]}" in run.stdout, (source, run.stdout)
    assert "state.publish(" in source and "state.deliveries_match_the_model()" in source, source
    assert "fails on its own: yes; passes on the reference: yes" in run.stdout, run.stdout


def test_steps_are_read_from_the_program_hypothesis_prints() -> None:
    notes = [
        "Falsifying example:\nstate = BusProgram()\nstate.first_handlers(start_worker=False)\n"
        "state.deliveries_match_the_model()\nstate.publish(event_type='Base')\nstate.teardown()"
    ]
    assert steps_of(notes) == ["first_handlers(start_worker=False)", "publish(event_type='Base')"]

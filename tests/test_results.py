"""The JSON result and the reports: valid against the shipped schema, and the same under pytest-xdist."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest

from tests.pytest_run import ROOT, PytestRun, run_pytest
from tests.reference_run import ARGS, ENVIRONMENT, ReferenceRun, outputs

SCHEMA = ROOT / "conformance" / "schema" / "result-1.json"


Reports = tuple[str, dict[str, object], str]
"""A run's Markdown report, JSON result and output."""


def read(folder: Path, run: PytestRun) -> Reports:
    """What a run that wrote its report and result into `folder` gave; it must have passed."""
    assert run.returncode == 0, run.output[-6000:]
    report, result = folder / "report.md", folder / "result.json"
    return report.read_text(encoding="utf-8"), json.loads(result.read_text(encoding="utf-8")), run.stdout


def run(tmp: Path, impl: str, *extra: str) -> Reports:
    report, result = tmp / "report.md", tmp / "result.json"
    proc = run_pytest(
        f"--impl={impl}", f"--conformance-report={report}", f"--conformance-json={result}", "-q", *extra, timeout=600
    )
    return read(tmp, proc)


# pico-ioc runs on the modules where it passes, xfails (as assertions and as hangs) and is skipped
# nothing: the whole suite would spend the bound on each of its hangs, twice.
PICO_IOC = ("conformance/suite/test_errors.py", "conformance/suite/test_worker.py")


def serial_and_xdist(tmp_path: Path, impl: str, request: pytest.FixtureRequest) -> tuple[Reports, Reports]:
    """The two runs: for the reference, the shared plain run and the same under `-n 2`; for pico-ioc, two runs."""
    if impl == "reference":
        shared: ReferenceRun = request.getfixturevalue("reference_run")
        xdist = run_pytest(*ARGS, *outputs(tmp_path), "-n", "2", timeout=600, env=ENVIRONMENT)
        return read(shared.junit.parent, shared.run), read(tmp_path, xdist)
    (tmp_path / "serial").mkdir()
    (tmp_path / "xdist").mkdir()
    # The two runs are independent and mostly wait on bounds and handler threads: side by side.
    with ThreadPoolExecutor(max_workers=2) as pool:
        serial = pool.submit(run, tmp_path / "serial", impl, *PICO_IOC)
        xdist = pool.submit(run, tmp_path / "xdist", impl, "-n", "2", *PICO_IOC)
        return serial.result(), xdist.result()


@pytest.mark.parametrize("impl", ["reference", "pico-ioc"])
def test_serial_and_xdist_runs_give_identical_reports(
    tmp_path: Path, impl: str, request: pytest.FixtureRequest
) -> None:
    (serial_md, serial_json, serial_out), (xdist_md, xdist_json, xdist_out) = serial_and_xdist(tmp_path, impl, request)
    assert xdist_md == serial_md
    assert xdist_json == serial_json
    summary = [line for line in serial_out.splitlines() if "rules checked" in line]
    assert summary and summary[0] in xdist_out, "the end-of-run rule summary is the same under xdist"
    jsonschema.validate(serial_json, json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_every_result_file_in_docs_validates() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    files = sorted((ROOT / "docs" / "results").glob("*.json"))
    assert files, "docs/results/ holds the published result files"
    for path in files:
        jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), schema)


def test_schema_rejects_a_result_without_verdicts() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"schema": "event-bus-conformance-result/1"}, schema)

"""The JSON result and the reports: valid against the shipped schema, and the same under pytest-xdist."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest

from tests.pytest_run import ROOT, run_pytest

SCHEMA = ROOT / "conformance" / "schema" / "result-1.json"


def run(tmp: Path, impl: str, *extra: str) -> tuple[str, dict[str, object], str]:
    report, result = tmp / "report.md", tmp / "result.json"
    proc = run_pytest(
        f"--impl={impl}", f"--conformance-report={report}", f"--conformance-json={result}", "-q", *extra, timeout=600
    )
    assert proc.returncode == 0, proc.output[-6000:]
    return report.read_text(encoding="utf-8"), json.loads(result.read_text(encoding="utf-8")), proc.stdout


# pico-ioc runs on the modules where it passes, xfails (as assertions and as hangs) and is skipped
# nothing: the whole suite would spend the bound on each of its hangs, twice.
SELECTIONS = {
    "reference": (),
    "pico-ioc": (
        "conformance/suite/test_errors.py",
        "conformance/suite/test_worker.py",
    ),
}


@pytest.mark.parametrize("impl", SELECTIONS)
def test_serial_and_xdist_runs_give_identical_reports(tmp_path: Path, impl: str) -> None:
    (tmp_path / "serial").mkdir()
    (tmp_path / "xdist").mkdir()
    # The two runs are independent and mostly wait on bounds and handler threads: side by side.
    with ThreadPoolExecutor(max_workers=2) as pool:
        serial = pool.submit(run, tmp_path / "serial", impl, *SELECTIONS[impl])
        xdist = pool.submit(run, tmp_path / "xdist", impl, "-n", "2", *SELECTIONS[impl])
        (serial_md, serial_json, serial_out), (xdist_md, xdist_json, xdist_out) = serial.result(), xdist.result()
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

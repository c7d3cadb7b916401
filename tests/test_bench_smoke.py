"""A smoke run of `python -m conformance.bench` with tiny counts, so that the command cannot rot.

Benchmarks are not tests: nothing here judges a time. These tests check that
the command runs every case on the reference and on pico-ioc, and that its
table, its progress output and its JSON document are well formed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.bench import all_cases
from conformance.bench.report import JSON_SCHEMA

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--quick", "--repeat=2", "--scale=0.005", "--events=50"]
CASES = [case.key for case in all_cases()]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance.bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    pytest.importorskip("pico_ioc")
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = bench("--impl=reference", "--impl=pico-ioc", *TINY, f"--json={path}")
    assert proc.returncode == 0, f"exit status {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc, json.loads(path.read_text(encoding="utf-8"))


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_table_has_a_row_per_case_and_a_column_per_implementation(
    smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    proc, _ = smoke
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("# reference 1.0.0, pico-ioc 2.5.2:"), lines[0]
    rows = [line for line in lines if line.startswith("| ")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header == [
        "case",
        "ns per",
        "baseline",
        "reference",
        "× baseline",
        "pico-ioc",
        "× baseline",
        "pico-ioc ÷ reference",
    ]
    titles = {case.title for case in all_cases()}
    body = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:] if not row.startswith("| target")]
    cases = [row for row in body if row[0] in titles]
    assert [row[0] for row in cases] == [case.title for case in all_cases()]
    for row in cases:
        assert len(row) == len(header), row
        assert not any(cell.startswith("error") for cell in row), row
        assert all(cell.endswith("×") for cell in (row[4], row[6], row[7])), row


def test_targets_are_listed_without_failing_the_run(
    smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    proc, document = smoke
    assert "| target for reference | measured | verdict |" in proc.stdout
    targets = document["targets"]
    assert targets["subject"] == "reference"
    assert targets["results"], targets
    for target in targets["results"]:
        assert set(target) == {"target", "measured", "met"}
        assert target["met"] in (True, False), target


def test_progress_goes_to_stderr(smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    proc, _ = smoke
    total = len(CASES)
    for index in range(1, total + 1):
        assert f"[{index}/{total}] " in proc.stderr, proc.stderr
    assert "[1/" not in proc.stdout


def test_json_document_is_well_formed(smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    _, document = smoke
    assert document["schema"] == JSON_SCHEMA
    assert [i["name"] for i in document["implementations"]] == ["reference", "pico-ioc"]
    assert document["repeat"] == 2 and document["loop"] == "asyncio"
    assert {"cpu", "cores", "python", "platform"} <= set(document["machine"])
    assert [case["key"] for case in document["cases"]] == CASES
    for case in document["cases"]:
        assert case["ops_per_sample"] >= 1
        baseline = case["baseline"]
        assert baseline["label"] and len(baseline["samples_ns"]) == 2, case
        for name in ("reference", "pico-ioc"):
            result = case["results"][name]
            assert "error" not in result, (case["key"], name, result)
            assert len(result["samples_ns"]) == 2
            for field in ("median_ns", "q1_ns", "q3_ns", "min_ns", "max_ns", "spread", "ratio_to_baseline"):
                assert _number(result[field]), (case["key"], name, field, result[field])
            assert result["min_ns"] <= result["median_ns"] <= result["max_ns"]


def test_cases_can_be_listed_and_selected(tmp_path: Path) -> None:
    listed = bench("--impl=reference", "--list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == CASES
    path = tmp_path / "one.json"
    proc = bench("--impl=reference", *TINY, "--cases=inline-sync-1,post-thread", f"--json={path}")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(path.read_text(encoding="utf-8"))
    assert [case["key"] for case in document["cases"]] == ["inline-sync-1", "post-thread"]
    assert document["cases"][1]["ops_per_sample"] == 50


def test_unknown_implementation_is_a_usage_error() -> None:
    proc = bench("--impl=no_such_bus_module", *TINY)
    assert proc.returncode == 2
    assert "no_such_bus_module" in proc.stderr

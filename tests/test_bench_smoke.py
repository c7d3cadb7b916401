"""A smoke run of `python -m conformance.bench` with tiny counts, so that the command cannot rot.

Benchmarks are not tests: nothing here judges a time. These tests check that
the command runs every case on the reference and on pico-ioc, that its tables,
its progress output and its JSON document are well formed, and that
`tests/perf_targets.py` can judge that document.
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
from conformance.bench.cases import Case, NotMeasured
from conformance.bench.cli import QUICK_SIZES
from conformance.bench.report import JSON_SCHEMA, cell, scaling_table, table
from conformance.bench.runner import run
from conformance.loading import load_implementation

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--quick", "--repeat=2", "--scale=0.005", "--events=50"]
CASES = [case.key for case in all_cases(sizes=QUICK_SIZES)]


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
    titles = {case.title for case in all_cases(sizes=QUICK_SIZES)}
    body = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]
    cases = [row for row in body if row[0] in titles]
    assert [row[0] for row in cases] == [case.title for case in all_cases(sizes=QUICK_SIZES)]
    for row in cases:
        assert len(row) == len(header), row
        assert not any(cell.startswith("error") for cell in row), row
        assert all(cell.endswith("×") for cell in (row[4], row[6], row[7])), row


def test_scaling_table_has_a_row_per_size(smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    proc, _ = smoke
    lines = proc.stdout.splitlines()
    start = lines.index("| scaling | N | baseline | reference | pico-ioc |")
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[start + 2 :] if line.startswith("| ")]
    grouped = [case for case in all_cases(sizes=QUICK_SIZES) if case.group is not None]
    assert [(row[0], row[1]) for row in rows] == [(case.group, f"{case.size:,}") for case in grouped]
    sizes = {case.size for case in grouped if case.key.startswith("subscribe-")}
    assert sizes == set(QUICK_SIZES)
    for row in rows:
        assert all(c[0].isdigit() for c in row[2:]), row


def test_the_bench_judges_nothing_and_perf_targets_judges_its_json(
    smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]], tmp_path: Path
) -> None:
    proc, document = smoke
    assert "target" not in proc.stdout and "targets" not in document
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    judged = subprocess.run(
        [sys.executable, "-m", "tests.perf_targets", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert judged.returncode == 0, judged.stderr
    lines = judged.stdout.splitlines()
    assert lines[0] == "| target for reference | measured | verdict |"
    verdicts = [line.rsplit("|", 2)[1].strip() for line in lines[2:]]
    assert len(verdicts) >= 8 and set(verdicts) <= {"met", "**missed**", "not measured"}, judged.stdout
    # --quick registers at most 100 handlers: the 30,000-handler targets have no figure.
    assert verdicts.count("not measured") == 2, judged.stdout


def test_a_case_beyond_the_budget_is_reported_without_failing_the_run() -> None:
    async def beyond(impl: Any) -> None:
        raise NotMeasured("registering 30,000 handlers takes over 3 s")

    async def never(*args: Any) -> tuple[int, int]:
        raise AssertionError("a case that is not measured is never sampled")

    async def plain(n: int) -> tuple[int, int]:
        return 1_000, n

    case = Case("slow", "a case beyond the budget", "op", 10, "nothing", plain, never, beyond, group="g", size=30_000)
    outcome = run([load_implementation("reference")], [case], repeat=2)
    series = outcome.results[0].impls["reference"]
    assert series.not_measured and not outcome.failed
    assert cell(series) == "not measured: registering 30,000 handlers takes over 3 s"
    assert "not measured" in table(outcome) and "| g | 30,000 | 100 | not measured |" in scaling_table(outcome)


def test_progress_goes_to_stderr(smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    proc, _ = smoke
    total = len(CASES)
    for index in range(1, total + 1):
        assert f"[{index}/{total}] " in proc.stderr, proc.stderr
    assert "[1/" not in proc.stdout


def test_json_document_is_well_formed(smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    _, document = smoke
    assert document["schema"] == JSON_SCHEMA
    assert set(document) == {"schema", "machine", "loop", "repeat", "seed", "implementations", "cases"}
    assert [i["name"] for i in document["implementations"]] == ["reference", "pico-ioc"]
    assert document["repeat"] == 2 and document["loop"] == "asyncio"
    assert {"cpu", "cores", "python", "platform"} <= set(document["machine"])
    assert [case["key"] for case in document["cases"]] == CASES
    for case in document["cases"]:
        assert case["ops_per_sample"] >= 1
        assert (case["group"] is None) == (case["size"] is None), case
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
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [case.key for case in all_cases()]
    assert {"subscribe-30000", "unsubscribe-10", "inline-sync-1000", "types-10000", "depth-1"} <= set(CASES) | {
        case.key for case in all_cases()
    }
    path = tmp_path / "one.json"
    keys = "inline-sync-1,post-thread,subscribe-7,unsubscribe-7"
    proc = bench("--impl=reference", *TINY, "--sizes=7", f"--cases={keys}", f"--json={path}")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(path.read_text(encoding="utf-8"))
    assert [case["key"] for case in document["cases"]] == keys.split(",")
    assert document["cases"][1]["ops_per_sample"] == 50
    assert [case["size"] for case in document["cases"][2:]] == [7, 7]


def test_unknown_implementation_is_a_usage_error() -> None:
    proc = bench("--impl=no_such_bus_module", *TINY)
    assert proc.returncode == 2
    assert "no_such_bus_module" in proc.stderr

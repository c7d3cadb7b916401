"""Completeness per profile: an under-declared bus reads as partial in all four outputs, never "Deviations: None".

`tests.claimed.underdeclared` is shaped like pico-ioc, claims every profile, has
`post`, `start_worker` and `max_queue_size`, drops every second posted event, and
leaves `worker`, `threadsafe_post` and `bounded_queue` out of its capabilities.
One run of the whole suite against it gives the terminal output, the report and
the JSON result; the matrix is rendered from that result.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from conformance.matrix import load_matrix, render_html, render_markdown
from conformance.report import RunInfo, TestResult, render_json, render_report, rule_verdicts
from tests.pytest_run import ROOT, run_pytest

IMPL = "tests.claimed.underdeclared"
UNDECLARED = ("worker", "threadsafe_post", "bounded_queue")
SCHEMA = ROOT / "conformance" / "schema" / "result-1.json"


@dataclass(frozen=True)
class Outputs:
    """The four outputs of one run."""

    terminal: str
    report: str
    result: dict[str, object]
    matrix: str
    page: str


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    tmp = tmp_path_factory.mktemp("underdeclared")
    report, result = tmp / "report.md", tmp / "result.json"
    run = run_pytest(
        "--pyargs",
        "conformance.suite",
        f"--impl={IMPL}",
        "-p",
        "no:randomly",
        f"--conformance-report={report}",
        f"--conformance-json={result}",
        timeout=300,
    )
    assert result.is_file() and report.is_file(), run.output[-4000:]
    # Nothing it declares is broken: the run is green, which is why the other outputs must say "partial".
    assert run.returncode == 0, run.output[-4000:]
    matrix = load_matrix([result])
    return Outputs(
        run.stdout,
        report.read_text(encoding="utf-8"),
        json.loads(result.read_text(encoding="utf-8")),
        render_markdown(matrix),
        render_html(matrix),
    )


def test_terminal_says_partial_and_warns_about_capabilities_present(outputs: Outputs) -> None:
    out = outputs.terminal
    assert "capabilities declared: task, threadpool, priority" in out, out[-3000:]
    assert re.search(r"completeness: core: partial \(worker: \d+ rules unjudged", out), out[-3000:]
    warning = [line for line in out.splitlines() if line.startswith("WARNING: not declared but present")]
    assert warning and all(c in warning[0] for c in UNDECLARED), (
        f"expected a warning naming {UNDECLARED}; got {warning}"
    )
    assert re.search(r"PART +PUB-1 .*: 7 of 12 tests run", out), "PUB-1 ran 7 of its 12 tests: partial, not pass"
    # pytest's own counts: unsupported tests have their word; "skipped" is left to profiles not claimed (none here).
    final = out.strip().splitlines()[-1]
    assert re.search(r"\d+ passed, \d+ unsupported", final) and "skipped" not in final, final
    counts = re.search(r"(\d+) rules checked: (\d+) pass, 0 fail, 0 expected to fail, (\d+) partial", out)
    assert counts and int(counts[1]) == int(counts[2]) + int(counts[3]), "checked = pass + partial here"


def test_report_says_partial_and_lists_what_is_lacking_as_deviations(outputs: Outputs) -> None:
    report = outputs.report
    assert "None: every tested rule conforms" not in report
    assert "Capabilities declared: task, threadpool, priority, once, unsubscribe" in report
    assert re.search(r"Completeness: core: partial \(worker: \d+ rules unjudged\)", report), report[:2000]
    assert "**Warning: the bus has capabilities it does not declare: worker" in report
    deviations = report.split("## Deviations", 1)[1].split("## Every rule", 1)[0]
    assert "### Unsupported: lacks the feature" in deviations, deviations
    present = "| worker (present but not declared: post, start\\_worker, stop\\_worker) | PUB-1,"
    assert present in deviations, deviations
    assert "| PUB-1 | MUST | core | partial: 7 of 12 tests run | 7/12 pass, 5 unsupported |" in report


def test_json_says_partial_per_profile(outputs: Outputs) -> None:
    document = outputs.result
    jsonschema.validate(document, json.loads(SCHEMA.read_text(encoding="utf-8")))
    implementation = document["implementation"]
    assert isinstance(implementation, dict)
    assert not set(UNDECLARED) & set(implementation["capabilities"]), implementation
    assert set(implementation["present_undeclared"]) == set(UNDECLARED), implementation
    completeness = {p["profile"]: p for p in document["completeness"]}  # type: ignore[attr-defined]
    assert set(completeness) == {"core", "container", "extended", "robustness"}
    core = completeness["core"]
    assert core["complete"] is False and [g["capability"] for g in core["unsupported"]] == ["worker"], core
    assert "PUB-1" in core["unsupported"][0]["rules"] and "post" in core["unsupported"][0]["present"], core
    verdicts = {r["id"]: r["verdict"] for r in document["rules"]}  # type: ignore[attr-defined]
    assert verdicts["PUB-1"] == "partial" and verdicts["WRK-2"] == "unsupported" and verdicts["EVT-1"] == "pass"
    totals = document["totals"]
    assert isinstance(totals, dict) and totals["partial"] > 0 and totals["fail"] == 0, totals


def test_matrix_column_says_partial_and_names_the_capabilities(outputs: Outputs) -> None:
    columns = outputs.matrix.split("## Columns", 1)[1].split("## Rules", 1)[0]
    assert "capabilities declared | completeness |" in columns, columns
    assert "task, threadpool, priority" in columns and re.search(r"core: partial \(worker: \d+ rules unjudged", columns)
    assert "| PUB-1 | MUST | core |" in outputs.matrix and "| partial |" in outputs.matrix
    assert "core: partial (worker:" in outputs.page


# -- verdicts, without a run ---------------------------------------------------------------------------


def _results() -> list[TestResult]:
    return [
        TestResult("t.py::test_a[publish]", "PUB-1", "pass", None, ""),
        TestResult("t.py::test_a[worker]", "PUB-1", "unsupported", None, "", capability="worker"),
        TestResult("t.py::test_b", "WRK-2", "unsupported", None, "", capability="worker"),
        TestResult("t.py::test_c", "PUB-2", "pass", None, ""),
        TestResult("t.py::test_d[worker]", "PUB-4", "fail", "assertion", "lost", expected="kept"),
        TestResult("t.py::test_d[publish]", "PUB-4", "unsupported", None, "", capability="task"),
    ]


def test_a_rule_conforms_only_when_every_test_ran_and_passed() -> None:
    verdicts = rule_verdicts(_results())
    assert verdicts == {"PUB-1": "partial", "PUB-2": "pass", "PUB-4": "fail", "WRK-2": "unsupported"}


def test_a_fully_declared_run_reads_complete_and_a_gap_reads_partial() -> None:
    run = RunInfo("demo", "1", ["core", "extended"], "asyncio", 2.0, "pytest --impl=demo")
    passing = [TestResult("t.py::test_c", "PUB-2", "pass", None, "")]
    assert "Completeness: core: complete; extended: complete." in render_report(run, passing)
    assert "None: every tested rule conforms." in render_report(run, passing)
    report = render_report(run, _results())
    assert "Completeness: core: partial (task: 1 rule unjudged, worker: 2 rules unjudged); extended: complete." in (
        report
    )
    document = json.loads(render_json(run, _results()))
    assert document["completeness"][0] == {
        "profile": "core",
        "complete": False,
        "unsupported": [
            {"capability": "task", "rules": ["PUB-4"], "present": []},
            {"capability": "worker", "rules": ["PUB-1", "WRK-2"], "present": []},
        ],
    }


def test_result_without_completeness_gets_it_worked_out_in_the_matrix(tmp_path: Path) -> None:
    """A file from an older kit has no completeness field: the matrix works it out from its tests."""
    run = RunInfo("old", "1", ["core"], "asyncio", 2.0, "pytest --impl=old", capabilities=["task"])
    document = json.loads(render_json(run, _results()))
    del document["completeness"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    columns = render_markdown(load_matrix([path])).split("## Rules", 1)[0]
    assert "| task | core: partial (task: 1 rule unjudged, worker: 2 rules unjudged) |" in columns, columns


def test_present_but_undeclared_is_looked_for_on_packages_the_kit_drives_only() -> None:
    from conformance._completeness import present_undeclared
    from conformance.loading import load_implementation

    found = present_undeclared(load_implementation(IMPL))
    assert set(found) == set(UNDECLARED), found
    assert found["worker"] == ["post", "start_worker", "stop_worker"], found
    assert present_undeclared(load_implementation("reference")) == {}, "the reference declares everything it has"
    # An adapter maps its bus's API itself: its declaration is taken as it is.
    adapter = load_implementation("tests.test_claims:_good_adapter")
    adapter.capabilities = frozenset({"task"})
    assert present_undeclared(adapter) == {}

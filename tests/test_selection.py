"""`--rules`: only the selected rules' tests run, and the summary, the report and the JSON say the run was partial."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from conformance._selection import SelectionError, parse
from conformance.expectations import suite_tests
from conformance.rules import RULES
from tests.pytest_run import ROOT, run_pytest

SCHEMA = ROOT / "conformance" / "schema" / "result-1.json"


def test_ids_and_globs_select_rules_in_spec_order() -> None:
    selection = parse(" EXT-ONCE-* , can-5 ")
    assert selection.patterns == ("EXT-ONCE-*", "can-5")
    assert selection.rules == tuple(r for r in RULES if r == "CAN-5" or r.startswith("EXT-ONCE-"))
    assert len(selection.rules) >= 3, selection.rules
    assert selection.selects(["PUB-1", "CAN-5"]) and not selection.selects(["PUB-1"])


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("CAN-99", "the rule ID 'CAN-99' matches no rule of SPEC.md; fix: did you mean CAN-"),
        ("NOPE-*", "the glob 'NOPE-*' matches no rule of SPEC.md; fix: write a rule ID of SPEC.md (e.g. CAN-5)"),
        (" , ", "names no rule; fix: give rule IDs or globs of them, e.g. --rules=CAN-5,EXT-*"),
    ],
)
def test_an_item_that_selects_nothing_names_the_fix(value: str, says: str) -> None:
    with pytest.raises(SelectionError) as caught:
        parse(value)
    assert says in str(caught.value), str(caught.value)


def test_a_selection_runs_only_its_rules_tests_and_says_the_run_was_partial(tmp_path: Path) -> None:
    report, result = tmp_path / "report.md", tmp_path / "result.json"
    proc = run_pytest(
        "--impl=reference",
        "--rules=CAN-5,EXT-ONCE-*",
        f"--conformance-report={report}",
        f"--conformance-json={result}",
        "-q",
        "-p",
        "no:randomly",
        timeout=300,
    )
    assert proc.returncode == 0, proc.output
    selected = parse("CAN-5,EXT-ONCE-*").rules
    wanted = {test for test, rules in suite_tests().items() if rules and set(rules) & set(selected)}
    document = json.loads(result.read_text(encoding="utf-8"))
    ran = {t["test"].split("[", 1)[0] for t in document["tests"]}
    assert ran == wanted, f"expected the tests of {selected} to run ({sorted(wanted)}); ran {sorted(ran)}"
    assert "deselected" in proc.stdout, proc.stdout
    line = f"selection: --rules=CAN-5,EXT-ONCE-* selected {len(selected)} of {len(RULES)} rules"
    assert line in proc.stdout, proc.stdout
    assert f"**Partial run.** {line}" in report.read_text(encoding="utf-8")
    assert document["selection"] == {"patterns": ["CAN-5", "EXT-ONCE-*"], "rules": list(selected)}
    jsonschema.validate(document, json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_a_full_run_has_no_selection(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    node = "conformance/suite/test_faults.py::test_cancelling_stop_worker_loses_nothing"
    proc = run_pytest("--impl=reference", f"--conformance-json={result}", "-q", node, timeout=120)
    assert proc.returncode == 0, proc.output
    assert "selection" not in json.loads(result.read_text(encoding="utf-8"))
    assert "selection:" not in proc.stdout


def test_an_unknown_rule_is_a_usage_error(tmp_path: Path) -> None:
    proc = run_pytest("--impl=reference", "--rules=CAN-5,CAN-99", "-q", timeout=120)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.output
    assert "--rules: the rule ID 'CAN-99' matches no rule of SPEC.md; fix:" in proc.stderr, proc.stderr

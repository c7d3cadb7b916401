"""SPEC.md, the rule catalogue and the suite agree: every MUST and SHOULD rule has a test."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

from conformance.rules import RULES, SPEC_VERSION

ROOT = Path(__file__).resolve().parent.parent
SPEC = (ROOT / "SPEC.md").read_text(encoding="utf-8")
SUITE = ROOT / "conformance" / "suite"

HEADING = re.compile(
    r"^### (?P<id>[A-Z]+(?:-[A-Z]+)*-\d+) \((?P<level>MUST|SHOULD|MAY), (?P<profile>\w+)\) (?P<title>.+)$"
)


def spec_rules() -> dict[str, dict[str, str]]:
    """The rules SPEC.md defines, parsed from its level-3 headings, with each rule's body."""
    rules: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in SPEC.splitlines():
        if line.startswith("#"):
            current = None
        match = HEADING.match(line)
        if match:
            assert match["id"] not in rules, f"SPEC.md defines {match['id']} twice"
            current = dict(match.groupdict(), body="")
            rules[match["id"]] = current
        elif current is not None:
            current["body"] += line + "\n"
    return rules


def suite_rule_marks() -> dict[str, list[str]]:
    """Rule ID -> the suite tests that carry it in `@pytest.mark.rule(...)`, found by reading the source."""
    marks: dict[str, list[str]] = {}
    for path in sorted(SUITE.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and ast.unparse(deco.func) == "pytest.mark.rule":
                    for arg in deco.args:
                        assert isinstance(arg, ast.Constant), f"{path.name}:{node.name}: rule IDs must be literals"
                        marks.setdefault(str(arg.value), []).append(f"{path.name}::{node.name}")
    return marks


def test_spec_defines_rules_with_sources() -> None:
    rules = spec_rules()
    assert len(rules) >= 60, f"SPEC.md should hold the whole rule set, found {len(rules)} rules"
    for rule_id, rule in rules.items():
        assert "Source" in rule["body"], f"{rule_id} has no 'Source' line quoting where it comes from"
        assert rule["body"].strip(), f"{rule_id} has no statement"


def test_catalogue_matches_spec() -> None:
    parsed = {k: (v["level"], v["profile"], v["title"]) for k, v in spec_rules().items()}
    catalogue = {r.id: (r.level, r.profile, r.title) for r in RULES.values()}
    assert list(parsed) == list(catalogue), "conformance/rules.py must list SPEC.md's rules in SPEC.md's order"
    assert parsed == catalogue, "conformance/rules.py and SPEC.md disagree on a rule's level, profile or title"


def test_spec_version_is_in_the_change_log() -> None:
    assert f"Spec version: **{SPEC_VERSION}**" in SPEC
    assert f"- **{SPEC_VERSION}**" in SPEC, "the change log has no entry for the current spec version"


def test_every_must_and_should_rule_has_a_test() -> None:
    marks = suite_rule_marks()
    untested = [r.id for r in RULES.values() if r.level in ("MUST", "SHOULD") and r.id not in marks]
    assert not untested, f"MUST/SHOULD rules without a conformance test: {', '.join(untested)}"


def test_tests_name_only_defined_rules() -> None:
    unknown = sorted(set(suite_rule_marks()) - set(RULES))
    assert not unknown, f"suite tests name rules SPEC.md does not define: {', '.join(unknown)}"


def test_every_suite_test_names_a_rule() -> None:
    unmarked = []
    for path in sorted(SUITE.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            is_test = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")
            if is_test and not any(ast.unparse(d).startswith("pytest.mark.rule(") for d in node.decorator_list):
                unmarked.append(f"{path.name}::{node.name}")
    assert not unmarked, f"conformance tests without @pytest.mark.rule: {', '.join(unmarked)}"


def test_implementation_defined_points_are_referenced_and_defined() -> None:
    defined = re.findall(r"^\| (IMPL-\d+) \|", SPEC, re.M)
    assert defined, "SPEC.md has no implementation-defined table"
    assert len(defined) == len(set(defined)), f"IMPL IDs defined twice: {Counter(defined).most_common(3)}"
    cited = set(re.findall(r"\((IMPL-\d+)\)", SPEC))
    assert cited <= set(defined), f"rules cite undefined points: {sorted(cited - set(defined))}"


@pytest.mark.parametrize("profile", ["core", "container", "extended", "robustness"])
def test_each_profile_has_rules(profile: str) -> None:
    assert any(r.profile == profile for r in RULES.values())

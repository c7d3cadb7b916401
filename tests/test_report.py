"""The Markdown conformance report: verdicts per rule, and nothing that differs between machines."""

from __future__ import annotations

from conformance.report import TestResult, render_report, rule_verdicts
from conformance.rules import RULES


def results() -> list[TestResult]:
    return [
        TestResult("test_a.py::test_one", "PUB-1", "pass", None, ""),
        TestResult(
            "test_a.py::test_two",
            "PUB-1",
            "fail",
            "assertion",
            "at 0x7f00aa in /home/me/src/kit/runner.py:83",
            expected="one call",
        ),
        TestResult(
            "test_b.py::test_three",
            "PUB-2",
            "xfail",
            "hang",
            "still not done",
            expected="returns",
            explanation="it waits. Explanation: /tmp/x.py:1 You can reproduce this test case by ...",
        ),
        TestResult("test_c.py::test_four", "EXT-DUP-1", "skip", None, ""),
    ]


def test_a_rule_fails_if_any_of_its_tests_fails() -> None:
    verdicts = rule_verdicts(results())
    assert verdicts == {"PUB-1": "fail", "PUB-2": "xfail", "EXT-DUP-1": "skip"}
    assert list(verdicts) == [r for r in RULES if r in verdicts], "verdicts come in SPEC.md order"


def test_report_counts_and_lists_every_rule() -> None:
    text = render_report("demo", "1.0", ["core"], "asyncio", results())
    assert text.startswith("# Conformance report: demo 1.0\n")
    assert "| fails (not listed) | 1 |" in text
    assert "| deviates (listed in the expectation file) | 1 |" in text
    assert f"| not tested (MAY rules, or not selected) | {len(RULES) - 3} |" in text
    assert all(f"| {rule_id} |" in text for rule_id in RULES)
    assert "### PUB-1 (MUST, core)" in text and "### PUB-2 (MUST, core)" in text


def test_report_holds_nothing_machine_specific() -> None:
    text = render_report("demo", "1.0", ["core"], "asyncio", results())
    assert "/home/me" not in text and "/tmp/" not in text
    assert "0x7f00aa" not in text
    assert "reproduce" not in text and "Explanation" not in text
    assert "runner.py:83" in text, "file names stay, only their folders go"
    assert render_report("demo", "1.0", ["core"], "asyncio", list(reversed(results()))) == text

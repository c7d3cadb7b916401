"""What the terminal shows of a conformance run: the header's claims, the per-rule summary, test outcome words.

Kept apart from the plugin's hooks, which only call these.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ._completeness import ADAPTER_RAISED
from ._results import result_of
from .report import RunInfo, TestResult, completeness_line, count_verdicts, rule_verdicts, tests_run
from .rules import RULES


def claims_lines(run: RunInfo) -> list[str]:
    """The header's lines on declared capabilities, and the warning about capabilities present but not declared."""
    lines = [f"event-bus conformance: capabilities declared: {run.declared()}"]
    if run.present:
        shown = "; ".join(f"{c} ({', '.join(m)})" for c, m in run.present.items())
        lines.append(
            f"WARNING: {run.name} has capabilities it does not declare: {shown}. "
            "Their rules are not judged (SPEC.md, Capabilities): declare them to have them tested."
        )
    return lines


def summary_lines(run: RunInfo, results: Sequence[TestResult]) -> list[tuple[str, dict[str, bool]]]:
    """The end-of-run lines, each with its terminal markup: counts that say what they count, then rule by rule."""
    verdicts = rule_verdicts(results)
    counts = count_verdicts(verdicts)
    untested = len(RULES) - len(verdicts)
    checked = counts["pass"] + counts["fail"] + counts["xfail"] + counts["partial"]
    lines: list[tuple[str, dict[str, bool]]] = [
        (
            f"{checked} rules checked: {counts['pass']} pass, {counts['fail']} fail, "
            f"{counts['xfail']} expected to fail, {counts['partial']} partial (some tests unsupported); "
            f"not checked: {counts['unsupported']} unsupported, {counts['skip']} in profiles not claimed, "
            f"{untested} without a test in this run (of {len(RULES)} rules)",
            {},
        ),
        (f"completeness: {completeness_line(run.completeness(results))}", {}),
    ]
    if run.present:
        shown = ", ".join(run.present)
        lines.append(
            (f"WARNING: not declared but present, so left unjudged: {shown} (declare them to have them tested)", {})
        )
    for rule_id, verdict in verdicts.items():
        if verdict == "fail":
            lines.append((f"  FAIL  {RULES[rule_id]}", {"red": True}))
        elif verdict == "xfail":
            lines.append((f"  XFAIL {RULES[rule_id]}", {"yellow": True}))
        elif verdict == "partial":
            ran, total = tests_run(results, rule_id)
            lines.append(
                (f"  PART  {RULES[rule_id]}: {ran} of {total} tests run, {_needs(results, rule_id)}", {"yellow": True})
            )
        elif verdict == "unsupported":
            lines.append((f"  UNSUP {RULES[rule_id]}: {_needs(results, rule_id)}", {}))
    return lines


def _needs(results: Sequence[TestResult], rule_id: str) -> str:
    """`needs 'worker'`: what the rule's unsupported tests needed (pytest's -rs no longer lists them)."""
    unsupported = [r for r in results if r.rule == rule_id and r.verdict == "unsupported"]
    needed = sorted({r.capability or ADAPTER_RAISED for r in unsupported})
    return "needs " + ", ".join(repr(c) if c != ADAPTER_RAISED else c for c in needed)


def teststatus(report: pytest.TestReport) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    """An unsupported test's own outcome word, so pytest's "skipped" counts only profiles not claimed."""
    result = result_of(report)
    if result is None or result.verdict != "unsupported":
        return None
    return "unsupported", "u", ("UNSUPPORTED", {"yellow": True})

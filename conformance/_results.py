"""Turning one test's call into its result: the rule it is charged to, the expectation, the verdict.

The one place that does it (`judge`), called from the plugin's makereport hook.
The result travels on the report itself (`user_properties`), so that under
pytest-xdist the controller, which sees every worker's reports, assembles the
same results, summary and reports as a serial run.
"""

from __future__ import annotations

import dataclasses

import pytest

from ._bounded import cut
from ._failures import FailureKind, RuleViolation, describe
from .capabilities import Unsupported
from .expectations import Expectation
from .report import TestResult
from .rules import Rule
from .spec import statement

RESULT_PROPERTY = "conformance_result"
"""The `user_properties` key under which a report carries its `TestResult` (as a dict)."""


def judge(
    item: pytest.Item,
    call: pytest.CallInfo[None],
    report: pytest.TestReport,
    rule: Rule,
    key: str,
    expectation: Expectation | None,
    expectations_path: str,
) -> None:
    """Charge `report` to its rule, apply the expectation, quote the rule, and attach the result."""
    excinfo = call.excinfo
    violation = excinfo.value if excinfo is not None else None
    if isinstance(violation, RuleViolation):
        # A test checking several rules (the stateful one) is charged with the
        # rule its failure names, not with its first marker.
        rule = violation.rule
    report.user_properties.append(("rule", rule.id))
    kind: FailureKind = violation.kind if isinstance(violation, RuleViolation) else "crash"
    if report.failed and isinstance(violation, RuleViolation) and item.config.getoption("tbstyle") == "auto":
        # The message already says rule, expectation and observation; the kit's own
        # frames would only bury it. Notes (Hypothesis's failing example) stay.
        path, line, _ = item.location
        notes = "".join(f"\n{note}" for note in getattr(violation, "__notes__", ()))
        report.longrepr = f"{path}:{(line or 0) + 1}: {item.name}\n{violation}{notes}"
    if report.when == "call" and expectation is not None:
        _apply(report, rule, kind, account(violation), key, expectation, expectations_path)
    if report.failed:
        report.sections.append(("conformance rule", f"{rule}\n{statement(rule.id) or 'See SPEC.md.'}"))
    if not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return
    if hasattr(report, "wasxfail"):
        verdict = "xfail"
    elif report.skipped and isinstance(violation, Unsupported):
        verdict = "unsupported"
    elif report.skipped:
        verdict = "skip"
    else:
        verdict = "pass" if report.passed else "fail"
    failed = verdict in ("fail", "xfail")
    unexpected_pass = failed and call.excinfo is None
    observed = _observed(violation) if failed else ""
    if verdict == "unsupported" and isinstance(violation, Unsupported):
        observed = str(violation.msg)
    if unexpected_pass and expectation is not None:
        observed = (
            f"unexpected pass: the test passed, but the expectation file lists it as a "
            f"{' or '.join(expectation.any_kind)} failure of {' or '.join(expectation.any_rule)}"
        )
    result = TestResult(
        test=key,
        rule=rule.id,
        verdict=verdict,
        kind=None if unexpected_pass else kind if failed else None,
        # Texts from the bus are cut here, once, so that every output holds the same bounded text.
        observed=cut(observed),
        expected=cut(violation.expected) if failed and isinstance(violation, RuleViolation) else "",
        explanation=cut(expectation.observed) if verdict == "xfail" and expectation else "",
        capability=violation.capability if verdict == "unsupported" and isinstance(violation, Unsupported) else "",
    )
    report.user_properties.append((RESULT_PROPERTY, dataclasses.asdict(result)))


def result_of(report: pytest.TestReport) -> TestResult | None:
    """The result a report carries, if it is a conformance test's verdict."""
    for name, value in report.user_properties:
        if name == RESULT_PROPERTY and isinstance(value, dict):
            return TestResult(**value)
    return None


def _apply(
    report: pytest.TestReport,
    rule: Rule,
    kind: FailureKind,
    observed: str,
    key: str,
    expectation: Expectation,
    path: str,
) -> None:
    """Excuse a failure only when its kind, rule and observation are the ones the entry describes."""
    listed = f"listed as an expected {' or '.join(expectation.any_kind)} failure of {' or '.join(expectation.any_rule)}"
    if report.failed and kind in expectation.any_kind and rule.id in expectation.any_rule:
        if expectation.sees(observed):
            report.outcome = "skipped"
            report.wasxfail = f"{rule.id}: {expectation.observed}"
            return
        # The right rule and kind, but another failure: an entry excuses only what it describes.
        report.sections.append(
            (
                "expectation",
                f"{listed} ({expectation.where or path}), but the failure is not the one it describes:\n"
                f"  expected to see: {expectation.expected_to_see}\n"
                f"  observed:        {observed or '(nothing)'}\n"
                "update the expectation file if the behaviour really changed",
            )
        )
    elif report.failed:
        report.sections.append(
            (
                "expectation",
                f"{listed}, but it failed as {kind} of {rule.id}: update the expectation file if the behaviour "
                "really changed",
            )
        )
    elif report.passed:
        report.outcome = "failed"
        report.longrepr = (
            f"unexpected pass: {key} now conforms to {' and '.join(expectation.any_rule)}; "
            f"remove it from the expectations ({path})"
        )


def account(violation: BaseException | None) -> str:
    """The kit's account of a failure, which an expectation entry's `match`/`match_re` must find.

    `expected: ... observed: ...` for a failure the kit's checks caught (for a hang the
    expected part names the call that did not return), `observed: raised Type('message')`
    for anything else, on one line.
    """
    if violation is None:
        return ""
    if isinstance(violation, RuleViolation):
        text = f"expected: {violation.expected} observed: {violation.observed}"
    else:
        text = f"observed: {_observed(violation)}"
    return " ".join(text.split())


def _observed(violation: BaseException | None) -> str:
    if violation is None:
        return ""
    if isinstance(violation, RuleViolation):
        return violation.observed
    return f"raised {describe(violation)}"

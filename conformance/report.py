"""Per-rule verdicts, the Markdown conformance report and the JSON result, built from one run's results.

`pytest --impl=NAME --conformance-report=PATH` writes the report,
`--conformance-json=PATH` the result (schema: `conformance/schema/result-1.json`).
Neither holds timings, paths or addresses, so the same implementation on the
same machine gives the same files, from a serial run or a pytest-xdist one.
"""

from __future__ import annotations

import json
import platform
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from ._selection import Selection
from .rules import RULES, SPEC_VERSION

RESULT_SCHEMA = "event-bus-conformance-result/1"
"""The `schema` field of a JSON result; the number changes when the format does incompatibly."""

VERDICT_ORDER = ("fail", "xfail", "pass", "unsupported", "skip")
"""A rule's verdict is the first of these that any of its tests had."""

VERDICT_WORDS = {
    "pass": "conforms",
    "fail": "FAILS",
    "xfail": "deviates (expected)",
    "unsupported": "unsupported",
    "skip": "skipped",
    "untested": "not tested",
}


@dataclass(frozen=True)
class TestResult:
    """The outcome of one conformance test."""

    __test__ = False  # not a pytest test class

    test: str
    rule: str
    verdict: str
    kind: str | None
    observed: str
    """What the kit saw (for failures): its `observed` text, or what was raised."""
    expected: str = ""
    """What the rule expected (for failures the kit's checks caught)."""
    explanation: str = ""
    """The expectation file's sentence, for expected failures."""
    capability: str = ""
    """The capability the implementation does not declare, for unsupported tests."""


def rule_verdicts(results: Iterable[TestResult]) -> dict[str, str]:
    """Rule ID -> verdict, in SPEC.md order, for the rules that had tests in this run."""
    by_rule: dict[str, set[str]] = {}
    for r in results:
        by_rule.setdefault(r.rule, set()).add(r.verdict)
    out: dict[str, str] = {}
    for rule_id in RULES:
        if rule_id in by_rule:
            out[rule_id] = next(v for v in VERDICT_ORDER if v in by_rule[rule_id])
    return out


def count_verdicts(verdicts: dict[str, str]) -> dict[str, int]:
    """How many rules have each verdict (`untested` included), from `rule_verdicts`."""
    return {v: sum(1 for x in verdicts.values() if x == v) for v in (*VERDICT_ORDER, "untested")}


@dataclass(frozen=True)
class RunInfo:
    """What a report says about the run: the implementation, its claims, the loop, the command."""

    name: str
    version: str
    profiles: list[str]
    loop: str
    bound: float
    command: str
    """A command that reproduces the run (`reproducing_command`)."""
    capabilities: list[str] | None = None
    """The capabilities declared, when not all of them."""
    selection: Selection | None = None
    """The rules `--rules` limited the run to (a partial run), or None."""


_OUTPUT_ONLY = ("-q", "-v", "-vv", "-s", "--quiet", "--verbose", "-x")
_OUTPUT_WITH_VALUE = ("-n", "--numprocesses", "--dist", "-p", "--tb", "-r", "--junitxml", "--color", "-W", "--maxfail")
_PATHS = ("--conformance-report", "--conformance-json")


def reproducing_command(args: Sequence[str]) -> str:
    """`pytest ...` that gives the same results as a run invoked with `args`.

    Options that change only how the run is shown or spread (verbosity, tracebacks,
    `-n` of pytest-xdist) are left out, and output paths read `PATH`, so the command
    is the same on every machine; `python -m conformance` runs read as the
    `pytest --pyargs conformance.suite` they are.
    """
    kept: list[str] = []
    it = iter(args)
    for arg in it:
        name = arg.split("=", 1)[0]
        if arg in _OUTPUT_ONLY or (arg.startswith("-r") and len(arg) > 2 and not arg.startswith("--")):
            continue
        if name in _OUTPUT_WITH_VALUE or (arg[:2] in ("-n", "-p", "-W") and len(arg) > 2):
            if "=" not in arg and arg in _OUTPUT_WITH_VALUE:
                next(it, None)
            continue
        if name in _PATHS:
            if "=" not in arg:
                next(it, None)
            kept.append(f"{name}=PATH")
            continue
        kept.append(arg)
    return " ".join(["pytest", *kept])


def _clean(text: str) -> str:
    """One line, without what differs from machine to machine: addresses, paths, Hypothesis's blobs."""
    text = re.split(r"\s(?:Explanation:|You can reproduce this test case)", text)[0]
    text = re.sub(r"0x[0-9a-fA-F]+", "0x…", text)
    text = re.sub(r"\b\d+ ms\b", "… ms", text)  # measured durations differ from run to run
    text = re.sub(r"(?:/[^\s/:'\"]+)+/(?=[\w.-]+\.py\b)", "", text)
    return " ".join(text.split()).replace("|", "\\|")


def render_report(run: RunInfo, results: list[TestResult]) -> str:
    """The Markdown report: totals, then the deviations, then every rule on one line."""
    name, version, profiles, loop = run.name, run.version, run.profiles, run.loop
    verdicts = rule_verdicts(results)
    for rule in RULES.values():
        verdicts.setdefault(rule.id, "untested")
    by_rule: dict[str, list[TestResult]] = {}
    for r in sorted(results, key=lambda r: r.test):
        by_rule.setdefault(r.rule, []).append(r)
    counts = count_verdicts(verdicts)
    lines = [
        f"# Conformance report: {name} {version}",
        "",
        f"Against SPEC.md {SPEC_VERSION}; profiles tested: {', '.join(profiles)}; event loop: {loop}.",
        *(
            [f"Capabilities declared: {', '.join(run.capabilities) or 'none'} (the others are unsupported)."]
            if run.capabilities is not None
            else []
        ),
        f"Generated by `{run.command}`; regenerate it rather than editing it.",
        *([f"**Partial run.** {run.selection.describe()}."] if run.selection is not None else []),
        "",
        "| verdict | rules |",
        "|---|---|",
        f"| conforms | {counts['pass']} |",
        f"| deviates (listed in the expectation file) | {counts['xfail']} |",
        f"| fails (not listed) | {counts['fail']} |",
        f"| unsupported (needs a capability not declared) | {counts['unsupported']} |",
        f"| skipped (profile not claimed) | {counts['skip']} |",
        f"| not tested (MAY rules, or not selected) | {counts['untested']} |",
        "",
        "## Deviations",
        "",
    ]
    deviating = [rid for rid, v in verdicts.items() if v in ("fail", "xfail")]
    if not deviating:
        lines.append("None: every tested rule conforms.")
    for rule_id in deviating:
        rule = RULES[rule_id]
        lines.append(f"### {rule.id} ({rule.level}, {rule.profile}) {rule.title}")
        lines.append("")
        for r in by_rule[rule_id]:
            if r.verdict in ("fail", "xfail"):
                kind = f" [{r.kind}]" if r.kind else ""
                why = f"{_clean(r.explanation)} " if r.explanation else ""
                seen = (
                    f"expected {_clean(r.expected)}; observed {_clean(r.observed)}"
                    if r.expected
                    else _clean(r.observed)
                )
                lines.append(f"- `{r.test}`{kind}: {why}(kit: {seen})")
        lines.append("")
    lines += _unsupported_section(results)
    lines += ["## Every rule", "", "| rule | level | profile | verdict | tests |", "|---|---|---|---|---|"]
    for rule_id, verdict in verdicts.items():
        rule = RULES[rule_id]
        tests = by_rule.get(rule_id, [])
        unsupported = sum(1 for t in tests if t.verdict == "unsupported")
        lines.append(
            f"| {rule.id} | {rule.level} | {rule.profile} | {VERDICT_WORDS[verdict]} | "
            f"{sum(1 for t in tests if t.verdict == 'pass')}/{len(tests)} pass"
            + (f", {unsupported} unsupported" if unsupported else "")
            + " |"
        )
    return "\n".join(lines) + "\n"


def _unsupported_section(results: list[TestResult]) -> list[str]:
    """What the implementation's API cannot express, by capability: apart from its deviations."""
    by_capability: dict[str, list[TestResult]] = {}
    for r in results:
        if r.verdict == "unsupported":
            by_capability.setdefault(r.capability or "(raised by the adapter)", []).append(r)
    if not by_capability:
        return []
    lines = [
        "## Unsupported",
        "",
        "Tests not run because they need a capability the implementation does not declare "
        "(or its adapter raised `Unsupported`): what its API cannot express, not deviations.",
        "",
        "| capability | rules | tests |",
        "|---|---|---|",
    ]
    for capability, tests in sorted(by_capability.items()):
        rules = sorted({t.rule for t in tests}, key=list(RULES).index)
        lines.append(f"| {capability} | {', '.join(rules)} | {len(tests)} |")
    return [*lines, ""]


def render_json(run: RunInfo, results: list[TestResult]) -> str:
    """The JSON result document (schema `conformance/schema/result-1.json`)."""
    from . import __version__

    verdicts = rule_verdicts(results)
    for rule in RULES.values():
        verdicts.setdefault(rule.id, "untested")
    document = {
        "schema": RESULT_SCHEMA,
        "kit": {"version": __version__},
        "spec": {"version": SPEC_VERSION},
        "implementation": {
            "name": run.name,
            "version": run.version,
            "profiles": run.profiles,
            **({"capabilities": run.capabilities} if run.capabilities is not None else {}),
        },
        "environment": {
            "python": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "platform": sys.platform,
            "loop": run.loop,
            "bound": run.bound,
        },
        "command": run.command,
        **({"selection": run.selection.as_json()} if run.selection is not None else {}),
        "totals": count_verdicts(verdicts),
        "rules": [
            {
                "id": rule.id,
                "level": rule.level,
                "profile": rule.profile,
                "title": rule.title,
                "verdict": verdicts[rule.id],
            }
            for rule in RULES.values()
        ],
        "tests": [
            {**asdict(r), "observed": _clean(r.observed), "expected": _clean(r.expected)}
            for r in sorted(results, key=lambda r: r.test)
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

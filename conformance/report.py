"""Per-rule verdicts, the Markdown conformance report and the JSON result, built from one run's results.

`pytest --impl=NAME --conformance-report=PATH` writes the report,
`--conformance-json=PATH` the result (schema: `conformance/schema/result-1.json`).
Neither holds timings, paths or addresses, so the same implementation on the
same machine gives the same files, from a serial run or a pytest-xdist one.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from ._bounded import markdown
from ._completeness import LACKS, ProfileCompleteness, completeness
from ._selection import Selection
from .capabilities import CAPABILITIES
from .rules import RULES, SPEC_VERSION

RESULT_SCHEMA = "event-bus-conformance-result/1"
"""The `schema` field of a JSON result; the number changes when the format does incompatibly."""

VERDICT_ORDER = ("fail", "xfail", "partial", "pass", "unsupported", "skip")
"""Rule verdicts, worst first: a rule's verdict is the first of these that any of its tests had.

`partial` is no test's verdict: a rule whose tests passed but some were unsupported
(`rule_verdicts`); "conforms" needs every test of the rule run and passed.
"""

VERDICT_WORDS = {
    "pass": "conforms",
    "fail": "FAILS",
    "xfail": "deviates (expected)",
    "partial": "partial",
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
            seen = by_rule[rule_id]
            if {"pass", "unsupported"} <= seen:
                seen = seen | {"partial"}  # some tests ran and passed, the others could not run
            out[rule_id] = next(v for v in VERDICT_ORDER if v in seen)
    return out


def tests_run(results: Iterable[TestResult], rule_id: str) -> tuple[int, int]:
    """(tests of `rule_id` that ran, tests of it in the run): `partial: 7 of 12 tests run`."""
    mine = [r for r in results if r.rule == rule_id]
    return sum(1 for r in mine if r.verdict not in ("unsupported", "skip")), len(mine)


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
    """The capabilities declared (None: all of them)."""
    present: dict[str, list[str]] = field(default_factory=dict)
    """Capabilities not declared that the bus visibly has, with the members that show them."""
    selection: Selection | None = None
    """The rules `--rules` limited the run to (a partial run), or None."""

    def declared(self) -> str:
        """The declared capabilities in words: `all`, `none`, or their names."""
        if self.capabilities is None or set(self.capabilities) >= set(CAPABILITIES) - {"container"}:
            return "all"
        return ", ".join(self.capabilities) or "none"

    def completeness(self, results: Iterable[TestResult]) -> list[ProfileCompleteness]:
        """Per claimed profile: complete, or partial with what each unsupported capability leaves unjudged."""
        gaps = [(r.rule, r.capability) for r in results if r.verdict == "unsupported"]
        return completeness(self.profiles, gaps, self.present)


_OUTPUT_ONLY = ("-q", "-v", "-vv", "-s", "--quiet", "--verbose", "-x")
_OUTPUT_WITH_VALUE = ("-n", "--numprocesses", "--dist", "-p", "--tb", "-r", "--junitxml", "--color", "-W", "--maxfail")
_PATHS = ("--conformance-report", "--conformance-json")


def reproducing_command(args: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """`pytest ...` that gives the same results as a run invoked with `args` in environment `env`.

    Options that change only how the run is shown or spread (verbosity, tracebacks,
    `-n` of pytest-xdist) are left out, and output paths read `PATH`, so the command
    is the same on every machine; `python -m conformance` runs read as the
    `pytest --pyargs conformance.suite` they are. The stateful test's settings
    (`CONFORMANCE_STATEFUL_*`, from `env`, by default this process's environment)
    come first: a random-mode run is not repeated without them.
    """
    env = os.environ if env is None else env
    settings = [f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()) if k.startswith("CONFORMANCE_STATEFUL_")]
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
    return " ".join([*settings, "pytest", *kept])


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
    declared = run.declared()
    lines = [
        f"# Conformance report: {markdown(name)} {markdown(version)}",
        "",
        f"Against SPEC.md {SPEC_VERSION}; profiles tested: {', '.join(profiles)}; event loop: {loop}.",
        f"Capabilities declared: {declared}"
        + (" (tests needing the others are unsupported)." if declared != "all" else "."),
        f"Completeness: {markdown(completeness_line(run.completeness(results)))}.",
        *_present_warning(run),
        f"Generated by `{run.command}`; regenerate it rather than editing it.",
        *([f"**Partial run.** {run.selection.describe()}."] if run.selection is not None else []),
        "",
        "| verdict | rules |",
        "|---|---|",
        f"| conforms (every test run and passed) | {counts['pass']} |",
        f"| deviates (listed in the expectation file) | {counts['xfail']} |",
        f"| fails (not listed) | {counts['fail']} |",
        f"| partial (tests that ran passed; others need a capability not declared) | {counts['partial']} |",
        f"| unsupported (needs a capability not declared) | {counts['unsupported']} |",
        f"| skipped (profile not claimed) | {counts['skip']} |",
        f"| not tested (MAY rules, or not selected) | {counts['untested']} |",
        "",
        "## Deviations",
        "",
    ]
    deviating = [rid for rid, v in verdicts.items() if v in ("fail", "xfail")]
    lacking = _lacks_section(results, run.present)
    if not deviating and not lacking:
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
    lines += lacking
    lines += ["## Every rule", "", "| rule | level | profile | verdict | tests |", "|---|---|---|---|---|"]
    for rule_id, verdict in verdicts.items():
        rule = RULES[rule_id]
        tests = by_rule.get(rule_id, [])
        unsupported = sum(1 for t in tests if t.verdict == "unsupported")
        word = VERDICT_WORDS[verdict]
        if verdict == "partial":
            ran, total = tests_run(tests, rule_id)
            word = f"partial: {ran} of {total} tests run"
        lines.append(
            f"| {rule.id} | {rule.level} | {rule.profile} | {word} | "
            f"{sum(1 for t in tests if t.verdict == 'pass')}/{len(tests)} pass"
            + (f", {unsupported} unsupported" if unsupported else "")
            + " |"
        )
    return "\n".join(lines) + "\n"


def completeness_line(profiles: list[ProfileCompleteness]) -> str:
    """`core: complete; extended: partial (priority: 1 rule unjudged)`."""
    return "; ".join(p.describe() for p in profiles)


def _present_warning(run: RunInfo) -> list[str]:
    """The prominent note on capabilities the bus visibly has but does not declare."""
    if not run.present:
        return []
    shown = "; ".join(f"{c} ({', '.join(m)})" for c, m in run.present.items())
    return [
        "",
        f"**Warning: the bus has capabilities it does not declare: {markdown(shown)}.** "
        "Their rules were not judged (SPEC.md, Capabilities): declare them to have them tested.",
        "",
    ]


def _lacks_section(results: list[TestResult], present: dict[str, list[str]]) -> list[str]:
    """The rules left unjudged, by capability: deviations of the kind "lacks the feature", apart from failures."""
    by_capability: dict[str, list[TestResult]] = {}
    for r in results:
        if r.verdict == "unsupported":
            by_capability.setdefault(r.capability or "(raised by the adapter)", []).append(r)
    if not by_capability:
        return []
    lines = [
        f"### Unsupported: {LACKS}",
        "",
        "Tests not run because they need a capability the implementation does not declare "
        "(or its adapter raised `Unsupported`). SPEC.md (Capabilities): a rule of the guide an implementation "
        f"does not support is a deviation, of the kind {LACKS}; a rule with some tests run is partial.",
        "",
        "| capability | rules | tests |",
        "|---|---|---|",
    ]
    for capability, tests in sorted(by_capability.items()):
        rules = sorted({t.rule for t in tests}, key=list(RULES).index)
        shown = capability
        if capability in present:  # the bus has it but does not declare it: say so where the deviation is
            shown += f" (present but not declared: {', '.join(present[capability])})"
        lines.append(f"| {markdown(shown)} | {', '.join(rules)} | {len(tests)} |")
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
            **({"present_undeclared": run.present} if run.present else {}),
        },
        "completeness": [
            {
                "profile": p.profile,
                "complete": p.complete,
                "unsupported": [
                    {"capability": g.capability, "rules": list(g.rules), "present": list(g.present)} for g in p.gaps
                ],
            }
            for p in run.completeness(results)
        ],
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

"""`--rules=CAN-5,EXT-*`: run only the tests of some rules, and say everywhere that the run was partial.

An implementer fixing one rule at a time runs its tests alone. Each comma-separated
item is a rule ID or a glob of rule IDs (`*`, `?`, `[...]`, as `fnmatch`; case does
not matter); an item that names no rule of SPEC.md is a usage error saying what to
write. A test belongs to a rule when its `rule` marker names it (a test checking
several rules runs when any of them is selected). Tests without a `rule` marker are
not conformance tests and are left alone. The terminal summary, the Markdown report
and the JSON result say which rules were selected (`Selection.describe`, `as_json`),
so a selective run never reads as a full one.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from .rules import RULES

OPTION_HELP = (
    "run only the tests of these rules: comma-separated rule IDs or globs of them (e.g. CAN-5,EXT-*); "
    "the summary and the reports say the run was partial"
)


class SelectionError(ValueError):
    """A `--rules` value that selects nothing as written; the message names the fix."""


@dataclass(frozen=True)
class Selection:
    """The rules a `--rules` run is limited to."""

    patterns: tuple[str, ...]
    """The items of `--rules`, as given."""
    rules: tuple[str, ...]
    """The rule IDs they select, in SPEC.md's order."""

    def selects(self, rule_ids: Iterable[str]) -> bool:
        """True when a test checking `rule_ids` belongs to the selection."""
        return any(rule_id in self.rules for rule_id in rule_ids)

    def describe(self) -> str:
        """One line for the summary and the report: that the run is partial, and what it covers."""
        return (
            f"selection: --rules={','.join(self.patterns)} selected {len(self.rules)} of {len(RULES)} rules "
            f"({', '.join(self.rules)}) and ran only the tests checking them: a partial run, the other rules "
            "were not tested"
        )

    def as_json(self) -> dict[str, list[str]]:
        """The JSON result's `selection` field."""
        return {"patterns": list(self.patterns), "rules": list(self.rules)}


def parse(value: str) -> Selection:
    """The selection `--rules=value` asks for; SelectionError naming the fix for an item that selects no rule."""
    patterns = tuple(p.strip() for p in value.split(",") if p.strip())
    if not patterns:
        raise SelectionError(
            f"--rules={value!r} names no rule; fix: give rule IDs or globs of them, e.g. --rules=CAN-5,EXT-* "
            "(or leave --rules out to run every rule)"
        )
    chosen: set[str] = set()
    problems: list[str] = []
    for pattern in patterns:
        matched = {rule_id for rule_id in RULES if fnmatch.fnmatchcase(rule_id, pattern.upper())}
        if not matched:
            problems.append(_no_match(pattern))
        chosen |= matched
    if problems:
        raise SelectionError("\n".join(problems))
    return Selection(patterns, tuple(rule_id for rule_id in RULES if rule_id in chosen))


def _no_match(pattern: str) -> str:
    close = difflib.get_close_matches(pattern.upper(), list(RULES), n=3, cutoff=0.6)
    family = pattern.upper().rsplit("-", 1)[0]
    hint = (
        f"did you mean {' or '.join(close)}?"
        if close
        else f"write a rule ID of SPEC.md or a glob such as {family}-*"
        if any(r.startswith(f"{family}-") for r in RULES)
        else "write a rule ID of SPEC.md (e.g. CAN-5) or a glob of them (e.g. EXT-*)"
    )
    kind = "glob" if any(c in pattern for c in "*?[") else "rule ID"
    return f"--rules: the {kind} {pattern!r} matches no rule of SPEC.md; fix: {hint}"

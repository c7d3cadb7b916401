"""The matrix's model: result files as columns, rules as rows, and the verdicts a cell can show."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ..report import VERDICT_ORDER, VERDICT_WORDS
from ..rules import PROFILES

VERDICTS = ("fail", "xfail", "pass", "skip", "untested")
"""The verdicts every matrix counts and filters by, worst first; others join them where a cell shows one."""

PROFILE_ORDER: tuple[str, ...] = PROFILES
LEVEL_ORDER = ("MUST", "SHOULD", "MAY")


def verdict_word(verdict: str) -> str:
    """How a verdict reads in a cell: the report's word for it, or the verdict itself (`unsupported`)."""
    return VERDICT_WORDS.get(verdict, verdict)


class ResultFileError(Exception):
    """An input file that is not a readable result of the supported format."""


@dataclass(frozen=True)
class Failure:
    """One failing (or expectedly failing) test of a rule in one column."""

    test: str
    verdict: str
    kind: str | None
    observed: str
    expected: str
    explanation: str


@dataclass(frozen=True)
class Column:
    """One result file: a run of the kit against one implementation."""

    source: str
    """The file's name (not its path, so that the output does not depend on where the inputs lie)."""
    name: str
    version: str
    loop: str
    python: str
    platform: str
    spec: str
    kit: str
    command: str
    profiles: tuple[str, ...]
    totals: dict[str, int]
    """Verdict -> how many rules had it: every one of `VERDICTS`, and any other the file counts."""
    verdicts: dict[str, str]
    failures: dict[str, list[Failure]]
    """Rule ID -> its failing tests (fail and xfail), sorted by test."""
    rules: dict[str, tuple[str, str, str]]
    """Rule ID -> (level, profile, title), as the run's SPEC.md had them."""
    capabilities: str = "all"
    """The capabilities the implementation declared, in words (`all` when the file lists none)."""
    completeness: str = ""
    """Per claimed profile: complete, or partial with the rules each unsupported capability leaves unjudged."""

    @property
    def expectations(self) -> str:
        """The expectation file as the command names it: `none`, `default` (the bundled one, if any), or a file name."""
        words = self.command.split()
        given = [a.split("=", 1)[1] for a in words if a.startswith("--expectations=")]
        given += [b for a, b in itertools.pairwise(words) if a == "--expectations"]
        if not given:
            return "default"
        return given[-1] if given[-1] == "none" else given[-1].replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def without_expectations(self) -> bool:
        """True when the run was told to ignore any expectation file (`--expectations=none`)."""
        return self.expectations == "none"

    def notes(self, with_python: bool) -> list[str]:
        """What tells this column apart beside name and version: the loop, maybe Python, no expectation file."""
        notes = [self.loop]
        if with_python:
            notes.append(self.python)
        if self.without_expectations:
            notes.append("no expectation file")
        return notes


@dataclass(frozen=True)
class Row:
    """One rule, as the result files describe it."""

    id: str
    level: str
    profile: str
    title: str
    section: str


@dataclass
class Matrix:
    """Rows (rules, in SPEC.md order, grouped by section) by columns (result files, in the order given)."""

    columns: list[Column]
    rows: list[Row] = field(default_factory=list)

    def sections(self) -> list[tuple[str, list[Row]]]:
        """The rows grouped by section, in order of first appearance."""
        groups: dict[str, list[Row]] = {}
        for row in self.rows:
            groups.setdefault(row.section, []).append(row)
        return list(groups.items())

    @property
    def python_varies(self) -> bool:
        """True when the columns ran on different Pythons, so that headers must say which."""
        return len({c.python for c in self.columns}) > 1

    @property
    def verdicts(self) -> list[str]:
        """The verdicts to count and filter by: `VERDICTS` and any other a cell shows, worst first.

        The order is the report's (`VERDICT_ORDER`); a verdict it does not rank comes after those, by
        name, and `untested` comes last.
        """
        shown = {*VERDICTS, *(v for c in self.columns for v in c.verdicts.values())} - {"untested"}
        ranked = [v for v in VERDICT_ORDER if v in shown]
        return [*ranked, *sorted(shown - set(ranked)), "untested"]

    def label(self, column: Column) -> str:
        """`name version (loop[, Python][, no expectation file])`: the column's name in text."""
        return f"{column.name} {column.version} ({', '.join(column.notes(self.python_varies))})"

    def verdict(self, column: Column, rule_id: str) -> str:
        """The column's verdict for a rule; `untested` where its run did not know the rule."""
        return column.verdicts.get(rule_id, "untested")

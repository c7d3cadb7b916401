"""The matrix's model: result files as columns, rules as rows, and the verdicts a cell can show."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ..capabilities import CAPABILITIES
from ..expectations import default_path
from ..report import VERDICT_ORDER, VERDICT_WORDS
from ..rules import PROFILES

VERDICTS = ("fail", "xfail", "pass", "skip", "untested")
"""The verdicts every matrix counts and filters by, worst first; others join them where a cell shows one."""

PROFILE_ORDER: tuple[str, ...] = PROFILES
LEVEL_ORDER = ("MUST", "SHOULD", "MAY")


VERDICT_MEANINGS = {
    "pass": "every test of the rule passed",
    "fail": "a test of the rule failed: the bus does not do what SPEC.md says (the link shows what was observed)",
    "xfail": "a test of the rule failed as the run's expectation file says it does: a known deviation",
    "partial": "the tests of the rule that ran passed, but some could not run (the bus lacks a capability they "
    "need): not conforming, and not judged in full",
    "unsupported": "not run: the bus lacks a capability the rule's tests need (the cell names it when the result does)",
    "skip": "not run: the run left the rule's profile out (the bus does not claim it, or --profiles omitted it)",
    "untested": "the run's SPEC.md had no such rule, or no test of it ran",
    "vanished": "the rule's tests were not collected in this run",
}
"""What each verdict means, for the legend of every matrix; a verdict missing here is shown by its name."""


def verdict_meaning(verdict: str) -> str:
    """The legend's text for a verdict."""
    return VERDICT_MEANINGS.get(verdict, "a verdict this version of the kit does not describe")


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
    declared: str = "all"
    """The capabilities the implementation declared, in words (`all` when the file lists none)."""
    completeness: str = ""
    """Per claimed profile: complete, or partial with the rules each unsupported capability leaves unjudged."""
    capabilities: tuple[str, ...] | None = None
    """The capabilities the implementation declared, when not all of them (None: all)."""
    needs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Rule ID -> the capabilities its unsupported tests needed, as the result names them."""

    @property
    def capabilities_note(self) -> str | None:
        """`without priority, once`: the capabilities the run's bus did not declare, if any."""
        if self.capabilities is None:
            return None
        missing = [c for c in CAPABILITIES if c not in self.capabilities]
        return f"without {', '.join(missing)}" if missing else None

    def cell_word(self, rule_id: str, verdict: str) -> str:
        """How the column's cell for a rule reads: the verdict's word; an unsupported one names what it needs."""
        needed = self.needs.get(rule_id)
        if verdict == "unsupported" and needed:
            return f"{verdict_word(verdict)} (needs {', '.join(needed)})"
        return verdict_word(verdict)

    @property
    def expectations(self) -> str:
        """The expectation file as the command names it: `none`, `default` (the bundled one, if any), or a file name."""
        words = self.command.split()
        given = [a.split("=", 1)[1] for a in words if a.startswith("--expectations=")]
        given += [b for a, b in itertools.pairwise(words) if a == "--expectations"]
        if not given:
            # The kit's default is the file it bundles for the implementation; most have none.
            bundled = default_path(self.name)
            return f"{bundled.name} (bundled)" if bundled is not None else "none (the kit bundles none)"
        return given[-1] if given[-1] == "none" else given[-1].replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def without_expectations(self) -> bool:
        """True when the run was told to ignore any expectation file (`--expectations=none`)."""
        return self.expectations == "none"

    @property
    def mode(self) -> str:
        """How pytest ran the suite, from the command: `serial`, or `xdist -n N` under pytest-xdist."""
        words = self.command.split()
        for i, word in enumerate(words):
            if word in ("-n", "--numprocesses") and i + 1 < len(words):
                return f"xdist -n {words[i + 1]}"
            if word.startswith("--numprocesses="):
                return f"xdist -n {word.split('=', 1)[1]}"
            if word.startswith("-n") and len(word) > 2 and word[2:].isalnum():
                return f"xdist -n {word[2:]}"
        return "serial"

    @property
    def profiles_note(self) -> str:
        """The profiles the run tested: `all profiles`, or `profiles core, extended`."""
        if set(PROFILES) <= set(self.profiles):
            return "all profiles"
        return f"profiles {', '.join(self.profiles)}"

    def notes(self, with_python: bool) -> list[str]:
        """What tells this column apart beside name and version: loop, maybe Python, profiles, mode, expectations."""
        notes = [self.loop]
        if with_python:
            notes.append(self.python)
        notes.append(self.profiles_note)
        if self.capabilities_note:
            notes.append(self.capabilities_note)
        notes.append(self.mode)
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
    def spec_versions(self) -> list[str]:
        """The SPEC.md versions the columns ran against, in order of first appearance."""
        return list(dict.fromkeys(c.spec for c in self.columns))

    def spec_warning(self) -> str | None:
        """A warning when the columns ran against different SPEC.md versions: their rows may differ."""
        versions = self.spec_versions
        if len(versions) < 2:
            return None
        by = "; ".join(
            f"{v}: columns {', '.join(str(i) for i, c in enumerate(self.columns, 1) if c.spec == v)}" for v in versions
        )
        return (
            f"These results ran against different versions of SPEC.md ({by}). A rule's wording, level or profile "
            "may differ between them, so compare their verdicts with care."
        )

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

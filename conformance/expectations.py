"""Expectation files: the known deviations of one implementation, strict in both directions.

A file lists tests that are expected to fail for given versions of an
implementation, with the rule, the kind of failure and what was observed:

    implementation = "pico-ioc"

    [[expected]]
    test = "test_policies.py::test_dispatch_does_not_wait_for_task_handlers[publish]"
    rule = "POL-TASK-2"
    kind = "hang"                # assertion | hang | crash
    versions = "==2.5.2"         # a PEP 440 specifier set
    observed = "publish gathers the TASK handlers' tasks and waits for them."

A listed test that fails the expected way is reported as an expected failure. A
listed test that passes, or fails another way, fails the run; so does an entry
naming a test the suite does not have. Entries for other versions are ignored,
so a new release is checked afresh.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .rules import RULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

KINDS = ("assertion", "hang", "crash")
BUNDLED = Path(__file__).parent / "expectations"
SUITE = Path(__file__).parent / "suite"


class ExpectationError(Exception):
    """An expectation file that cannot be used as written."""


@dataclass(frozen=True)
class Expectation:
    """One expected failure."""

    test: str
    rule: str
    kind: str
    versions: str
    observed: str
    loop: str | None = None

    def applies_to(self, version: str, loop: str) -> bool:
        """True when this entry covers `version` running on `loop`."""
        if self.loop is not None and self.loop != loop:
            return False
        try:
            return Version(version) in SpecifierSet(self.versions)
        except InvalidVersion:
            return False


def suite_test_ids() -> set[str]:
    """Every `file.py::test_name` of the bundled suite, read from the source, whatever is selected."""
    ids: set[str] = set()
    for path in sorted(SUITE.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                ids.add(f"{path.name}::{node.name}")
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                ids.add(f"{path.name}::{node.name}")
                ids.update(
                    f"{path.name}::{node.name}::{sub.name}"
                    for sub in node.body
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and sub.name.startswith("test_")
                )
    return ids


def default_path(impl_name: str) -> Path | None:
    """The bundled file for `impl_name`, if there is one."""
    path = BUNDLED / f"{impl_name}.toml"
    return path if path.is_file() else None


def load(path: Path) -> list[Expectation]:
    """Read and check an expectation file; raise ExpectationError saying what is wrong and where."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ExpectationError(f"{path}: {exc}") from exc
    known_tests = suite_test_ids()
    entries: list[Expectation] = []
    seen: set[tuple[str, str, str | None]] = set()
    for i, raw in enumerate(data.get("expected", []), start=1):
        where = f"{path}, entry {i}"
        entry = _entry(raw, where)
        if entry.test.split("[", 1)[0] not in known_tests:
            raise ExpectationError(f"{where}: names test {entry.test!r}, which the suite does not have")
        key = (entry.test, entry.versions, entry.loop)
        if key in seen:
            raise ExpectationError(f"{where}: {entry.test} is listed twice for {entry.versions}")
        seen.add(key)
        entries.append(entry)
    return entries


def _entry(raw: Any, where: str) -> Expectation:
    if not isinstance(raw, dict):
        raise ExpectationError(f"{where}: must be a table")
    missing = [k for k in ("test", "rule", "kind", "versions", "observed") if not raw.get(k)]
    if missing:
        raise ExpectationError(f"{where}: missing {', '.join(missing)}")
    extra = set(raw) - {"test", "rule", "kind", "versions", "observed", "loop"}
    if extra:
        raise ExpectationError(f"{where}: unknown keys {', '.join(sorted(extra))}")
    if raw["rule"] not in RULES:
        raise ExpectationError(f"{where}: rule {raw['rule']!r} is not in SPEC.md")
    if raw["kind"] not in KINDS:
        raise ExpectationError(f"{where}: kind must be one of {', '.join(KINDS)}, not {raw['kind']!r}")
    try:
        SpecifierSet(raw["versions"])
    except InvalidSpecifier as exc:
        raise ExpectationError(f"{where}: versions {raw['versions']!r} is not a version specifier") from exc
    return Expectation(
        test=str(raw["test"]),
        rule=str(raw["rule"]),
        kind=str(raw["kind"]),
        versions=str(raw["versions"]),
        observed=str(raw["observed"]),
        loop=raw.get("loop"),
    )

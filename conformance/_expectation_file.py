"""Checking an expectation file: its keys and values, its test ids against the suite's source, every problem at once.

`conformance.expectations` documents the format, reads the file, raises the
problems found here as one `ExpectationError` and turns the checked entries
into `Expectation`s; it re-exports this module's public names. Entries and
problems are returned as plain values, so this module does not import that one.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypedDict, get_args

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ._failures import FailureKind
from .rules import RULES
from .runner import LOOPS

KINDS: tuple[str, ...] = get_args(FailureKind)
SUITE = Path(__file__).parent / "suite"
ANY_VERSION = "*"
"""`versions = "*"`: every version, also an unknown one."""

TOP_LEVEL_KEYS = ("implementation", "expected")
REQUIRED_KEYS = ("test", "rule", "kind", "versions", "observed")
MATCH_KEYS = ("match", "match_re")
"""What the entry expects to see in the kit's observation; an entry has one of them or both."""
OPTIONAL_KEYS = (*MATCH_KEYS, "loop", "mode")
MODES = ("default", "random")
"""How the stateful test draws its programs: the same ones every run, or new ones
(`CONFORMANCE_STATEFUL_RANDOM=1`)."""
_OUTCOMES = r"(?:PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)"
_ENTRY_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*(?:expected|\"expected\"|'expected')[ \t]*\]\]", re.MULTILINE)


class Entry(TypedDict):
    """One checked entry: the fields of an `Expectation`."""

    test: str
    rule: str
    rules: tuple[str, ...]
    kind: str
    kinds: tuple[str, ...]
    versions: tuple[str, ...]
    observed: str
    match: str
    match_re: str
    loop: str | None
    mode: str | None
    where: str


def check_file(
    path: Path, text: str, data: Mapping[str, Any], implementation: str | None
) -> tuple[list[Entry], list[str]]:
    """The entries of the file at `path` (`text`, parsed as `data`), and every problem it has (none if usable).

    With `implementation`, a file whose `implementation` key names another one is a problem.
    """
    checker = _Checker(path, text, implementation)
    entries = checker.check(data)
    return entries, checker.problems


def suite_tests() -> dict[str, tuple[str, ...] | None]:
    """Every `file.py::test_name` of the bundled suite and the rules it is marked with, read from the source.

    The rules are those of `@pytest.mark.rule(...)` written with literal IDs on the
    test or its class; None where they cannot be read without running the code.
    """
    tests: dict[str, tuple[str, ...] | None] = {}
    for path in sorted(SUITE.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_rules = _rules_of_assignments(tree.body)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                tests[f"{path.name}::{node.name}"] = _rules_of(node) or module_rules
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                class_rules = _rules_of(node) or _rules_of_assignments(node.body) or module_rules
                tests[f"{path.name}::{node.name}"] = class_rules
                for sub in node.body:
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and sub.name.startswith("test_"):
                        tests[f"{path.name}::{node.name}::{sub.name}"] = _rules_of(sub) or class_rules
    return tests


def suite_test_ids() -> set[str]:
    """Every `file.py::test_name` of the bundled suite, read from the source, whatever is selected."""
    return set(suite_tests())


def _rule_call(node: ast.expr) -> tuple[str, ...] | None:
    """The IDs of a `pytest.mark.rule("ID", ...)` call with literal arguments, else None."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "rule"):
        return None
    ids = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return tuple(ids) if ids and len(ids) == len(node.args) else None


def _rules_of(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> tuple[str, ...] | None:
    for decorator in node.decorator_list:
        found = _rule_call(decorator)
        if found:
            return found
    return None


def _rules_of_assignments(body: list[ast.stmt]) -> tuple[str, ...] | None:
    """The rule of a `pytestmark = pytest.mark.rule(...)` (or a list of marks) in `body`."""
    for node in body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            marks = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            for mark in marks:
                found = _rule_call(mark)
                if found:
                    return found
    return None


def normalise_test_id(text: str) -> str:
    """`file.py::test_name[param]` from a test id in any form pytest prints; ValueError saying why not."""
    rest = text.strip()
    prefix = re.match(rf"{_OUTCOMES}\s+", rest)
    if prefix:
        rest = rest[prefix.end() :]
    path, sep, rest = rest.partition("::")
    if not sep:
        raise ValueError("has no '::'; fix: write it as file.py::test_name (or file.py::test_name[param])")
    names = re.match(r"[A-Za-z_]\w*(?:::[A-Za-z_]\w*)*", rest)
    if not names:
        raise ValueError("has no test name after '::'; fix: write it as file.py::test_name")
    tail = rest[names.end() :]
    param = ""
    if tail.startswith("["):
        depth, end = 0, 0
        while end < len(tail):
            depth += {"[": 1, "]": -1}.get(tail[end], 0)
            end += 1
            if depth == 0:
                break
        if depth:
            raise ValueError("has a '[' without its ']'; fix: write the parametrization as test_name[param]")
        param, tail = tail[:end], tail[end:]
        if param == "[]":
            raise ValueError("has an empty parametrization '[]'; fix: name one (test_name[param]) or leave it out")
    verbose = re.fullmatch(rf"\s+{_OUTCOMES}(?:\s+\[\s*\d+%\])?\s*", tail)
    summary = prefix is not None and re.match(r"\s+-\s", tail)
    if tail and not (verbose and prefix is None) and not summary:
        raise ValueError(f"has {tail.strip()!r} after the test id; fix: write it as file.py::test_name[param]")
    file = re.split(r"[\\/]", path.strip())[-1]
    if not file:
        raise ValueError("has no file before '::'; fix: write it as file.py::test_name")
    return f"{file}::{names.group()}{param}"


class _Checker:
    """Collects every problem of one file, for `load` to raise together."""

    def __init__(self, path: Path, text: str, implementation: str | None) -> None:
        self.path = path
        self.text = text
        self.implementation = implementation
        self.problems: list[str] = []
        self.tests = suite_tests()

    def check(self, data: Mapping[str, Any]) -> list[Entry]:
        self._top_level(data)
        raw_entries = data.get("expected", [])
        if not isinstance(raw_entries, list):
            self._problem(
                f"{self.path}: 'expected' is a {_type(raw_entries)}; "
                "fix: write each entry as a table of its own, under the header [[expected]]"
            )
            raw_entries = []
        lines = self._entry_lines(len(raw_entries))
        entries: list[Entry] = []
        seen: dict[tuple[str, frozenset[str], str | None, str | None], str] = {}
        for index, raw in enumerate(raw_entries, start=1):
            entry = self._entry(raw, index, lines[index - 1] if lines else None)
            if entry is None:
                continue
            key = (entry["test"], frozenset(entry["versions"]), entry["loop"], entry["mode"])
            if key in seen:
                on = f" on {entry['loop']}" if entry["loop"] else ""
                on += f" in {entry['mode']} mode" if entry["mode"] else ""
                self._problem(
                    f"{entry['where']}: {entry['test']} is listed twice for versions "
                    f"{' or '.join(entry['versions'])}{on}, here and at {seen[key]}; fix: remove one of them"
                )
                continue
            seen[key] = entry["where"]
            entries.append(entry)
        return entries

    def _problem(self, message: str) -> None:
        self.problems.append(message)

    def _top_level(self, data: Mapping[str, Any]) -> None:
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                self._problem(
                    f"{self.path}: unknown top-level key or table {key!r}{_did_you_mean(key, TOP_LEVEL_KEYS)}; "
                    f"fix: an expectation file has only {' and '.join(TOP_LEVEL_KEYS)} "
                    "(entries go under [[expected]])"
                )
        name = data.get("implementation")
        if name is None:
            return
        if not isinstance(name, str) or not name.strip():
            self._problem(
                f"{self.path}: implementation is {_show(name)}; fix: write the --impl name, "
                'as a string: implementation = "mybus"'
            )
        elif self.implementation is not None and _same_name(name) != _same_name(self.implementation):
            self._problem(
                f"{self.path}: is the expectation file of {name!r}, but the implementation under test is "
                f"{self.implementation!r}; fix: pass that implementation's file to --expectations "
                "(or --expectations=none), or correct the file's implementation key"
            )

    def _entry_lines(self, count: int) -> list[int] | None:
        """The line of each `[[expected]]` header, when they can be told apart from the text."""
        lines = [self.text.count("\n", 0, m.start()) + 1 for m in _ENTRY_HEADER.finditer(self.text)]
        return lines if len(lines) == count else None

    def _entry(self, raw: Any, index: int, line: int | None) -> Entry | None:
        place = f"{self.path}:{line}" if line else str(self.path)
        if not isinstance(raw, dict):
            self._problem(f"{place}: entry {index} is a {_type(raw)}; fix: make it a table, under [[expected]]")
            return None
        test_text = raw.get("test")
        where = f"{place}: entry {index}" + (f" (test = {test_text!r})" if isinstance(test_text, str) else "")
        before = len(self.problems)

        def problem(message: str) -> None:
            self._problem(f"{where}: {message}")

        allowed = REQUIRED_KEYS + OPTIONAL_KEYS
        for key in raw:
            if key not in allowed:
                problem(
                    f"unknown key {key!r}{_did_you_mean(key, allowed)}; "
                    f"fix: an entry has the keys {', '.join(allowed)} (match or match_re, or both; loop and mode "
                    "are optional)"
                )
        missing = [k for k in REQUIRED_KEYS if k not in raw]
        if missing:
            problem(f"missing {', '.join(missing)}; fix: add {' and '.join(f'{k} = ...' for k in missing)}")
        if not any(k in raw for k in MATCH_KEYS):
            problem(
                'says nothing it expects to see; fix: add match = "...", a piece of the observed text the kit '
                "reports for this failure (its `observed` in the report or the JSON result), or match_re = "
                '"...", a regular expression searched in it, so that only that failure is excused'
            )
        for key in ("test", "observed", "match", "match_re", "loop", "mode"):
            if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
                problem(f"{key} is {_show(raw[key])}; fix: write it as a non-empty string: {key} = {_EXAMPLES[key]}")
        rule = raw.get("rule")
        rules: tuple[str, ...] = ()
        if isinstance(rule, list) and rule and all(isinstance(r, str) and r.strip() for r in rule):
            # A test checking several rules whose failure is charged to one or another from run to run
            # (the stateful test on a bus whose order depends on memory addresses).
            rules, rule = tuple(rule), rule[0]
        elif "rule" in raw and (not isinstance(rule, str) or not rule.strip()):
            problem(
                f"rule is {_show(rule)}; fix: write it as a non-empty string: rule = {_EXAMPLES['rule']}, or as an "
                'array of the rules the failure may break from run to run: rule = ["PUB-1", "POL-ORDER-1"]'
            )

        test = self._test(raw.get("test"), problem)
        for one in rules or ((rule,) if isinstance(rule, str) and rule.strip() else ()):
            self._rule(one, test, problem)
        kinds = self._kinds(raw.get("kind"), problem) if "kind" in raw else ()
        match_re = raw.get("match_re")
        if isinstance(match_re, str) and match_re.strip():
            try:
                re.compile(match_re)
            except re.error as exc:
                problem(
                    f"match_re {match_re!r} is not a regular expression ({exc}); fix: correct it (Python `re` "
                    "syntax; in TOML write it as a literal string, 'like this', so backslashes stay), or use "
                    'match = "..." for plain text'
                )
        mode = raw.get("mode")
        if isinstance(mode, str) and mode.strip() and mode not in MODES:
            problem(
                f"mode {mode!r} is not a mode of the kit; fix: mode must be {' or '.join(map(repr, MODES))} "
                "(random: CONFORMANCE_STATEFUL_RANDOM=1), or leave it out for both"
            )
        loop = raw.get("loop")
        if isinstance(loop, str) and loop.strip() and loop not in LOOPS:
            problem(
                f"loop {loop!r} is not a loop the kit runs on; fix: loop must be one of {', '.join(LOOPS)}, "
                "or leave it out for every loop"
            )
        versions = self._versions(raw.get("versions"), problem) if "versions" in raw else None

        if len(self.problems) > before or test is None or versions is None or not kinds:
            return None
        return Entry(
            test=test,
            rule=str(rule),
            rules=rules,
            kind=kinds[0],
            kinds=kinds if len(kinds) > 1 else (),
            versions=versions,
            observed=str(raw["observed"]),
            match=str(raw.get("match", "")),
            match_re=str(raw.get("match_re", "")),
            loop=loop if isinstance(loop, str) else None,
            mode=mode if isinstance(mode, str) else None,
            where=where,
        )

    def _kinds(self, value: Any, problem: Callable[[str], None]) -> tuple[str, ...]:
        """The kinds of failure `value` names (a string or an array of them); () after a problem."""
        example = f'kind = "{KINDS[0]}", or an array of the kinds it may fail as: kind = ["assertion", "hang"]'
        if isinstance(value, str) and value.strip():
            kinds = [value]
        elif isinstance(value, list) and value and all(isinstance(k, str) and k.strip() for k in value):
            kinds = list(value)
        else:
            problem(f"kind is {_show(value)}; fix: write it as a non-empty string or array of them: {example}")
            return ()
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            problem(
                f"kind {' and '.join(map(repr, unknown))} is not a kind of failure; "
                f"fix: kind must be one of {', '.join(KINDS)} (or an array of them)"
            )
            return ()
        if len(set(kinds)) < len(kinds):
            problem(f"kind {kinds!r} names a kind twice; fix: name each kind once")
            return ()
        return tuple(kinds)

    def _test(self, text: Any, problem: Callable[[str], None]) -> str | None:
        if not isinstance(text, str) or not text.strip():
            return None
        try:
            test = normalise_test_id(text)
        except ValueError as exc:
            known = self._suggest(text.strip()) if "::" not in text else None
            problem(f"test {text!r} {exc}" + (f": did you mean {known}?" if known else ""))
            return None
        base = test.split("[", 1)[0]
        if base not in self.tests:
            known = self._suggest(base)
            fix = (
                f"did you mean {known}?"
                if known
                else "copy the id from `pytest --collect-only -q` (file.py::test_name[param]), or remove the entry"
            )
            problem(f"names test {test!r}, which the suite does not have; fix: {fix}")
            return None
        return test

    def _suggest(self, base: str) -> str | None:
        """The suite's ids that `base` most likely means: the same test name in any file, else a close spelling."""
        name = base.rsplit("::", 1)[-1]
        same_name = sorted(t for t in self.tests if t.rsplit("::", 1)[-1] == name)
        close = same_name or difflib.get_close_matches(base, list(self.tests), n=1, cutoff=0.6)
        return " or ".join(map(repr, close)) or None

    def _rule(self, rule: str, test: str | None, problem: Callable[[str], None]) -> None:
        if rule not in RULES:
            hint = _did_you_mean(rule, list(RULES))
            problem(f"rule {rule!r} is not in SPEC.md{hint}; fix: name the rule the test checks (its rule marker)")
            return
        checked = self.tests.get(test.split("[", 1)[0]) if test else None
        if checked and rule not in checked:
            problem(
                f"names rule {rule}, but the test checks {', '.join(checked)}; "
                f'fix: rule = "{checked[0]}" (or the one of them the failure breaks)'
            )

    def _versions(self, value: Any, problem: Callable[[str], None]) -> tuple[str, ...] | None:
        example = 'versions = "==2.5.2", or an array: versions = ["==2.5.2", ">=2.6"]'
        if isinstance(value, str):
            specs = [value]
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            specs = list(value)
        elif isinstance(value, list) and not value:
            problem(f'versions is an empty array, which selects no version; fix: {example} (or "*" for every one)')
            return None
        else:
            problem(f"versions is {_show(value)}; fix: write a specifier string or an array of them: {example}")
            return None
        good: list[str] = []
        for spec in specs:
            spec = spec.strip()
            if spec == ANY_VERSION:
                if len(specs) > 1:
                    problem('versions "*" already covers every version; fix: write versions = "*" alone')
                    return None
                good.append(spec)
                continue
            if not spec:
                problem(f'versions {value!r} is empty; fix: {example} (or "*" for every version)')
                continue
            try:
                SpecifierSet(spec)
            except InvalidSpecifier:
                problem(f"versions {spec!r} is not a version specifier; fix: {_specifier_hint(spec)}")
                continue
            good.append(spec)
        return tuple(good) if len(good) == len(specs) else None


_EXAMPLES = {
    "test": '"test_file.py::test_name[param]"',
    "rule": '"PUB-1"',
    "kind": f'"{KINDS[0]}"',
    "observed": '"what the implementation does instead"',
    "match": '"a piece of the observed text"',
    "match_re": "'a regular expression'",
    "mode": f'"{MODES[0]}"',
    "loop": f'"{LOOPS[0]}"',
}


def _specifier_hint(spec: str) -> str:
    try:
        Version(spec)
    except InvalidVersion:
        return 'write a PEP 440 specifier set such as "==2.5.2" or ">=2.5,<2.7" ("*" for every version)'
    return f'a bare version is not a specifier: write "=={spec}"'


def _same_name(name: str) -> str:
    """`name` as package names compare: pico-ioc, pico_ioc and Pico.IoC are one (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type(value: Any) -> str:
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _show(value: Any) -> str:
    return "an empty string" if isinstance(value, str) else f"a {_type(value)} ({value!r})"

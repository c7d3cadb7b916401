"""`python -m conformance matrix RESULT.json...`: several results side by side, as Markdown and as one HTML page.

Rules are rows, grouped by the SPEC.md section they belong to; each result file
is a column (implementation, version, loop). A cell gives the rule's verdict in
that run and, where a test failed, links to what the kit observed. The HTML page
is one self-contained file (inline CSS and JavaScript, no network) with filters
by profile, level and verdict. The same inputs always give the same bytes.
"""

from __future__ import annotations

import argparse
import html
import itertools
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .report import RESULT_SCHEMA, VERDICT_WORDS
from .rules import RULES

VERDICTS = ("fail", "xfail", "pass", "skip", "untested")
"""Every verdict a cell can show, worst first (the order of the filters and totals)."""

PROFILE_ORDER = ("core", "extended", "robustness")
LEVEL_ORDER = ("MUST", "SHOULD", "MAY")


class ResultFileError(Exception):
    """An input file that is not a readable result of the supported format."""


# --- validation against the shipped schema ---------------------------------------------------------

# The schema file is the contract; this checks a document against it without a
# third-party validator, so the kit keeps its dependencies to pytest's. It reads
# only the keywords result-1.json uses and refuses any other, so a schema change
# cannot be silently half-checked (tests/test_matrix.py compares it with jsonschema).
_ANNOTATIONS = {"$schema", "$id", "title", "description"}
_KEYWORDS = {
    "type",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "const",
    "enum",
    "pattern",
    "minimum",
    "exclusiveMinimum",
}
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def result_schema() -> dict[str, Any]:
    """The JSON Schema of the result format (`conformance/schema/result-1.json`)."""
    text = resources.files("conformance").joinpath("schema").joinpath("result-1.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_errors(document: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Every way `document` breaks `schema`, as `path: problem` lines (empty when it is valid)."""
    unknown = set(schema) - _KEYWORDS - _ANNOTATIONS
    if unknown:
        raise ValueError(f"schema keyword(s) {sorted(unknown)} at {where} are not supported by conformance.matrix")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        # bool is an int to Python, never to JSON.
        ok = any(isinstance(document, _TYPES[t]) and not (isinstance(document, bool) and t != "boolean") for t in types)
        if not ok:
            return [f"{where}: expected {' or '.join(types)}, found {_json_type(document)}"]
    errors: list[str] = []
    if "const" in schema and document != schema["const"]:
        errors.append(f"{where}: expected {json.dumps(schema['const'])}, found {json.dumps(document)}")
    if "enum" in schema and document not in schema["enum"]:
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        errors.append(f"{where}: {json.dumps(document)} is not one of {allowed}")
    if isinstance(document, str) and "pattern" in schema and not re.search(schema["pattern"], document):
        errors.append(f"{where}: {json.dumps(document)} does not match {schema['pattern']}")
    if isinstance(document, (int, float)) and not isinstance(document, bool):
        if "minimum" in schema and document < schema["minimum"]:
            errors.append(f"{where}: {document} is less than {schema['minimum']}")
        if "exclusiveMinimum" in schema and document <= schema["exclusiveMinimum"]:
            errors.append(f"{where}: {document} is not greater than {schema['exclusiveMinimum']}")
    if isinstance(document, dict):
        properties: dict[str, Any] = schema.get("properties", {})
        errors += [f"{where}: missing {name!r}" for name in schema.get("required", []) if name not in document]
        for key, value in document.items():
            if key in properties:
                errors += schema_errors(value, properties[key], f"{where}.{key}")
            elif "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                if extra is False:
                    errors.append(f"{where}: unexpected {key!r}")
                elif isinstance(extra, dict):
                    errors += schema_errors(value, extra, f"{where}.{key}")
    if isinstance(document, list) and "items" in schema:
        for i, item in enumerate(document):
            errors += schema_errors(item, schema["items"], f"{where}[{i}]")
    return errors


def _json_type(value: Any) -> str:
    for name, types in _TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and name != "boolean"):
            return name
    return type(value).__name__


# --- the model -------------------------------------------------------------------------------------


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
    verdicts: dict[str, str]
    failures: dict[str, list[Failure]]
    """Rule ID -> its failing tests (fail and xfail), sorted by test."""
    rules: dict[str, tuple[str, str, str]]
    """Rule ID -> (level, profile, title), as the run's SPEC.md had them."""

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

    def label(self, column: Column) -> str:
        """`name version (loop[, Python][, no expectation file])`: the column's name in text."""
        return f"{column.name} {column.version} ({', '.join(column.notes(self.python_varies))})"

    def verdict(self, column: Column, rule_id: str) -> str:
        """The column's verdict for a rule; `untested` where its run did not know the rule."""
        return column.verdicts.get(rule_id, "untested")


def load_result(path: Path) -> Column:
    """Read and validate one result file; `ResultFileError` says what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"{path}: cannot be read ({exc})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultFileError(f"{path}: not JSON ({exc})") from None
    found = document.get("schema") if isinstance(document, dict) else None
    if found != RESULT_SCHEMA:
        what = "no 'schema' field" if found is None else f"'schema' is {json.dumps(found)}"
        raise ResultFileError(
            f"{path}: not a conformance result of a supported version ({what}; this kit reads {RESULT_SCHEMA}, "
            "as written by `pytest --impl=NAME --conformance-json=PATH`)"
        )
    errors = schema_errors(document, result_schema())
    if errors:
        shown = "\n  ".join(errors[:10]) + (f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else "")
        raise ResultFileError(f"{path}: does not match the schema {RESULT_SCHEMA}:\n  {shown}")
    failures: dict[str, list[Failure]] = {}
    for test in sorted(document["tests"], key=lambda t: str(t["test"])):
        if test["verdict"] in ("fail", "xfail"):
            failures.setdefault(test["rule"], []).append(
                Failure(
                    test=test["test"],
                    verdict=test["verdict"],
                    kind=test["kind"],
                    observed=_unescape(test["observed"]),
                    expected=_unescape(test["expected"]),
                    explanation=_unescape(test["explanation"]),
                )
            )
    implementation, environment = document["implementation"], document["environment"]
    return Column(
        source=path.name,
        name=implementation["name"],
        version=implementation["version"],
        loop=environment["loop"],
        python=f"{environment['python_implementation']} {environment['python']}",
        platform=environment["platform"],
        spec=document["spec"]["version"],
        kit=document["kit"]["version"],
        command=document["command"],
        profiles=tuple(implementation["profiles"]),
        totals={v: int(document["totals"].get(v, 0)) for v in VERDICTS},
        verdicts={rule["id"]: rule["verdict"] for rule in document["rules"]},
        failures=failures,
        rules={rule["id"]: (rule["level"], rule["profile"], rule["title"]) for rule in document["rules"]},
    )


def _unescape(text: str) -> str:
    # The result's texts are made for Markdown tables (`|` escaped); the matrix escapes for itself.
    return text.replace("\\|", "|")


def rule_sections() -> dict[str, str]:
    """Rule ID -> the SPEC.md section it appears under (`2. Publishing`); empty if SPEC.md is missing."""
    from .spec import spec_text

    try:
        text = spec_text()
    except OSError:
        return {}
    sections: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
        elif line.startswith("### ") and current:
            match = re.match(r"### ([A-Z]+(?:-[A-Z]+)*-\d+) ", line)
            if match:
                sections[match[1]] = current
    return sections


def build_matrix(columns: Sequence[Column]) -> Matrix:
    """Rows for every rule any column names: in SPEC.md's order, then older rules as met, grouped by section."""
    sections = rule_sections()
    # A rule's level, profile and title come from the first result that names it: what was tested.
    metadata: dict[str, tuple[str, str, str]] = {}
    for column in columns:
        for rule_id, meta in column.rules.items():
            metadata.setdefault(rule_id, meta)
    order = [*(r for r in RULES if r in metadata), *(r for r in metadata if r not in RULES)]
    rows = [
        Row(rule_id, *metadata[rule_id], sections.get(rule_id) or _section_by_prefix(rule_id, sections) or "Other")
        for rule_id in order
    ]
    # Keep each section together, also where a rule that SPEC.md no longer has falls back to its prefix's.
    section_order = list(dict.fromkeys(row.section for row in rows))
    return Matrix(list(columns), sorted(rows, key=lambda row: section_order.index(row.section)))


def _section_by_prefix(rule_id: str, sections: dict[str, str]) -> str | None:
    prefix = rule_id.rsplit("-", 1)[0]
    return next((s for r, s in sections.items() if r.rsplit("-", 1)[0] == prefix), None)


def load_matrix(paths: Sequence[Path]) -> Matrix:
    """Validate and load every file, then build the matrix; `ResultFileError` on the first bad file."""
    return build_matrix([load_result(path) for path in paths])


def _anchor(index: int, rule_id: str) -> str:
    return f"f{index + 1}-{rule_id.lower()}"


def failure_groups(matrix: Matrix) -> list[tuple[Row, list[tuple[Failure, list[int]]]]]:
    """Per rule with a failing test, each distinct failure and the columns (indices) that had it.

    Releases of one implementation often fail the same way; grouping keeps the
    failure text once instead of once per column.
    """
    out: list[tuple[Row, list[tuple[Failure, list[int]]]]] = []
    for row in matrix.rows:
        groups: dict[Failure, list[int]] = {}
        for i, column in enumerate(matrix.columns):
            if matrix.verdict(column, row.id) in ("fail", "xfail"):
                for failure in column.failures.get(row.id, []):
                    groups.setdefault(failure, []).append(i)
        if groups:
            out.append((row, sorted(groups.items(), key=lambda g: (g[1][0], g[0].test))))
    return out


def _first_groups(groups: list[tuple[Failure, list[int]]]) -> dict[int, int]:
    """Column index -> the index of the first group it appears in (where its anchor goes)."""
    first: dict[int, int] = {}
    for g, (_, columns) in enumerate(groups):
        for column in columns:
            first.setdefault(column, g)
    return first


def column_ranges(indices: list[int]) -> str:
    """Column numbers as the Columns table counts them, runs shortened: `4–9, 12`."""
    runs: list[list[int]] = []
    for n in (i + 1 for i in indices):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)


# --- Markdown --------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _md(text: str) -> str:
    """Text as literal Markdown: no emphasis, links or HTML, and table-safe."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def render_markdown(matrix: Matrix) -> str:
    """One Markdown document: the columns, one table of every rule by every column, then the failures."""
    cols = matrix.columns
    lines = [
        "# Conformance matrix",
        "",
        "Rules of SPEC.md (rows) by conformance results (columns). A linked verdict leads to what the kit "
        "observed. Generated by `python -m conformance matrix`; regenerate it rather than editing it.",
        "",
        "## Columns",
        "",
        "| # | implementation | version | loop | expectation file | Python | platform | SPEC | kit | "
        + " | ".join(VERDICT_WORDS[v] for v in VERDICTS)
        + " | result file |",
        "|---|---|---|---|---|---|---|---|---|" + "---|" * len(VERDICTS) + "---|",
    ]
    for i, c in enumerate(cols, 1):
        lines.append(
            f"| {i} | {_md(c.name)} | {_md(c.version)} | {c.loop} | {_md(c.expectations)} "
            f"| {_md(c.python)} | {_md(c.platform)} | {_md(c.spec)} | {_md(c.kit)} | "
            + " | ".join(str(c.totals[v]) for v in VERDICTS)
            + f" | `{c.source}` |"
        )
    header = [
        "<br>".join([f"{i}: {_md(c.name)} {_md(c.version)}", *(_md(n) for n in c.notes(matrix.python_varies))])
        for i, c in enumerate(cols, 1)
    ]
    lines += [
        "",
        "## Rules",
        "",
        "| rule | level | profile | title | " + " | ".join(header) + " |",
        "|---|---|---|---|" + "---|" * len(cols),
    ]
    blank = " |" * (3 + len(cols))
    for section, rows in matrix.sections():
        lines.append(f"| **{_md(section)}** |" + blank)
        for row in rows:
            cells = []
            for i, c in enumerate(cols):
                verdict = matrix.verdict(c, row.id)
                word = VERDICT_WORDS[verdict]
                linked = verdict in ("fail", "xfail") and row.id in c.failures
                cells.append(f"[{word}](#{_anchor(i, row.id)})" if linked else word)
            lines.append(f"| {row.id} | {row.level} | {row.profile} | {_md(row.title)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Failures",
        "",
        "What the kit observed, per rule; a failure seen the same way in several columns is listed once, "
        "with their numbers (see Columns).",
        "",
    ]
    grouped = failure_groups(matrix)
    for row, groups in grouped:
        lines += [f"### {row.id} ({row.level}, {row.profile}) {_md(row.title)}", ""]
        first = _first_groups(groups)
        for g, (f, columns) in enumerate(groups):
            anchors = "".join(f'<a id="{_anchor(i, row.id)}"></a>' for i in columns if first[i] == g)
            kind = f" \\[{f.kind}\\]" if f.kind else ""
            where = f"{VERDICT_WORDS[f.verdict]} in {'column' if len(columns) == 1 else 'columns'}"
            lines.append(f"- {anchors}`{f.test}`{kind}: {where} {column_ranges(columns)}")
            if f.explanation:
                lines.append(f"  - expectation file: {_md(f.explanation)}")
            if f.expected:
                lines.append(f"  - expected: {_md(f.expected)}")
            lines.append(f"  - observed: {_md(f.observed) or '(no message)'}")
        lines.append("")
    if not grouped:
        lines += ["None: no column has a failing test.", ""]
    return "\n".join(lines)


# --- HTML ------------------------------------------------------------------------------------------

_CSS = """
:root { font-family: system-ui, sans-serif; font-size: 14px; color: #1b1b1b; background: #fff; }
body { margin: 1rem 1.5rem; }
h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
.filters { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; margin: .75rem 0;
  padding: .5rem .75rem; background: #f3f4f6; border-radius: 6px; }
.filters label { display: flex; gap: .35rem; align-items: center; }
.scroll { overflow: auto; max-height: 80vh; border: 1px solid #d0d7de; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: .25rem .45rem; text-align: left; vertical-align: top; }
thead th { position: sticky; top: 0; background: #eef1f4; z-index: 2; font-weight: 600; }
thead th.impl { min-width: 7.5rem; }
thead th .note { display: block; font-weight: 400; color: #57606a; }
thead th .num { color: #57606a; font-weight: 400; }
tbody th.section { background: #fafbfc; font-size: 1.02rem; padding-top: .6rem; }
td.rule { white-space: nowrap; font-family: ui-monospace, monospace; }
/* The rule ID stays in view when a wide matrix scrolls sideways. */
td.rule, thead th:first-child { position: sticky; left: 0; z-index: 1; background: #fff; }
thead th:first-child { z-index: 3; background: #eef1f4; }
td.title { min-width: 16rem; max-width: 26rem; }
td.verdict { white-space: nowrap; }
td.v-pass { background: #dafbe1; }
td.v-fail { background: #ffd8d3; font-weight: 700; }
td.v-xfail { background: #fff1c2; }
td.v-skip { background: #eef1f4; color: #57606a; }
td.v-untested { color: #8c959f; }
td a { color: inherit; }
.columns td, .columns th { white-space: nowrap; }
.failure { margin: .75rem 0; padding: .5rem .75rem; border-left: 4px solid #cf222e; background: #fff; }
.failure.xfail { border-left-color: #bf8700; }
.failure li { margin: .35rem 0; }
.failure li:has(> .anchor:target) { background: #fff8c5; }
.failure h3 { font-size: 1rem; margin: 0 0 .25rem; }
.failure ul { margin: .25rem 0; padding-left: 1.25rem; }
.failure code { font-family: ui-monospace, monospace; }
.muted { color: #57606a; }
"""

# Plain ES5-level JavaScript, inline: the page works from file:// with nothing else.
_JS = """
(function () {
  var profile = document.getElementById("filter-profile");
  var level = document.getElementById("filter-level");
  var verdict = document.getElementById("filter-verdict");
  var column = document.getElementById("filter-column");
  var shown = document.getElementById("shown");
  function matches(row) {
    if (profile.value && row.getAttribute("data-profile") !== profile.value) return false;
    if (level.value && row.getAttribute("data-level") !== level.value) return false;
    if (!verdict.value) return true;
    var cells = row.querySelectorAll("td.verdict");
    for (var i = 0; i < cells.length; i++) {
      if (column.value !== "" && String(i) !== column.value) continue;
      if (cells[i].getAttribute("data-verdict") === verdict.value) return true;
    }
    return false;
  }
  function apply() {
    var rows = document.querySelectorAll("#matrix tr.rule");
    var count = 0;
    for (var i = 0; i < rows.length; i++) {
      var ok = matches(rows[i]);
      rows[i].hidden = !ok;
      if (ok) count++;
    }
    var groups = document.querySelectorAll("#matrix tbody");
    for (var j = 0; j < groups.length; j++) {
      groups[j].hidden = !groups[j].querySelector("tr.rule:not([hidden])");
    }
    shown.textContent = count + " of " + rows.length + " rules shown";
  }
  [profile, level, verdict, column].forEach(function (el) { el.addEventListener("change", apply); });
  apply();
})();
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _options(values: Iterable[tuple[str, str]]) -> str:
    return "".join(f'<option value="{_e(v)}">{_e(label)}</option>' for v, label in values)


def render_html(matrix: Matrix) -> str:
    """One self-contained HTML page: the columns, the filtered rule table, the failures."""
    cols = matrix.columns
    profiles = [p for p in PROFILE_ORDER if any(r.profile == p for r in matrix.rows)]
    profiles += sorted({r.profile for r in matrix.rows} - set(profiles))
    levels = [lv for lv in LEVEL_ORDER if any(r.level == lv for r in matrix.rows)]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Conformance matrix</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<h1>Conformance matrix</h1>",
        '<p class="muted">Rules of SPEC.md (rows) by conformance results (columns). A linked verdict leads to '
        "what the kit observed. Generated by <code>python -m conformance matrix</code>.</p>",
        '<form class="filters" id="filters" onsubmit="return false">',
        '<label>Profile <select id="filter-profile"><option value="">all</option>'
        + _options((p, p) for p in profiles)
        + "</select></label>",
        '<label>Level <select id="filter-level"><option value="">all</option>'
        + _options((lv, lv) for lv in levels)
        + "</select></label>",
        '<label>Verdict <select id="filter-verdict"><option value="">any</option>'
        + _options((v, VERDICT_WORDS[v]) for v in VERDICTS)
        + "</select></label>",
        '<label>in <select id="filter-column"><option value="">any column</option>'
        + _options((str(i), matrix.label(c)) for i, c in enumerate(cols))
        + "</select></label>",
        f'<output id="shown">{len(matrix.rows)} of {len(matrix.rows)} rules shown</output>',
        "</form>",
        '<div class="scroll">',
        '<table id="matrix">',
        "<thead><tr>"
        '<th scope="col">rule</th><th scope="col">level</th><th scope="col">profile</th><th scope="col">title</th>',
    ]
    for i, c in enumerate(cols):
        details = (
            f"{matrix.label(c)}; {c.python} on {c.platform}; SPEC.md {c.spec}; kit {c.kit}; "
            f"profiles {', '.join(c.profiles)}; {c.source}; {c.command}"
        )
        notes = "".join(f'<span class="note">{_e(n)}</span>' for n in c.notes(matrix.python_varies))
        out.append(
            f'<th scope="col" class="impl" data-column="{i}" title="{_e(details)}">'
            f'<span class="num">{i + 1}:</span> <span class="name">{_e(c.name)}</span> '
            f'<span class="version">{_e(c.version)}</span>'
            f"{notes}</th>"
        )
    out.append("</tr></thead>")
    width = 4 + len(cols)
    for section, rows in matrix.sections():
        out.append("<tbody>")
        out.append(
            f'<tr class="section"><th class="section" colspan="{width}" scope="rowgroup">{_e(section)}</th></tr>'
        )
        for row in rows:
            out.append(
                f'<tr class="rule" id="rule-{row.id.lower()}" data-rule="{_e(row.id)}" '
                f'data-profile="{_e(row.profile)}" data-level="{_e(row.level)}">'
                f'<td class="rule">{_e(row.id)}</td><td>{_e(row.level)}</td><td>{_e(row.profile)}</td>'
                f'<td class="title">{_e(row.title)}</td>'
            )
            for i, c in enumerate(cols):
                verdict = matrix.verdict(c, row.id)
                word = _e(VERDICT_WORDS[verdict])
                if verdict in ("fail", "xfail") and row.id in c.failures:
                    word = f'<a href="#{_anchor(i, row.id)}">{word}</a>'
                out.append(f'<td class="verdict v-{verdict}" data-verdict="{verdict}">{word}</td>')
            out.append("</tr>")
        out.append("</tbody>")
    out += ["</table>", "</div>", "<h2>Columns</h2>", '<table class="columns">', "<thead><tr>"]
    out.append(
        "".join(
            f'<th scope="col">{_e(h)}</th>'
            for h in ("#", "implementation", "version", "loop", "expectation file", "Python", "platform", "SPEC", "kit")
        )
        + "".join(f'<th scope="col">{_e(VERDICT_WORDS[v])}</th>' for v in VERDICTS)
        + '<th scope="col">result file</th><th scope="col">command</th></tr></thead><tbody>'
    )
    for i, c in enumerate(cols, 1):
        cells = [str(i), c.name, c.version, c.loop, c.expectations, c.python]
        cells += [c.platform, c.spec, c.kit, *(str(c.totals[v]) for v in VERDICTS), c.source]
        out.append("<tr>" + "".join(f"<td>{_e(x)}</td>" for x in cells) + f"<td><code>{_e(c.command)}</code></td></tr>")
    out += [
        "</tbody></table>",
        "<h2>Failures</h2>",
        '<p class="muted">What the kit observed, per rule; a failure seen the same way in several columns is '
        "listed once, with their numbers (see Columns).</p>",
    ]
    grouped = failure_groups(matrix)
    for row, groups in grouped:
        worst = "fail" if any(f.verdict == "fail" for f, _ in groups) else "xfail"
        out.append(f'<section class="failure {worst}" id="failures-{row.id.lower()}">')
        out.append(f"<h3>{_e(row.id)} ({_e(row.level)}, {_e(row.profile)}) {_e(row.title)}</h3><ul>")
        first = _first_groups(groups)
        for g, (f, columns) in enumerate(groups):
            anchors = "".join(
                f'<span class="anchor" id="{_anchor(i, row.id)}"></span>' for i in columns if first[i] == g
            )
            kind = f" [{_e(f.kind)}]" if f.kind else ""
            names = "; ".join(matrix.label(cols[i]) for i in columns)
            where = f"{VERDICT_WORDS[f.verdict]} in {'column' if len(columns) == 1 else 'columns'}"
            parts = [
                f'{anchors}<code>{_e(f.test)}</code>{kind}: <span title="{_e(names)}">{where} '
                f"{_e(column_ranges(columns))}</span>"
            ]
            if f.explanation:
                parts.append(f"expectation file: {_e(f.explanation)}")
            if f.expected:
                parts.append(f"expected: {_e(f.expected)}")
            parts.append(f"observed: {_e(f.observed) or '(no message)'}")
            out.append(f'<li class="{f.verdict}">' + "<br>".join(parts) + "</li>")
        out.append(f'</ul><p><a href="#rule-{row.id.lower()}">back to {_e(row.id)}</a></p></section>')
    if not grouped:
        out.append("<p>None: no column has a failing test.</p>")
    out += [f"<script>{_JS}</script>", "</body>", "</html>", ""]
    return "\n".join(out)


# --- command line ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m conformance matrix`: exit 0 when written, 2 on a bad input file or usage."""
    parser = argparse.ArgumentParser(
        prog="python -m conformance matrix",
        description="Render conformance result files (--conformance-json) as one matrix: rules by results.",
    )
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULT.json", help="result files, one column each")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="write the Markdown matrix to PATH")
    parser.add_argument("--html", type=Path, metavar="PATH", help="write the HTML page to PATH")
    args = parser.parse_args(argv)
    try:
        matrix = load_matrix(args.results)
    except ResultFileError as exc:
        print(f"python -m conformance matrix: {exc}", file=sys.stderr)
        return 2
    markdown = render_markdown(matrix)
    if args.markdown is None and args.html is None:
        sys.stdout.write(markdown)
    if args.markdown is not None:
        _write(args.markdown, markdown)
    if args.html is not None:
        _write(args.html, render_html(matrix))
    return 0


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # newline="\n": the same bytes on every platform.
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())

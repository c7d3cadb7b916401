"""The matrix as one self-contained HTML page: inline CSS and JavaScript, filters by profile, level and verdict."""

from __future__ import annotations

import html
from collections.abc import Iterable

from .._bounded import visible
from ._failures import anchor, column_ranges, failure_groups, first_groups
from ._model import LEVEL_ORDER, PROFILE_ORDER, Matrix, verdict_meaning, verdict_word

_CSS = """
:root { font-family: system-ui, sans-serif; font-size: 14px; color: #1b1b1b; background: #fff; }
body { margin: 1rem 1.5rem; }
h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
.filters { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; margin: .75rem 0;
  padding: .5rem .75rem; background: #f3f4f6; border-radius: 6px; }
.filters label { display: flex; gap: .35rem; align-items: center; }
.scroll { overflow: auto; max-height: 80vh; border: 1px solid #d0d7de; }
/* Wide tables scroll inside their box: the page itself never gets wider than the window. */
.wide { overflow-x: auto; max-width: 100%; }
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
.warning { padding: .5rem .75rem; background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; }
.legend { margin: .5rem 0; padding-left: 1.25rem; }
.legend .word { font-weight: 600; }
.text { white-space: pre-wrap; }
/* A link to a rule or a failure must not leave its target under the sticky header row. */
tr.rule { scroll-margin-top: 9rem; }
.anchor, .failure { scroll-margin-top: 1rem; }
"""

_VERDICT_CSS = {
    "unsupported": "td.v-unsupported { background: #ddf4ff; color: #0a3069; }",
    "partial": "td.v-partial { background: #fff8c5; color: #4d2d00; }",
}
"""Styles of verdicts beyond `VERDICTS`, added to the page only when a cell shows one; others look plain."""


def _verdict_css(matrix: Matrix) -> str:
    return "".join(f"{_VERDICT_CSS[v]}\n" for v in matrix.verdicts if v in _VERDICT_CSS)


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
    # Bidirectional controls and other invisible characters are shown as \uXXXX: they would reorder the page.
    return html.escape(visible(text), quote=True)


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
        f"<style>{_CSS}{_verdict_css(matrix)}</style>",
        "</head>",
        "<body>",
        "<h1>Conformance matrix</h1>",
        '<p class="muted">Rules of SPEC.md (rows) by conformance results (columns). A linked verdict leads to '
        "what the kit observed. Generated by <code>python -m conformance matrix</code>.</p>",
        *([f'<p class="warning" role="alert">{_e(warning)}</p>'] if (warning := matrix.spec_warning()) else []),
        '<ul class="legend" id="legend">'
        + "".join(
            f'<li><span class="word">{_e(verdict_word(v))}</span>: {_e(verdict_meaning(v))}</li>'
            for v in matrix.verdicts
        )
        + "</ul>",
        '<form class="filters" id="filters" onsubmit="return false">',
        '<label>Profile <select id="filter-profile"><option value="">all</option>'
        + _options((p, p) for p in profiles)
        + "</select></label>",
        '<label>Level <select id="filter-level"><option value="">all</option>'
        + _options((lv, lv) for lv in levels)
        + "</select></label>",
        '<label>Verdict <select id="filter-verdict"><option value="">any</option>'
        + _options((v, verdict_word(v)) for v in matrix.verdicts)
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
                word = _e(c.cell_word(row.id, verdict))
                if verdict in ("fail", "xfail") and row.id in c.failures:
                    word = f'<a href="#{anchor(i, row.id)}">{word}</a>'
                out.append(f'<td class="verdict v-{_e(verdict)}" data-verdict="{_e(verdict)}">{word}</td>')
            out.append("</tr>")
        out.append("</tbody>")
    out += ["</table>", "</div>", "<h2>Columns</h2>", '<div class="wide">', '<table class="columns">', "<thead><tr>"]
    out.append(
        "".join(
            f'<th scope="col">{_e(h)}</th>'
            for h in ("#", "implementation", "version", "loop", "expectation file", "Python", "platform", "SPEC", "kit")
        )
        + "".join(f'<th scope="col">{_e(verdict_word(v))}</th>' for v in matrix.verdicts)
        + '<th scope="col">capabilities declared</th><th scope="col">completeness</th>'
        + '<th scope="col">result file</th><th scope="col">command</th></tr></thead><tbody>'
    )
    for i, c in enumerate(cols, 1):
        cells = [str(i), c.name, c.version, c.loop, c.expectations, c.python]
        cells += [c.platform, c.spec, c.kit, *(str(c.totals.get(v, 0)) for v in matrix.verdicts)]
        cells += [c.declared, c.completeness, c.source]
        out.append("<tr>" + "".join(f"<td>{_e(x)}</td>" for x in cells) + f"<td><code>{_e(c.command)}</code></td></tr>")
    out += [
        "</tbody></table>",
        "</div>",
        "<h2>Failures</h2>",
        '<p class="muted">What the kit observed, per rule; a failure seen the same way in several columns is '
        "listed once, with their numbers (see Columns).</p>",
    ]
    grouped = failure_groups(matrix)
    for row, groups in grouped:
        worst = "fail" if any(f.verdict == "fail" for f, _ in groups) else "xfail"
        out.append(f'<section class="failure {worst}" id="failures-{row.id.lower()}">')
        out.append(f"<h3>{_e(row.id)} ({_e(row.level)}, {_e(row.profile)}) {_e(row.title)}</h3><ul>")
        first = first_groups(groups)
        for g, (f, columns) in enumerate(groups):
            anchors = "".join(
                f'<span class="anchor" id="{anchor(i, row.id)}"></span>' for i in columns if first[i] == g
            )
            kind = f" [{_e(f.kind)}]" if f.kind else ""
            names = "; ".join(matrix.label(cols[i]) for i in columns)
            where = f"{_e(verdict_word(f.verdict))} in {'column' if len(columns) == 1 else 'columns'}"
            parts = [
                f'{anchors}<code>{_e(f.test)}</code>{kind}: <span title="{_e(names)}">{where} '
                f"{_e(column_ranges(columns))}</span>"
            ]
            if f.explanation:
                parts.append(f"expectation file: {_e(f.explanation)}")
            if f.expected:
                parts.append(f"expected: {_e(f.expected)}")
            parts.append(f'observed: <span class="text">{_e(f.observed.strip()) or "(no message)"}</span>')
            out.append(f'<li class="{f.verdict}">' + "<br>".join(parts) + "</li>")
        out.append(f'</ul><p><a href="#rule-{row.id.lower()}">back to {_e(row.id)}</a></p></section>')
    if not grouped:
        out.append("<p>None: no column has a failing test.</p>")
    out += [f"<script>{_JS}</script>", "</body>", "</html>", ""]
    return "\n".join(out)

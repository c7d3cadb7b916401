"""`python -m conformance matrix RESULT.json...`: several results side by side, as Markdown and as one HTML page.

Rules are rows, grouped by the SPEC.md section they belong to; each result file
is a column (implementation, version, loop). A cell gives the rule's verdict in
that run and, where a test failed, links to what the kit observed. The HTML page
is one self-contained file (inline CSS and JavaScript, no network) with filters
by profile, level and verdict. The same inputs always give the same bytes.

A verdict beyond `VERDICTS` (such as `unsupported`) gets a count, a filter
option and a cell class of its own wherever a cell shows it; it reads as the
report's word for it, or as itself.

The parts: `_schema` (the result format and its check), `_model` (columns, rows,
verdicts), `_loading` (result files into a matrix), `_failures` (what both
renderings share), `_markdown`, `_html`, and `_cli` (the command line).
"""

from ._cli import main
from ._failures import column_ranges, failure_groups
from ._html import render_html
from ._loading import build_matrix, load_matrix, load_result, rule_sections
from ._markdown import render_markdown
from ._model import (
    LEVEL_ORDER,
    PROFILE_ORDER,
    VERDICTS,
    Column,
    Failure,
    Matrix,
    ResultFileError,
    Row,
    verdict_word,
)
from ._schema import result_schema, schema_errors

__all__ = [
    "LEVEL_ORDER",
    "PROFILE_ORDER",
    "VERDICTS",
    "Column",
    "Failure",
    "Matrix",
    "ResultFileError",
    "Row",
    "build_matrix",
    "column_ranges",
    "failure_groups",
    "load_matrix",
    "load_result",
    "main",
    "render_html",
    "render_markdown",
    "result_schema",
    "rule_sections",
    "schema_errors",
    "verdict_word",
]

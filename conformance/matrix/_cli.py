"""The command line of `python -m conformance matrix`: read the result files, write the Markdown and the page."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._html import render_html
from ._loading import load_matrix
from ._markdown import render_markdown
from ._model import ResultFileError


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

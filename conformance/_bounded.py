"""Bounded outputs: texts the kit copies from a bus are cut, labels from adapters are checked and escaped.

The kit runs code it does not trust to be correct: an exception message of
megabytes, a test that writes gigabytes, or an adapter `name` holding a newline
and a right-to-left override must not make a result file fail its schema, a
report grow without end, or a heading appear where none was written.

- `OBSERVED_LIMIT`: an observed, expected or explanation text in a result or
  report keeps its first `OBSERVED_LIMIT` characters and a note of the full size.
- `OUTPUT_LIMIT`: what pytest shows of one test (its failure text and each
  captured stdout, stderr or log section) keeps its first `OUTPUT_LIMIT`
  characters and a note of the full size.
- `check_label`: an adapter's `name` and `version` are strings of at most
  `LABEL_LIMIT` printable characters, without line breaks or bidirectional
  controls; the adapter does not load otherwise, with an error naming the fix.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

OBSERVED_LIMIT: Final = 2000
"""Characters of an observed (or expected, or explanation) text kept in results and reports."""

OUTPUT_LIMIT: Final = 64 * 1024
"""Characters of a test's failure text and of each of its captured output sections that pytest shows."""

LABEL_LIMIT: Final = 100
"""Characters an implementation's name or version may have."""

_BIDI: Final = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Unicode's bidirectional formatting characters: they reorder what a reader sees."""


def cut(text: str, limit: int = OBSERVED_LIMIT) -> str:
    """`text`, or its first `limit` characters and a note saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [cut by the kit: {len(text)} characters in all, {limit} kept]"


def _unsafe(char: str) -> bool:
    return char in _BIDI or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


def visible(text: str) -> str:
    r"""`text` with control, format and bidirectional characters written as `\uXXXX`, so it shows as it is."""
    if not any(_unsafe(c) for c in text):
        return text
    return "".join(f"\\u{ord(c):04x}" if _unsafe(c) else c for c in text)


def safe_repr(obj: object, limit: int = 200) -> str:
    """`repr(obj)`, cut to `limit`; a `__repr__` that raises gives `<TypeName object>` and what it raised."""
    try:
        text = repr(obj)
    except Exception as exc:
        try:
            kind = type(obj).__qualname__
        except Exception:
            kind = "object"
        return f"<{kind} object (its __repr__ raised {type(exc).__name__})>"
    if not isinstance(text, str):  # pragma: no cover - repr() itself enforces str
        return "<object>"
    return visible(cut(text, limit))


def label_problem(what: str, value: object) -> str | None:
    """What is wrong with `value` as an implementation's `what` (name or version), and the fix; None if fine."""
    if not isinstance(value, str):
        return f"has {what} {safe_repr(value)} of type {type(value).__name__}; give a string"
    if len(value) > LABEL_LIMIT:
        return f"has a {what} of {len(value)} characters; give at most {LABEL_LIMIT}"
    bad = sorted({c for c in value if _unsafe(c) or not c.isprintable()})
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in bad)
        return (
            f"has a {what} holding characters that are not printable or reorder text ({shown}): {visible(value)!r}; "
            "give one line of printable characters"
        )
    return None


_MD_SPECIAL: Final = re.compile(r"([\\`*_\[\]<>|#])")


def markdown(text: str) -> str:
    """`text` as literal Markdown on one line: no emphasis, links, headings or HTML, and table-safe."""
    return _MD_SPECIAL.sub(r"\\\1", visible(" ".join(text.split())))


def bound_report(report: object) -> None:
    """Cut a pytest report's failure text and each captured section to `OUTPUT_LIMIT` characters, in place.

    The terminal, junit files and pytest-xdist's controller all take these from
    the report: one test that wrote 12 MiB, or raised a message of 4 MiB, shows
    its first 64 Ki characters and how much there was.
    """
    sections = getattr(report, "sections", None)
    if isinstance(sections, list):
        sections[:] = [(title, cut(text, OUTPUT_LIMIT)) for title, text in sections]
    longrepr = getattr(report, "longrepr", None)
    if longrepr is None or isinstance(longrepr, tuple):
        return  # a skip's (path, line, reason): the kit writes those reasons itself
    try:
        text = str(longrepr)
    except Exception:
        return
    if len(text) > OUTPUT_LIMIT:
        report.longrepr = cut(text, OUTPUT_LIMIT)  # type: ignore[attr-defined]

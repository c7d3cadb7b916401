"""Reading result files into columns, and building the matrix's rows from SPEC.md's sections."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._bounded import cut
from .._completeness import completeness
from ..capabilities import CAPABILITIES
from ..report import RESULT_SCHEMA
from ..rules import RULES
from ._model import VERDICTS, Column, Failure, Matrix, ResultFileError, Row
from ._schema import result_schema, schema_errors


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
                    # Cut again: a file written by an older kit (or by hand) may hold texts of any size.
                    observed=cut(_unescape(test["observed"])),
                    expected=cut(_unescape(test["expected"])),
                    explanation=cut(_unescape(test["explanation"])),
                )
            )
    needs: dict[str, set[str]] = {}
    for test in document["tests"]:
        if test["verdict"] == "unsupported" and test.get("capability"):
            needs.setdefault(test["rule"], set()).add(str(test["capability"]))
    implementation, environment = document["implementation"], document["environment"]
    declared = implementation.get("capabilities")
    totals: dict[str, int] = document["totals"]
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
        totals={**{v: 0 for v in VERDICTS}, **{v: int(n) for v, n in totals.items()}},
        verdicts={rule["id"]: rule["verdict"] for rule in document["rules"]},
        failures=failures,
        rules={rule["id"]: (rule["level"], rule["profile"], rule["title"]) for rule in document["rules"]},
        declared=_capabilities(implementation),
        completeness=_completeness(document),
        capabilities=None if declared is None else tuple(declared),
        needs={rule_id: tuple(sorted(names)) for rule_id, names in needs.items()},
    )


def _capabilities(implementation: dict[str, Any]) -> str:
    declared = implementation.get("capabilities")
    if not isinstance(declared, list) or set(declared) >= set(CAPABILITIES) - {"container"}:
        return "all"
    return ", ".join(str(c) for c in declared) or "none"


def _completeness(document: dict[str, Any]) -> str:
    """The per-profile line; for files written before the kit recorded it, worked out from their tests."""
    unsupported = [
        (str(t["rule"]), str(t.get("capability", ""))) for t in document["tests"] if t["verdict"] == "unsupported"
    ]
    profiles = completeness(document["implementation"]["profiles"], unsupported)
    return "; ".join(p.describe() for p in profiles)


def _unescape(text: str) -> str:
    # The result's texts are made for Markdown tables (`|` escaped); the matrix escapes for itself.
    return text.replace("\\|", "|")


def rule_sections() -> dict[str, str]:
    """Rule ID -> the SPEC.md section it appears under (`2. Publishing`); empty if SPEC.md is missing."""
    from ..spec import spec_text

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

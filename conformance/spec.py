"""SPEC.md inside the installed package: each rule's statement and source, for messages and `rules`.

The wheel carries SPEC.md as `conformance/SPEC.md`; in a checkout (or an editable
install) it is read from the repository's top level.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .rules import RULES

_HEADING = re.compile(
    r"^### (?P<id>[A-Z]+(?:-[A-Z]+)*-\d+) \((?P<level>MUST|SHOULD|MAY), (?P<profile>\w+)\) (?P<title>.+)$"
)


@dataclass(frozen=True)
class RuleText:
    """A rule as SPEC.md words it."""

    id: str
    heading: str
    """`ID (LEVEL, profile) title`."""
    statement: str
    """What the rule requires, as one paragraph."""
    source: str
    """The `Source:` line: where in pico-ioc's documents it comes from."""

    def __str__(self) -> str:
        return f"{self.heading}\n{self.statement}\n{self.source}"


def spec_text() -> str:
    """The text of SPEC.md shipped with the kit (or of the checkout it runs from)."""
    shipped = resources.files("conformance").joinpath("SPEC.md")
    if shipped.is_file():
        return shipped.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "SPEC.md").read_text(encoding="utf-8")


@functools.cache
def rule_texts() -> dict[str, RuleText]:
    """Every rule's text, by ID, in SPEC.md order."""
    texts: dict[str, RuleText] = {}
    current: tuple[str, str] | None = None
    body: list[str] = []

    def close() -> None:
        if current is None:
            return
        rule_id, heading = current
        source = next((line for line in body if line.startswith("Source")), "")
        statement = " ".join(line.strip() for line in body if line.strip() and not line.startswith("Source"))
        texts[rule_id] = RuleText(rule_id, heading, statement, source)

    for line in spec_text().splitlines():
        if line.startswith("#"):
            close()
            current = None
            body = []
            match = _HEADING.match(line)
            if match:
                current = (match["id"], line[4:])
        elif current is not None:
            body.append(line)
    close()
    return texts


def statement(rule_id: str) -> str:
    """The statement of rule `rule_id` (empty if SPEC.md cannot be found)."""
    try:
        return rule_texts()[rule_id].statement
    except (KeyError, OSError):
        return ""


def render_rules(ids: list[str]) -> str:
    """The texts of the rules `ids` (or every rule), for `python -m conformance rules`."""
    texts = rule_texts()
    unknown = [i for i in ids if i.upper() not in texts]
    if unknown:
        raise KeyError(
            f"no rule {', '.join(unknown)} in SPEC.md; rule IDs look like PUB-1 or POL-TASK-2 "
            f"({len(RULES)} rules: `python -m conformance rules` lists them)"
        )
    chosen = [texts[i.upper()] for i in ids] if ids else list(texts.values())
    if not ids:
        return "\n".join(f"{t.heading}" for t in chosen)
    return "\n\n".join(str(t) for t in chosen)

"""Every broken bus, in SPEC.md order of the rule it breaks, and the rules no broken bus can exercise."""

from __future__ import annotations

from conformance.rules import RULES

from .base import Mutant
from .errors import MUTANTS as ERRORS
from .extended import MUTANTS as EXTENDED
from .faults import MUTANTS as FAULTS
from .hanging import MUTANTS as HANGING
from .policies import MUTANTS as POLICIES
from .publishing import MUTANTS as PUBLISHING
from .robustness import MUTANTS as ROBUSTNESS
from .subscribing import MUTANTS as SUBSCRIBING
from .worker import MUTANTS as WORKER

MUTANTS: tuple[Mutant, ...] = tuple(
    sorted(
        [*PUBLISHING, *POLICIES, *ERRORS, *WORKER, *SUBSCRIBING, *EXTENDED, *ROBUSTNESS, *FAULTS, *HANGING],
        key=lambda m: list(RULES).index(m.rule),
    )
)
"""The catalogue, ordered by rule (stable within a rule)."""

CATCHABLE: tuple[Mutant, ...] = tuple(m for m in MUTANTS if not m.hangs)
"""The mutants the kill matrix runs the whole suite against (those that hang have tests of their own)."""

BY_NAME: dict[str, Mutant] = {m.name: m for m in MUTANTS}
"""Mutants by name."""
BY_ATTR: dict[str, Mutant] = {m.attr: m for m in MUTANTS}
"""Mutants by attribute name (`--impl=tests.mutants:<attr>`)."""

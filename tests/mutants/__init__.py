"""The kill matrix's catalogue of broken buses: each breaks one rule of SPEC.md and is otherwise correct.

Put one under test with `pytest --impl=tests.mutants:<name_with_underscores>`;
`catalogue.MUTANTS` lists them, `python -m tests.mutants.matrix` writes
`docs/kill-matrix.md`, and `tests/test_kill_matrix.py` checks that the suite
catches every one of them.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """`tests.mutants.<attr>`: the factory of the mutant's adapter, for `--impl=tests.mutants:<attr>`."""
    from .catalogue import BY_ATTR
    from .conforming import BY_ATTR as VARIANTS

    if name in BY_ATTR:
        return BY_ATTR[name].implementation
    if name in VARIANTS:  # a conforming variant (tests/mutants/conforming.py)
        return VARIANTS[name].implementation
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} (and no mutant of that name)")

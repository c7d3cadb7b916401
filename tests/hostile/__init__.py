"""Hostile buses: ones that attack the run itself (kill the process, outlive it, swap its loop policy).

Unlike `tests.mutants`, which each break one rule of SPEC.md, these check that
the kit still ends every run with a complete verdict: `tests/test_hostile.py`
runs each on a few tests. Put one under test with
`--impl=tests.hostile:<name_with_underscores>`.

A behaviour that happens "once" happens on the first occasion in the run when
the environment variable `HOSTILE_ONCE` names a file (the first process to
create it wins, so a fresh process after a crash behaves); without it, every time.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """`tests.hostile.<attr>`: the factory of the hostile bus's adapter."""
    from .buses import BY_ATTR, exit_at_load, policy_at_load

    factories = {"exit_at_load": exit_at_load, "policy_at_load": policy_at_load}
    if name in factories:
        return factories[name]
    if name in BY_ATTR:
        return BY_ATTR[name].implementation
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} (and no hostile bus of that name)")

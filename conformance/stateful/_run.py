"""What the programs of one run of the stateful test share, and the run's settings from the environment.

`Settings.from_environment()` reads the `CONFORMANCE_STATEFUL_*` variables the
test's docstring describes (a bad value is a usage error); `Run` carries what
every program of the run needs (the implementation, the bound, a loop factory,
pytest's log capture) and what the programs leave behind (whether one failed,
what could not be stopped after one).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import pytest

from ..adapter import Implementation


def _setting(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise pytest.UsageError(f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise pytest.UsageError(f"{name} must not be negative, got {value}")
    return value


class Settings(NamedTuple):
    """How many programs, how long, shrunk or not, drawn anew or not."""

    examples: int
    """`CONFORMANCE_STATEFUL_EXAMPLES`: programs per run (default 30)."""
    steps: int
    """`CONFORMANCE_STATEFUL_STEPS`: steps per program at most (default 20)."""
    shrink: bool
    """`CONFORMANCE_STATEFUL_SHRINK` (default 1): shrink a failing program."""
    random: bool
    """`CONFORMANCE_STATEFUL_RANDOM` (default 0): new programs on every run instead of the same ones."""

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings the environment asks for; `pytest.UsageError` for a value that is not a count."""
        return cls(
            examples=_setting("CONFORMANCE_STATEFUL_EXAMPLES", 30),
            steps=_setting("CONFORMANCE_STATEFUL_STEPS", 20),
            shrink=_setting("CONFORMANCE_STATEFUL_SHRINK", 1) != 0,
            random=_setting("CONFORMANCE_STATEFUL_RANDOM", 0) != 0,
        )


@dataclass
class Run:
    """What the programs of one test run share."""

    implementation: Implementation
    bound: float
    new_loop: Callable[[], asyncio.AbstractEventLoop]
    caplog: pytest.LogCaptureFixture | None
    failed: bool = False
    problems: set[str] = field(default_factory=set)


def log_capture(request: pytest.FixtureRequest) -> pytest.LogCaptureFixture | None:
    """pytest's `caplog`, unless its logging plugin is disabled."""
    try:
        caplog: pytest.LogCaptureFixture = request.getfixturevalue("caplog")
    except pytest.FixtureLookupError:
        return None
    return caplog

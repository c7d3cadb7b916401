"""What a benchmark case is: the `Case` record, its sample type, its time limits and the errors a case raises."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..adapter import Implementation

Sample = tuple[int, int]
"""(elapsed ns, operations timed)."""

CHECK_TIMEOUT = 10.0
"""How long a case's correctness check may take before the implementation is reported as failing it."""

SETUP_BUDGET = 15.0
"""Seconds an implementation may take to register a case's handlers; beyond, it is not measured (not a failure)."""


class BenchError(Exception):
    """An implementation did not do what a case needs; the case is reported as failed for it."""


class NotMeasured(BenchError):
    """A case cannot be measured on an implementation within the bench's budget; this does not fail the run."""


@dataclass(frozen=True)
class Case:
    """One benchmark case."""

    key: str
    """Stable identifier, used in JSON, `--cases` and the targets."""
    title: str
    unit: str
    """What one operation is: the table reports ns per `unit`."""
    ops: int
    """Default number of operations per sample."""
    baseline_label: str
    baseline: Callable[[int], Awaitable[Sample]]
    measure: Callable[[Implementation, int], Awaitable[Sample]]
    check: Callable[[Implementation], Awaitable[None]]
    """Proves, untimed, that the implementation delivers what the timed run assumes."""
    scaled: bool = True
    """Whether `--scale` applies to `ops` (the post-and-worker cases take `--events` as is)."""
    group: str | None = None
    """The scaling series the case belongs to, e.g. "publish to N sync INLINE handlers"."""
    size: int | None = None
    """The case's N within its group."""
    per_size: bool = False
    """Whether the scaling table divides the time by `size` (ns per handler rather than per publish)."""
    teardown: Callable[[Implementation], Awaitable[None]] | None = None
    """Releases what `check` prepared for the samples (a bus with many handlers), after the last round."""

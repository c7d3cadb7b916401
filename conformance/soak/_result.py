"""What a soak measured: its `Result`, the failures besides lost events, and the progress snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._leak import LeakCheck
from ._options import Options
from .ledger import Tally


@dataclass
class Failure:
    """Something that went wrong besides the fate of events: a hang, an error, a stall."""

    kind: str
    """"hang", "error" or "stuck"."""
    what: str
    """The call or phase, e.g. "stop_worker (restart 1)"."""
    detail: str

    def __str__(self) -> str:
        return f"{self.what}: {self.detail}"


@dataclass
class Result:
    """Everything a soak measured."""

    implementation: str
    version: str
    options: Options
    machine: dict[str, str]
    tally: Tally
    refusals: int = 0
    refusal_kinds: dict[str, int] = field(default_factory=dict)
    """Refusals by exception class name."""
    refusal_messages: dict[str, str] = field(default_factory=dict)
    """The first message of each exception class."""
    restarts_done: int = 0
    churn_cycles: int = 0
    posting_time: float = 0.0
    """Seconds from the first post until every producer had finished."""
    elapsed: float = 0.0
    """Seconds from the first post until the final drain returned (or the run ended otherwise)."""
    drained: bool = False
    """Whether the final drain (`stop_worker`) returned."""
    stopped_early: str | None = None
    """Why the producers stopped before posting every event, if they did."""
    failures: list[Failure] = field(default_factory=list)
    peak_rss: int | None = None
    """The process's peak resident set size in bytes when the soak ended (before the leak check)."""
    rss_start: int | None = None
    rss_end: int | None = None
    blocks_start: int | None = None
    blocks_end: int | None = None
    """`sys.getallocatedblocks()` after a full collection, before the first post and after the final drain."""
    leak: LeakCheck = field(default_factory=lambda: LeakCheck(0, skipped="not run"))
    loop_errors: int = 0
    """Errors the event loop's exception handler received (an exception in a callback, a task's lost error)."""
    loop_error_first: str | None = None
    abandoned: bool = False
    """The event loop's thread blocked for good and was left behind."""

    @property
    def throughput(self) -> float:
        """Deliveries per second, from the first post until the final drain returned."""
        return self.tally.delivered / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Nothing lost, duplicated or reordered, nothing hung or failed, and no leak."""
        return not self.failures and self.tally.faults == 0 and not self.leak.leaked and self.leak.error is None


@dataclass(frozen=True)
class Snapshot:
    """The progress of a run at one moment, for the progress line."""

    phase: str
    posted: int
    planned: int
    delivered: int
    refusals: int
    restarts_done: int
    restarts: int
    leak_cycles: int
    elapsed: float

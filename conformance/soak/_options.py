"""What a soak runs: its options, their checks, and the error for options an implementation cannot take."""

from __future__ import annotations

from dataclasses import dataclass


class UsageError(Exception):
    """The options cannot work with this implementation (the command exits 2)."""


@dataclass
class Options:
    """What to run; the command-line options of `python -m conformance.soak`."""

    events: int = 1_000_000
    producers: int = 4
    duration: float = 600.0
    """Seconds the whole command may take; when exceeded, the producers stop and the rest is reported."""
    restarts: int = 3
    churn: bool = False
    """Subscribe and unsubscribe another handler over and over, from a thread, while the producers post."""
    leak_cycles: int = 100_000
    loop: str = "asyncio"
    queue_size: int = 0
    """`max_queue_size` of the bus; 0 leaves the implementation's default (unbounded)."""
    timeout: float = 10.0
    """Seconds any wait may go without a delivery before it is reported as a hang."""

    def problems(self) -> list[str]:
        """What is wrong with these options, as messages for the user."""
        found = []
        if self.events < 1:
            found.append("--events must be at least 1")
        if self.producers < 1:
            found.append("--producers must be at least 1")
        if self.restarts < 0:
            found.append("--restarts must be 0 or more")
        if self.events >= 1 and self.producers >= 1 and self.events < self.producers * (self.restarts + 1):
            found.append(
                f"--events={self.events} is too few for {self.producers} producers and {self.restarts} "
                f"restarts: each producer needs at least restarts + 1 = {self.restarts + 1} events"
            )
        if self.duration <= 0:
            found.append("--duration must be positive")
        if self.timeout <= 0:
            found.append("--timeout must be positive")
        if self.leak_cycles < 0:
            found.append("--leak-cycles must be 0 or more")
        if self.queue_size < 0:
            found.append("--queue-size must be 0 (the default) or more")
        return found

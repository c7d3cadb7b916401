"""Keeping count of numbered events: which were delivered, lost, duplicated or reordered.

Every soak event carries `(p, s)`: its producer and that producer's sequence
number, 0, 1, 2... in posting order. The recording handler keeps, per producer,
the sequence number it expects next; an event that is not the expected one is
noted as an anomaly, and `Ledger.tally` sorts the anomalies out after the run.
The common case (the expected event) costs a few bytecodes, so the handler
barely slows the bus it watches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

SAMPLES = 5
"""How many example sequence numbers a tally keeps per kind of fault and producer."""


@dataclass
class Tally:
    """What happened to the accepted events, once the run is over."""

    accepted: int
    """Events whose `post` returned normally."""
    delivered: int
    """Calls of the recording handler."""
    lost: int
    """Accepted events the handler never received."""
    duplicated: int
    """Deliveries beyond the first of an event."""
    out_of_order: int
    """Events delivered after a later event of the same producer."""
    unexpected: int
    """Deliveries of events whose `post` never returned normally (it raised, or never ran)."""
    examples: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    """A few `(producer, sequence)` of each fault, by kind."""

    @property
    def faults(self) -> int:
        """Every kind of fault added up; 0 when delivery was exactly once and in order."""
        return self.lost + self.duplicated + self.out_of_order + self.unexpected


class Ledger:
    """Records the deliveries of numbered events from `producers` producers."""

    def __init__(self, producers: int) -> None:
        self.expected = [0] * producers
        """Per producer, one more than the highest sequence number delivered so far."""
        self.anomalies: list[tuple[int, int, int]] = []
        """(producer, sequence, expected at that moment) of each delivery that was not the expected one."""

    def handler(self) -> Callable[[Any], None]:
        """The INLINE handler that records an event `e` with attributes `e.p` and `e.s`."""
        expected = self.expected
        note = self.anomalies.append

        def record(event: Any) -> None:
            p = event.p
            s = event.s
            e = expected[p]
            if s == e:
                expected[p] = s + 1
            else:
                note((p, s, e))
                if s > e:
                    expected[p] = s + 1

        return record

    def progress(self) -> int:
        """Deliveries so far, for progress reports: exact while nothing went wrong, close otherwise.

        Safe to call from any thread.
        """
        return sum(self.expected) + len(self.anomalies)

    def tally(self, accepted: Sequence[int]) -> Tally:
        """Sort the deliveries out against `accepted[p]`, the events producer `p` had accepted.

        Producer `p`'s accepted events are its sequence numbers `0 .. accepted[p] - 1`,
        since a refused event is posted again until it is accepted.
        """
        missing: list[set[int]] = [set() for _ in accepted]
        duplicated = out_of_order = 0
        examples: dict[str, list[tuple[int, int]]] = {}

        def example(kind: str, p: int, s: int) -> None:
            found = examples.setdefault(kind, [])
            if sum(1 for q, _ in found if q == p) < SAMPLES:
                found.append((p, s))

        for p, s, e in self.anomalies:
            if s > e:
                missing[p].update(range(e, s))  # skipped over, for now
            elif s in missing[p]:
                missing[p].discard(s)
                out_of_order += 1
                example("out of order", p, s)
            else:
                duplicated += 1
                example("duplicated", p, s)
        lost = unexpected = distinct = 0
        for p, (top, gone) in enumerate(zip(self.expected, missing, strict=True)):
            distinct += top - len(gone)
            n = accepted[p]
            holes = sorted(s for s in gone if s < n)
            lost += len(holes) + max(0, n - top)  # the holes, and the tail nothing reached
            for s in [*holes[:SAMPLES], *range(top, min(n, top + SAMPLES))][:SAMPLES]:
                example("lost", p, s)
            extra = [s for s in range(n, top) if s not in gone]
            unexpected += len(extra)
            for s in extra[:SAMPLES]:
                example("unexpected", p, s)
        return Tally(
            accepted=sum(accepted),
            delivered=distinct + duplicated,
            lost=lost,
            duplicated=duplicated,
            out_of_order=out_of_order,
            unexpected=unexpected,
            examples=examples,
        )

"""Running a soak: producer threads post numbered events while the worker is stopped and started again.

The event loop runs on a thread of its own, with a supervising coroutine that
starts the worker, restarts it at set points, drains it at the end and checks
subscribe/unsubscribe churn for leaks. The calling thread only watches: it
reports progress and, should the loop's thread block for good, gives up on it
with what was measured so far. Every wait is bounded: a wait during which no
event is delivered for `Options.timeout` seconds is reported as a hang.

The parts: `_options` (what to run), `_producers` (the producer and churn
threads), `_supervisor` (the loop's thread), `_leak` (the leak check),
`_result` (what was measured) and `_machine` (facts about the machine).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..adapter import Implementation
from ._leak import LEAK_BYTES_PER_CYCLE, LEAK_FLOOR, LEAK_WARMUP, LeakCheck
from ._machine import current_rss, machine, peak_rss
from ._options import Options, UsageError
from ._producers import BACKOFF, Shared, numbered_event_type
from ._result import Failure, Result, Snapshot
from ._supervisor import POLL, STOPPED_FOR, Soak

__all__ = [
    "BACKOFF",
    "LEAK_BYTES_PER_CYCLE",
    "LEAK_FLOOR",
    "LEAK_WARMUP",
    "POLL",
    "STOPPED_FOR",
    "Failure",
    "LeakCheck",
    "Options",
    "Result",
    "Snapshot",
    "UsageError",
    "current_rss",
    "machine",
    "numbered_event_type",
    "peak_rss",
    "run_soak",
]


def run_soak(
    impl: Implementation, options: Options, progress: Callable[[Snapshot], None] | None = None, every: float = 5.0
) -> Result:
    """Soak `impl`; call `progress` every `every` seconds. Raises UsageError for options `impl` cannot take."""
    problems = options.problems()
    if problems:
        raise UsageError("; ".join(problems))
    shared = Shared(options)
    soak = Soak(impl, options, shared)
    thread = threading.Thread(target=soak.run, daemon=True)  # default name: nothing says "soak"
    thread.start()
    last_delivered, since = -1, time.monotonic()
    shown = since
    while thread.is_alive():
        thread.join(min(every, 0.25))
        now = time.monotonic()
        delivered = shared.ledger.progress()
        if delivered != last_delivered or now - shared.beat < options.timeout:
            last_delivered, since = delivered, now
        if progress is not None and thread.is_alive() and now - shown >= every:
            shown = now
            progress(_snapshot(shared, options))
        if thread.is_alive() and now - since > options.timeout + 1:
            # The supervisor has not run, and nothing was delivered, for longer than any wait may take.
            shared.open_all()
            soak.result.tally = shared.ledger.tally(shared.accepted)
            soak.result.abandoned = True
            soak.result.restarts_done = shared.restarts_done
            soak.result.elapsed = time.perf_counter() - shared.t0 if shared.t0 else 0.0
            soak.count_refusals()
            soak.result.peak_rss = peak_rss()
            soak.fail(
                "hang",
                f"the event loop's thread ({shared.phase})",
                f"blocked for over {options.timeout:g} s without delivering anything; it was abandoned",
            )
            return soak.result
    if soak.error is not None:
        raise soak.error
    return soak.result


def _snapshot(shared: Shared, options: Options) -> Snapshot:
    return Snapshot(
        phase=shared.phase,
        posted=sum(shared.accepted),
        planned=options.events,
        delivered=shared.ledger.progress(),
        refusals=sum(shared.refusals),
        restarts_done=shared.restarts_done,
        restarts=options.restarts,
        leak_cycles=shared.leak_cycles,
        elapsed=time.perf_counter() - shared.t0 if shared.t0 else 0.0,
    )

"""A soak test of an implementation's `post` and worker: `python -m conformance.soak --impl=NAME`.

Producer threads post numbered events while the worker is stopped and started
again; a recording INLINE handler checks that every accepted event is delivered
exactly once and in order per producer. A refused post is retried, so it is not
a loss. The run reports throughput, memory, refusals, hangs, and a leak check
of subscribe/unsubscribe churn. Nothing in it judges a time.
"""

from .ledger import Ledger, Tally
from .runner import Failure, LeakCheck, Options, Result, Snapshot, UsageError, run_soak

__all__ = ["Failure", "LeakCheck", "Ledger", "Options", "Result", "Snapshot", "Tally", "UsageError", "run_soak"]

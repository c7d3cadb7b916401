"""Benchmarks of event-bus implementations, through the same adapters as the conformance suite.

`python -m conformance.bench --impl=NAME [--impl=NAME ...]` times each case on
every implementation and on a plain-Python baseline, side by side in one run, and
prints Markdown tables on stdout (ns per operation, ratio to the baseline, ratio
to the first implementation; then how the scaling cases grow with N), with
progress on stderr; `--json PATH` writes every sample. See `docs/performance.md`.

Benchmarks are not tests: nothing asserts or judges a time, whichever the
implementation (the reference's own targets live in `tests/perf_targets.py`,
which reads the JSON). The exit status is non-zero only when a case could not
be run at all.
"""

from .cases import Case, all_cases
from .cli import main
from .runner import Run, run

__all__ = ["Case", "Run", "all_cases", "main", "run"]

"""The benchmark's cases: an operation timed through the adapter, next to its plain-Python baseline.

Every variant of a case (the baseline, and the case run on each implementation)
is a coroutine function `(n) -> (elapsed_ns, ops)`: it sets up untimed, times `n`
operations (or as close to `n` as the case's shape allows, reported as `ops`),
and tears down untimed. Baselines and implementations use handlers of the same kind and
the same end-point, so only the dispatch mechanism differs:

- INLINE cases time `await publish(event)` after one untimed publish of each
  event type (a bus may prepare a type's dispatch at its first publish); the
  handlers do nothing, and a separate check (`Case.check`) proves beforehand
  that each registration runs.
- TASK cases time until every handler has run: the handlers count, and after
  each `publish` the timing coroutine yields to the loop until the count is
  reached (for a bus whose `publish` already waits for its TASK handlers, as
  pico-ioc 2.5.2's does, the count is reached when `publish` returns).
- THREADPOOL and worker cases time until the handler has signalled the loop.
- Scaling cases repeat a case at several sizes (handlers of one type, event
  types, handlers already registered, events queued at once); `Case.group` and
  `Case.size` tie them together for the scaling table.

The cases live by family: `_publish_cases` (INLINE, many event types, TASK,
THREADPOOL), `_worker_cases` (post and the worker, queue depth) and
`_registration_cases` (subscribe, subscribe and unsubscribe with N registered,
components); `_case` holds the `Case` record, `_handlers` what they share.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._case import CHECK_TIMEOUT, SETUP_BUDGET, BenchError, Case, NotMeasured, Sample
from ._publish_cases import inline_case, many_types_case, task_case, threadpool_case
from ._registration_cases import MIN_OPS, SAMPLE_BUDGET_NS, component_case, registration_case, subscribe_case
from ._worker_cases import depth_case, worker_case

__all__ = [
    "CHECK_TIMEOUT",
    "DEPTHS",
    "EVENT_TYPES",
    "MIN_OPS",
    "SAMPLE_BUDGET_NS",
    "SETUP_BUDGET",
    "SIZES",
    "BenchError",
    "Case",
    "NotMeasured",
    "Sample",
    "all_cases",
]

SIZES = (10, 100, 1_000, 10_000, 30_000)
"""Handlers already registered in the subscribe and unsubscribe cases (`--sizes`)."""

EVENT_TYPES = 10_000
"""Event types of the many-types case, one handler each."""

DEPTHS = (1, 100, 10_000)
"""Events posted at once, before waiting for the worker, in the queue-depth cases."""


def all_cases(events: int = 100_000, sizes: Sequence[int] = SIZES) -> list[Case]:
    """Every case, in table order.

    `events` is the count of the post-and-worker cases, `sizes` the handlers
    already registered in the subscribe and unsubscribe cases.
    """
    return [
        inline_case(1, is_async=False),
        inline_case(10, is_async=False),
        inline_case(100, is_async=False),
        inline_case(1_000, is_async=False),
        inline_case(1, is_async=True),
        inline_case(10, is_async=True),
        many_types_case(EVENT_TYPES),
        task_case(1),
        task_case(10),
        task_case(1, strict=True),
        task_case(10, strict=True),
        threadpool_case(),
        worker_case(events, from_thread=False),
        worker_case(events, from_thread=True),
        *(depth_case(depth) for depth in DEPTHS),
        subscribe_case(),
        *(registration_case("subscribe", size) for size in sizes),
        *(registration_case("unsubscribe", size) for size in sizes),
        component_case(),
    ]

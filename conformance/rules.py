"""The rule catalogue: every rule of SPEC.md by ID, level, profile and title.

`tests/test_spec_coverage.py` keeps this table and SPEC.md in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SPEC_VERSION = "1.3.0"

Level = Literal["MUST", "SHOULD", "MAY"]
Profile = Literal["core", "container", "extended", "robustness"]

PROFILES: tuple[Profile, ...] = ("core", "container", "extended", "robustness")


@dataclass(frozen=True)
class Rule:
    """One numbered rule of SPEC.md."""

    id: str
    level: Level
    profile: Profile
    title: str

    def __str__(self) -> str:
        return f"{self.id} ({self.level}, {self.profile}): {self.title}"


_TABLE: tuple[tuple[str, Level, Profile, str], ...] = (
    ("EVT-1", "MUST", "core", "Events are classes users subclass"),
    ("CTR-1", "MUST", "container", "The container provides the bus"),
    ("CTR-2", "MUST", "container", "The bus can be injected"),
    ("CTR-3", "MUST", "container", "init creates the components it scans"),
    ("CTR-4", "MUST", "container", "init accepts module objects and dotted names"),
    ("CTR-5", "MUST", "container", "The guide's example works as printed"),
    ("PUB-1", "MUST", "core", "Publish delivers to the subscribers of the event's type"),
    ("PUB-2", "MUST", "core", "Unrelated types receive nothing"),
    ("PUB-3", "MAY", "core", "Base-class subscribers may receive subclass events"),
    ("PUB-4", "MUST", "core", "Publishing with no subscribers is not an error"),
    ("PUB-5", "SHOULD", "core", "The subscriber set is taken when publish starts"),
    ("POL-1", "MUST", "core", "INLINE is the default"),
    ("POL-INLINE-1", "MUST", "core", "Async INLINE handlers are awaited"),
    ("POL-INLINE-2", "MUST", "core", "Sync INLINE handlers run in place"),
    ("POL-ORDER-1", "MUST", "core", "INLINE handlers run one after another in subscription order"),
    ("POL-TASK-1", "MUST", "core", "TASK handlers run as asyncio tasks"),
    ("POL-TASK-2", "MUST", "core", "Publish does not wait for TASK handlers"),
    ("POL-TASK-3", "MUST", "core", "Running TASK handlers are not lost to garbage collection"),
    ("POL-TASK-4", "MUST", "core", "The TASK handlers of one dispatch run concurrently"),
    ("POL-THREAD-1", "MUST", "core", "THREADPOOL handlers run off the loop's thread"),
    ("POL-THREAD-2", "MUST", "core", "The loop keeps running while a THREADPOOL handler runs"),
    ("POL-THREAD-3", "MUST", "core", "Publish does not wait for THREADPOOL handlers"),
    ("POL-MIX-1", "MUST", "core", "A sync handler under TASK is delivered exactly once"),
    ("POL-MIX-2", "MUST", "core", "An async handler under THREADPOOL is delivered exactly once"),
    ("ERR-1", "MUST", "core", "INLINE exceptions propagate to the publisher"),
    ("ERR-2", "MAY", "core", "Remaining INLINE handlers after a failure"),
    ("ERR-3", "MUST", "core", "TASK exceptions stay away from the publisher"),
    ("ERR-4", "MUST", "core", "THREADPOOL exceptions stay away from the publisher"),
    ("ERR-5", "MUST", "core", "TASK and THREADPOOL exceptions are logged"),
    ("ERR-6", "MUST", "core", "Every INLINE failure reaches the publisher"),
    ("POST-1", "MUST", "core", "Post is a plain call that does not run handlers"),
    ("POST-2", "MUST", "core", "Post works from any thread"),
    ("POST-3", "MUST", "core", "Posted events are delivered in order"),
    ("POST-4", "MUST", "core", "The worker dispatches as publish does"),
    ("POST-5", "MUST", "core", "Post without a worker: an error or a buffer, never a drop"),
    ("POST-6", "MUST", "core", "Post after stop_worker: an error or a buffer, never a drop"),
    ("POST-7", "MUST", "core", "A full bounded queue makes post raise"),
    ("POST-8", "MUST", "core", "A full queue raises in the posting thread too"),
    ("POST-9", "MUST", "core", "No queue size, or 0, means unbounded"),
    ("WRK-1", "MUST", "core", "Starting a running worker is a no-op"),
    ("WRK-2", "MUST", "core", "stop_worker drains the queue"),
    ("WRK-3", "MUST", "core", "stop_worker without a worker is a no-op"),
    ("WRK-4", "MUST", "core", "stop_worker returns even when handlers keep posting"),
    ("WRK-5", "MUST", "core", "A stopped worker can be started again"),
    ("WRK-6", "MUST", "core", "A failing handler does not stop the worker"),
    ("WRK-7", "MUST", "core", "The worker runs on the loop that started it"),
    ("SUB-1", "MUST", "container", "The decorator leaves the function callable"),
    ("SUB-2", "MUST", "container", "Marked methods are registered when the container creates the instance"),
    ("SUB-3", "MUST", "container", "The decorator's policy applies"),
    ("SUB-4", "MUST", "container", "Nothing is registered before an instance exists"),
    ("SUB-5", "MUST", "container", "Each instance registers its own handlers"),
    ("SUB-6", "MUST", "container", "A method may carry several marks"),
    ("LIFE-1", "MUST", "container", "Container shutdown stops the worker, delivering queued events"),
    ("LIFE-2", "MUST", "extended", "Publish after shutdown raises the closed error"),
    ("LIFE-3", "MUST", "extended", "Post after shutdown raises the closed error"),
    ("EXT-PRI-1", "MUST", "extended", "Higher priority runs first"),
    ("EXT-ONCE-1", "MUST", "extended", "A once handler runs once"),
    ("EXT-ONCE-2", "MUST", "extended", "A once handler that raises is not called again"),
    ("EXT-DUP-1", "MUST", "extended", "Duplicate registrations run once each"),
    ("EXT-UNSUB-1", "MUST", "extended", "Unsubscribe removes a handler"),
    ("EXT-UNSUB-2", "MUST", "extended", "Unsubscribing an unknown handler is a no-op"),
    ("EXT-SUB-1", "MUST", "extended", "The decorator takes priority and once"),
    ("EXT-CLOSE-1", "MUST", "extended", "aclose drains, then closes"),
    ("EXT-CLOSE-2", "MUST", "extended", "start_worker after aclose raises the closed error"),
    ("EXT-CLOSE-3", "MUST", "extended", "aclose lets go of the subscribers"),
    ("EXT-SYNC-1", "MUST", "extended", "publish_sync without a running loop"),
    ("EXT-SYNC-2", "MUST", "extended", "publish_sync on a running loop schedules a task"),
    ("EXT-SYNC-3", "MUST", "extended", "publish_sync without a loop finishes what it started"),
    ("EXT-ERR-1", "MUST", "extended", "The exception classes exist"),
    ("EXT-ERR-2", "MUST", "extended", "A full queue raises EventBusQueueFullError"),
    ("EXT-ERR-3", "MUST", "extended", "Post without a worker raises EventBusError, if it raises"),
    ("EXT-ERR-4", "MAY", "extended", "INLINE exceptions may be wrapped in EventBusHandlerError"),
    ("EXT-MIX-1", "MAY", "extended", "Auto-subscribers may be unregistered at component cleanup"),
    ("ROB-1", "MUST", "robustness", "Publishing a non-event raises at once"),
    ("ROB-2", "MUST", "robustness", "Posting a non-event raises at once"),
    ("ROB-3", "MUST", "robustness", "Subscribing a non-callable raises at once"),
    ("ROB-4", "SHOULD", "robustness", "Subscribing to a non-event type raises at once"),
    ("ROB-5", "SHOULD", "robustness", "The decorator rejects a non-event type at once"),
    ("ROB-6", "MUST", "robustness", "Concurrent producers lose nothing"),
    ("ROB-7", "MUST", "robustness", "Concurrent subscriptions lose nothing"),
    ("ROB-8", "MUST", "robustness", "Shutdown is idempotent and bounded"),
    ("ROB-9", "SHOULD", "robustness", "A bad queue size is rejected at construction"),
    ("CAN-1", "MUST", "robustness", "Cancelling the publisher cancels the running INLINE handler only"),
    ("CAN-2", "MUST", "robustness", "A cancelled publish leaves the bus usable"),
    ("CAN-3", "MUST", "robustness", "CancelledError from an INLINE handler is a cancellation, not a failure"),
    ("CAN-4", "MUST", "robustness", "A cancelled TASK handler is not logged as an error"),
    ("CAN-5", "MUST", "robustness", "Cancelling stop_worker loses nothing"),
    ("CAN-6", "MUST", "robustness", "BaseExceptions from handlers are not swallowed"),
    ("CAN-7", "MUST", "robustness", "Closing does not cancel running handlers"),
    ("LEAK-1", "MUST", "robustness", "The bus does not keep published events alive"),
    ("LEAK-2", "MUST", "robustness", "The bus does not keep finished TASK tasks alive"),
    ("LEAK-3", "MUST", "robustness", "Removed handlers are let go"),
    ("LEAK-4", "MUST", "robustness", "Churn leaves the bookkeeping where it started"),
    ("ROB-10", "MUST", "robustness", "Restarting the worker under load loses nothing"),
)

RULES: dict[str, Rule] = {row[0]: Rule(*row) for row in _TABLE}
"""Every rule, by ID, in SPEC.md order."""

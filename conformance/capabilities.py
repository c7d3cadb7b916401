"""Named capabilities: optional features a bus declares, and the `Unsupported` verdict for the rest.

In the spirit of SQLAlchemy's `testing/requirements.py`, each feature a rule may
need is named by what it is, not by vendor. An implementation declares the ones it
has (`capabilities`, default: all); a test that uses one it does not declare gets
the verdict *unsupported*: its own line in the summary and the reports, never a
pass and never a failure. The kit asks at the point of use (`Kit.require`), so a
test needs no list of its own; an adapter may also raise `Unsupported` from any
call it cannot express.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import pytest

CAPABILITIES: Final[dict[str, str]] = {
    "task": "the TASK policy (handlers run as asyncio tasks)",
    "threadpool": "the THREADPOOL policy (handlers run on worker threads)",
    "worker": "post() and the background worker (start_worker / stop_worker)",
    "threadsafe_post": "post() called from threads other than the loop's",
    "bounded_queue": "a bounded queue: the bus takes max_queue_size=N",
    "priority": "subscribe(..., priority=N)",
    "once": "subscribe(..., once=True)",
    "unsubscribe": "bus.unsubscribe(event_type, handler)",
    "publish_sync": "bus.publish_sync(event)",
    "aclose": "await bus.aclose()",
    "error_classes": "the exception classes EventBusError, EventBusClosedError, EventBusQueueFullError, "
    "EventBusHandlerError",
    "container": "the container and @subscribe integration (init, component, AutoSubscriberMixin); "
    "implied by claiming the container profile",
}
"""Every capability an implementation may declare, with what it means."""

DERIVED: Final[dict[str, str]] = {
    "event_base": "events subclass a base class other than object, so a non-event can be told apart "
    "(derived from event_type, not declared)",
}
"""Capabilities the kit derives from the adapter instead of reading its declaration."""
"""Every capability the suite may need, with what it means."""


class Unsupported(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """Raised when a test needs a capability the implementation does not declare, or cannot express.

    An adapter raises `Unsupported("priority", "mybus has no priorities")` from a
    call its bus cannot express; the test's verdict is then *unsupported*. It is a
    kind of pytest skip, so a run stays green, but the kit counts it apart.
    """

    def __init__(self, capability: str, detail: str = "") -> None:
        self.capability = capability
        meaning = CAPABILITIES.get(capability) or DERIVED.get(capability, capability)
        super().__init__(
            f"unsupported: needs {capability!r} ({meaning})" + (f": {detail}" if detail else ""),
            pytrace=False,
        )


class ClaimError(Exception):
    """An implementation's profile or capability claim is malformed; the message names the fix."""


def check_names(what: str, claimed: object, known: Iterable[str], owner: str) -> frozenset[str]:
    """`claimed` as a frozenset of known names, or a `ClaimError` saying what is wrong and how to fix it.

    A bare string is refused rather than read letter by letter (`("core")` is the
    string "core", not a tuple).
    """
    known = tuple(known)
    example = f'("{known[0]}", "{known[1]}")' if len(known) > 1 else f'("{known[0]}",)'
    if isinstance(claimed, str):
        raise ClaimError(
            f"{owner} declares its {what} as the string {claimed!r}; declare a tuple or set of names, "
            f"e.g. {example} (note the comma in a one-element tuple)"
        )
    if not isinstance(claimed, Iterable):
        raise ClaimError(f"{owner} declares its {what} as {claimed!r}; declare a tuple or set of names, e.g. {example}")
    names = list(claimed)
    wrong = [n for n in names if not isinstance(n, str)]
    if wrong:
        raise ClaimError(f"{owner} declares {what} that are not names: {wrong!r}; known: {', '.join(known)}")
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ClaimError(f"{owner} declares unknown {what}: {', '.join(unknown)}; known: {', '.join(known)}")
    return frozenset(names)

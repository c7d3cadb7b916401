"""A pico-ioc-shaped package that under-declares: every profile claimed, the worker left off its capabilities.

Its worker drops every second posted event, and it leaves `worker`,
`threadsafe_post` and `bounded_queue` out of `__conformance_capabilities__`
although its bus has `post`, `start_worker` and `max_queue_size`. A run must
read as partial (never "Deviations: None"), and say that the bus has what it
does not declare (issue 18).
"""

from __future__ import annotations

from typing import Any

import reference
from conformance.capabilities import CAPABILITIES
from reference import (
    AutoSubscriberMixin,
    Event,
    EventBusClosedError,
    EventBusError,
    EventBusHandlerError,
    EventBusQueueFullError,
    ExecPolicy,
    component,
    init,
    subscribe,
)

__version__ = "0.1"
__conformance_profiles__ = ("core", "container", "extended", "robustness")
__conformance_capabilities__ = tuple(c for c in CAPABILITIES if c not in ("worker", "threadsafe_post", "bounded_queue"))

__all__ = [
    "AutoSubscriberMixin",
    "Event",
    "EventBus",
    "EventBusClosedError",
    "EventBusError",
    "EventBusHandlerError",
    "EventBusQueueFullError",
    "ExecPolicy",
    "component",
    "init",
    "subscribe",
]


@component
class EventBus(reference.EventBus):
    """The reference bus whose `post` loses every second event: what the missing declaration hides."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._posted = 0

    def post(self, event: Event) -> None:
        """Queue every odd-numbered event; drop the others silently."""
        self._posted += 1
        if self._posted % 2 == 0:
            return
        super().post(event)

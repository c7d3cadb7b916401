"""A second, independent event bus that conforms to SPEC.md with the other choice on every open point.

Run the conformance suite on it with `pytest --impl=tests.alt_impl`. It claims
every profile. See `event_bus.py` for its choices.
"""

from .container import Container, ContainerError, component, init
from .event_bus import (
    AutoSubscriberMixin,
    Event,
    EventBus,
    EventBusClosedError,
    EventBusError,
    EventBusHandlerError,
    EventBusQueueFullError,
    ExecPolicy,
    subscribe,
)

__version__ = "0.1.0"
__conformance_profiles__ = frozenset({"core", "container", "extended", "robustness"})

__all__ = [
    "AutoSubscriberMixin",
    "Container",
    "ContainerError",
    "Event",
    "EventBus",
    "EventBusClosedError",
    "EventBusError",
    "EventBusHandlerError",
    "EventBusQueueFullError",
    "ExecPolicy",
    "__version__",
    "component",
    "init",
    "subscribe",
]

"""The reference implementation of the event-bus specification (SPEC.md).

A drop-in for the event-bus API of pico-ioc (`pico_ioc.event_bus`), plus the
tiny container the guide's example needs (`component`, `init`).
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

__version__ = "1.0.0"

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

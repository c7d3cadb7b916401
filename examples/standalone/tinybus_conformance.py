"""The conformance kit's adapter for tinybus: `pytest --pyargs conformance.suite --impl=tinybus_conformance`.

tinybus is a standalone bus: it claims the `core` profile (the bus itself)
and no container. It declares only the `task` capability (its background
handlers); the kit reports the tests that need a worker, a thread pool or a
bounded queue as unsupported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tinybus import TinyBus

from conformance.adapter import BusAdapter, PolicyName


class TinyBusAdapter(BusAdapter):
    """Maps the suite's calls onto tinybus's API; everything else keeps `BusAdapter`'s defaults."""

    name = "tinybus"
    version = "0.1"
    profiles = frozenset({"core"})
    capabilities = frozenset({"task"})
    bus_class = TinyBus  # the default new_bus() calls it (the kit passes no options to a bus without a queue)

    def add_handler(
        self, bus: Any, event_type: Any, fn: Callable[..., Any], *, policy: PolicyName | None = None, **options: Any
    ) -> None:
        """`bus.on(event_type, fn, background=...)`: TASK is tinybus's background flag."""
        bus.on(event_type, fn, background=policy == "TASK", **options)

    def publish(self, bus: Any, event: Any) -> Awaitable[Any]:
        """`bus.emit(event)`."""
        result: Awaitable[Any] = bus.emit(event)
        return result


def conformance_implementation() -> TinyBusAdapter:
    """The adapter object the kit loads."""
    return TinyBusAdapter()

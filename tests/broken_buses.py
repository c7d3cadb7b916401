"""Two small broken buses that hang, for proving the kit's bounds (see test_hang_bounds.py).

Each is the reference bus with one method replaced, exposed to `--impl` through the
`conformance_implementation` hook that `conformance.loading` looks for.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import reference
from conformance.adapter import ModuleAdapter
from reference.event_bus import EventBus


class HangingPublishBus(EventBus):
    """`publish` awaits a future that never resolves: the loop stays free, the caller waits forever."""

    async def publish(self, event: Any) -> None:
        await asyncio.get_running_loop().create_future()


class LoopBlockingStopBus(EventBus):
    """`stop_worker` blocks the event loop's thread (a synchronous wait inside a coroutine)."""

    async def stop_worker(self) -> None:
        threading.Event().wait(60)


class _Adapter(ModuleAdapter):
    def __init__(self, bus_class: type[EventBus], name: str) -> None:
        super().__init__(reference, name=name, profiles=frozenset({"core"}))
        self._bus_class = bus_class

    def new_bus(self, **options: Any) -> Any:
        return self._bus_class(**options)

    async def close_bus(self, bus: Any) -> None:
        # Teardown must not hang on the very fault the test exposes.
        await EventBus.aclose(bus)


def hanging_publish() -> ModuleAdapter:
    """`--impl=tests.broken_buses:hanging_publish`."""
    return _Adapter(HangingPublishBus, "hanging-publish")


def loop_blocking_stop() -> ModuleAdapter:
    """`--impl=tests.broken_buses:loop_blocking_stop`."""
    return _Adapter(LoopBlockingStopBus, "loop-blocking-stop")

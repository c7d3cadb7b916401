"""`BusHandle`: the bus as a test holds it, every call going through the adapter.

A test writes `await bus.publish(event)`; the handle turns it into
`impl.publish(raw_bus, event)`, so an adapter overrides the calls its bus spells
differently and needs no wrapper bus. Each call first asks for the capability
it needs (`Kit.require`), so a bus without, say, `unsubscribe` gets the verdict
*unsupported* instead of a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .domain import PUBLISH, WORKER

if TYPE_CHECKING:
    from .kit import Kit


class BusHandle:
    """One bus under test; `raw` is the implementation's own object (for identity checks)."""

    __slots__ = ("_impl", "_kit", "raw")

    def __init__(self, kit: Kit, raw: Any) -> None:
        self._kit = kit
        self._impl = kit.impl
        self.raw = raw

    def __repr__(self) -> str:
        return repr(self.raw)

    def publish(self, event: Any) -> Awaitable[Any]:
        """`await bus.publish(event)`."""
        self._kit.observed.exercise(path=PUBLISH)
        self._kit.observed.loop_used(self._kit.loop, self._kit.loop_thread_id)
        return self._impl.publish(self.raw, event)

    def post(self, event: Any) -> Any:
        """`bus.post(event)`; from a thread other than the loop's, it needs `threadsafe_post`."""
        self._kit.require("worker")
        self._kit.observed.exercise(path=WORKER)
        if self._kit.loop_thread_id is not None and threading.get_ident() != self._kit.loop_thread_id:
            self._kit.require("threadsafe_post")
        return self._impl.post(self.raw, event)

    def start_worker(self) -> Awaitable[Any]:
        """`await bus.start_worker()`."""
        self._kit.require("worker")
        self._kit.observed.loop_used(self._kit.loop, self._kit.loop_thread_id)
        return self._impl.start_worker(self.raw)

    def stop_worker(self) -> Awaitable[Any]:
        """`await bus.stop_worker()`."""
        self._kit.require("worker")
        return self._impl.stop_worker(self.raw)

    def unsubscribe(self, event_type: Any, fn: Callable[..., Any]) -> Any:
        """`bus.unsubscribe(event_type, fn)`."""
        self._kit.require("unsubscribe")
        return self._impl.unsubscribe(self.raw, event_type, fn)

    def publish_sync(self, event: Any) -> Any:
        """`bus.publish_sync(event)`."""
        self._kit.require("publish_sync")
        self._kit.observed.publish_sync()
        return self._impl.publish_sync(self.raw, event)

    def aclose(self) -> Awaitable[Any]:
        """`await bus.aclose()`."""
        self._kit.require("aclose")
        return self._impl.aclose(self.raw)

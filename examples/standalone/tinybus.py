"""tinybus: a small standalone event bus, not shaped like pico-ioc, for the README's worked example.

Its API differs from pico-ioc's on purpose: `on(event_type, handler,
background=False)` instead of `subscribe(..., policy=...)`, `await emit(event)`
instead of `publish`, and no worker, priorities or container at all.
Foreground handlers run one after another inside `emit`, which awaits async
ones and lets the first exception propagate; background handlers run as
asyncio tasks that `emit` does not wait for, and their exceptions are logged.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("tinybus")


class TinyBus:
    """Handlers by exact event type; `emit` dispatches one event to a snapshot of them."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[tuple[Callable[[Any], Any], bool]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()  # running background handlers, kept from the GC

    def on(self, event_type: type, handler: Callable[[Any], Any], *, background: bool = False) -> None:
        """Call `handler(event)` for every event of exactly `event_type`; in a task if `background`."""
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        self._handlers.setdefault(event_type, []).append((handler, background))

    async def emit(self, event: object) -> None:
        """Run the foreground handlers in order (awaiting async ones), start the background ones."""
        for handler, background in list(self._handlers.get(type(event), ())):
            if background:
                task = asyncio.get_running_loop().create_task(self._background(handler, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result

    async def _background(self, handler: Callable[[Any], Any], event: object) -> None:
        try:
            result = handler(event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("background handler %r failed on %r", handler, event)

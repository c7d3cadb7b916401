"""The two ways an event reaches its handlers: `publish`, and `post` to a running worker.

The worker must dispatch "as publish does" (POST-4), so every dispatch rule is
tested through both. A test takes the `dispatch` fixture; it runs once per path,
and a failure says which path it came through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .domain import LOOP_USES

if TYPE_CHECKING:
    from .kit import Kit

T = TypeVar("T")

PathName = Literal["publish", "worker"]

PATHS: tuple[PathName, ...] = ("publish", "worker")
"""The `dispatch` fixture's parameters, as they appear in test ids."""


class Dispatch:
    """Dispatches events to a bus through one path.

    `await dispatch(bus, *events)` dispatches each event in order and returns once
    the INLINE handlers of every one have finished: through `publish`, one
    `await bus.publish(event)` each; through the worker, `start_worker`, one
    `post` each, then `stop_worker`, which drains the queue (WRK-2). `begin`,
    `send` and `end` are the three steps, for tests that act in between.
    """

    def __init__(self, kit: Kit, path: PathName) -> None:
        self.kit = kit
        self.path = path

    @property
    def label(self) -> str:
        """How failure messages name the path."""
        return "publish" if self.path == "publish" else "post + worker"

    @property
    def through_worker(self) -> bool:
        """Whether events go through `post` and the worker."""
        return self.path == "worker"

    async def begin(self, bus: Any) -> None:
        """Get `bus` ready: start its worker on the worker path."""
        if self.through_worker:
            await self.kit.within(bus.start_worker(), "start_worker returns")

    async def send(self, bus: Any, event: Any) -> None:
        """`await bus.publish(event)` (its INLINE exception propagates), or `bus.post(event)`."""
        if self.through_worker:
            bus.post(event)
        else:
            await self.kit.within(bus.publish(event), "publish returns")

    async def attempt(self, bus: Any, event: Any) -> Exception | None:
        """`send`, returning what `publish` raised (an INLINE handler's failure, ERR-1) instead of raising it.

        Through the worker, `post` must accept the event (a handler's failure is
        the worker's to log, WRK-6) and None is returned.
        """
        if self.through_worker:
            self.kit.accepted(lambda: bus.post(event), f"post({event!r}) while the worker runs")
            return None
        return await self.kit.raised(lambda: bus.publish(event), f"publish({event!r}) returns or raises")

    async def end(self, bus: Any) -> None:
        """On the worker path, `stop_worker`: it returns once every posted event was dispatched."""
        if self.through_worker:
            await self.kit.within(bus.stop_worker(), "stop_worker returns once the posted events were dispatched")

    async def __call__(self, bus: Any, *events: Any) -> None:
        await self.begin(bus)
        for event in events:
            await self.send(bus, event)
        await self.end(bus)


LOOPS_IN_TURN: tuple[str, ...] = (
    "first (in a helper thread)",
    "second (of that thread, after the first ended)",
    "test's (in another thread, after both ended)",
)
"""The loops one bus meets in turn (SPEC.md, Terms: *The loop*): a loop in a helper thread, which then ends;
a second loop in that thread, which ends too; then the test's own loop, in another thread."""

LOOP_USE: dict[str, str] = dict(zip(LOOPS_IN_TURN, LOOP_USES, strict=True))
"""Each of `LOOPS_IN_TURN` as the domain's loop dimension names it (`kit.exercise(loop=...)`): the first loop the
bus meets, a second loop in the same thread, then a loop in another thread."""


def run_on_fresh_loop(
    new_loop: Callable[[], asyncio.AbstractEventLoop], main: Callable[[], Coroutine[Any, Any, T]], bound: float
) -> T:
    """Run `main()` on a new loop in this thread, bounded by `bound` seconds, then end and close the loop.

    For a thread other than the test's: what `asyncio.run` does, with the test's kind of loop (asyncio.run
    takes no loop factory before Python 3.12). The loop's default executor is shut down before it closes,
    so nothing of it outlives it.
    """
    loop = new_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(asyncio.wait_for(main(), bound))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()

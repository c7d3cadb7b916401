"""A live event loop for model-based tests: the bus lives on it while the test's thread drives it.

A Hypothesis state machine runs its rules on the test's own thread, one after the
other. `LiveLoop` keeps an event loop running on a thread of its own for the
life of one program, so every rule acts on the same live bus: it submits a
coroutine (`run`) and waits for it with a bound. A rule that does not finish in
time leaves the loop running (or blocked); `close` still stops what the program
started, each step with a bound, and says what it could not stop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..kit import Kit
from ..runner import LOOP_THREAD, cancel_leftovers

T = TypeVar("T")


class StepTimeout(Exception):
    """A coroutine submitted with `LiveLoop.run` did not finish within its bound."""


class LiveLoop:
    """An event loop running on a thread of its own, bound to `kit`, for the life of one program."""

    def __init__(self, kit: Kit, new_loop: Callable[[], asyncio.AbstractEventLoop], name: str) -> None:
        self.kit = kit
        self.loop = new_loop()
        self._ready = threading.Event()
        self._closed = False
        # A plain, fixed name: nothing a bus could read as "under test".
        self.thread = threading.Thread(target=self._main, name=LOOP_THREAD, daemon=True)
        self.thread.start()
        if not self._ready.wait(kit.bound):
            raise RuntimeError(f"the {name} event loop's thread did not start within {kit.bound:g} s")

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.kit.bind(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            try:
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                # A thread-pool handler may still be finishing; give it the bound, not forever.
                self.loop.run_until_complete(asyncio.wait_for(self.loop.shutdown_default_executor(), self.kit.bound))
            except (asyncio.TimeoutError, RuntimeError):
                pass
            finally:
                self.loop.close()
                asyncio.set_event_loop(None)

    def run(self, make: Callable[[], Coroutine[Any, Any, T]], bound: float) -> T:
        """Run `make()` on the loop and return its result; `StepTimeout` after `bound` seconds.

        What the coroutine raises is raised here, unchanged. On a timeout the
        coroutine is cancelled (if the loop is still turning).
        """
        future = asyncio.run_coroutine_threadsafe(make(), self.loop)
        try:
            return future.result(timeout=bound)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise StepTimeout(f"not done after {bound:g} s") from None

    def close(self, bound: float) -> list[str]:
        """Tear the kit down on the loop, cancel leftover tasks, stop the loop; what could not be stopped."""
        if self._closed:
            return []
        self._closed = True
        problems: list[str] = []
        try:
            problems += self.run(self.kit.teardown, 3 * bound)
            problems += self.run(lambda: cancel_leftovers(bound, "the program"), 2 * bound)
        except StepTimeout:
            problems.append(
                "stopping the bus after the program did not finish: the event loop's thread is blocked; "
                "it was abandoned"
            )
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(2 * bound)
        if self.thread.is_alive():
            problems.append("the event loop's thread did not end; it was abandoned")
        return problems

    @property
    def ended(self) -> bool:
        """True once the loop's thread has ended (nothing can be delivered on it any more)."""
        return not self.thread.is_alive()

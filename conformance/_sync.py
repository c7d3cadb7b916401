"""Synchronisation the tests use instead of sleeps: gates, and the kit's time scales.

A test never sleeps to decide an order. It holds a handler on a gate that only
the test opens, or waits for a checkpoint that the code under test passes; every
wait has a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

DEFAULT_BOUND = 2.0
"""Seconds any single wait may take before the test fails (`--bound` changes it)."""

PROMPT_TURNS = 100
"""How many event-loop iterations a call that "does not wait" may take (SPEC.md, Terms).

Counted as turns of a coroutine that only does `await asyncio.sleep(0)`: a
conforming bus schedules its TASK or THREADPOOL handler and returns within a few;
a "grace period" of a millisecond already takes hundreds.
"""

SETTLE_TURNS = 20
"""Loop iterations `Kit.settle` runs before and after its time window."""


def patience(bound: float) -> float:
    """The total time "waits for" handlers take: three quarters of the bound (1.5 s by default).

    A hidden timeout anywhere from about 10 ms up to this cuts such a handler short.
    Three quarters, not half: a bus that gives its handlers "generous" time (a
    second, 1.4 s) must still be caught, and the waits of such a test allow the
    bound plus this (`Kit.slow_handlers`), so a conforming bus is never failed by it.
    """
    return bound * 3 / 4


def settle_window(bound: float) -> float:
    """The wall-clock window `Kit.settle` leaves for late deliveries (20 ms by default).

    Short on purpose: `Kit.exactly` checks again after teardown, once the loop has
    ended and the executor's threads have finished, which is the real guard.
    """
    return bound / 100


class Gate:
    """A one-shot signal that any thread may open and any thread or the loop may await.

    Gates hold handlers back (`wait_blocking` in a thread, `wait` on the loop) and
    mark checkpoints that the test waits for. A wait that runs out of time returns
    False and is remembered in `timed_out`, so a handler whose bus swallowed its
    exception still leaves a trace the test can check.
    """

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop, bound: float) -> None:
        self.name = name
        self._loop = loop
        self._bound = bound
        self._flag = threading.Event()
        self._async_flag = asyncio.Event()
        self.timed_out = False

    @property
    def is_open(self) -> bool:
        """True once `open` was called."""
        return self._flag.is_set()

    def open(self) -> None:
        """Open the gate, from any thread (even when the loop is closed or blocked)."""
        if self._flag.is_set():
            return
        self._flag.set()
        if on_thread_of(self._loop):
            self._async_flag.set()
        elif not self._loop.is_closed():
            # The loop may close between the check and the call; then nobody waits.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._async_flag.set)

    def wait_blocking(self, bound: float | None = None) -> bool:
        """Block this thread until the gate opens; False if the bound ran out."""
        ok = self._flag.wait(self._bound if bound is None else bound)
        if not ok:
            self.timed_out = True
        return ok

    async def wait(self, bound: float | None = None) -> bool:
        """Wait on the loop until the gate opens; False if the bound ran out."""
        if self._flag.is_set():
            return True
        try:
            await asyncio.wait_for(self._async_flag.wait(), self._bound if bound is None else bound)
        except asyncio.TimeoutError:
            self.timed_out = True
            return False
        return True


def on_thread_of(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the caller runs on `loop`'s thread, inside it."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False

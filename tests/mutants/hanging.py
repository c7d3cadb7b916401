"""Broken buses that hang: the kit's bounds must turn them into failures naming their rules, and the run goes on.

They are left out of the kill matrix (a whole-suite run would spend the bound on nearly every test);
`tests/test_hang_bounds.py` and `tests/test_expectations.py` run them on a few tests each.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import reference.event_bus as ref

from .base import REFERENCE, mutant


class HangingPublishBus(ref.EventBus):
    """`publish` awaits a future that never resolves: the loop stays free, the caller waits forever."""

    async def publish(self, event: Any) -> None:
        await asyncio.get_running_loop().create_future()


class LoopBlockingStopBus(ref.EventBus):
    """`stop_worker` blocks the event loop's thread (a synchronous wait inside a coroutine)."""

    async def stop_worker(self) -> None:
        threading.Event().wait(60)


MUTANTS = (
    mutant(
        "publish-never-returns",
        "PUB-1",
        "publish awaits a future nobody resolves",
        REFERENCE,
        hangs=True,
        EventBus=HangingPublishBus,
    ),
    mutant(
        "stop-worker-blocks-the-loop",
        "WRK-2",
        "stop_worker waits on a threading.Event inside the coroutine, blocking the loop's thread",
        REFERENCE,
        hangs=True,
        EventBus=LoopBlockingStopBus,
    ),
)

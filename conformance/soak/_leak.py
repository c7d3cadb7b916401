"""The leak check: subscribe/publish/unsubscribe cycles under tracemalloc, and the memory they leave behind."""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..adapter import BoundBus, Implementation
from ._options import Options
from ._producers import Shared, soak_events

LEAK_WARMUP = 1_000
"""Churn cycles run before the leak check's first measurement, so that caches and free lists settle."""
LEAK_BYTES_PER_CYCLE = 1.0
LEAK_FLOOR = 64 * 1024
"""The leak check fails when memory grew by more than the larger of these (per cycle, in all)."""


@dataclass
class LeakCheck:
    """The memory that subscribe/publish/unsubscribe cycles leave behind, traced by tracemalloc."""

    planned: int
    cycles: int = 0
    before: int = 0
    """Bytes traced after the warm-up, after a full collection."""
    after: int = 0
    """Bytes traced after the cycles, after a full collection."""
    skipped: str | None = None
    error: str | None = None
    top: list[str] = field(default_factory=list)
    """The allocation sites that grew most, when the check fails."""

    @property
    def growth(self) -> int:
        """Bytes traced after the cycles minus before them."""
        return self.after - self.before

    @property
    def per_cycle(self) -> float:
        """The growth per cycle measured."""
        return self.growth / self.cycles if self.cycles else 0.0

    @property
    def limit(self) -> float:
        """The growth above which the check fails."""
        return max(LEAK_FLOOR, LEAK_BYTES_PER_CYCLE * self.cycles)

    @property
    def leaked(self) -> bool:
        """True when the check ran and memory grew beyond `limit`."""
        return self.skipped is None and self.error is None and self.growth > self.limit


async def check_leaks(
    impl: Implementation,
    options: Options,
    shared: Shared,
    leak: LeakCheck,
    deadline: float,
    bounded: Callable[[Callable[[], Awaitable[Any]], str], Awaitable[bool]],
) -> None:
    """Subscribe, publish to and unsubscribe a fresh handler, many times, under tracemalloc; the outcome in `leak`.

    `bounded` calls and awaits a call of the bus, recording it as a failure if it raises or hangs.
    """
    if not options.leak_cycles:
        leak.skipped = "--leak-cycles=0"
        return
    if time.monotonic() > deadline:
        leak.skipped = "the duration limit was reached"
        return
    if "unsubscribe" not in impl.capabilities:
        leak.skipped = f"{impl.name} does not declare unsubscribe"
        return
    try:
        raw = impl.new_bus()
        event_type, make = soak_events(impl, "LeakEvent")
        event = make(0, 0)
    except Exception as exc:
        leak.error = f"making the bus raised {type(exc).__name__}: {exc}"
        return
    bus = BoundBus(impl, raw)
    shared.phase = "leak check"
    calls = [0]

    async def cycle() -> None:
        def handler(event: Any) -> None:
            calls[0] += 1

        impl.add_handler(raw, event_type, handler, policy="INLINE")
        await bus.publish(event)
        bus.unsubscribe(event_type, handler)

    tracing = tracemalloc.is_tracing()
    try:
        for _ in range(min(LEAK_WARMUP, options.leak_cycles)):
            await cycle()
        if not tracing:
            tracemalloc.start()
        calls[0] = 0
        gc.collect()
        leak.before = tracemalloc.get_traced_memory()[0]
        baseline = tracemalloc.take_snapshot() if not tracing else None
        for i in range(1, options.leak_cycles + 1):
            await cycle()
            leak.cycles = shared.leak_cycles = i
            if i % 1000 == 0:
                shared.beat = time.monotonic()
                if calls[0] != i:
                    leak.error = (
                        f"unsubscribe did not remove the handler: after {i:,} cycles the handlers ran "
                        f"{calls[0]:,} times, not {i:,}"
                    )
                    break
                if shared.beat > deadline:
                    break
                await asyncio.sleep(0)
        gc.collect()
        # The baseline snapshot is held throughout, so it counts in both figures alike.
        leak.after = tracemalloc.get_traced_memory()[0]
        if leak.leaked and baseline is not None:
            grown = tracemalloc.take_snapshot().compare_to(baseline, "lineno")
            leak.top = [str(stat) for stat in grown[:3] if stat.size_diff > 0]
    except Exception as exc:
        leak.error = f"{type(exc).__name__}: {exc}"
    finally:
        if not tracing:
            tracemalloc.stop()
    await bounded(lambda: impl.close_bus(raw), "close_bus (leak check)")

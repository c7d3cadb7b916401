"""The hostile buses: the alternative bus with one method that attacks the run."""

from __future__ import annotations

import asyncio
import ctypes
import importlib
import os
import threading
import time
from typing import Any

import tests.alt_impl.event_bus as alt
from tests.mutants.base import ALT, Mutant, mutant

ONCE_ENV = "HOSTILE_ONCE"
"""Names a file: a "once" behaviour happens only in the process that creates it."""


def once() -> bool:
    """True the first time in the run (see the package docstring); always True without `HOSTILE_ONCE`."""
    path = os.environ.get(ONCE_ENV)
    if not path:
        return True
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def never_returns() -> None:
    """Block for ever."""
    threading.Event().wait()


class Exit0Bus(alt.EventBus):
    """`publish` ends the process with `os._exit(0)` on one event: no summary, and a success status."""

    async def publish(self, event: alt.Event) -> None:
        if once():
            os._exit(0)
        await super().publish(event)


class Exit3Bus(alt.EventBus):
    """`publish` ends the process with `os._exit(3)` on one event."""

    async def publish(self, event: alt.Event) -> None:
        if once():
            os._exit(3)
        await super().publish(event)


class SegfaultBus(alt.EventBus):
    """`publish` dereferences a null pointer on one event: the process dies of SIGSEGV."""

    async def publish(self, event: alt.Event) -> None:
        if once():
            ctypes.string_at(0)
        await super().publish(event)


class ThreadLeftBus(alt.EventBus):
    """`publish` starts, once, a non-daemon thread that never ends and is never stopped."""

    async def publish(self, event: alt.Event) -> None:
        if once():
            threading.Thread(target=never_returns, name="hostile-never-ending-thread", daemon=False).start()
        await super().publish(event)


class ExecutorJobLeftBus(alt.EventBus):
    """`publish` puts, once, a job that never ends into the loop's default executor, without awaiting it."""

    async def publish(self, event: alt.Event) -> None:
        if once():
            asyncio.get_running_loop().run_in_executor(None, never_returns)
        await super().publish(event)


class FastClockLoop(asyncio.SelectorEventLoop):
    """A loop whose clock runs a million times too fast: every timeout fires at once."""

    def time(self) -> float:
        return 1_000_000 * time.monotonic()


class FastClockPolicy(asyncio.DefaultEventLoopPolicy):
    """A global policy whose loops are `FastClockLoop`s."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return FastClockLoop()


class FastClockPolicyBus(alt.EventBus):
    """Creating a bus installs a global event-loop policy whose loops' clock runs a million times too fast."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not isinstance(asyncio.get_event_loop_policy(), FastClockPolicy):
            asyncio.set_event_loop_policy(FastClockPolicy())
        super().__init__(*args, **kwargs)


def exit_at_load() -> Any:
    """An adapter factory that ends the process with `os._exit(3)` while the kit loads it: before any test."""
    os._exit(3)


def policy_at_load() -> Any:
    """An adapter factory that installs the fast-clock policy as the kit loads it, then gives the alternative bus."""
    from conformance.adapter import ModuleAdapter

    asyncio.set_event_loop_policy(FastClockPolicy())
    return ModuleAdapter(importlib.import_module(ALT), name="policy-at-load")


HOSTILE: tuple[Mutant, ...] = (
    mutant("exit-0", "PUB-1", "a handler path calls os._exit(0) on one event", ALT, EventBus=Exit0Bus),
    mutant("exit-3", "PUB-1", "a handler path calls os._exit(3) on one event", ALT, EventBus=Exit3Bus),
    mutant("segfault", "PUB-1", "a handler path segfaults on one event", ALT, EventBus=SegfaultBus),
    mutant("thread-left", "PUB-1", "a non-daemon thread left running for ever", ALT, EventBus=ThreadLeftBus),
    mutant("executor-job-left", "PUB-1", "a default-executor job that never ends", ALT, EventBus=ExecutorJobLeftBus),
    mutant(
        "fast-clock-policy",
        "PUB-1",
        "a global loop policy with a clock a million times too fast",
        ALT,
        EventBus=FastClockPolicyBus,
    ),
)
"""Each hostile bus, with the rule of the first selected test (where the behaviour shows)."""

BY_ATTR = {m.attr: m for m in HOSTILE}

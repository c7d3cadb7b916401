"""The loops the kit runs tests on, built by the kit itself, and a watch on the global loop policy.

`asyncio.new_event_loop()` asks the global event-loop policy for a loop, and a bus
can replace that policy (`asyncio.set_event_loop_policy`, `uvloop.install()`): the
user who asked for `--loop=asyncio` would then test on whatever loop the bus chose.
So the kit instantiates the loop class itself, and says when the policy changed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

LOOPS = ("asyncio", "uvloop")
"""The event loops `--loop` accepts."""


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A function making a new event loop of kind `name`, whatever the global policy says."""
    if name == "asyncio":
        # The class the default policy would pick on this platform, named directly.
        if sys.platform == "win32":  # pragma: no cover - the kit is tested on POSIX
            return asyncio.ProactorEventLoop
        return asyncio.SelectorEventLoop
    if name == "uvloop":
        try:
            import uvloop
        except ImportError as exc:
            raise RuntimeError("--loop=uvloop needs uvloop: pip install uvloop") from exc
        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.Loop
        return factory
    raise ValueError(f"unknown loop {name!r}; choose one of {', '.join(LOOPS)}")


def _describe(policy: object) -> str:
    cls = type(policy)
    return f"{cls.__module__}.{cls.__qualname__}"


class PolicyWatch:
    """Notices when the global event-loop policy is replaced, once per replacement."""

    def __init__(self) -> None:
        self._seen = asyncio.get_event_loop_policy()

    def changed(self) -> str | None:
        """A sentence saying the policy was replaced since the last look, or None."""
        now = asyncio.get_event_loop_policy()
        if now is self._seen:
            return None
        before, self._seen = self._seen, now
        return (
            f"the implementation replaced the global event-loop policy ({_describe(before)} -> {_describe(now)}); "
            "the kit builds its loops itself, so the tests still ran on the loop asked for with --loop"
        )


POLICY = PolicyWatch()
"""The process's watch, taken when the kit is imported (before any implementation is)."""

"""The README's reference example and the tinybus worked example, exercised directly with pytest-asyncio.

The conformance suite runs on the kit's own bounded runner; the project's own async
tests, like these, use pytest-asyncio (strict mode, from pyproject.toml).
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from reference.event_bus import Event, EventBus, ExecPolicy


def _tinybus() -> type:
    """`examples/standalone/tinybus.py`'s TinyBus, loaded from its file (the example is no package)."""
    path = Path(__file__).resolve().parent.parent / "examples" / "standalone" / "tinybus.py"
    spec = importlib.util.spec_from_file_location("tinybus_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bus_class: type = module.TinyBus
    return bus_class


TinyBus = _tinybus()


@dataclass
class UserCreated(Event):
    user_id: int


@pytest.mark.asyncio
async def test_the_readmes_reference_example_delivers_inline_and_in_a_thread() -> None:
    bus = EventBus()
    seen: list[tuple[str, int, bool]] = []
    loop_thread = threading.get_ident()
    bus.subscribe(UserCreated, lambda e: seen.append(("inline", e.user_id, threading.get_ident() == loop_thread)))
    bus.subscribe(
        UserCreated,
        lambda e: seen.append(("in a thread", e.user_id, threading.get_ident() == loop_thread)),
        policy=ExecPolicy.THREADPOOL,
    )
    await bus.publish(UserCreated(1))
    await bus.aclose()  # drains: the thread-pool handler has run by now
    assert sorted(seen) == [("in a thread", 1, False), ("inline", 1, True)]


@pytest.mark.asyncio
async def test_tinybus_awaits_foreground_handlers_and_not_background_ones() -> None:
    bus = TinyBus()
    release = asyncio.Event()
    calls: list[str] = []

    async def foreground(event: object) -> None:
        await asyncio.sleep(0)
        calls.append("foreground")

    async def background(event: object) -> None:
        await release.wait()
        calls.append("background")

    bus.on(UserCreated, foreground)
    bus.on(UserCreated, background, background=True)
    await asyncio.wait_for(bus.emit(UserCreated(1)), 2)
    assert calls == ["foreground"]  # emit returned while the background handler waits
    release.set()
    for _ in range(100):
        if "background" in calls:
            break
        await asyncio.sleep(0)
    assert calls == ["foreground", "background"]
    with pytest.raises(TypeError, match="callable"):
        bus.on(UserCreated, 42)  # type: ignore[arg-type]

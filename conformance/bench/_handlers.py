"""The events, handlers and untimed clean-up that the case families share."""

from __future__ import annotations

import asyncio
import logging
import types
from collections.abc import Callable, Coroutine, Generator, Sequence
from typing import Any, cast

from ..adapter import ContainerSupport, Implementation
from ._case import CHECK_TIMEOUT, BenchError, NotMeasured

log = logging.getLogger("conformance.bench")


class Count:
    """A counter the counting handlers share: `n` runs so far."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


class PlainEvent:
    """The baselines' event: any object will do, as the handlers ignore it."""


@types.coroutine
def one_turn() -> Generator[None, None, None]:
    """Let the loop run everything that is ready once (what `asyncio.sleep(0)` does, minus its wrapper)."""
    yield


def new_event_type(impl: Implementation) -> Any:
    """A new subclass of the implementation's event type, for one bus or one case."""
    return type("BenchEvent", (impl.event_type,), {})


# Distinct function objects: a bus may keep a function only once per event type.
def noop_sync() -> Callable[[Any], None]:
    """A new sync handler that does nothing."""

    def handler(event: Any) -> None:
        return None

    return handler


def noop_async() -> Callable[[Any], Coroutine[Any, Any, None]]:
    """A new async handler that does nothing."""

    async def handler(event: Any) -> None:
        return None

    return handler


def counting_sync(count: Count) -> Callable[[Any], None]:
    """A new sync handler that counts its runs in `count`."""

    def handler(event: Any) -> None:
        count.n += 1

    return handler


def counting_async(count: Count) -> Callable[[Any], Coroutine[Any, Any, None]]:
    """A new async handler that counts its runs in `count`."""

    async def handler(event: Any) -> None:
        count.n += 1

    return handler


async def closing(impl: Implementation, bus: Any) -> None:
    """Close a bus, untimed; a failure is logged rather than raised."""
    try:
        await asyncio.wait_for(impl.close_bus(bus), CHECK_TIMEOUT)
    except Exception as exc:  # closing is untimed; a failure to close must not hide the figure
        log.warning("%s: closing a bus failed: %r", impl.name, exc)


def container_support(impl: Implementation) -> ContainerSupport:
    """The container calls of an implementation that claims the container profile; `NotMeasured` for any other."""
    if "container" not in impl.profiles:
        raise NotMeasured(f"{impl.name} does not claim the container profile")
    return cast(ContainerSupport, impl)


async def close_containers(impl: Implementation, containers: Sequence[Any]) -> None:
    """Close containers, untimed; a failure is logged rather than raised."""
    for container in containers:
        try:
            await asyncio.wait_for(cast(ContainerSupport, impl).close_container(container), CHECK_TIMEOUT)
        except Exception as exc:
            log.warning("%s: closing a container failed: %r", impl.name, exc)


def expect(what: str, expected: object, got: object) -> None:
    """Raise `BenchError` unless `got` is what the case expected."""
    if got != expected:
        raise BenchError(f"{what}: expected {expected!r}, got {got!r}")

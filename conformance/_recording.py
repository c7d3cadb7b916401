"""Recording handler calls: `Recorder`, and handlers of every callable kind and duration."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .adapter import PolicyName
    from .kit import Kit


@dataclass(frozen=True)
class Call:
    """One call of a handler, as a recorder saw it."""

    label: str
    event: Any
    thread: int
    on_loop_thread: bool
    task: asyncio.Task[Any] | None


@dataclass(frozen=True)
class HandlerKind:
    """One kind of callable a bus must accept as a handler (SPEC.md, Terms: *Handler*)."""

    kind: str
    """What it is: "function", "bound method", "partial", "async callable object", ..."""
    fn: Callable[[Any], Any]
    """The handler; it records its call under `label`."""
    label: str
    is_async: bool


@dataclass
class Recorder:
    """A thread-safe log of handler calls that the test can wait on."""

    kit: Kit
    keeps_tasks: bool = True
    """Whether each call keeps the task it ran in (`Call.task`); off for tests of what keeps tasks alive."""
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _waiters: list[tuple[Callable[[list[Call]], bool], Any]] = field(default_factory=list)

    def record(self, label: str, event: Any = None) -> None:
        """Note a call of handler `label` with `event`, from whatever thread runs it."""
        on_loop = threading.get_ident() == self.kit.loop_thread_id
        task: asyncio.Task[Any] | None = None
        if on_loop and self.keeps_tasks:
            try:
                task = asyncio.current_task()
            except RuntimeError:
                task = None
        call = Call(label, event, threading.get_ident(), on_loop, task)
        with self._lock:
            self.calls.append(call)
            snapshot = list(self.calls)
            ready = [gate for pred, gate in self._waiters if pred(snapshot)]
        for gate in ready:
            gate.open()

    def labels(self) -> list[str]:
        """The labels of the calls so far, in the order they were recorded."""
        with self._lock:
            return [c.label for c in self.calls]

    def count(self, label: str | None = None) -> int:
        """How many calls so far (of `label`, if given)."""
        with self._lock:
            return sum(1 for c in self.calls if label is None or c.label == label)

    def of(self, label: str) -> list[Call]:
        """The calls of handler `label`."""
        with self._lock:
            return [c for c in self.calls if c.label == label]

    async def until(self, predicate: Callable[[list[Call]], bool], what: str) -> bool:
        """Wait on the loop until `predicate(calls)` holds; False after the bound."""
        gate = self.kit.gate(what)
        with self._lock:
            if predicate(list(self.calls)):
                return True
            self._waiters.append((predicate, gate))
        return await gate.wait()

    async def until_count(self, n: int, label: str | None = None) -> bool:
        """Wait until at least `n` calls (of `label`) were recorded; False after the bound."""
        return await self.until(
            lambda calls: sum(1 for c in calls if label is None or c.label == label) >= n,
            f"{n} calls of {label or 'any handler'}",
        )

    def register_kinds(
        self, bus: Any, event_type: Any, kinds: list[HandlerKind], policy: PolicyName | None = None
    ) -> list[HandlerKind]:
        """Register each of `kinds` for `event_type` on `bus`; the kinds the bus accepted, in order.

        For tests of rules other than PUB-1: a kind the bus refuses to subscribe is PUB-1's finding
        (`test_every_kind_of_handler_receives_each_event`), so such a test goes on without it.
        """
        kit = self.kit

        def refused(kind: HandlerKind) -> bool:
            return kit.raised_now(lambda: kit.add(bus, event_type, kind.fn, policy=policy)) is not None

        return [kind for kind in kinds if not refused(kind)]

    # -- handlers -------------------------------------------------------------

    def sync_handler(self, label: str, then: Callable[[Any], Any] | None = None) -> Callable[[Any], Any]:
        """A plain `def` handler that records its call, then runs `then(event)`."""

        def handler(event: Any) -> Any:
            self.record(label, event)
            return then(event) if then is not None else None

        handler.__name__ = handler.__qualname__ = f"sync_{label}"
        return handler

    def async_handler(
        self, label: str, then: Callable[[Any], Awaitable[Any]] | None = None
    ) -> Callable[[Any], Awaitable[Any]]:
        """An `async def` handler that records its call, then awaits `then(event)`."""

        async def handler(event: Any) -> Any:
            self.record(label, event)
            return await then(event) if then is not None else None

        handler.__name__ = handler.__qualname__ = f"async_{label}"
        return handler

    def slow_async_handler(self, label: str, seconds: float, steps: int = 10) -> Callable[[Any], Awaitable[None]]:
        """An `async def` handler that takes `seconds` over `steps` suspensions, then records `label`.

        It really takes the time, across many loop iterations, so a bus that
        awaits it with a hidden timeout cuts it short and the call is missing.
        """

        async def handler(event: Any) -> None:
            for _ in range(steps):
                await asyncio.sleep(seconds / steps)
            self.record(label, event)

        handler.__name__ = handler.__qualname__ = f"slow_async_{label}"
        return handler

    def slow_sync_handler(self, label: str, seconds: float, steps: int = 10) -> Callable[[Any], None]:
        """A `def` handler that blocks its thread for `seconds` in `steps` sleeps, then records `label`."""

        def handler(event: Any) -> None:
            for _ in range(steps):
                time.sleep(seconds / steps)
            self.record(label, event)

        handler.__name__ = handler.__qualname__ = f"slow_sync_{label}"
        return handler

    def every_kind(
        self,
        prefix: str = "",
        *,
        sync: bool = True,
        is_async: bool = True,
        then: Callable[[str, Any], None] | None = None,
        then_async: Callable[[str, Any], Awaitable[None]] | None = None,
    ) -> list[HandlerKind]:
        """One handler of each callable kind, each recording its call under `prefix + kind`, then running `then`.

        Sync: function, lambda, bound method, static method, `functools.partial`,
        object with `__call__`. Async (SPEC.md, Terms: calling it returns a
        coroutine): `async def` function, bound method, `functools.partial` of
        one, object with `async def __call__`, and two plain callables that
        return a coroutine: a `def` wrapper (`functools.wraps`) around an
        `async def`, and a lambda. `then(label, event)`, if given, runs after the
        call is recorded (an async handler's, after a suspension): to raise, say.
        `then_async(label, event)`, if given, is awaited by the async kinds after
        that: to hold them on a gate, say.
        """
        rec = self

        def note(label: str, event: Any) -> None:
            rec.record(label, event)
            if then is not None:
                then(label, event)

        async def held(label: str, event: Any) -> None:
            await asyncio.sleep(0)
            note(label, event)
            if then_async is not None:
                await then_async(label, event)

        kinds: list[HandlerKind] = []

        class Listener:
            def __init__(self, tag: str) -> None:
                self.tag = tag

            def on_event(self, event: Any) -> None:
                note(self.tag, event)

            async def on_event_async(self, event: Any) -> None:
                await held(self.tag, event)

            @staticmethod
            def static(event: Any) -> None:
                note(f"{prefix}static method", event)

        class SyncCallable:
            def __call__(self, event: Any) -> None:
                note(f"{prefix}callable object", event)

        class AsyncCallable:
            async def __call__(self, event: Any) -> None:
                await held(f"{prefix}async callable object", event)

        def function(event: Any) -> None:
            note(f"{prefix}function", event)

        def labelled(label: str, event: Any) -> None:
            note(label, event)

        async def async_function(event: Any) -> None:
            await held(f"{prefix}async function", event)

        async def async_labelled(label: str, event: Any) -> None:
            await held(label, event)

        async def notify(event: Any) -> None:
            await held(f"{prefix}def returning coroutine", event)

        @functools.wraps(notify)  # what a plain `def` decorator around an `async def` handler makes
        def wrapper(event: Any) -> Awaitable[None]:
            return notify(event)

        if sync:
            kinds += [
                HandlerKind("function", function, f"{prefix}function", False),
                HandlerKind("lambda", lambda event: note(f"{prefix}lambda", event), f"{prefix}lambda", False),
                HandlerKind("bound method", Listener(f"{prefix}bound method").on_event, f"{prefix}bound method", False),
                HandlerKind("static method", Listener.static, f"{prefix}static method", False),
                HandlerKind("partial", functools.partial(labelled, f"{prefix}partial"), f"{prefix}partial", False),
                HandlerKind("callable object", SyncCallable(), f"{prefix}callable object", False),
            ]
        if is_async:
            kinds += [
                HandlerKind("async function", async_function, f"{prefix}async function", True),
                HandlerKind(
                    "async bound method",
                    Listener(f"{prefix}async bound method").on_event_async,
                    f"{prefix}async bound method",
                    True,
                ),
                HandlerKind(
                    "async partial",
                    functools.partial(async_labelled, f"{prefix}async partial"),
                    f"{prefix}async partial",
                    True,
                ),
                HandlerKind("async callable object", AsyncCallable(), f"{prefix}async callable object", True),
                # Async by what calling them returns, not by how they are defined (SPEC.md, Terms).
                HandlerKind("def returning coroutine", wrapper, f"{prefix}def returning coroutine", True),
                HandlerKind(
                    "lambda returning coroutine",
                    lambda event: async_labelled(f"{prefix}lambda returning coroutine", event),
                    f"{prefix}lambda returning coroutine",
                    True,
                ),
            ]
        return kinds

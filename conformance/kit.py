"""What a conformance test holds: the `Kit` fixture, gates, recorders, and rule failures.

Every wait here has a bound. A test never sleeps to decide an order: it opens a
gate, or waits for a checkpoint that the code under test passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from .adapter import Implementation, PolicyName
from .rules import RULES, Rule

T = TypeVar("T")

DEFAULT_BOUND = 2.0
"""Seconds any single wait may take before the test fails (`--bound` changes it)."""


FailureKind = Literal["assertion", "hang", "crash"]
"""How a test failed: a check did not hold, a call did not return in time, or something raised."""


class RuleViolation(AssertionError):
    """A conformance failure: which rule, what was expected, what happened."""

    def __init__(self, rule: Rule, expected: str, observed: str, kind: FailureKind = "assertion") -> None:
        self.rule = rule
        self.expected = expected
        self.observed = observed
        self.kind = kind
        super().__init__(f"[{rule.id}] {rule.title} ({rule.level})\n  expected: {expected}\n  observed: {observed}")


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
        if _on_thread_of(self._loop):
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


def _on_thread_of(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


@dataclass(frozen=True)
class Call:
    """One call of a handler, as a recorder saw it."""

    label: str
    event: Any
    thread: int
    on_loop_thread: bool
    task: asyncio.Task[Any] | None


@dataclass
class Recorder:
    """A thread-safe log of handler calls that the test can wait on."""

    kit: Kit
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _waiters: list[tuple[Callable[[list[Call]], bool], Gate]] = field(default_factory=list)

    def record(self, label: str, event: Any = None) -> None:
        """Note a call of handler `label` with `event`, from whatever thread runs it."""
        on_loop = threading.get_ident() == self.kit.loop_thread_id
        task: asyncio.Task[Any] | None = None
        if on_loop:
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


class _LogCapture(logging.Handler):
    """Keeps every log record of the test and opens gates waiting for a matching one."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._guard = threading.Lock()
        self._waiters: list[tuple[Callable[[logging.LogRecord], bool], Gate]] = []

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self.records.append(record)
            ready = [gate for pred, gate in self._waiters if pred(record)]
        for gate in ready:
            gate.open()

    def snapshot(self) -> list[logging.LogRecord]:
        with self._guard:
            return list(self.records)

    def watch(self, predicate: Callable[[logging.LogRecord], bool], gate: Gate) -> None:
        """Open `gate` when a record matching `predicate` arrives (or has arrived)."""
        with self._guard:
            if any(predicate(r) for r in self.records):
                gate.open()
            else:
                self._waiters.append((predicate, gate))


def exception_chain(exc: BaseException | None) -> Iterable[BaseException]:
    """`exc`, its causes and contexts, and the members of exception groups, once each."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc] if exc is not None else []
    while todo:
        cur = todo.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        for nxt in (cur.__cause__, cur.__context__):
            if nxt is not None:
                todo.append(nxt)
        todo.extend(getattr(cur, "exceptions", ()) or ())


def describe(exc: BaseException) -> str:
    """`TypeName('message')`, for failure messages."""
    return f"{type(exc).__name__}({str(exc)!r})"


class Kit:
    """The fixture every conformance test receives: the implementation, helpers, and its rule.

    It knows which rule the running test checks, so `fail` and `check` name it, and
    it tracks what the test starts (buses, containers, threads) so that teardown
    can stop it all.
    """

    def __init__(self, impl: Implementation, rule: Rule, bound: float = DEFAULT_BOUND) -> None:
        self.impl = impl
        self.rule = rule
        self.bound = bound
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread_id: int | None = None
        self._buses: list[Any] = []
        self._containers: list[Any] = []
        self._threads: list[threading.Thread] = []
        self._logs = _LogCapture()

    # -- the implementation's names ------------------------------------------------

    @property
    def Event(self) -> Any:  # noqa: N802 - mirrors the documented name
        """The implementation's `Event` base class."""
        return self.impl.event_type

    @property
    def EventBus(self) -> Any:  # noqa: N802 - mirrors the documented name
        """The implementation's `EventBus` class (for constructor annotations)."""
        return self.impl.bus_type

    @property
    def AutoSubscriberMixin(self) -> Any:  # noqa: N802 - mirrors the documented name
        """The implementation's `AutoSubscriberMixin`."""
        return self.impl.mixin

    def event_class(self, name: str, base: Any = None) -> Any:
        """A new event class called `name`, subclassing `base` or the implementation's `Event`."""
        return type(name, (base if base is not None else self.impl.event_type,), {})

    def numbered_event(self, name: str = "Numbered") -> Any:
        """A new frozen dataclass event with one field `n`, so messages can say which event it was."""
        return dataclasses.make_dataclass(name, [("n", int)], bases=(self.impl.event_type,), frozen=True)

    def error_class(self, name: str) -> type[BaseException]:
        """The implementation's exception class `name`; the test fails if it has none."""
        cls = self.impl.error(name)
        if cls is None:
            self.fail(
                f"the bus module (or its package) exports an exception class called {name}",
                f"{self.impl.name} has no exception class of that name",
            )
        assert cls is not None  # fail raised
        return cls

    def on(self, event_type: Any, **options: Any) -> Callable[[T], T]:
        """The implementation's `@subscribe(event_type, ...)` decorator.

        `policy` may be given by name ("INLINE", "TASK", "THREADPOOL").
        """
        if isinstance(options.get("policy"), str):
            options["policy"] = self.impl.policy(options["policy"])
        decorator: Callable[[T], T] = self.impl.subscribe_decorator(event_type, **options)
        return decorator

    # -- building things -----------------------------------------------------------

    def new_bus(self, **options: Any) -> Any:
        """A fresh bus (closed at teardown); options such as `max_queue_size` pass through."""
        bus = self.impl.new_bus(**options)
        self._buses.append(bus)
        return bus

    def add(
        self,
        bus: Any,
        event_type: Any,
        fn: Callable[..., Any],
        policy: PolicyName | None = None,
        **options: Any,
    ) -> None:
        """Register `fn` for `event_type` on `bus` (policy by name; None means the default)."""
        self.impl.add_handler(bus, event_type, fn, policy=policy, **options)

    def container(self, *components: type) -> Any:
        """A container holding the bus and `components` (cleaned up at teardown)."""
        container = self.impl.new_container(components)
        self._containers.append(container)
        return container

    def gate(self, name: str) -> Gate:
        """A gate bound to this test's loop and bound."""
        assert self.loop is not None, "gates are made inside the test's coroutine"
        return Gate(name, self.loop, self.bound)

    def recorder(self) -> Recorder:
        """A fresh recorder of handler calls."""
        return Recorder(self)

    def thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Start a daemon thread that teardown joins (with a bound)."""
        t = threading.Thread(target=target, name=f"conformance-{name}", daemon=True)
        self._threads.append(t)
        t.start()
        return t

    async def join(self, thread: threading.Thread, what: str) -> None:
        """Wait, without blocking the loop, until `thread` ends; fail naming `what` if it does not."""
        done = self.gate(f"thread {thread.name} ended")

        def watch() -> None:
            thread.join(self.bound)
            if not thread.is_alive():
                done.open()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        if not await done.wait():
            self.fail(what, f"still not done after {self.bound:g} s", kind="hang")

    # -- checking ----------------------------------------------------------------

    def fail(self, expected: str, observed: str, rule: str | None = None, kind: FailureKind = "assertion") -> None:
        """Fail the test for its rule (or `rule`), saying what was expected and what happened."""
        __tracebackhide__ = True
        raise RuleViolation(RULES[rule] if rule else self.rule, expected, observed, kind)

    def check(self, condition: object, expected: str, observed: str) -> None:
        """`fail(expected, observed)` unless `condition` holds."""
        __tracebackhide__ = True
        if not condition:
            self.fail(expected, observed)

    async def within(self, awaitable: Awaitable[T], what: str) -> T:
        """Await `awaitable`, failing with `what` if it takes longer than the bound."""
        __tracebackhide__ = True
        try:
            return await asyncio.wait_for(awaitable, self.bound)
        except asyncio.TimeoutError:
            pass
        self.fail(
            what, f"still not done after {self.bound:g} s (it hangs or waits for something it should not)", kind="hang"
        )
        raise AssertionError("unreachable")

    async def raised(self, call: Callable[[], Awaitable[Any]], what: str) -> Exception | None:
        """Await `call()` within the bound; the exception it raised (calling or awaiting), or None."""
        __tracebackhide__ = True
        try:
            await self.within(call(), what)
        except RuleViolation:
            raise
        except Exception as exc:
            return exc
        return None

    @staticmethod
    def raised_now(call: Callable[[], Any]) -> Exception | None:
        """Call `call()`; the exception it raised, or None."""
        try:
            call()
        except Exception as exc:
            return exc
        return None

    async def raised_in_thread(self, call: Callable[[], Any], what: str) -> Exception | None:
        """Run `call()` on a new thread (it may block); the exception it raised there, or None."""
        box: list[Exception | None] = []
        thread = self.thread(lambda: box.append(self.raised_now(call)), "caller")
        await self.join(thread, what)
        return box[0]

    async def reached(self, gate: Gate, expected: str) -> None:
        """Fail unless `gate` opens within the bound."""
        __tracebackhide__ = True
        if not await gate.wait():
            self.fail(expected, f"{gate.name!r} did not happen within {self.bound:g} s")

    async def settle(self, turns: int = 20) -> None:
        """Let the loop run `turns` rounds of ready callbacks.

        This decides no order: it only lets work that was already scheduled (a
        duplicate call, say) show itself before the test counts calls.
        """
        for _ in range(turns):
            await asyncio.sleep(0)

    # -- logs ---------------------------------------------------------------------

    def error_logs_with(self, exc: BaseException) -> list[logging.LogRecord]:
        """Log records at ERROR or above whose attached exception chain contains `exc`."""
        return [r for r in self._logs.snapshot() if _logs_error(r, exc)]

    def log_summary(self) -> str:
        """The captured log records, one short line each, for failure messages."""
        recs = self._logs.snapshot()
        if not recs:
            return "nothing was logged"
        return "; ".join(
            f"{r.levelname} {r.name}: {r.getMessage()[:80]!r}"
            + (f" with {describe(r.exc_info[1])}" if r.exc_info and r.exc_info[1] else " (no exception attached)")
            for r in recs[:5]
        )

    async def logged(self, exc: BaseException) -> bool:
        """Wait until `exc` is logged at ERROR with the exception attached; False after the bound."""
        gate = self.gate(f"{describe(exc)} logged")
        self._logs.watch(lambda r: _logs_error(r, exc), gate)
        return await gate.wait()

    # -- lifecycle (driven by the runner) ------------------------------------------

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the test's loop; called by the runner on the loop's thread."""
        self.loop = loop
        self.loop_thread_id = threading.get_ident()
        logging.getLogger().addHandler(self._logs)

    async def teardown(self) -> list[str]:
        """Stop what the test started; return what could not be stopped, one line each."""
        problems: list[str] = []
        for container in reversed(self._containers):
            problems += await self._bounded(self.impl.close_container(container), "container shutdown")
        for bus in reversed(self._buses):
            problems += await self._bounded(self.impl.close_bus(bus), "bus shutdown")
        for t in self._threads:
            t.join(self.bound)
            if t.is_alive():
                problems.append(f"thread {t.name} still running")
        logging.getLogger().removeHandler(self._logs)
        return problems

    async def _bounded(self, aw: Awaitable[Any], what: str) -> list[str]:
        try:
            await asyncio.wait_for(aw, self.bound)
        except asyncio.TimeoutError:
            return [f"{what} did not finish within {self.bound:g} s"]
        except Exception as exc:  # teardown reports, the test has already spoken
            return [f"{what} raised {describe(exc)}"]
        return []


def _logs_error(record: logging.LogRecord, exc: BaseException) -> bool:
    if record.levelno < logging.ERROR or not record.exc_info:
        return False
    return any(e is exc for e in exception_chain(record.exc_info[1]))

"""The `Kit` fixture every conformance test receives: the implementation's names, helpers, and its rule.

The pieces live in small modules by concern and are re-exported here:
`_checks` (failing, bounded waits, loop-iteration and exactly-once checks),
`_failures` (RuleViolation, exception chains), `_sync` (gates, time scales),
`_recording` (Recorder, handlers of every kind), `_logs` (log capture) and
`_paths` (publish and post + worker). Every wait has a bound; a test never
sleeps to decide an order.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._checks import Checks, Outcome
from ._failures import FailureKind, RuleViolation, describe, exception_chain
from ._handle import BusHandle
from ._logs import LogCapture, logs_error
from ._paths import PATHS, Dispatch, PathName
from ._recording import Call, HandlerKind, Recorder
from ._sync import DEFAULT_BOUND, PROMPT_TURNS, Gate, patience
from .adapter import Implementation, PolicyName
from .capabilities import Unsupported
from .domain import Observations, ObservedRecorder
from .rules import Rule

BACKGROUND_POLICIES: tuple[PolicyName, ...] = ("TASK", "THREADPOOL")

__all__ = [
    "DEFAULT_BOUND",
    "PATHS",
    "PROMPT_TURNS",
    "BusHandle",
    "Call",
    "Dispatch",
    "FailureKind",
    "Gate",
    "HandlerKind",
    "Kit",
    "Outcome",
    "PathName",
    "Recorder",
    "RuleViolation",
    "Unsupported",
    "describe",
    "exception_chain",
]

T = TypeVar("T")

_shared_classes: dict[tuple[str, str], type] = {}


class Kit(Checks):
    """The fixture every conformance test receives: the implementation, helpers, and its rule.

    It knows which rule the running test checks, so `fail` and `check` name it, and
    it tracks what the test starts (buses, containers, threads) so that teardown
    can stop it all.
    """

    def __init__(self, impl: Implementation, rule: Rule, bound: float = DEFAULT_BOUND) -> None:
        super().__init__(rule, bound)
        self.impl = impl
        self.patience = patience(bound)
        """Seconds that "waits for" handlers take in all (SPEC.md, Terms); see `slow_handlers`."""
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread_id: int | None = None
        self._buses: list[Any] = []
        self._containers: list[Any] = []
        self._threads: list[threading.Thread] = []
        self._thread_errors: list[tuple[str, BaseException]] = []
        self._logs = LogCapture()
        self.required: set[str] = set()
        """The capabilities the test asked for (`require`), declared or not."""
        self.optional: set[str] = set()
        """The capabilities the test asked about (`supports`): it uses them only where declared."""
        self.observed = Observations(rule.id)
        """The values of each domain dimension the test exercised (`conformance.domain`)."""

    # -- the implementation's names ------------------------------------------------

    @property
    def Event(self) -> Any:  # noqa: N802 - mirrors the documented name
        """The implementation's `Event` base class."""
        return self.impl.event_type

    @property
    def EventBus(self) -> Any:  # noqa: N802 - mirrors the documented name
        """The implementation's `EventBus` class (for constructor annotations); needs `container`."""
        self.require("container")
        return self._container_support.bus_type

    @property
    def AutoSubscriberMixin(self) -> Any:  # noqa: N802 - mirrors the documented name
        """The implementation's `AutoSubscriberMixin`; needs `container`."""
        self.require("container")
        return self._container_support.mixin

    @property
    def _container_support(self) -> Any:
        return self.impl

    # -- capabilities ----------------------------------------------------------------

    def supports(self, capability: str) -> bool:
        """Whether the implementation declares `capability` (`conformance.capabilities.CAPABILITIES`).

        A test that asks uses the capability only where it is declared: it is optional for the test.
        """
        self.optional.add(capability)
        return capability in self.impl.capabilities

    def policies(self) -> list[PolicyName]:
        """INLINE, then TASK and THREADPOOL where the implementation declares them (optional for the test)."""
        return ["INLINE", *(p for p in BACKGROUND_POLICIES if self.supports(p.lower()))]

    def background_policies(self) -> list[PolicyName]:
        """TASK and THREADPOOL, those the implementation declares (optional for the test)."""
        return [p for p in BACKGROUND_POLICIES if self.supports(p.lower())]

    def where_supported(self, **options: Any) -> dict[str, Any]:
        """`options` (`priority`, `once`) less those the implementation does not declare.

        For options a test uses incidentally: the rule it checks does not depend
        on them, so a bus without them is still judged on the rule.
        """
        return {name: value for name, value in options.items() if self.supports(name)}

    def require(self, capability: str) -> None:
        """Go on only if the implementation declares `capability`; else the test's verdict is *unsupported*."""
        __tracebackhide__ = True
        self.required.add(capability)
        if capability == "event_base":
            if self.impl.event_type is object:
                raise Unsupported(capability, f"{self.impl.name}'s events need no base class: any object is an event")
        elif capability not in self.impl.capabilities:
            raise Unsupported(capability, f"{self.impl.name} does not declare it")

    def event_class(self, name: str, base: Any = None, *, module: str | None = None) -> Any:
        """A new event class called `name`, with no fields, subclassing `base` or the implementation's `Event`.

        `module` sets its `__module__`: two classes of one name in two modules are
        two event types.
        """
        self.observed.exercise(
            event_shape="same class name in two modules"
            if module is not None
            else "single inheritance"
            if base is not None
            else "direct subclass of Event"
        )
        return self.impl.event_class(name, base=base, module=module)

    def fields_event(self, name: str, fields: list[tuple[str, type]], *, frozen: bool = False) -> Any:
        """A new event class with `fields` (keyword arguments), built the implementation's way (a dataclass)."""
        return self.impl.event_class(name, fields=fields, frozen=frozen)

    def numbered_event(self, name: str = "Numbered", *, frozen: bool = True) -> Any:
        """A new event class with one field `n` (`Num(n=1)`), so messages can say which event it was.

        Frozen, it is hashable; not frozen, it is equal by value and unhashable.
        """
        if not frozen:
            self.observed.exercise(event_shape="unhashable events")
        return self.impl.event_class(name, fields=[("n", int)], frozen=frozen)

    def odd_event(self, name: str = "Odd", base: Any = None, *, field: str = "n") -> Any:
        """An event class with one field (`n` unless `field` says) whose instances all compare equal and hash alike.

        A bus that dedupes, indexes or routes by equality or hash mixes its events up.
        """

        def __eq__(self: Any, other: object) -> bool:  # noqa: N807 - a method of the class made below
            return True

        def __hash__(self: Any) -> int:  # noqa: N807
            return 0

        def __repr__(self: Any) -> str:  # noqa: N807
            return f"{name}({field}={getattr(self, field)})"

        namespace = {"__eq__": __eq__, "__hash__": __hash__, "__repr__": __repr__}
        self.observed.exercise(event_shape="equal events")
        return self.impl.event_class(name, base=base, fields=[(field, object)], namespace=namespace)

    def shared_event_class(self, name: str) -> Any:
        """An event class made once per implementation and process, the same object in every test.

        Like an event class defined at module level: state a bus keeps per class
        must not leak from one bus or container to the next.
        """
        key = (self.impl.name, name)
        self.observed.exercise(event_shape="class shared across buses")
        if key not in _shared_classes:
            _shared_classes[key] = self.impl.event_class(name, fields=[("n", int)], frozen=True)
        return _shared_classes[key]

    def slow_handlers(self) -> float:
        """Declare that this test's handlers take `patience` seconds; returns it.

        Every wait of the test then allows that much more than the bound, so a
        conforming bus on a loaded machine is not failed by the time its handlers
        really take.
        """
        self.slack = self.patience
        return self.patience

    def error_class(self, name: str) -> type[BaseException]:
        """The implementation's exception class `name` (needs `error_classes`); the test fails if it has none."""
        self.require("error_classes")
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
        self.require("container")
        self._require_options(options)
        named = options.get("policy")
        if named is None or named in ("INLINE", "TASK", "THREADPOOL"):  # never raise for what the bus must refuse
            self.observed.exercise(policy=named or "INLINE")
        self.observed.exercise(registration=[o for o in ("priority", "once") if o in options] or ["plain"])
        if isinstance(options.get("policy"), str):
            options["policy"] = self.impl.policy(options["policy"])
        decorator: Callable[[T], T] = self._container_support.subscribe_decorator(event_type, **options)
        return decorator

    # -- building things -----------------------------------------------------------

    def new_bus(self, **options: Any) -> BusHandle:
        """A fresh bus (closed at teardown); `max_queue_size` needs `worker`, and `bounded_queue` unless it is 0."""
        if "max_queue_size" in options:
            self.require("worker")
        if options.get("max_queue_size"):
            self.require("bounded_queue")
        raw = self.impl.new_bus(**options)
        self._buses.append(raw)
        return BusHandle(self, raw)

    def bus_of(self, container: Any) -> BusHandle:
        """The bus `container.get(EventBus)` provides, as a handle."""
        return BusHandle(self, container.get(self.EventBus))

    def add(
        self,
        bus: BusHandle,
        event_type: Any,
        fn: Callable[..., Any],
        policy: PolicyName | None = None,
        **options: Any,
    ) -> None:
        """Register `fn` for `event_type` on `bus` (policy by name; None means the default)."""
        self._require_options({"policy": policy, **options})
        self.observed.registered(bus.raw, event_type, fn, policy, **options)
        self.impl.add_handler(bus.raw, event_type, fn, policy=policy, **options)

    def _require_options(self, options: dict[str, Any]) -> None:
        policy = options.get("policy")
        if policy in ("TASK", "THREADPOOL"):
            self.require(policy.lower())
        if "priority" in options:
            self.require("priority")
        if "once" in options:
            self.require("once")

    def container(self, *components: type) -> Any:
        """A container holding the bus and `components` (cleaned up at teardown); needs `container`."""
        self.require("container")
        container = self._container_support.new_container(components)
        self._containers.append(container)
        return container

    def container_from(self, modules: str, *components: type, lazy: tuple[type, ...] = ()) -> Any:
        """`container(*components)`, with `init` given its modules as `modules` says (CTR-4), `lazy` marked lazy.

        `modules` is "mixed", "swapped", "names", "objects" or "alternating" (`ModuleAdapter.new_container`);
        the modules, packages for dotted `__module__` names, are generated and not imported before `init`.
        An adapter whose `new_container` takes no such options fails the test: it cannot show the rule.
        """
        self.require("container")
        if modules in ("mixed", "swapped", "names", "objects"):  # an unknown form is the adapter's to refuse
            self.observed.exercise(module_form=modules)
        new_container: Any = self._container_support.new_container
        accepted = inspect.signature(new_container).parameters
        if "modules" not in accepted or "lazy" not in accepted:
            self.fail(
                f"the adapter builds a container with init given its modules as {modules!r}"
                + (" and components marked lazy" if lazy else ""),
                "its new_container takes no `modules` and `lazy` options (see ModuleAdapter.new_container)",
            )
        container = new_container(components, modules=modules, lazy=lazy)
        self._containers.append(container)
        return container

    def gate(self, name: str) -> Gate:
        """A gate bound to this test's loop and bound."""
        assert self.loop is not None, "gates are made inside the test's coroutine"
        return Gate(name, self.loop, self.wait_bound)

    def recorder(self, *, keeps_tasks: bool = True) -> Recorder:
        """A fresh recorder of handler calls (`keeps_tasks=False`: one that keeps no call's task alive)."""
        return ObservedRecorder(self, keeps_tasks=keeps_tasks)

    def exercise(self, **values: str | int | list[str]) -> None:
        """Say which domain values the test exercises beyond what the kit sees (`conformance.domain`).

        For example `kit.exercise(failure_kind="other BaseException", count=12)`;
        the coverage table (`python -m conformance coverage`) reads them.
        """
        self.observed.exercise(**values)

    def thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Start a daemon thread that teardown joins (with a bound).

        If `target` raises, that exception is the test's failure: it is raised by
        `join`, by any wait of the test that then runs out, and at the end.
        """

        def run() -> None:
            try:
                target()
            except BaseException as exc:  # handed to the test's thread
                self._thread_errors.append((threading.current_thread().name, exc))

        # Named as an application would name it (`name`: "producer-1", "caller"): no rule ID, nothing of
        # the kit's, so a bus has nothing to tell it is under test; and no counter, so messages that
        # quote it read the same in every run.
        t = threading.Thread(target=run, name=name, daemon=True)
        self._threads.append(t)
        t.start()
        return t

    async def join(self, thread: threading.Thread, what: str) -> None:
        """Wait, without blocking the loop, until `thread` ends; fail naming `what` if it does not."""
        done = self.gate(f"thread {thread.name} ended")

        def watch() -> None:
            thread.join(self.wait_bound)
            if not thread.is_alive():
                done.open()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        if not await done.wait():
            self.fail(what, f"still not done after {self.wait_bound:g} s", kind="hang")
        self.raise_thread_errors()

    def raise_thread_errors(self) -> None:
        """Raise the first exception a thread of `thread` raised, if any: it is the real failure."""
        __tracebackhide__ = True
        if self._thread_errors:
            name, exc = self._thread_errors[0]
            add_note = getattr(exc, "add_note", None)  # Python 3.11+
            if not isinstance(exc, RuleViolation) and add_note is not None:
                add_note(f"(raised in the test's helper thread {name})")
            raise exc

    def expect_error(self, exc: Exception | None, error_name: str, call: str, rec: Recorder | None = None) -> None:
        """Check that `call` raised the implementation's `error_name` (`exc`) and, given `rec`, ran no handler."""
        __tracebackhide__ = True
        cls = self.error_class(error_name)
        calls = f"; handler calls so far: {rec.labels()}" if rec is not None else ""
        if exc is None:
            self.fail(f"{call} raises {error_name}", f"it returned normally{calls}")
        elif not isinstance(exc, cls):
            self.fail(f"{call} raises {error_name}", f"it raised {describe(exc)}, which is not an {error_name}")
        if rec is not None:
            self.check(rec.count() == 0, f"no handler runs for {call}", f"handler calls: {rec.labels()}")

    async def raised_in_thread(self, call: Callable[[], Any], what: str) -> Exception | None:
        """Run `call()` on a new thread (it may block); the exception it raised there, or None."""
        box: list[Exception | None] = []
        thread = self.thread(lambda: box.append(self.raised_now(call)), "caller")
        await self.join(thread, what)
        return box[0]

    # -- logs ---------------------------------------------------------------------

    def error_logs_with(self, exc: BaseException) -> list[logging.LogRecord]:
        """Log records at ERROR or above whose attached exception chain contains `exc`."""
        return [r for r in self._logs.snapshot() if logs_error(r, exc)]

    def error_records(self) -> list[logging.LogRecord]:
        """Every log record of the test at ERROR or above."""
        return [r for r in self._logs.snapshot() if r.levelno >= logging.ERROR]

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

    def release_logs(self) -> None:
        """Make the records logged so far let go of their arguments and exceptions (`LogCapture.release`)."""
        self._logs.release()

    async def logged(self, exc: BaseException) -> bool:
        """Wait until `exc` is logged at ERROR with the exception attached; False after the bound."""
        gate = self.gate(f"{describe(exc)} logged")
        self._logs.watch(lambda r: logs_error(r, exc), gate)
        return await gate.wait()

    # -- lifecycle (driven by the runner) ------------------------------------------

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the test's loop; called by the runner on the loop's thread."""
        self.loop = loop
        self.loop_thread_id = threading.get_ident()
        self.observed.exercise(loop="first loop")
        self._logs.start()

    async def teardown(self) -> list[str]:
        """Stop what the test started; return what could not be stopped, one line each."""
        problems: list[str] = []
        for container in reversed(self._containers):
            problems += await self._bounded(self._container_support.close_container(container), "container shutdown")
        for bus in reversed(self._buses):
            problems += await self._bounded(self.impl.close_bus(bus), "bus shutdown")
        for t in self._threads:
            t.join(self.bound)
            if t.is_alive():
                problems.append(f"thread {t.name} still running")
        self._logs.stop()
        return problems

    async def _bounded(self, aw: Awaitable[Any], what: str) -> list[str]:
        try:
            await asyncio.wait_for(aw, self.bound)
        except asyncio.TimeoutError:
            return [f"{what} did not finish within {self.bound:g} s"]
        except Exception as exc:  # teardown reports, the test has already spoken
            return [f"{what} raised {describe(exc)}"]
        return []

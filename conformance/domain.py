"""The domain vocabulary: every dimension SPEC.md's rules quantify over, named by what it is, with its values.

A rule speaks of *every* handler, *any* thread, *each* event; its test must run
over the values its statement ranges over. This module is the one place that
names them (`DIMENSIONS`), says which dimensions each rule quantifies over
(`DECLARED`, a per-rule table, so the suite's test files need no extra marker),
and turns what a test did into values (`Observations`). The kit observes a test
as it runs: handler kinds, policies and registration options from `Kit.add`,
paths from the bus handle's calls, event shapes from the kit's event-class
helpers, durations from the recorder's slow handlers, the loop implementation
from `--loop`; the rest a test says itself with `kit.exercise(dimension=value)`.
`python -m conformance coverage` turns the observations of a run into
`docs/domain-coverage.md` (rule by dimension: values exercised, and gaps).

Counts are judged against a floor per rule (`COUNT_FLOORS`): a test that posts
1,000 events does not show that an "unbounded" queue is not capped at 1,024.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._recording import HandlerKind, Recorder

LOOPS = ("asyncio", "uvloop")
"""`runner.LOOPS` (not imported: the runner imports the kit, which imports this module)."""


def _handler_kinds() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The callable kinds `Recorder.every_kind` makes, sync then async: new kinds there appear here by themselves."""
    probe = Recorder(None)  # type: ignore[arg-type]  # every_kind only builds callables; none is called
    kinds = probe.every_kind()
    return tuple(k.kind for k in kinds if not k.is_async), tuple(k.kind for k in kinds if k.is_async)


@dataclass(frozen=True)
class Dimension:
    """One dimension of the domain: `name` (as tables print it), `key` (as `kit.exercise` spells it), its values."""

    key: str
    name: str
    values: tuple[str, ...]
    doc: str
    per_run: bool = False
    """A value is fixed for a whole run (`--loop`): a single run covers one; CI runs each."""


SYNC_KINDS, ASYNC_KINDS = _handler_kinds()
"""Sync and async as SPEC.md's Terms (*Handler*) say: by what calling the handler returns, not by how it is
defined. A `def` or lambda returning a coroutine is an async handler, so it is in the domain of the rules about
async handlers (POL-INLINE-1, POL-TASK-1, POL-MIX-2, ERR-3) and not of those about sync ones (POL-INLINE-2,
POL-THREAD-1, POL-MIX-1)."""
HANDLER_KINDS = SYNC_KINDS + ASYNC_KINDS

POLICIES = ("INLINE", "TASK", "THREADPOOL")
BACKGROUND_POLICIES = ("TASK", "THREADPOOL")

PUBLISH = "publish"
WORKER = "post + worker"
SYNC_NO_LOOP = "publish_sync without a running loop"
SYNC_ON_LOOP = "publish_sync on a running loop"
NESTED = "publish awaited inside a handler (depth > 1)"
PATHS = (PUBLISH, WORKER, SYNC_NO_LOOP, SYNC_ON_LOOP, NESTED)

REGISTRATIONS = ("plain", "priority", "once", "duplicate")

EVENT_SHAPES = (
    "direct subclass of Event",
    "single inheritance",
    "multiple inheritance",
    "diamond inheritance",
    "equal events",
    "unhashable events",
    "same class name in two modules",
    "class shared across buses",
)

COUNTS = ("one", "past hidden caps")
"""A count is "one" or at least the rule's floor (`COUNT_FLOORS`); counts in between show neither."""

DURATIONS = ("none", "one long suspension", "many short suspensions", "a blocked thread")

FAILURE_KINDS = (
    "Exception",
    "CancelledError from a sync handler",
    "CancelledError from an async handler",
    "other BaseException",
)

LOOP_USES = ("first loop", "second loop in the same thread", "loop in another thread")

MODULE_FORMS = ("mixed", "swapped", "names", "objects")
"""How `init` is given the components' modules and the bus module (`ModuleAdapter.new_container`)."""

DIMENSIONS: dict[str, Dimension] = {
    d.key: d
    for d in (
        Dimension("handler_kind", "handler kind", HANDLER_KINDS, "every callable kind (SPEC.md, Terms: Handler)"),
        Dimension("policy", "policy", POLICIES, "the execution policy; no policy counts as INLINE (POL-1)"),
        Dimension("path", "path", PATHS, "how an event reaches its handlers"),
        Dimension("registration", "registration", REGISTRATIONS, "how the handler was registered"),
        Dimension("event_shape", "event shape", EVENT_SHAPES, "the event classes and instances dispatched"),
        Dimension("count", "count", COUNTS, "handlers, events or failures, past the caps a bus may hide"),
        Dimension("duration", "duration", DURATIONS, "how long a handler takes, and how"),
        Dimension("failure_kind", "failure kind", FAILURE_KINDS, "what a failing handler raises"),
        Dimension("loop", "loop", LOOP_USES, "which event loop the bus is used on"),
        Dimension("loop_implementation", "loop implementation", LOOPS, "`--loop`", per_run=True),
        Dimension("module_form", "component module form", MODULE_FORMS, "how init is given its modules (CTR-4)"),
    )
}
"""Every dimension, by the key `kit.exercise` takes."""

DEFAULT_COUNT_FLOOR = 9
"""Past 8: crosses caps of 2, 3, 4 and 8 (a bus running at most N handlers at once, keeping N failures)."""

COUNT_FLOORS: dict[str, int] = {
    "ERR-6": 5,  # an exception group that keeps only the first 3 or 4 failures
    "POST-9": 4097,  # an "unbounded" queue capped at a power of two up to 4,096
    "WRK-2": 4097,
}
"""The smallest count that shows "past hidden caps" for a rule, where it is not `DEFAULT_COUNT_FLOOR`."""


@dataclass(frozen=True)
class Scope:
    """A rule's declaration for one dimension: the values its statement ranges over (all, or a part)."""

    key: str
    values: tuple[str, ...]


def every(key: str) -> Scope:
    """Every value of dimension `key`."""
    return Scope(key, DIMENSIONS[key].values)


def only(key: str, values: Iterable[str]) -> Scope:
    """The named values of dimension `key` (a rule about, say, async handlers only)."""
    chosen = tuple(values)
    unknown = [v for v in chosen if v not in DIMENSIONS[key].values]
    if unknown:
        raise ValueError(f"{key}: unknown values {unknown}; known: {DIMENSIONS[key].values}")
    return Scope(key, chosen)


_DISPATCH = (only("path", (PUBLISH, WORKER)),)

DECLARED: dict[str, tuple[Scope, ...]] = {
    # PUB-1 names the event shapes it holds for: equal, unhashable, sharing a name; and a class is the same object
    # on every bus that uses it (a module's), so handlers are found per bus as well as per class.
    "PUB-1": (
        every("handler_kind"),
        every("policy"),
        *_DISPATCH,
        every("loop"),
        only(
            "event_shape",
            (
                "direct subclass of Event",
                "equal events",
                "unhashable events",
                "same class name in two modules",
                "class shared across buses",
            ),
        ),
    ),
    # PUB-2 ranges over how a handler's type relates to the event's (neither its type nor a base): a subclass, a
    # class of the same name elsewhere. Which bus a handler is on is no relation of types: that is PUB-1's.
    "PUB-2": (*_DISPATCH, only("event_shape", ("single inheritance", "same class name in two modules"))),
    "PUB-3": (only("event_shape", ("single inheritance", "multiple inheritance", "diamond inheritance")), *_DISPATCH),
    "PUB-4": (*_DISPATCH,),
    "POL-1": (every("handler_kind"), *_DISPATCH),
    "POL-INLINE-1": (only("handler_kind", ASYNC_KINDS), only("path", (PUBLISH, WORKER, NESTED))),
    "POL-INLINE-2": (only("handler_kind", SYNC_KINDS), *_DISPATCH),
    "POL-ORDER-1": (every("handler_kind"), *_DISPATCH, only("count", ("past hidden caps",))),
    "POL-TASK-1": (only("handler_kind", ASYNC_KINDS), *_DISPATCH, every("loop")),
    "POL-TASK-4": (only("count", ("past hidden caps",)), *_DISPATCH),
    "POL-THREAD-1": (only("handler_kind", SYNC_KINDS), *_DISPATCH),
    "POL-MIX-1": (only("handler_kind", SYNC_KINDS), *_DISPATCH),
    "POL-MIX-2": (only("handler_kind", ASYNC_KINDS), *_DISPATCH),
    "ERR-1": (every("handler_kind"), only("path", (PUBLISH, NESTED))),
    "ERR-3": (only("handler_kind", ASYNC_KINDS), *_DISPATCH),
    "ERR-4": (only("handler_kind", SYNC_KINDS), *_DISPATCH),
    "ERR-5": (only("policy", BACKGROUND_POLICIES), *_DISPATCH),
    "ERR-6": (only("count", ("past hidden caps",)), only("path", (PUBLISH, NESTED))),
    "POST-9": (only("count", ("past hidden caps",)),),
    "EXT-UNSUB-1": (every("handler_kind"), every("policy")),
    "EXT-DUP-1": (every("policy"), *_DISPATCH),
    "EXT-SYNC-3": (only("duration", ("one long suspension", "many short suspensions", "a blocked thread")),),
    "CTR-4": (every("module_form"),),
    "CAN-3": (
        only("failure_kind", ("CancelledError from a sync handler", "CancelledError from an async handler")),
        *_DISPATCH,
    ),
    # CAN-6 speaks of what `publish` raises; what the worker does with a BaseException is not its statement's.
    "CAN-6": (only("failure_kind", ("other BaseException",)), only("path", (PUBLISH,))),
    "LEAK-1": (only("failure_kind", ("Exception",)), *_DISPATCH),
    "LEAK-3": (every("handler_kind"),),
    # Added in SPEC 1.3.0's second round: the rules whose statement says "a"/"every" handler, event or policy.
    "POL-TASK-2": (only("handler_kind", ASYNC_KINDS), only("path", (PUBLISH,))),
    "POL-TASK-3": (only("handler_kind", ASYNC_KINDS), *_DISPATCH),
    "POL-THREAD-2": (only("handler_kind", SYNC_KINDS), *_DISPATCH),
    "POL-THREAD-3": (only("handler_kind", SYNC_KINDS), only("path", (PUBLISH,))),
    "POST-3": (only("count", ("past hidden caps",)),),
    "ROB-6": (only("count", ("past hidden caps",)),),
    "WRK-2": (only("count", ("past hidden caps",)),),
    "WRK-6": (every("policy"), only("failure_kind", ("Exception",))),
    "SUB-3": (every("policy"),),
    "EXT-PRI-1": (every("policy"), *_DISPATCH),
    "EXT-ONCE-1": (every("handler_kind"), every("policy"), *_DISPATCH),
    "EXT-ONCE-2": (every("policy"), *_DISPATCH, only("failure_kind", ("Exception",))),
    "EXT-CLOSE-3": (every("handler_kind"), every("policy")),
    "LEAK-2": (only("handler_kind", ASYNC_KINDS), *_DISPATCH),
    "LEAK-4": (every("handler_kind"), only("registration", ("plain", "once"))),
    "SUB-2": (every("policy"), only("count", ("past hidden caps",))),
    "SUB-6": (only("handler_kind", ("bound method", "async bound method")), only("count", ("past hidden caps",))),
    "EXT-SUB-1": (only("registration", ("priority", "once")),),
    "EXT-UNSUB-2": (every("handler_kind"),),
    "ROB-3": (every("policy"),),
    "ROB-7": (only("count", ("past hidden caps",)),),
}
"""Per rule, the dimensions (and values) its statement quantifies over. Rules not listed declare none yet."""


def count_value(rule_id: str, n: int) -> str | None:
    """The value of the count dimension `n` shows for `rule_id`: "one", "past hidden caps", or neither."""
    if n == 1:
        return "one"
    if n >= COUNT_FLOORS.get(rule_id, DEFAULT_COUNT_FLOOR):
        return "past hidden caps"
    return None


def classify_handler(fn: Callable[..., Any]) -> str | None:
    """The handler kind of a callable made outside `Recorder.every_kind`, judged by its shape; None if not callable."""
    if not callable(fn):
        return None  # a test of ROB-3 hands the bus a non-callable: nothing to observe, nothing to raise
    if isinstance(fn, functools.partial):
        return "async partial" if inspect.iscoroutinefunction(fn.func) else "partial"
    if inspect.ismethod(fn):
        return "async bound method" if inspect.iscoroutinefunction(fn) else "bound method"
    if inspect.isfunction(fn):
        if fn.__name__ == "<lambda>":
            return "lambda"
        return "async function" if inspect.iscoroutinefunction(fn) else "function"
    call: Any = fn
    return "async callable object" if inspect.iscoroutinefunction(call.__call__) else "callable object"


@dataclass
class Observations:
    """The values of each dimension one test exercised, as the kit saw them."""

    rule_id: str
    values: dict[str, set[str]] = field(default_factory=dict)
    _kinds: dict[int, tuple[Any, str]] = field(default_factory=dict)
    _durations: dict[int, tuple[Any, str]] = field(default_factory=dict)
    _registered: dict[tuple[int, int, Any], Any] = field(default_factory=dict)
    """The registrations so far (bus, event type, handler by id), each kept only while its handler lives: a
    handler that is gone is no duplicate of a later one that reuses its id, and the kit's own memory does not
    grow with the registrations LEAK-4's churn makes."""

    def exercise(self, **values: str | int | Iterable[str]) -> None:
        """Note that the test exercised each `dimension=value` (a count as an int; several values as a list)."""
        for key, value in values.items():
            dim = DIMENSIONS.get(key)
            if dim is None:
                raise ValueError(f"kit.exercise: no dimension {key!r}; known: {', '.join(DIMENSIONS)}")
            if key == "count":
                if not isinstance(value, int):
                    raise ValueError(f"kit.exercise(count=...) takes the number itself, got {value!r}")
                shown = count_value(self.rule_id, value)
                if shown is not None:
                    self.values.setdefault(key, set()).add(shown)
                continue
            chosen = [value] if isinstance(value, str) else list(value)  # type: ignore[arg-type]
            for v in chosen:
                if v not in dim.values:
                    raise ValueError(f"kit.exercise({key}=...): {v!r} is not one of {dim.values}")
                self.values.setdefault(key, set()).add(v)

    # -- what the kit notes by itself ----------------------------------------------------

    def note_handler(self, fn: Callable[..., Any], kind: str | None = None, duration: str | None = None) -> None:
        """Remember what `fn` is (made by the recorder), for when it is registered."""
        try:
            ref: Any = weakref.ref(fn)  # never keep a handler alive: leak rules watch them
        except TypeError:
            ref = None
        if kind is not None:
            self._kinds[id(fn)] = (ref, kind)
        if duration is not None:
            self._durations[id(fn)] = (ref, duration)

    def _noted(self, table: dict[int, tuple[Any, str]], fn: Any) -> str | None:
        found = table.get(id(fn))
        if found is None or (found[0] is not None and found[0]() is not fn):
            return None
        return found[1]

    def registered(self, bus: Any, event_type: Any, fn: Callable[..., Any], policy: str | None, **options: Any) -> None:
        """A handler registered through `Kit.add`: its kind, policy, duration and registration options."""
        # Observing must never raise: the registration under test is the bus's to accept or refuse.
        kind = self._noted(self._kinds, fn) or classify_handler(fn)
        if kind is None:
            return
        self.exercise(handler_kind=kind)
        if policy in POLICIES or policy is None:
            self.exercise(policy=policy or "INLINE")
        self.exercise(duration=self._noted(self._durations, fn) or "none")
        target = (id(fn.__self__), id(fn.__func__)) if inspect.ismethod(fn) else id(fn)
        key = (id(bus), id(event_type), target)
        shown: list[str] = [name for name in ("priority", "once") if name in options]
        if key in self._registered:
            shown.append("duplicate")
        else:
            self._registered[key] = self._forget_when_gone(key, fn.__self__ if inspect.ismethod(fn) else fn)
        self.exercise(registration=shown or ["plain"])

    def _forget_when_gone(self, key: tuple[int, int, Any], obj: Any) -> Any:
        """A weak reference to `obj` that drops `key` from the registrations when `obj` is collected."""
        registered = self._registered

        def forget(_: Any) -> None:
            registered.pop(key, None)

        try:
            return weakref.ref(obj, forget)
        except TypeError:  # not weakly referenceable (a builtin): kept for the test's life, as such handlers are
            return None

    def publish_sync(self) -> None:
        """`publish_sync` was called: with a running loop in this thread, or without one."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.exercise(path=SYNC_NO_LOOP)
        else:
            self.exercise(path=SYNC_ON_LOOP)

    def loop_used(self, first: asyncio.AbstractEventLoop | None, first_thread: int | None) -> None:
        """The bus is called on the running loop of this thread: the test's own, a second one, or another thread's."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if first is None or loop is first:
            return
        same_thread = threading.get_ident() == first_thread
        self.exercise(loop="second loop in the same thread" if same_thread else "loop in another thread")

    def encode(self) -> str:
        """The observations as JSON (a junit property's value)."""
        return json.dumps({k: sorted(v) for k, v in sorted(self.values.items())}, sort_keys=True)


class ObservedRecorder(Recorder):
    """The kit's recorder: it tells the test's observations what each handler it makes is."""

    def every_kind(
        self,
        prefix: str = "",
        *,
        sync: bool = True,
        is_async: bool = True,
        then: Callable[[str, Any], None] | None = None,
        then_async: Callable[[str, Any], Awaitable[None]] | None = None,
    ) -> list[HandlerKind]:
        """`Recorder.every_kind`, each handler noted with its kind."""
        kinds = super().every_kind(prefix, sync=sync, is_async=is_async, then=then, then_async=then_async)
        for k in kinds:
            self.kit.observed.note_handler(k.fn, kind=k.kind)
        return kinds

    def slow_async_handler(self, label: str, seconds: float, steps: int = 10) -> Callable[[Any], Any]:
        """`Recorder.slow_async_handler`, noted as one long suspension or many short ones."""
        fn = super().slow_async_handler(label, seconds, steps)
        self.kit.observed.note_handler(fn, duration="one long suspension" if steps == 1 else "many short suspensions")
        return fn

    def slow_sync_handler(self, label: str, seconds: float, steps: int = 10) -> Callable[[Any], None]:
        """`Recorder.slow_sync_handler`, noted as a blocked thread."""
        fn = super().slow_sync_handler(label, seconds, steps)
        self.kit.observed.note_handler(fn, duration="a blocked thread")
        return fn


def decode(text: str) -> dict[str, set[str]]:
    """`Observations.encode`'s output read back."""
    raw: dict[str, list[str]] = json.loads(text) if text else {}
    return {k: set(v) for k, v in raw.items()}


def pairwise(factors: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """A covering design: rows in which every pair of values of two factors appears together at least once.

    Deterministic (greedy, first best): the same factors give the same rows on every run.
    Every factor's every value appears; with fewer than two factors, the full product.
    """
    if len(factors) < 2:
        return [(v,) for v in factors[0]] if factors else [()]
    uncovered: set[tuple[int, Any, int, Any]] = {
        (i, a, j, b)
        for i in range(len(factors))
        for j in range(i + 1, len(factors))
        for a in range(len(factors[i]))
        for b in range(len(factors[j]))
    }
    rows: list[tuple[int, ...]] = []
    while uncovered:
        # Seed the row with an uncovered pair, then fill each other factor greedily.
        i, a, j, b = min(uncovered)
        row: list[int | None] = [None] * len(factors)
        row[i], row[j] = a, b
        for k in range(len(factors)):
            if row[k] is not None:
                continue
            best, gain = 0, -1
            for v in range(len(factors[k])):
                g = sum(
                    1
                    for m, w in enumerate(row)
                    if w is not None and ((m, w, k, v) in uncovered if m < k else (k, v, m, w) in uncovered)
                )
                if g > gain:
                    best, gain = v, g
            row[k] = best
        full = tuple(v for v in row if v is not None)
        for x in range(len(full)):
            for y in range(x + 1, len(full)):
                uncovered.discard((x, full[x], y, full[y]))
        rows.append(full)
    return [tuple(factors[k][v] for k, v in enumerate(r)) for r in rows]


def gaps(
    declared: Mapping[str, tuple[Scope, ...]], seen: Mapping[str, Mapping[str, set[str]]]
) -> dict[str, dict[str, list[str]]]:
    """Per rule and dimension, the declared values the observations `seen` (rule -> dimension -> values) lack.

    Dimensions fixed per run (`Dimension.per_run`) are left out: one run covers one of their values.
    """
    found: dict[str, dict[str, list[str]]] = {}
    for rule_id, scopes in declared.items():
        for scope in scopes:
            if DIMENSIONS[scope.key].per_run:
                continue
            have = seen.get(rule_id, {}).get(scope.key, set())
            missing = [v for v in scope.values if v not in have]
            if missing:
                found.setdefault(rule_id, {})[scope.key] = missing
    return found

"""Broken buses for SPEC.md §1 and §2: events, the container's bus, what `publish` delivers to whom."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import inspect
import types
from typing import Any

import reference.event_bus as ref
import tests.alt_impl.event_bus as alt
from tests.alt_impl.container import Container

from .base import ALT, REFERENCE, container_init, mutant

# -- EVT-1 ---------------------------------------------------------------------------


class StampingBus(ref.EventBus):
    """`publish` stamps each event with the bus that delivered it: a frozen dataclass event refuses."""

    async def publish(self, event: Any) -> None:
        if isinstance(event, ref.Event):
            event.__setattr__("delivered_by", id(self))
        await super().publish(event)


@dataclasses.dataclass(frozen=True)
class FrozenEvent(ref.Event):
    """An `Event` base made a frozen dataclass: a plain (non-frozen) dataclass event cannot subclass it."""


# -- CTR-1, CTR-2 ----------------------------------------------------------------------


class FactoryBusContainer(Container):
    """`get(EventBus)` builds a new bus every time: the bus is a factory, not a singleton."""

    def get(self, cls: Any) -> Any:
        provider = self.provider(cls)
        if provider is not None and issubclass(provider, alt.EventBus):
            return provider()
        return super().get(cls)


class ScopedAgetContainer(Container):
    """`aget` resolves in a fresh scope of its own, so it hands out other instances than `get`."""

    async def aget(self, cls: Any) -> Any:
        return Container(self._classes).get(cls)


class FreshInjectionContainer(Container):
    """A constructor parameter annotated `EventBus` gets a new bus, not the container's."""

    def inject(self, provider: type, chain: tuple[type, ...]) -> object:
        if issubclass(provider, alt.EventBus):
            return provider()
        return super().inject(provider, chain)


# -- PUB-1, PUB-2, PUB-4, PUB-5 -------------------------------------------------------------


class CopyingBus(ref.EventBus):
    """`publish` hands each handler a copy of the event, not the event itself."""

    async def publish(self, event: Any) -> None:
        await super().publish(copy.copy(event) if isinstance(event, ref.Event) else event)


class OneHandlerPerTypeBus(ref.EventBus):
    """A type has one handler: `subscribe` replaces the previous one (a dict from type to handler)."""

    def subscribe(self, event_type: Any, fn: Any, **options: Any) -> None:
        latest: dict[Any, Any] = vars(self).setdefault("_latest", {})
        if event_type in latest:
            self.unsubscribe(event_type, latest[event_type])
        super().subscribe(event_type, fn, **options)
        latest[event_type] = fn


class BroadcastBus(alt.EventBus):
    """`publish` delivers every event to every registration, whatever type it was registered for."""

    def matching(self, event_type: type[alt.Event]) -> list[alt.Registration]:
        with self._lock:
            found = [r for regs in self._registry.values() for r in regs]
        return sorted(found, key=lambda r: (-r.priority, r.seq))


class DownwardBus(alt.EventBus):
    """Hierarchy matched the wrong way round too: a handler of a subclass also gets base-class events."""

    def matching(self, event_type: type[alt.Event]) -> list[alt.Registration]:
        found = super().matching(event_type)
        with self._lock:
            found += [
                r
                for klass, regs in self._registry.items()
                if klass is not event_type and issubclass(klass, event_type)
                for r in regs
            ]
        return sorted(found, key=lambda r: (-r.priority, r.seq))


class PartialSkippingBus(alt.EventBus):
    """`subscribe` quietly ignores `functools.partial` handlers (it wanted a `__name__` to file them under)."""

    def subscribe(self, event_type: Any, fn: Any, **options: Any) -> None:
        if isinstance(fn, functools.partial):
            return
        super().subscribe(event_type, fn, **options)


class TwiceUpwardBus(alt.EventBus):
    """Base-class handlers are found twice: once walking the MRO, once more by an `isinstance` scan."""

    def matching(self, event_type: type[alt.Event]) -> list[alt.Registration]:
        found = super().matching(event_type)
        found += [r for r in found if r.event_type is not event_type]
        return sorted(found, key=lambda r: (-r.priority, r.seq))


class BasesWalkBus(alt.EventBus):
    """Base-class handlers are found by walking `__bases__` recursively, not the MRO: the shared base of a
    diamond is reached along both sides, so its handlers run twice."""

    def matching(self, event_type: type[alt.Event]) -> list[alt.Registration]:
        def walk(klass: type) -> list[type]:
            return [klass, *(above for base in klass.__bases__ for above in walk(base))]

        with self._lock:
            found = [r for klass in walk(event_type) for r in self._registry.get(klass, ())]
        return sorted(found, key=lambda r: (-r.priority, r.seq))


class NoSubscriberErrorBus(ref.EventBus):
    """`publish` of a type nobody ever subscribed to raises LookupError (a `routes[type]` lookup)."""

    def subscribe(self, event_type: Any, fn: Any, **options: Any) -> None:
        super().subscribe(event_type, fn, **options)
        vars(self).setdefault("_known", set()).add(event_type)

    async def publish(self, event: Any) -> None:
        if isinstance(event, ref.Event) and type(event) not in vars(self).get("_known", set()):
            raise LookupError(f"no subscribers for {type(event).__name__}")
        await super().publish(event)


class WorkerEndsWithoutSubscribersBus(alt.EventBus):
    """The worker looks a posted event's handlers up strictly: one nobody subscribed to raises LookupError in
    the worker's loop, which ends it (logged), and the events posted after it are never delivered. `publish`
    itself is fine."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        if not self.matching(type(event)):
            raise LookupError(f"no subscribers for {type(event).__name__}")
        await super().dispatch_posted(event)


class CountdownBus(alt.EventBus):
    """`publish` waits for a countdown that only handlers tick: with no subscriber it never returns."""

    async def publish(self, event: Any) -> None:
        if isinstance(event, alt.Event) and not self._closed and not self.matching(type(event)):
            await asyncio.Event().wait()  # "all handlers done", which nobody will ever signal
        await super().publish(event)


class LiveListBus(alt.EventBus):
    """`publish` re-reads the registry as it goes: a handler subscribed mid-dispatch runs in that dispatch."""

    async def run_inlines(self, registrations: list[alt.Registration], event: alt.Event) -> list[Exception]:
        errors = await super().run_inlines(registrations, event)
        seen = {id(r) for r in registrations}
        late = [
            r
            for r in self.matching(type(event))
            if r.policy is alt.ExecPolicy.INLINE and id(r) not in seen and not r.once
        ]
        return errors + await super().run_inlines(late, event)


class DedupingBus(alt.EventBus):
    """`subscribe` ignores a handler already registered for the type ("no double delivery")."""

    def subscribe(self, event_type: Any, fn: Any, **options: Any) -> None:
        with self._lock:
            known = any(r.fn is fn or r.fn == fn for r in self._registry.get(event_type, ()))
        if not known:
            super().subscribe(event_type, fn, **options)


class CoroutineFunctionOnlyBus(alt.EventBus):
    """Async handlers are told apart with `inspect.iscoroutinefunction(fn)`: an object with `async def
    __call__` is called like a sync handler and its coroutine is never awaited."""

    async def run_inline(self, registration: alt.Registration, event: alt.Event) -> None:
        if inspect.iscoroutinefunction(registration.fn):
            await registration.fn(event)
        else:
            registration.fn(event)


def _declared_async(fn: Any) -> bool:
    """`inspect.iscoroutinefunction` through partials, methods and `__call__`: how a function is defined."""
    while isinstance(fn, (functools.partial, types.MethodType)):
        fn = fn.func if isinstance(fn, functools.partial) else fn.__func__
    return inspect.iscoroutinefunction(fn) or (
        not isinstance(fn, types.FunctionType) and inspect.iscoroutinefunction(type(fn).__call__)
    )


class DeclaredAsyncOnlyBus(alt.EventBus):
    """Whether a handler is async is decided by how it is defined, not by what calling it returns: a plain `def`
    returning a coroutine (a decorator's wrapper, a lambda) is called and its coroutine never awaited."""

    async def run_inline(self, registration: alt.Registration, event: alt.Event) -> None:
        result = registration.fn(event)
        if _declared_async(registration.fn):
            await result

    def start_task(self, registration: alt.Registration, event: alt.Event) -> None:
        if _declared_async(registration.fn):
            super().start_task(registration, event)
        else:
            registration.fn(event)

    def thread_main(self, registration: alt.Registration, event: alt.Event, done: Any) -> None:
        if _declared_async(registration.fn):
            super().thread_main(registration, event, done)
        else:
            try:
                registration.fn(event)
            finally:
                done.set_result(None)


class RepeatFilterBus(alt.EventBus):
    """`publish` drops an event equal (==) to the one published just before it, as a "duplicate"."""

    async def publish(self, event: Any) -> None:
        last = vars(self).get("_last_event", _NOTHING)
        self._last_event = event
        if last is not _NOTHING and type(last) is type(event) and last == event:
            return
        await super().publish(event)


class SeenSetBus(alt.EventBus):
    """`publish` remembers the events it delivered in a set and skips one it has seen (unhashable ones pass)."""

    async def publish(self, event: Any) -> None:
        seen: set[Any] = vars(self).setdefault("_seen", set())
        try:
            if event in seen:
                return
            seen.add(event)
        except TypeError:
            pass
        await super().publish(event)


class ByNameBus(alt.EventBus):
    """Handlers are found by the name of the event's class (and its bases), not by the class."""

    def matching(self, event_type: type[alt.Event]) -> list[alt.Registration]:
        names = {klass.__name__ for klass in event_type.__mro__}
        with self._lock:
            found = [r for klass, regs in self._registry.items() if klass.__name__ in names for r in regs]
        return sorted(found, key=lambda r: (-r.priority, r.seq))


_SHARED_REGISTRY: dict[Any, list[alt.Registration]] = {}


class SharedRegistryBus(alt.EventBus):
    """The registry is a module-level dict keyed by event class, so every bus sees every bus's handlers."""

    def __init__(self, max_queue_size: int = 0) -> None:
        super().__init__(max_queue_size)
        self._registry = _SHARED_REGISTRY


_NOTHING = object()


MUTANTS = [
    mutant(
        "publish-stamps-events",
        "EVT-1",
        "publish sets an attribute on each event, so frozen dataclass events cannot be published",
        REFERENCE,
        EventBus=StampingBus,
    ),
    mutant(
        "event-is-a-frozen-dataclass",
        "EVT-1",
        "Event is a frozen dataclass, so a plain @dataclass event cannot subclass it",
        REFERENCE,
        Event=FrozenEvent,
    ),
    mutant(
        "bus-is-not-a-singleton",
        "CTR-1",
        "container.get(EventBus) builds a new bus on every call",
        ALT,
        init=container_init(FactoryBusContainer),
    ),
    mutant(
        "aget-uses-another-scope",
        "CTR-1",
        "container.aget(EventBus) resolves in a fresh scope and returns another bus than get",
        ALT,
        init=container_init(ScopedAgetContainer),
    ),
    mutant(
        "injects-a-fresh-bus",
        "CTR-2",
        "a constructor parameter annotated EventBus receives a new bus, not the container's",
        ALT,
        init=container_init(FreshInjectionContainer),
    ),
    mutant(
        "handlers-get-a-copy",
        "PUB-1",
        "publish hands handlers a copy of the event instead of the published object",
        REFERENCE,
        EventBus=CopyingBus,
    ),
    mutant(
        "one-handler-per-type",
        "PUB-1",
        "subscribe replaces the previous handler of the type (a dict of type -> handler)",
        REFERENCE,
        EventBus=OneHandlerPerTypeBus,
    ),
    mutant(
        "duplicate-registrations-ignored",
        "PUB-1",
        "subscribe ignores a second registration of a handler already registered for the type",
        ALT,
        EventBus=DedupingBus,
    ),
    mutant(
        "async-callable-objects-not-awaited",
        "PUB-1",
        "async handlers are detected with inspect.iscoroutinefunction(fn), so an async callable object's "
        "coroutine is never awaited",
        ALT,
        EventBus=CoroutineFunctionOnlyBus,
    ),
    mutant(
        "partial-handlers-skipped",
        "PUB-1",
        "subscribe silently ignores functools.partial handlers",
        ALT,
        EventBus=PartialSkippingBus,
    ),
    mutant(
        "equal-event-skipped",
        "PUB-1",
        "publish drops an event equal (==) to the previous one as a duplicate",
        ALT,
        EventBus=RepeatFilterBus,
    ),
    mutant(
        "events-deduped-by-hash",
        "PUB-1",
        "publish skips events already in a set of delivered events (equal and same hash)",
        ALT,
        EventBus=SeenSetBus,
    ),
    mutant(
        "routes-by-class-name",
        "PUB-1",
        "handlers are found by the event class's __name__, so same-named classes share handlers",
        ALT,
        EventBus=ByNameBus,
    ),
    mutant(
        "registry-shared-across-buses",
        "PUB-1",
        "the registry is a module-level dict keyed by event class, shared by every bus",
        ALT,
        EventBus=SharedRegistryBus,
    ),
    mutant(
        "broadcast-to-every-type",
        "PUB-2",
        "publish delivers every event to the handlers of every type",
        ALT,
        EventBus=BroadcastBus,
    ),
    mutant(
        "subclass-handlers-get-base-events",
        "PUB-2",
        "a handler registered for a subclass also receives events of its base class",
        ALT,
        EventBus=DownwardBus,
    ),
    mutant(
        "base-handlers-called-twice",
        "PUB-3",
        "a handler of a base class is found twice for a subclass event (MRO walk and isinstance scan)",
        ALT,
        EventBus=TwiceUpwardBus,
    ),
    mutant(
        "publish-without-subscribers-raises",
        "PUB-4",
        "publish of a type nobody subscribed to raises LookupError",
        REFERENCE,
        EventBus=NoSubscriberErrorBus,
    ),
    mutant(
        "publish-without-subscribers-hangs",
        "PUB-4",
        "publish waits for a countdown only handlers tick, so with no subscriber it never returns",
        ALT,
        EventBus=CountdownBus,
    ),
    mutant(
        "worker-ends-on-an-event-without-subscribers",
        "PUB-4",
        "the worker raises LookupError for a posted event nobody subscribed to, and ends",
        ALT,
        EventBus=WorkerEndsWithoutSubscribersBus,
    ),
    mutant(
        "publish-reads-a-live-list",
        "PUB-5",
        "publish re-reads the registry, so a handler subscribed during a dispatch runs in it",
        ALT,
        EventBus=LiveListBus,
    ),
    mutant(
        "diamond-base-handlers-called-twice",
        "PUB-3",
        "base-class handlers are found by walking __bases__, so a diamond's shared base is found twice",
        ALT,
        EventBus=BasesWalkBus,
    ),
    mutant(
        "coroutine-returning-def-never-awaited",
        "PUB-1",
        "a handler is async if defined with async def: a def or lambda returning a coroutine is never awaited",
        ALT,
        EventBus=DeclaredAsyncOnlyBus,
    ),
]

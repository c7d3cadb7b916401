"""A tiny dependency-injection container: just enough of pico-ioc's for the event bus.

`init(modules=[...])` finds the `@component` classes in the given modules and
creates one instance of each, eagerly, injecting constructor parameters by their
type hints. Instances of `AutoSubscriberMixin` classes get their `@subscribe`
methods registered on the container's `EventBus` as they are created [SUB-2].

Choices:

- CTR-3: creation is eager, at `init`, so subscribers that nobody asks for
  (the guide's EmailService and AnalyticsService) still receive events.
- IMPL-12: a component marked `@component(lazy=True)` is created when it is first
  resolved (or injected into a component being created), not by `init`.
- CTR-4: `init` takes module objects and dotted module names, in any mix.
- A class is a component if it is marked itself, not merely a subclass of a
  marked class; one found in several modules is one component.
- A dependency resolves to the unique component that is the annotated class or
  a subclass of it; none (unless the parameter has a default) or several is a
  `ContainerError`, as is a cycle; messages name the chain being created.
- `get` keeps returning the instances after `cleanup_all_async`; they are closed.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import types
import typing
from collections.abc import Iterable
from typing import TypeGuard, TypeVar

from ._component import component, is_component, is_lazy
from .event_bus import AutoSubscriberMixin, EventBus

__all__ = ["Container", "ContainerError", "component", "init"]

_T = TypeVar("_T")


class ContainerError(Exception):
    """The container cannot be built, or cannot provide what was asked for."""


def _name(cls: type) -> str:
    return cls.__qualname__


def _chain(chain: tuple[type, ...]) -> str:
    return " -> ".join(_name(c) for c in chain)


def _is_class(hint: object) -> TypeGuard[type]:
    # On Python 3.10, `list[int]` passes isinstance(..., type) but breaks issubclass().
    return isinstance(hint, type) and not isinstance(hint, types.GenericAlias)


def _missing(wanted: type, chain: tuple[type, ...], what: str) -> ContainerError:
    where = f" (while creating {_chain(chain)})" if chain else ""
    return ContainerError(
        f"{what} needs {_name(wanted)}, but no component provides it{where}; "
        "mark a class with @component and include its module in init(modules=[...])"
    )


class Container:
    """The singletons of a set of component classes, created by `init` (lazy ones when first resolved)."""

    def __init__(self, components: Iterable[type]) -> None:
        # Creation order, which is also subscription order: dependencies first, otherwise by
        # module and qualified name, so it depends neither on the order of init()'s modules nor
        # on what each module imports. The guide's example output relies on it: ANALYTICS is
        # printed before publish returns only because AnalyticsService (a TASK handler) subscribes
        # before EmailService, whose INLINE handler then awaits and lets the task run.
        found = dict.fromkeys(components)
        self._components = tuple(sorted(found, key=lambda c: (c.__module__, c.__qualname__)))
        self._resolved: dict[type, type] = {}
        self._instances: dict[type, object] = {}
        self._created: list[object] = []
        self._subscribed: list[tuple[AutoSubscriberMixin, EventBus]] = []
        self._cleaned = False
        for cls in self._components:
            if not is_lazy(cls):
                self._create(cls, ())  # [CTR-3] lazy ones wait for their first resolution [IMPL-12]

    def _provider(self, wanted: type, chain: tuple[type, ...], what: str) -> type | None:
        """The unique component that is `wanted` or a subclass of it; None if there is none."""
        if wanted in self._resolved:
            return self._resolved[wanted]
        found = [c for c in self._components if issubclass(c, wanted)]
        if len(found) > 1:
            where = f" (while creating {_chain(chain)})" if chain else ""
            raise ContainerError(
                f"{what} needs {_name(wanted)}, but several components provide it: "
                f"{', '.join(_name(c) for c in found)}{where}; keep only one of them in init(modules=[...])"
            )
        if not found:
            return None
        self._resolved[wanted] = found[0]
        return found[0]

    def _require(self, wanted: type, chain: tuple[type, ...], what: str) -> type:
        provider = self._provider(wanted, chain, what)
        if provider is None:
            raise _missing(wanted, chain, what)
        return provider

    def _create(self, cls: type, chain: tuple[type, ...]) -> object:
        if cls in self._instances:
            return self._instances[cls]
        if cls in chain:
            cycle = (*chain[chain.index(cls) :], cls)
            raise ContainerError(f"dependency cycle: {_chain(cycle)}; break it by removing one of these parameters")
        chain = (*chain, cls)
        args: list[object] = []
        kwargs: dict[str, object] = {}
        for param, hint in _injections(cls):
            what = f"parameter {param.name!r} of {_name(cls)}"
            if not _is_class(hint):
                if param.default is not param.empty:
                    continue
                raise ContainerError(
                    f"{what} (while creating {_chain(chain)}) needs an annotation naming a component class, "
                    f"got {hint!r}; annotate it with the class or give it a default"
                )
            provider = self._provider(hint, chain, what)
            if provider is None:
                if param.default is not param.empty:
                    continue  # e.g. EventBus's max_queue_size: int = 0
                raise _missing(hint, chain, what)
            value = self._create(provider, chain)
            if param.kind is param.POSITIONAL_ONLY:
                args.append(value)
            else:
                kwargs[param.name] = value
        bus: EventBus | None = None
        if issubclass(cls, AutoSubscriberMixin):
            # Created before the subscriber, so it has a bus to register on and is closed after it.
            provider = self._provider(EventBus, chain, f"{_name(cls)} (an AutoSubscriberMixin)")
            if provider is None:
                raise ContainerError(
                    f"{_name(cls)} mixes in AutoSubscriberMixin, which needs the EventBus component "
                    f"(while creating {_chain(chain)}): include reference.event_bus in init(modules=[...])"
                )
            created = self._create(provider, chain)
            assert isinstance(created, EventBus)
            bus = created
        instance = cls(*args, **kwargs)
        self._instances[cls] = instance
        self._created.append(instance)
        if bus is not None:
            assert isinstance(instance, AutoSubscriberMixin)
            instance._autosubscribe(bus)  # [SUB-2] as the instance is created, before anyone can get it
            self._subscribed.append((instance, bus))
        return instance

    def get(self, cls: type[_T]) -> _T:
        """The instance of the unique component that is `cls` or a subclass of it."""
        if not _is_class(cls):
            raise TypeError(f"Container.get() takes a class, got {cls!r}")
        provider = self._require(cls, (), f"get({_name(cls)})")
        if provider not in self._instances:
            if self._cleaned:
                raise ContainerError(f"get({_name(cls)}): the container was cleaned up before it was created")
            self._create(provider, ())  # a lazy component, at its first resolution [IMPL-12, SUB-2]
        return typing.cast(_T, self._instances[provider])

    async def aget(self, cls: type[_T]) -> _T:
        """`get(cls)`, for async code."""
        return self.get(cls)

    async def cleanup_all_async(self) -> None:
        """Shut down: drain the buses' workers, unregister auto-subscribers, then `aclose()` the components.

        Components with an async `aclose` are closed newest first. Idempotent: later
        calls, even while the first is still running, return at once.
        """
        if self._cleaned:
            return  # [ROB-8]
        self._cleaned = True
        # [LIFE-1] drain first, while every subscriber is still registered: unregistering
        # before the drain would dispatch the queued events to nobody.
        for instance in reversed(self._created):
            if isinstance(instance, EventBus):
                await instance.stop_worker()
        # [EXT-MIX-1] then nothing published from here on (say, by a TASK handler still
        # running) reaches a component that is being shut down.
        for subscriber, bus in reversed(self._subscribed):
            subscriber._autounsubscribe(bus)
        first_error: Exception | None = None
        for instance in reversed(self._created):
            aclose = getattr(instance, "aclose", None)
            if aclose is None or not inspect.iscoroutinefunction(aclose):
                continue
            try:
                await aclose()  # the bus's: closed from now on [LIFE-2, LIFE-3]
            except Exception as exc:
                # Close the others anyway; report the first failure at the end.
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    def cleanup_all(self) -> None:
        """`cleanup_all_async()`, run with `asyncio.run`, from code where no event loop runs."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.cleanup_all_async())
            return
        raise ContainerError(
            "cleanup_all() was called while an event loop is running; await container.cleanup_all_async() instead"
        )


def _injections(cls: type) -> list[tuple[inspect.Parameter, object]]:
    """The constructor's parameters with their resolved type hints (None where there is none)."""
    init = cls.__init__  # type: ignore[misc]  # reading the constructor, not calling it
    if init is object.__init__:
        return []
    try:
        hints = typing.get_type_hints(init)
    except Exception as exc:
        raise ContainerError(f"cannot read the type hints of {_name(cls)}.__init__: {exc}") from exc
    params = list(inspect.signature(init).parameters.values())[1:]  # drop self
    return [
        (p, hints.get(p.name))
        for p in params
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


def _import(entry: types.ModuleType | str) -> types.ModuleType:
    if isinstance(entry, types.ModuleType):
        return entry
    if not isinstance(entry, str):
        raise TypeError(f"init(modules=...) takes modules or dotted module names, got {entry!r}")
    try:
        return importlib.import_module(entry)
    except ImportError as exc:
        raise ContainerError(f"cannot import {entry!r}, listed in init(modules=[...]): {exc}") from exc


def init(modules: Iterable[types.ModuleType | str]) -> Container:
    """Build a container from the `@component` classes defined in, or imported into, `modules`."""
    if isinstance(modules, (str, types.ModuleType)):
        raise TypeError(
            "init(modules=...) takes a list, e.g. init(modules=['app.services', reference.event_bus]); "
            f"got a single {type(modules).__name__}"
        )
    found: dict[type, None] = {}
    for entry in modules:
        for value in list(vars(_import(entry)).values()):
            if is_component(value):
                found.setdefault(value)  # a class seen in several modules is one component
    return Container(found)

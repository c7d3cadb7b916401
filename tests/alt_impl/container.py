"""A tiny dependency-injection container that creates every component at `init`.

`init(modules=[...])` takes module objects and dotted names in any mix [CTR-4],
collects the `@component` classes of the modules and creates each one [CTR-3], in
the order found, with its constructor's parameters injected by type hint; `get(cls)`
hands out the one component that is `cls` or a subclass of it. An
`AutoSubscriberMixin` instance has its marked methods registered on the
container's bus as it is created [SUB-2]. IMPL-12: components marked
`@component(lazy=True)` are created at `init` too (the reference waits for their
first resolution).
"""

from __future__ import annotations

import importlib
import inspect
import threading
import types
import typing
from collections.abc import Iterable
from typing import Any, TypeVar

from ._marker import component, is_component
from .event_bus import AutoSubscriberMixin, EventBus

__all__ = ["Container", "ContainerError", "component", "init"]

_T = TypeVar("_T")


class ContainerError(Exception):
    """Nothing (or more than one component) provides what was asked for, or a dependency cycle."""


class Container:
    """Singletons of a set of component classes, all created when the container is built."""

    def __init__(self, classes: Iterable[type]) -> None:
        self._classes = tuple(dict.fromkeys(classes))
        self._instances: dict[type, object] = {}
        self._created: list[object] = []
        self._lock = threading.RLock()
        self._cleaned = False
        self.create_all()

    def create_all(self) -> None:
        """Create every component now, lazy or not [CTR-3, IMPL-12]."""
        with self._lock:
            for cls in self._classes:
                self.obtain(cls, ())

    def provider(self, wanted: type) -> type | None:
        """The one component class that is `wanted` or a subclass of it; None if there is none."""
        found = [c for c in self._classes if issubclass(c, wanted)]
        if len(found) > 1:
            raise ContainerError(f"several components provide {wanted.__qualname__}: {found}")
        return found[0] if found else None

    def get(self, cls: type[_T]) -> _T:
        """The component that is `cls` or a subclass of it (created at `init`)."""
        with self._lock:
            provider = self.provider(cls)
            if provider is None:
                raise ContainerError(f"no component provides {cls.__qualname__}")
            return typing.cast(_T, self.obtain(provider, ()))

    async def aget(self, cls: type[_T]) -> _T:
        """`get(cls)`, awaitable."""
        return self.get(cls)

    def obtain(self, cls: type, chain: tuple[type, ...]) -> object:
        """The instance of component `cls`, created (with its dependencies) if needed."""
        if cls in self._instances:
            return self._instances[cls]
        if cls in chain:
            raise ContainerError(f"dependency cycle: {' -> '.join(c.__qualname__ for c in (*chain, cls))}")
        args, kwargs = self.arguments(cls, (*chain, cls))
        instance = cls(*args, **kwargs)
        self._instances[cls] = instance
        self._created.append(instance)
        if isinstance(instance, AutoSubscriberMixin):
            instance.subscribe_marked(self.bus_for(instance, (*chain, cls)))
        return instance

    def bus_for(self, subscriber: AutoSubscriberMixin, chain: tuple[type, ...]) -> EventBus:
        """The container's bus, on which `subscriber`'s marked methods are registered."""
        provider = self.provider(EventBus)
        if provider is None:
            raise ContainerError(f"{type(subscriber).__qualname__} mixes in AutoSubscriberMixin but there is no bus")
        bus = self.obtain(provider, chain)
        assert isinstance(bus, EventBus)
        return bus

    def arguments(self, cls: type, chain: tuple[type, ...]) -> tuple[list[Any], dict[str, Any]]:
        """The constructor arguments of `cls`: a component for each parameter whose hint names one."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for param, hint in _parameters(cls):
            provider = self.provider(hint) if isinstance(hint, type) else None
            if provider is None:
                if param.default is inspect.Parameter.empty:
                    raise ContainerError(f"{cls.__qualname__}({param.name}): nothing provides {hint!r}")
                continue
            value = self.inject(provider, chain)
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                args.append(value)
            else:
                kwargs[param.name] = value
        return args, kwargs

    def inject(self, provider: type, chain: tuple[type, ...]) -> object:
        """The value injected for a parameter that `provider` provides: its singleton [CTR-2]."""
        return self.obtain(provider, chain)

    async def cleanup_all_async(self) -> None:
        """Close (`await aclose()`) every created component that has it, newest first; idempotent."""
        with self._lock:
            if self._cleaned:
                return
            self._cleaned = True
            created = list(reversed(self._created))
        for instance in created:
            close = getattr(instance, "aclose", None)
            if close is not None and inspect.iscoroutinefunction(close):
                await close()  # the bus drains its worker [LIFE-1]


def _parameters(cls: type) -> list[tuple[inspect.Parameter, object]]:
    init = next(vars(k)["__init__"] for k in cls.__mro__ if "__init__" in vars(k))
    if init is object.__init__:
        return []
    hints = typing.get_type_hints(init)
    params = list(inspect.signature(init).parameters.values())[1:]
    return [
        (p, hints.get(p.name))
        for p in params
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


def scan(modules: Iterable[types.ModuleType | str]) -> list[type]:
    """The `@component` classes of `modules`, given as module objects or dotted names [CTR-4]."""
    found: list[type] = []
    for entry in modules:
        module = importlib.import_module(entry) if isinstance(entry, str) else entry
        found += [value for value in list(vars(module).values()) if is_component(value)]
    return found


def init(modules: Iterable[types.ModuleType | str]) -> Container:
    """A container of the `@component` classes found in `modules`, every one created now [CTR-3]."""
    return Container(scan(modules))

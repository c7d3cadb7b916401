"""A tiny, lazy dependency-injection container (IMPL-12: components are created on first request).

`init(modules=[...])` collects the `@component` classes of the modules; `get(cls)`
creates the one component that is `cls` or a subclass of it, with its constructor's
parameters injected by type hint, and keeps it. An `AutoSubscriberMixin` instance
has its marked methods registered on the container's bus as it is created, before
`get` hands it out [SUB-2].
"""

from __future__ import annotations

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
    """Singletons of a set of component classes, each created when first needed."""

    def __init__(self, classes: Iterable[type]) -> None:
        self._classes = tuple(dict.fromkeys(classes))
        self._instances: dict[type, object] = {}
        self._created: list[object] = []
        self._lock = threading.RLock()
        self._cleaned = False

    def provider(self, wanted: type) -> type | None:
        """The one component class that is `wanted` or a subclass of it; None if there is none."""
        found = [c for c in self._classes if issubclass(c, wanted)]
        if len(found) > 1:
            raise ContainerError(f"several components provide {wanted.__qualname__}: {found}")
        return found[0] if found else None

    def get(self, cls: type[_T]) -> _T:
        """The component that is `cls` or a subclass of it, created now if it was not yet."""
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


def init(modules: Iterable[types.ModuleType]) -> Container:
    """A container of the `@component` classes found in `modules` (nothing is created yet)."""
    classes = [value for module in modules for value in list(vars(module).values()) if is_component(value)]
    return Container(classes)

"""The component marker, shared by the container and the bus module (which marks `EventBus`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, overload

_C = TypeVar("_C", bound=type)

_FLAG = "__alt_impl_component__"


@overload
def component(cls: _C, *, lazy: bool = False) -> _C: ...


@overload
def component(cls: None = None, *, lazy: bool = False) -> Callable[[_C], _C]: ...


def component(cls: _C | None = None, *, lazy: bool = False) -> _C | Callable[[_C], _C]:
    """Mark `cls` as a component the container may create; return it unchanged.

    `@component(lazy=True)` is accepted; this container creates every component at
    `init` anyway, which IMPL-12 allows.
    """
    if cls is None:
        return lambda target: component(target, lazy=lazy)
    if not isinstance(cls, type):
        raise TypeError(f"@component marks classes, got {cls!r}")
    setattr(cls, _FLAG, True)
    return cls


def is_component(obj: object) -> bool:
    """Whether `obj` is a class marked with `@component` itself (a subclass is not, unless marked too)."""
    return isinstance(obj, type) and vars(obj).get(_FLAG) is True

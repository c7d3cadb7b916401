"""The component marker, shared by the container and the bus module (which marks `EventBus`)."""

from __future__ import annotations

from typing import TypeVar

_C = TypeVar("_C", bound=type)

_FLAG = "__alt_impl_component__"


def component(cls: _C) -> _C:
    """Mark `cls` as a component the container may create; return it unchanged."""
    if not isinstance(cls, type):
        raise TypeError(f"@component marks classes, got {cls!r}")
    setattr(cls, _FLAG, True)
    return cls


def is_component(obj: object) -> bool:
    """Whether `obj` is a class marked with `@component` itself (a subclass is not, unless marked too)."""
    return isinstance(obj, type) and vars(obj).get(_FLAG) is True

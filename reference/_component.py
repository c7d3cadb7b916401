"""The component marker, shared by the container and the bus module.

It lives apart from `container.py` because the container imports the bus module
(to find `EventBus` and `AutoSubscriberMixin`), while the bus module must mark
`EventBus` as a component [CTR-1]: with the marker here, both can use it
without an import cycle, and `EventBus` is marked exactly like a user's class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, overload

_C = TypeVar("_C", bound=type)

_MARKER = "__reference_component__"
_LAZY = "__reference_lazy__"


@overload
def component(cls: _C, *, lazy: bool = False) -> _C: ...


@overload
def component(cls: None = None, *, lazy: bool = False) -> Callable[[_C], _C]: ...


def component(cls: _C | None = None, *, lazy: bool = False) -> _C | Callable[[_C], _C]:
    """Mark a class as a component; return the class unchanged.

    `@component` or `@component(lazy=True)`: a lazy component is created when it is
    first resolved, the others by `init` [CTR-3, IMPL-12].
    """
    if cls is None:
        return lambda target: component(target, lazy=lazy)
    if not isinstance(cls, type):
        raise TypeError(f"@component decorates classes, got {cls!r}; write `@component` above a `class` statement")
    setattr(cls, _MARKER, True)
    setattr(cls, _LAZY, bool(lazy))
    return cls


def is_component(obj: object) -> bool:
    """Whether `obj` is a class marked with `@component` itself."""
    # Read the class's own namespace: a subclass of a component is not one unless marked too.
    return isinstance(obj, type) and vars(obj).get(_MARKER) is True


def is_lazy(cls: type) -> bool:
    """Whether the component class `cls` was marked `@component(lazy=True)` itself."""
    return vars(cls).get(_LAZY) is True

"""The component marker, shared by the container and the bus module.

It lives apart from `container.py` because the container imports the bus module
(to find `EventBus` and `AutoSubscriberMixin`), while the bus module must mark
`EventBus` as a component [CTR-1]: with the marker here, both can use it
without an import cycle, and `EventBus` is marked exactly like a user's class.
"""

from __future__ import annotations

from typing import TypeVar

_C = TypeVar("_C", bound=type)

_MARKER = "__reference_component__"


def component(cls: _C) -> _C:
    """Mark a class as a component; return the class unchanged."""
    if not isinstance(cls, type):
        raise TypeError(f"@component decorates classes, got {cls!r}; write `@component` above a `class` statement")
    setattr(cls, _MARKER, True)
    return cls


def is_component(obj: object) -> bool:
    """Whether `obj` is a class marked with `@component` itself."""
    # Read the class's own namespace: a subclass of a component is not one unless marked too.
    return isinstance(obj, type) and vars(obj).get(_MARKER) is True

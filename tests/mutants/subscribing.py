"""Broken buses for SPEC.md §6 and §7: `@subscribe`, `AutoSubscriberMixin`, and container shutdown."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

import reference.event_bus as ref
import tests.alt_impl.event_bus as alt
from tests.alt_impl.container import Container

from .base import ALT, REFERENCE, container_init, mutant

# -- SUB-1 ---------------------------------------------------------------------------------


def forgetful_subscribe(event_type: Any, **options: Any) -> Callable[[Any], Any]:
    """`@subscribe` that marks the function and forgets to return it: the class attribute becomes None."""
    mark = ref.subscribe(event_type, **options)

    def decorate(fn: Any) -> None:
        mark(fn)

    return decorate


def wrapping_subscribe(event_type: Any, **options: Any) -> Callable[[Any], Any]:
    """`@subscribe` that returns a wrapper which calls the function and drops its result."""
    mark = alt.subscribe(event_type, **options)

    def decorate(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            fn(*args, **kwargs)

        return mark(wrapper)

    return decorate


# -- SUB-2 .. SUB-6 ---------------------------------------------------------------------------


class InertMixin(alt.AutoSubscriberMixin):
    """The mixin registers nothing when the container creates an instance."""

    def subscribe_marked(self, bus: alt.EventBus) -> None:
        pass


class ThrowawayInstanceMixin(alt.AutoSubscriberMixin):
    """The methods registered are bound to a bare instance made for scanning, not to the container's."""

    def subscribe_marked(self, bus: alt.EventBus) -> None:
        cls = type(self)
        alt.AutoSubscriberMixin.subscribe_marked(object.__new__(cls), bus)


DEFAULT_BUS = alt.EventBus()
"""The module-level bus `DefaultBusContainer` registers subscribers on."""


class DefaultBusContainer(Container):
    """Auto-subscribers are registered on a module-level default bus, not on the container's."""

    def bus_for(self, subscriber: alt.AutoSubscriberMixin, chain: tuple[type, ...]) -> alt.EventBus:
        return DEFAULT_BUS


def subscribe_each_mark(self: Any, bus: alt.EventBus, **overrides: Any) -> None:
    """Register `self`'s marked methods with some mark options replaced (a mixin that forgets options)."""
    cls = type(self)
    for name in dir(cls):
        for mark in alt.marks_of(inspect.getattr_static(cls, name)):
            options = {"priority": mark.priority, "policy": mark.policy, "once": mark.once, **overrides}
            bus.subscribe(mark.event_type, getattr(self, name), **options)


class InlineOnlyMixin(alt.AutoSubscriberMixin):
    """The mixin registers every marked method with the default policy, ignoring the mark's."""

    def subscribe_marked(self, bus: alt.EventBus) -> None:
        subscribe_each_mark(self, bus, policy=alt.ExecPolicy.INLINE)


DEFINED: list[type] = []
"""Every subclass of `ClassTimeMixin`, recorded when it is defined."""


class ClassTimeMixin(alt.AutoSubscriberMixin):
    """Subclasses are recorded when defined; the container subscribes all of them when it makes its bus."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        DEFINED.append(cls)

    def subscribe_marked(self, bus: alt.EventBus) -> None:
        pass  # done already, from the class definitions


class ClassTimeContainer(Container):
    """Subscribes the methods of every defined `ClassTimeMixin` class (on bare instances) when it creates the bus."""

    def obtain(self, cls: type, chain: tuple[type, ...]) -> object:
        fresh = cls not in self._instances
        instance = super().obtain(cls, chain)
        if fresh and isinstance(instance, alt.EventBus):
            for klass in DEFINED:
                alt.AutoSubscriberMixin.subscribe_marked(object.__new__(klass), instance)
        return instance


class OncePerFunctionMixin(alt.AutoSubscriberMixin):
    """Each marked function is registered once per bus, for the first instance only (deduplicated)."""

    def subscribe_marked(self, bus: alt.EventBus) -> None:
        seen: set[object] = vars(bus).setdefault("_mutant_seen_functions", set())
        cls = type(self)
        for name in dir(cls):
            function = inspect.getattr_static(cls, name)
            marks = alt.marks_of(function)
            if not marks or function in seen:
                continue
            seen.add(function)
            for mark in marks:
                bus.subscribe(
                    mark.event_type, getattr(self, name), priority=mark.priority, policy=mark.policy, once=mark.once
                )


def last_mark_subscribe(event_type: Any, **options: Any) -> Callable[[Any], Any]:
    """`@subscribe` that keeps one mark per function: the outermost decorator wins."""
    mark = alt.subscribe(event_type, **options)

    def decorate(fn: Any) -> Any:
        vars(fn).pop(alt.MARKS, None)
        return mark(fn)

    return decorate


# -- LIFE-1 ---------------------------------------------------------------------------------


class FireAndForgetCleanupContainer(Container):
    """`cleanup_all_async` schedules each component's `aclose()` and returns without awaiting it."""

    async def cleanup_all_async(self) -> None:
        closing = [asyncio.ensure_future(c.aclose()) for c in reversed(self._created) if hasattr(c, "aclose")]
        vars(self).setdefault("_closing", []).extend(closing)


MUTANTS = [
    mutant(
        "decorator-returns-none",
        "SUB-1",
        "@subscribe marks the function and forgets to return it",
        REFERENCE,
        subscribe=forgetful_subscribe,
    ),
    mutant(
        "decorator-drops-the-result",
        "SUB-1",
        "@subscribe returns a wrapper that calls the function and drops its return value",
        ALT,
        subscribe=wrapping_subscribe,
    ),
    mutant(
        "mixin-registers-nothing",
        "SUB-2",
        "the container creates AutoSubscriberMixin instances without registering their methods",
        ALT,
        AutoSubscriberMixin=InertMixin,
    ),
    mutant(
        "handlers-bound-to-a-scan-instance",
        "SUB-2",
        "the registered methods are bound to a bare instance made for scanning, not the container's",
        ALT,
        AutoSubscriberMixin=ThrowawayInstanceMixin,
    ),
    mutant(
        "subscribers-on-a-default-bus",
        "SUB-2",
        "auto-subscribers are registered on a module-level default bus, not the container's",
        ALT,
        init=container_init(DefaultBusContainer),
    ),
    mutant(
        "decorator-policy-ignored",
        "SUB-3",
        "the mixin registers every marked method INLINE, ignoring the mark's policy",
        ALT,
        AutoSubscriberMixin=InlineOnlyMixin,
    ),
    mutant(
        "mixin-registers-at-class-definition",
        "SUB-4",
        "mixin classes are recorded when defined and their methods subscribed (on bare instances) with the bus",
        ALT,
        AutoSubscriberMixin=ClassTimeMixin,
        init=container_init(ClassTimeContainer),
    ),
    mutant(
        "one-registration-per-method",
        "SUB-5",
        "each marked function is registered once per bus, for the first instance only",
        ALT,
        AutoSubscriberMixin=OncePerFunctionMixin,
    ),
    mutant(
        "one-mark-per-method",
        "SUB-6",
        "@subscribe replaces the marks of the function: only the outermost one counts",
        ALT,
        subscribe=last_mark_subscribe,
    ),
    mutant(
        "cleanup-does-not-await-aclose",
        "LIFE-1",
        "cleanup_all_async schedules each component's aclose() and returns without awaiting it",
        ALT,
        init=container_init(FireAndForgetCleanupContainer),
    ),
]

"""Broken buses for SPEC.md §1 (the container), §6 and §7: `init`, `@subscribe`, `AutoSubscriberMixin`, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import inspect
import pkgutil
import sys
import types
from collections.abc import Callable
from typing import Any

import reference.container as refc
import reference.event_bus as ref
import tests.alt_impl.event_bus as alt
from conformance.kit import DEFAULT_BOUND
from reference._component import is_component, is_lazy
from tests.alt_impl.container import Container, scan

from .base import ALT, REFERENCE, container_init, mutant

# -- CTR-3, CTR-4 ------------------------------------------------------------------------------


class LazyContainer(Container):
    """Components are created on first request, as the 1.0 alt container did: nobody resolves, nobody listens."""

    def create_all(self) -> None:
        pass


class ResubscribingContainer(Container):
    """Every `get`/`aget` of an `AutoSubscriberMixin` component registers its methods on the bus again."""

    def get(self, cls: Any) -> Any:
        instance = super().get(cls)
        if isinstance(instance, alt.AutoSubscriberMixin):
            instance.subscribe_marked(self.bus_for(instance, ()))
        return instance


class ForgetfulWarmupContainer(Container):
    """`init` creates every component (subscribing it), then keeps only the bus: `get` makes new instances."""

    def create_all(self) -> None:
        super().create_all()
        self._instances = {k: v for k, v in self._instances.items() if isinstance(v, alt.EventBus)}


def objects_only_init(modules: Any) -> Container:
    """An `init` that silently skips modules given by dotted name."""
    return Container(scan([m for m in modules if not isinstance(m, str)]))


def sys_modules_init(modules: Any) -> Container:
    """An `init` that looks dotted names up in `sys.modules` only, skipping those nobody imported yet."""
    found = [sys.modules.get(m) if isinstance(m, str) else m for m in modules]
    return Container(scan([m for m in found if m is not None]))


def top_package_init(modules: Any) -> Container:
    """An `init` that imports a dotted name with `__import__(name)`, which returns the top-level package."""
    return Container(scan([__import__(m) if isinstance(m, str) else m for m in modules]))


def submodules_only_init(modules: Any) -> Container:
    """An `init` that, for a package, scans the submodules it can walk and not what the package itself defines."""
    found: list[types.ModuleType] = []
    for entry in modules:
        module = importlib.import_module(entry) if isinstance(entry, str) else entry
        if hasattr(module, "__path__"):
            found += [
                importlib.import_module(info.name)
                for info in pkgutil.walk_packages(module.__path__, f"{module.__name__}.")
            ]
        else:
            found.append(module)
    return Container(scan(found))


def first_form_init(modules: Any) -> Container:
    """An `init` that takes every entry the way it takes the first: names, or module objects (the others skipped)."""
    entries = list(modules)
    by_name = bool(entries) and isinstance(entries[0], str)
    return Container(scan([m for m in entries if isinstance(m, str) == by_name]))


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


class EightMethodsMixin(alt.AutoSubscriberMixin):
    """The mixin keeps the marked methods of a class in a table of 8 slots: a component's ninth and later marked
    methods (in `dir` order) are never registered."""

    def subscribe_marked(self, bus: alt.EventBus) -> None:
        cls = type(self)
        marked = [name for name in dir(cls) if alt.marks_of(inspect.getattr_static(cls, name))]
        for name in marked[:8]:
            for mark in alt.marks_of(inspect.getattr_static(cls, name)):
                options = {"priority": mark.priority, "policy": mark.policy, "once": mark.once}
                bus.subscribe(mark.event_type, getattr(self, name), **options)


class FirstMarksOnlyMixin(alt.AutoSubscriberMixin):
    """The mixin registers at most the first 4 marks of a method ("a handful of types"); the others are dropped."""

    def subscribe_marked(self, bus: alt.EventBus) -> None:
        cls = type(self)
        for name in dir(cls):
            for mark in alt.marks_of(inspect.getattr_static(cls, name))[:4]:
                options = {"priority": mark.priority, "policy": mark.policy, "once": mark.once}
                bus.subscribe(mark.event_type, getattr(self, name), **options)


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


def pair_of_marks_subscribe(event_type: Any, **options: Any) -> Callable[[Any], Any]:
    """`@subscribe` that keeps two marks per function, the first and the newest: a third one drops the middle one."""
    mark = alt.subscribe(event_type, **options)

    def decorate(fn: Any) -> Any:
        marks = alt.marks_of(fn)
        mark(fn)
        if marks:
            setattr(fn, alt.MARKS, (marks[0], alt.marks_of(fn)[-1]))
        return fn

    return decorate


class FirstPolicyMixin(alt.AutoSubscriberMixin):
    """The mixin registers every mark of a method with the policy of the method's first mark."""

    def subscribe_marked(self, bus: alt.EventBus) -> None:
        cls = type(self)
        for name in dir(cls):
            marks = alt.marks_of(inspect.getattr_static(cls, name))
            for mark in marks:
                policy = marks[0].policy
                bus.subscribe(
                    mark.event_type, getattr(self, name), priority=mark.priority, policy=policy, once=mark.once
                )


class BareLazyContainer(refc.Container):
    """The reference container, except that a component marked lazy is created at first `get` unsubscribed."""

    def get(self, cls: Any) -> Any:
        provider = self._provider(cls, (), "get")
        if provider is not None and provider not in self._instances and is_lazy(provider):
            self._instances[provider] = provider()
        return super().get(cls)


def bare_lazy_init(modules: Any) -> refc.Container:
    """The reference's `init`, building a `BareLazyContainer`."""
    found = [v for entry in modules for v in list(vars(refc._import(entry)).values()) if is_component(v)]
    return BareLazyContainer(dict.fromkeys(found))


SUBSCRIBED_CLASSES: set[type] = set()
"""The classes `ClassOnceMixin` has registered, for the whole process."""


class ClassOnceMixin(alt.AutoSubscriberMixin):
    """Registers the methods of the first instance of each class ever made: per-class state across containers."""

    def subscribe_marked(self, bus: alt.EventBus) -> None:
        if type(self) in SUBSCRIBED_CLASSES:
            return
        SUBSCRIBED_CLASSES.add(type(self))
        super().subscribe_marked(bus)


class ClassNameOnceMixin(alt.AutoSubscriberMixin):
    """Registers one instance per class name and bus: a second class of the same name is skipped."""

    def subscribe_marked(self, bus: alt.EventBus) -> None:
        seen: set[str] = vars(bus).setdefault("_mutant_seen_class_names", set())
        if type(self).__qualname__ in seen:
            return
        seen.add(type(self).__qualname__)
        super().subscribe_marked(bus)


# -- LIFE-1 ---------------------------------------------------------------------------------


class FireAndForgetCleanupContainer(Container):
    """`cleanup_all_async` schedules each component's `aclose()` and returns without awaiting it."""

    async def cleanup_all_async(self) -> None:
        closing = [asyncio.ensure_future(c.aclose()) for c in reversed(self._created) if hasattr(c, "aclose")]
        vars(self).setdefault("_closing", []).extend(closing)


class UnsubscribeFirstContainer(Container):
    """`cleanup_all_async` unregisters the auto-subscribers' methods, then closes (drains) the buses."""

    async def cleanup_all_async(self) -> None:
        created = list(reversed(self._created))
        buses = [c for c in created if isinstance(c, alt.EventBus)]
        for instance in created:
            if isinstance(instance, alt.AutoSubscriberMixin):
                cls = type(instance)
                for name in dir(cls):
                    for mark in alt.marks_of(inspect.getattr_static(cls, name)):
                        for bus in buses:
                            bus.unsubscribe(mark.event_type, getattr(instance, name))
        for bus in buses:
            await bus.aclose()


class HastyDrainContainer(Container):
    """`cleanup_all_async` gives each bus's worker 50 ms to drain, then cancels it and drops the queue."""

    limit = 0.05

    async def cleanup_all_async(self) -> None:
        for bus in reversed(self._created):
            if not isinstance(bus, alt.EventBus):
                continue
            worker = bus._worker
            if worker is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(bus.stop_worker()), self.limit)
                if not worker.done():
                    worker.cancel()
                    await asyncio.wait({worker})
                with bus._qlock:
                    bus._queue.clear()
            await bus.aclose()


class GenerousDrainContainer(HastyDrainContainer):
    """`cleanup_all_async` gives each bus's worker a generous 1.4 s (under 3/4 of the default bound) to drain."""

    limit = 1.4


MUTANTS = [
    mutant(
        "components-created-on-first-request",
        "CTR-3",
        "init only collects the component classes; each is created when first resolved (nobody resolves, "
        "nobody listens)",
        ALT,
        init=container_init(LazyContainer),
    ),
    mutant(
        "subscribes-again-on-every-get",
        "CTR-3",
        "every get/aget of an AutoSubscriberMixin component registers its methods on the bus again",
        ALT,
        init=container_init(ResubscribingContainer),
    ),
    mutant(
        "init-warms-up-throwaway-instances",
        "CTR-3",
        "init creates (and subscribes) every component, then forgets it: get/aget create and subscribe another",
        ALT,
        init=container_init(ForgetfulWarmupContainer),
    ),
    mutant(
        "init-skips-dotted-names",
        "CTR-4",
        "init(modules=[...]) scans module objects and silently skips modules given by dotted name",
        ALT,
        init=objects_only_init,
    ),
    mutant(
        "init-finds-names-in-sys-modules-only",
        "CTR-4",
        "init looks dotted module names up in sys.modules and silently skips those not imported yet",
        ALT,
        init=sys_modules_init,
    ),
    mutant(
        "init-imports-the-top-package",
        "CTR-4",
        "init imports a dotted name with __import__(name), which returns the top-level package, not the module",
        ALT,
        init=top_package_init,
    ),
    mutant(
        "init-scans-only-a-packages-submodules",
        "CTR-4",
        "init scans the submodules of a package (pkgutil.walk_packages), not the components the package defines",
        ALT,
        init=submodules_only_init,
    ),
    mutant(
        "init-takes-every-entry-like-the-first",
        "CTR-4",
        "init takes all entries as names or all as module objects, as the first one is, and skips the others",
        ALT,
        init=first_form_init,
    ),
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
        "first-instance-of-a-class-only",
        "SUB-2",
        "the mixin registers the methods of the first instance of each class in the process; later containers' "
        "instances of that class are skipped",
        ALT,
        AutoSubscriberMixin=ClassOnceMixin,
    ),
    mutant(
        "lazy-components-created-unsubscribed",
        "SUB-2",
        "a component marked lazy is created at its first get without its @subscribe methods registered",
        REFERENCE,
        init=bare_lazy_init,
    ),
    mutant(
        "decorator-policy-ignored",
        "SUB-3",
        "the mixin registers every marked method INLINE, ignoring the mark's policy",
        ALT,
        AutoSubscriberMixin=InlineOnlyMixin,
    ),
    mutant(
        "mixin-registers-eight-methods",
        "SUB-2",
        "the mixin registers at most 8 marked methods of a component; the ninth and later are never registered",
        ALT,
        AutoSubscriberMixin=EightMethodsMixin,
    ),
    mutant(
        "mixin-registers-four-marks-of-a-method",
        "SUB-6",
        "the mixin registers at most the first 4 marks of a method; its other event types get nothing",
        ALT,
        AutoSubscriberMixin=FirstMarksOnlyMixin,
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
        "one-registration-per-class-name",
        "SUB-5",
        "the mixin registers one instance per class name and bus: a second class called the same is skipped",
        ALT,
        AutoSubscriberMixin=ClassNameOnceMixin,
    ),
    mutant(
        "one-mark-per-method",
        "SUB-6",
        "@subscribe replaces the marks of the function: only the outermost one counts",
        ALT,
        subscribe=last_mark_subscribe,
    ),
    mutant(
        "two-marks-per-method",
        "SUB-6",
        "@subscribe keeps two marks per function, the first and the newest: a third one replaces the second",
        ALT,
        subscribe=pair_of_marks_subscribe,
    ),
    mutant(
        "marks-share-the-first-policy",
        "SUB-6",
        "the mixin registers every mark of a method with the policy of its first mark",
        ALT,
        AutoSubscriberMixin=FirstPolicyMixin,
    ),
    mutant(
        "cleanup-does-not-await-aclose",
        "LIFE-1",
        "cleanup_all_async schedules each component's aclose() and returns without awaiting it",
        ALT,
        init=container_init(FireAndForgetCleanupContainer),
    ),
    mutant(
        "cleanup-unsubscribes-before-draining",
        "LIFE-1",
        "cleanup_all_async unregisters the auto-subscribed methods first, then closes (drains) the bus",
        ALT,
        init=container_init(UnsubscribeFirstContainer),
    ),
    mutant(
        "cleanup-drains-for-50-ms",
        "LIFE-1",
        "cleanup_all_async gives the worker 50 ms to drain, then cancels it and drops the queued events",
        ALT,
        init=container_init(HastyDrainContainer),
    ),
    mutant(
        "cleanup-drains-for-1400-ms",
        "LIFE-1",
        "cleanup_all_async gives the worker 1.4 s to drain, then cancels it and drops the queued events",
        ALT,
        init=container_init(GenerousDrainContainer),
        bound=DEFAULT_BOUND,
    ),
]

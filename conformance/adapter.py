"""How the kit drives an implementation: the adapter protocol, and the base every adapter builds on.

`Implementation` is every call the suite makes on a bus (`ContainerSupport` adds
the `container` profile's), checked by `check_implementation` when an adapter is
loaded. `BusAdapter` gives each call a default for a pico-ioc-shaped bus, so an
adapter overrides only what differs; `BoundBus` puts the calls back on one bus.

A bus whose package looks like pico-ioc's (a package with `init` and `component`,
and a bus module with `Event`, `EventBus`, `ExecPolicy`, `subscribe`,
`AutoSubscriberMixin`) needs no adapter: `ModuleAdapter` (in `_module_adapter`,
re-exported here) drives it through that public API only. Any other bus provides
an object satisfying `Implementation`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

from ._bounded import label_problem, safe_repr
from .capabilities import CAPABILITIES, ClaimError, check_names
from .rules import PROFILES

__all__ = [
    "BUS_MEMBERS",
    "CONTAINER_MEMBERS",
    "ERROR_NAMES",
    "BoundBus",
    "BusAdapter",
    "ContainerSupport",
    "Implementation",
    "ModuleAdapter",
    "ModuleForm",
    "PolicyName",
    "check_implementation",
]

PolicyName = Literal["INLINE", "TASK", "THREADPOOL"]

EVENTS_MODULE = "app.events"
"""The `__module__` of an event class the kit makes without naming a module: an application's name, not the kit's."""
ERROR_NAMES = ("EventBusError", "EventBusClosedError", "EventBusQueueFullError", "EventBusHandlerError")
"""The exception classes the extended profile names (EXT-ERR-1)."""


class Implementation(Protocol):
    """Every call the suite makes on a bus under test: the protocol an adapter satisfies.

    `BusAdapter` gives each a default that calls the pico-ioc-shaped API, so an
    adapter overrides only what differs and never needs a wrapper bus. The suite
    holds a bus only through these calls: `publish(bus, event)` instead of
    `bus.publish(event)`, and so on. Implementations that claim the `container`
    profile also provide `ContainerSupport`'s members.
    """

    name: str
    """Short name shown in reports, e.g. "reference"."""
    version: str
    """The implementation's version, used to pick expectation entries ("" if unknown)."""
    profiles: frozenset[str]
    """The profiles claimed: "core" always, plus any of "container", "extended", "robustness"."""
    capabilities: frozenset[str]
    """The optional features it has (`conformance.capabilities.CAPABILITIES`); tests needing others are unsupported."""
    event_type: type
    """The base class of events (`object` if events need none)."""

    def event_class(
        self,
        name: str,
        *,
        base: type | None = None,
        fields: Sequence[tuple[str, type]] = (),
        frozen: bool = False,
        module: str | None = None,
        namespace: Mapping[str, Any] | None = None,
    ) -> type:
        """A new event class (see `BusAdapter.event_class`)."""
        ...

    def policy(self, name: PolicyName) -> Any:
        """The implementation's value for the policy called `name`."""
        ...

    def new_bus(self, **options: Any) -> Any:
        """A new bus; `max_queue_size=N` is the only option the kit passes."""
        ...

    def add_handler(
        self, bus: Any, event_type: Any, fn: Callable[..., Any], *, policy: PolicyName | None = None, **options: Any
    ) -> None:
        """Register `fn` for `event_type`; `options` are `priority` and `once` (extended)."""
        ...

    def publish(self, bus: Any, event: Any) -> Awaitable[Any]:
        """`bus.publish(event)`: an awaitable, returned as the bus returns it."""
        ...

    def post(self, bus: Any, event: Any) -> Any:
        """`bus.post(event)`."""
        ...

    def start_worker(self, bus: Any) -> Awaitable[Any]:
        """`bus.start_worker()`."""
        ...

    def stop_worker(self, bus: Any) -> Awaitable[Any]:
        """`bus.stop_worker()`."""
        ...

    def unsubscribe(self, bus: Any, event_type: Any, fn: Callable[..., Any]) -> Any:
        """`bus.unsubscribe(event_type, fn)`."""
        ...

    def publish_sync(self, bus: Any, event: Any) -> Any:
        """`bus.publish_sync(event)`."""
        ...

    def aclose(self, bus: Any) -> Awaitable[Any]:
        """`bus.aclose()`."""
        ...

    def error(self, name: str) -> type[BaseException] | None:
        """The exception class called `name` (one of `ERROR_NAMES`), or None if there is none."""
        ...

    async def close_bus(self, bus: Any) -> None:
        """Stop and close a bus the kit made, whatever state it is in (teardown)."""
        ...


class ContainerSupport(Protocol):
    """What an implementation claiming the `container` profile adds to `Implementation`."""

    bus_type: type
    """The `EventBus` class, as components annotate it for injection."""
    mixin: type
    """`AutoSubscriberMixin`."""

    def subscribe_decorator(self, event_type: Any, **options: Any) -> Callable[[Any], Any]:
        """`@subscribe(event_type, **options)`."""
        ...

    def new_container(self, components: Sequence[type]) -> Any:
        """A container with the bus and `components` (classes, not yet decorated) registered.

        It offers `get(cls)`, `await aget(cls)` and `await cleanup_all_async()`.
        """
        ...

    async def close_container(self, container: Any) -> None:
        """Shut a container the kit made down."""
        ...


BUS_MEMBERS = (
    "name",
    "version",
    "profiles",
    "capabilities",
    "event_type",
    "event_class",
    "policy",
    "new_bus",
    "add_handler",
    "publish",
    "post",
    "start_worker",
    "stop_worker",
    "unsubscribe",
    "publish_sync",
    "aclose",
    "error",
    "close_bus",
)
"""The members of `Implementation`, checked by name when an adapter is loaded."""

CONTAINER_MEMBERS = ("bus_type", "mixin", "subscribe_decorator", "new_container", "close_container")
"""The members of `ContainerSupport`, required when the `container` profile is claimed."""


def check_implementation(obj: Any) -> None:
    """Raise `ClaimError` naming what is missing or malformed in an adapter object, and how to fix it."""
    owner = f"the adapter {safe_repr(obj)}"
    missing = [m for m in BUS_MEMBERS if not hasattr(obj, m)]
    if missing:
        raise ClaimError(
            f"{owner} lacks {', '.join(missing)}; subclass conformance.adapter.BusAdapter, which provides "
            "every call with a default for a pico-ioc-shaped bus, and override what differs"
        )
    profiles = check_names("profiles", obj.profiles, PROFILES, owner)
    if "core" not in profiles:
        raise ClaimError(
            f"{owner} claims {', '.join(sorted(profiles)) or 'no profile'} but not 'core': every implementation "
            "claims core, the bus itself (add it to profiles)"
        )
    capabilities = check_names("capabilities", obj.capabilities, CAPABILITIES, owner)
    if "container" in profiles:
        missing = [m for m in CONTAINER_MEMBERS if not hasattr(obj, m)]
        if missing:
            raise ClaimError(
                f"{owner} claims the container profile but lacks {', '.join(missing)}; "
                "provide them (see ContainerSupport) or drop 'container' from profiles"
            )
    elif "container" in capabilities:
        raise ClaimError(
            f"{owner} declares the 'container' capability without claiming the container profile; claim both or neither"
        )
    if not isinstance(obj.version, str):
        raise ClaimError(f'{owner} has version {safe_repr(obj.version)}; give a string ("" if unknown)')
    for what in ("name", "version"):
        # Names and versions reach headings, tables and file names: one short printable line each.
        problem = label_problem(what, getattr(obj, what))
        if problem:
            raise ClaimError(f"{owner} {problem} (set the adapter's {what} attribute)")
    obj.profiles = profiles
    obj.capabilities = capabilities


class BusAdapter:
    """Every call of `Implementation`, with defaults for a pico-ioc-shaped bus: override only what differs.

    A standalone bus sets `name`, `version`, `event_type`, `bus_class` (or
    overrides `new_bus`), the `profiles` it claims and the `capabilities` it has,
    then overrides the calls its API spells differently. A call the bus cannot
    express raises `Unsupported(capability)`.
    """

    name: str = "bus"
    version: str = ""
    profiles: frozenset[str] = frozenset({"core"})
    capabilities: frozenset[str] = frozenset(CAPABILITIES) - {"container"}
    event_type: type = object
    bus_class: Callable[..., Any] | None = None
    """What the default `new_bus` calls with the kit's options."""

    def event_class(
        self,
        name: str,
        *,
        base: type | None = None,
        fields: Sequence[tuple[str, type]] = (),
        frozen: bool = False,
        module: str | None = None,
        namespace: Mapping[str, Any] | None = None,
    ) -> type:
        """A new event class called `name`: a subclass of `base` (default: `event_type`).

        Its constructor takes `fields` as keyword arguments (the kit never passes
        them by position). Not `frozen`, instances with fields are equal by value
        and unhashable; `frozen`, they are immutable and hashable. `namespace`
        adds methods (the kit passes `__eq__`, `__hash__` and `__repr__` for
        events that all compare equal), `module` sets `__module__` (default `EVENTS_MODULE`): two classes
        of one name in two modules are two event types. The default is a
        dataclass when there are fields, a plain subclass otherwise; a bus whose
        events are, say, pydantic models overrides this.
        """
        parent = base if base is not None else self.event_type
        extra = dict(namespace or {})
        if fields:
            cls = dataclasses.make_dataclass(name, list(fields), bases=(parent,), frozen=frozen, namespace=extra)
        else:
            cls = type(name, (parent,), extra)
        # Without `module`, the class would carry the kit's own module name; an application's
        # instead, so that nothing tells the bus it is under test.
        cls.__module__ = module if module is not None else EVENTS_MODULE
        return cls

    def policy(self, name: PolicyName) -> Any:
        """The policy's name itself; `ModuleAdapter` returns `ExecPolicy.<name>`."""
        return name

    def new_bus(self, **options: Any) -> Any:
        """`bus_class(**options)`."""
        if self.bus_class is None:
            raise NotImplementedError(f"{type(self).__name__} sets no bus_class and does not override new_bus")
        return self.bus_class(**options)

    def add_handler(
        self, bus: Any, event_type: Any, fn: Callable[..., Any], *, policy: PolicyName | None = None, **options: Any
    ) -> None:
        """`bus.subscribe(event_type, fn, policy=<policy(policy)>, **options)` (no `policy` for the default)."""
        if policy is not None:
            options["policy"] = self.policy(policy)
        bus.subscribe(event_type, fn, **options)

    def publish(self, bus: Any, event: Any) -> Awaitable[Any]:
        """`bus.publish(event)`."""
        result: Awaitable[Any] = bus.publish(event)
        return result

    def post(self, bus: Any, event: Any) -> Any:
        """`bus.post(event)`."""
        return bus.post(event)

    def start_worker(self, bus: Any) -> Awaitable[Any]:
        """`bus.start_worker()`."""
        result: Awaitable[Any] = bus.start_worker()
        return result

    def stop_worker(self, bus: Any) -> Awaitable[Any]:
        """`bus.stop_worker()`."""
        result: Awaitable[Any] = bus.stop_worker()
        return result

    def unsubscribe(self, bus: Any, event_type: Any, fn: Callable[..., Any]) -> Any:
        """`bus.unsubscribe(event_type, fn)`."""
        return bus.unsubscribe(event_type, fn)

    def publish_sync(self, bus: Any, event: Any) -> Any:
        """`bus.publish_sync(event)`."""
        return bus.publish_sync(event)

    def aclose(self, bus: Any) -> Awaitable[Any]:
        """`bus.aclose()`."""
        result: Awaitable[Any] = bus.aclose()
        return result

    def error(self, name: str) -> type[BaseException] | None:
        """None: a bus with the `error_classes` capability overrides this."""
        return None

    async def close_bus(self, bus: Any) -> None:
        """`aclose` if the bus has it, else `stop_worker` if it has a worker, else nothing."""
        if "aclose" in self.capabilities:
            await self.aclose(bus)
        elif "worker" in self.capabilities:
            await self.stop_worker(bus)


class BoundBus:
    """A bus whose methods are the adapter's calls: for tools that drive a bus directly (the soak).

    `bus.post(event)` is `impl.post(raw, event)`, and so on; `raw` is the bus itself.
    """

    __slots__ = ("impl", "raw")

    def __init__(self, impl: Implementation, raw: Any) -> None:
        self.impl = impl
        self.raw = raw

    def publish(self, event: Any) -> Awaitable[Any]:
        """`impl.publish(raw, event)`."""
        return self.impl.publish(self.raw, event)

    def post(self, event: Any) -> Any:
        """`impl.post(raw, event)`."""
        return self.impl.post(self.raw, event)

    def start_worker(self) -> Awaitable[Any]:
        """`impl.start_worker(raw)`."""
        return self.impl.start_worker(self.raw)

    def stop_worker(self) -> Awaitable[Any]:
        """`impl.stop_worker(raw)`."""
        return self.impl.stop_worker(self.raw)

    def unsubscribe(self, event_type: Any, fn: Callable[..., Any]) -> Any:
        """`impl.unsubscribe(raw, event_type, fn)`."""
        return self.impl.unsubscribe(self.raw, event_type, fn)


# Last: `ModuleAdapter` subclasses `BusAdapter`, so its module imports this one, which must be complete by then.
from ._module_adapter import ModuleAdapter, ModuleForm  # noqa: E402

"""How the kit drives an implementation: the adapter protocol and the generic module adapter.

A bus whose package looks like pico-ioc's (a package with `init` and `component`,
and a bus module with `Event`, `EventBus`, `ExecPolicy`, `subscribe`,
`AutoSubscriberMixin`) needs no adapter: `ModuleAdapter` drives it through that
public API only. Any other bus provides an object satisfying `Implementation`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import itertools
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from .rules import PROFILES

PolicyName = Literal["INLINE", "TASK", "THREADPOOL"]

ModuleForm = Literal["mixed", "swapped", "names", "objects"]
"""How `ModuleAdapter.new_container` hands `init` the modules: by dotted name, as module objects, or mixed."""

_BY_NAME: dict[str, tuple[bool, bool]] = {
    "mixed": (True, False),
    "swapped": (False, True),
    "names": (True, True),
    "objects": (False, False),
}
"""Per form: whether the components' modules, and the bus module, are given by dotted name."""

ERROR_NAMES = ("EventBusError", "EventBusClosedError", "EventBusQueueFullError", "EventBusHandlerError")
"""The exception classes the extended profile names (EXT-ERR-1)."""


@runtime_checkable
class Implementation(Protocol):
    """What the kit needs from an implementation under test.

    The bus objects that `new_bus` returns and that containers provide must offer
    the documented methods: `publish` (async), `post`, `start_worker` (async),
    `stop_worker` (async), and for the extended profile `unsubscribe`,
    `publish_sync` and `aclose` (async). Handlers are registered through
    `add_handler`, so a bus whose registration call differs adapts there.
    """

    name: str
    """Short name shown in reports, e.g. "reference"."""
    version: str
    """The implementation's version, used to pick expectation entries."""
    profiles: frozenset[str]
    """The profiles claimed: "core" always, plus "extended" and/or "robustness"."""
    event_type: type
    """The `Event` base class."""
    bus_type: type
    """The `EventBus` class, as components annotate it for injection."""
    mixin: type
    """`AutoSubscriberMixin`."""

    def policy(self, name: PolicyName) -> Any:
        """The implementation's value for the policy called `name`."""
        ...

    def subscribe_decorator(self, event_type: Any, **options: Any) -> Callable[[Any], Any]:
        """`@subscribe(event_type, **options)`."""
        ...

    def new_bus(self, **options: Any) -> Any:
        """A new bus; `max_queue_size=N` is the only option the kit passes."""
        ...

    def add_handler(
        self, bus: Any, event_type: Any, fn: Callable[..., Any], *, policy: PolicyName | None = None, **options: Any
    ) -> None:
        """Register `fn` for `event_type`; `options` are `priority` and `once` (extended)."""
        ...

    def new_container(self, components: Sequence[type]) -> Any:
        """A container with the bus and `components` (classes, not yet decorated) registered.

        It offers `get(cls)`, `await aget(cls)` and `await cleanup_all_async()`.
        """
        ...

    def error(self, name: str) -> type[BaseException] | None:
        """The exception class called `name` (one of `ERROR_NAMES`), or None if there is none."""
        ...

    async def close_bus(self, bus: Any) -> None:
        """Stop and close a bus the kit made, whatever state it is in."""
        ...

    async def close_container(self, container: Any) -> None:
        """Shut a container the kit made down."""
        ...


_module_ids = itertools.count(1)


class ModuleAdapter:
    """Drives a package shaped like `pico_ioc` (+ `pico_ioc.event_bus`) through its public API."""

    def __init__(self, package: types.ModuleType, *, name: str | None = None, profiles: frozenset[str] | None = None):
        self.package = package
        self.bus_module = _bus_module(package)
        self.name = name or package.__name__
        self.version = _version_of(package)
        declared = getattr(package, "__conformance_profiles__", None)
        self.profiles = frozenset(profiles or declared or PROFILES)
        missing = [
            n for n in ("Event", "EventBus", "ExecPolicy", "subscribe", "AutoSubscriberMixin") if self._find(n) is None
        ]
        missing += [n for n in ("init", "component") if getattr(package, n, None) is None]
        if missing:
            raise TypeError(
                f"{package.__name__} does not look like an event-bus package: it has no "
                + ", ".join(missing)
                + ". Pass an adapter object instead (see the README, 'Testing your own bus')."
            )
        self.event_type: type = self._find("Event")
        self.bus_type: type = self._find("EventBus")
        self.mixin: type = self._find("AutoSubscriberMixin")
        self._policies = self._find("ExecPolicy")
        self._subscribe = self._find("subscribe")

    def __repr__(self) -> str:
        return f"<ModuleAdapter {self.name} {self.version}>"

    def _find(self, attr: str) -> Any:
        found = getattr(self.bus_module, attr, None)
        return found if found is not None else getattr(self.package, attr, None)

    def policy(self, name: PolicyName) -> Any:
        """`ExecPolicy.<name>`."""
        return getattr(self._policies, name)

    def subscribe_decorator(self, event_type: Any, **options: Any) -> Callable[[Any], Any]:
        """`subscribe(event_type, **options)`."""
        decorator: Callable[[Any], Any] = self._subscribe(event_type, **options)
        return decorator

    def new_bus(self, **options: Any) -> Any:
        """`EventBus(**options)`."""
        return self.bus_type(**options)

    def add_handler(
        self, bus: Any, event_type: Any, fn: Callable[..., Any], *, policy: PolicyName | None = None, **options: Any
    ) -> None:
        """`bus.subscribe(event_type, fn, policy=..., **options)`."""
        if policy is not None:
            options["policy"] = self.policy(policy)
        bus.subscribe(event_type, fn, **options)

    def new_container(
        self, components: Sequence[type], *, modules: ModuleForm = "mixed", lazy: Sequence[type] = ()
    ) -> Any:
        """`init(modules=[...])` over synthetic modules holding the components, and the bus module.

        The components go into one synthetic module per module they name
        (`cls.__module__`), so classes of one name from two modules stay two
        classes; each module is in `sys.modules` for the duration of `init`.
        `modules` says how `init` is given them (CTR-4): "mixed" (the default:
        the components' modules by dotted name, the bus module as a module
        object), "swapped" (the reverse), "names" or "objects" (all one way).
        The classes in `lazy` are marked `component(lazy=True)` (IMPL-12).
        """
        groups: dict[str, list[type]] = {}
        for cls in components:
            groups.setdefault(cls.__module__, []).append(cls)
        scanned: list[types.ModuleType] = []
        for classes in groups.values():
            module = types.ModuleType(f"_conformance_components_{next(_module_ids)}")
            for cls in classes:
                cls.__module__ = module.__name__
                marked = self.package.component(lazy=True)(cls) if cls in lazy else self.package.component(cls)
                attr = cls.__name__ if not hasattr(module, cls.__name__) else f"{cls.__name__}_{next(_module_ids)}"
                setattr(module, attr, marked)
            scanned.append(module)
        components_by_name, bus_by_name = _BY_NAME[modules]
        entries: list[types.ModuleType | str] = [m.__name__ if components_by_name else m for m in scanned]
        entries.append(self.bus_module.__name__ if bus_by_name else self.bus_module)
        added = [m for m in (*scanned, self.bus_module) if m.__name__ not in sys.modules]
        for module in added:
            sys.modules[module.__name__] = module
        try:
            return self.package.init(modules=entries)
        finally:
            # The container has scanned the modules; leaving them would leak across tests.
            for module in added:
                del sys.modules[module.__name__]

    def error(self, name: str) -> type[BaseException] | None:
        """The exception class `name` from the bus module or the package."""
        found = self._find(name)
        return found if isinstance(found, type) and issubclass(found, BaseException) else None

    async def close_bus(self, bus: Any) -> None:
        """`await bus.aclose()` if it exists, else `await bus.stop_worker()`."""
        close = getattr(bus, "aclose", None)
        if close is not None and inspect.iscoroutinefunction(close):
            await close()
        else:
            await bus.stop_worker()

    async def close_container(self, container: Any) -> None:
        """`await container.cleanup_all_async()`."""
        await container.cleanup_all_async()


def _bus_module(package: types.ModuleType) -> types.ModuleType:
    try:
        return importlib.import_module(f"{package.__name__}.event_bus")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package.__name__}.event_bus":
            raise
        return package


def _version_of(package: types.ModuleType) -> str:
    top = package.__name__.split(".")[0]
    for dist in importlib.metadata.packages_distributions().get(top, []):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return str(getattr(package, "__version__", "0"))

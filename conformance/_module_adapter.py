"""`ModuleAdapter`: drives a package shaped like pico-ioc through its public API, with no adapter to write.

Such a package has `init` and `component`, and a bus module (`PACKAGE.event_bus`,
else the package itself) with `Event`, `EventBus`, `ExecPolicy`, `subscribe` and
`AutoSubscriberMixin`. Re-exported by `conformance.adapter`, which it builds on
(`BusAdapter`): import it from there.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import itertools
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any, Literal

from ._bounded import label_problem
from ._modules import GeneratedModules
from .adapter import BusAdapter, PolicyName
from .capabilities import CAPABILITIES, ClaimError, check_names
from .rules import PROFILES

ModuleForm = Literal["mixed", "swapped", "names", "objects", "alternating"]
"""How `ModuleAdapter.new_container` hands `init` the modules: by dotted name, as module objects, or mixed."""

_BY_NAME: dict[str, tuple[bool | None, bool]] = {
    "mixed": (True, False),
    "swapped": (False, True),
    "names": (True, True),
    "objects": (False, False),
    "alternating": (None, True),
}
"""Per form: whether the components' modules (None: every other one, the first by name), and the bus
module, are given by dotted name."""

_module_ids = itertools.count(1)


class ModuleAdapter(BusAdapter):
    """Drives a package shaped like `pico_ioc` (+ `pico_ioc.event_bus`) through its public API."""

    def __init__(
        self,
        package: types.ModuleType,
        *,
        name: str | None = None,
        profiles: frozenset[str] | None = None,
        capabilities: frozenset[str] | None = None,
    ):
        self.package = package
        self.bus_module = _bus_module(package)
        self.name = name or package.__name__
        self.version = _version_of(package)
        owner = f"the package {package.__name__}"
        for what in ("name", "version"):
            problem = label_problem(what, getattr(self, what))
            if problem:
                fix = "give --impl a registered name" if what == "name" else "set __version__ to a plain string"
                raise ClaimError(f"{owner} {problem} ({fix})")
        declared = getattr(package, "__conformance_profiles__", None)
        if profiles is None and declared is not None:
            profiles = check_names("profiles (__conformance_profiles__)", declared, PROFILES, owner)
        self.profiles = frozenset(profiles if profiles is not None else PROFILES)
        declared = getattr(package, "__conformance_capabilities__", None)
        if capabilities is None and declared is not None:
            capabilities = check_names("capabilities (__conformance_capabilities__)", declared, CAPABILITIES, owner)
        self.capabilities = frozenset(capabilities if capabilities is not None else CAPABILITIES)
        if "container" not in self.profiles:
            self.capabilities -= {"container"}
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
        self.event_type = self._find("Event")
        self.bus_type: type = self._find("EventBus")
        self.mixin: type = self._find("AutoSubscriberMixin")
        self._policies = self._find("ExecPolicy")
        self._subscribe = self._find("subscribe")

    def __repr__(self) -> str:
        return f"<ModuleAdapter {self.name} {self.version}>"

    def new_bus(self, **options: Any) -> Any:
        """`EventBus(**options)`."""
        return self.bus_type(**options)

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

    def new_container(
        self, components: Sequence[type], *, modules: ModuleForm = "mixed", lazy: Sequence[type] = ()
    ) -> Any:
        """`init(modules=[...])` over generated modules holding the components, and the bus module.

        The components go into one generated module per module they name
        (`cls.__module__`, its top-level name made unique), so classes of one name
        from two modules stay two classes, and a dotted name makes packages: `app`
        and `app.services.mail` are a package holding a subpackage and a module.
        Given by name, they are not in `sys.modules` when `init` is called: it
        must import them (`GeneratedModules`). `modules` says how `init` is given
        them (CTR-4): "mixed" (the default: the components' modules by dotted name,
        the bus module as a module object), "swapped" (the reverse), "names" or
        "objects" (all one way), "alternating" (the components' modules by name
        and as objects in turn, the bus module by name). The classes in `lazy`
        are marked `component(lazy=True)` (IMPL-12).
        """
        contents: dict[str, dict[str, Any]] = {}
        tops: dict[str, str] = {}
        for cls in components:
            # A name an application could have: nothing tells the bus (or its container) it is under test.
            # A class the suite defined (its module is the kit's) gets one module of its own; a dotted name
            # the test chose keeps its packages below a neutral top-level name.
            if cls.__module__.split(".")[0] == "conformance":
                top, rest = cls.__module__, ""
            else:
                top, _, rest = cls.__module__.partition(".")
            name = tops.setdefault(top, f"app_components_{next(_module_ids)}") + (f".{rest}" if rest else "")
            attrs = contents.setdefault(name, {})
            cls.__module__ = name
            marked = self.package.component(lazy=True)(cls) if cls in lazy else self.package.component(cls)
            attrs[cls.__name__ if cls.__name__ not in attrs else f"{cls.__name__}_{next(_module_ids)}"] = marked
        components_by_name, bus_by_name = _BY_NAME[modules]
        added = [] if self.bus_module.__name__ in sys.modules else [self.bus_module]
        with GeneratedModules(contents) as generated:
            entries: list[types.ModuleType | str] = [
                name if (i % 2 == 0 if components_by_name is None else components_by_name) else generated.module(name)
                for i, name in enumerate(contents)
            ]
            entries.append(self.bus_module.__name__ if bus_by_name else self.bus_module)
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
    return str(getattr(package, "__version__", ""))

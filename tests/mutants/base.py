"""What a broken bus is: a `Mutant` (one rule, one defect) and the adapter that puts it under test.

A mutant is a base bus package (`reference` or `tests.alt_impl`) with one or two
of its names replaced (the `EventBus` class, `Event`, the `subscribe` decorator,
`AutoSubscriberMixin`, the container's `init`), or with an exception class
missing. `MutantAdapter` drives it exactly as `ModuleAdapter` drives the base,
through synthetic modules holding the replacements, so the container the kit
builds creates the broken `EventBus` too.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.adapter import ModuleAdapter

REFERENCE = "reference"
"""The reference implementation, as a base."""
ALT = "tests.alt_impl"
"""The second conforming bus, as a base: its methods are small, so most defects override one of them."""


@dataclass(frozen=True)
class Mutant:
    """A bus that breaks exactly one rule of SPEC.md (`rule`) and is otherwise its base."""

    name: str
    """Short, unique, kebab-case: what goes wrong."""
    rule: str
    """The ID of the rule it breaks."""
    description: str
    """One line: the defect, as a hurried implementer would write it."""
    base: str
    """The package it modifies: `REFERENCE` or `ALT`."""
    replace: dict[str, Any] = field(default_factory=dict)
    """Names of the base's bus module and package to replace: EventBus, Event, subscribe, AutoSubscriberMixin, init."""
    remove: tuple[str, ...] = ()
    """Names the broken bus does not export (e.g. an exception class)."""
    gap: str | None = None
    """Set when the suite is known not to catch it: why (the kill matrix expects it to survive)."""
    hangs: bool = False
    """A bus that hangs nearly every test: `tests/test_hang_bounds.py` proves the kit's bounds on it, and the
    kill matrix, which runs the whole suite, leaves it out."""
    bound: float | None = None
    """The `--bound` its runs need, when not the kill matrix's short one: a defect that is a duration sized
    against the kit's default bound (a "generous" 1.4 s timeout) is judged at that bound, where the kit's
    "waits for" handlers take three quarters of it (`conformance._sync.patience`)."""

    @property
    def attr(self) -> str:
        """The attribute of `tests.mutants` that `--impl=tests.mutants:<attr>` loads."""
        return self.name.replace("-", "_")

    @property
    def impl(self) -> str:
        """The `--impl` value that puts this mutant under test."""
        return f"tests.mutants:{self.attr}"

    def implementation(self) -> MutantAdapter:
        """The adapter the kit drives."""
        return MutantAdapter(self)


class MutantAdapter(ModuleAdapter):
    """`ModuleAdapter` over synthetic copies of the base's modules with the mutant's replacements."""

    def __init__(self, mutant: Mutant) -> None:
        base = importlib.import_module(mutant.base)
        super().__init__(base, name=f"mutant {mutant.name} ({mutant.rule})")
        bus = mutant.replace.get("EventBus")
        if bus is not None:
            base.component(bus)  # containers create what init finds marked in the bus module
        self.bus_module = _copy(self.bus_module, f"{mutant.attr}_bus", mutant)
        self.package = _copy(base, mutant.attr, mutant)
        self.event_type = self._find("Event")
        self.bus_type = self._find("EventBus")
        self.mixin = self._find("AutoSubscriberMixin")
        self._subscribe = self._find("subscribe")


def _copy(module: types.ModuleType, name: str, mutant: Mutant) -> types.ModuleType:
    copy = types.ModuleType(f"_mutant_{name}", module.__doc__)
    namespace = dict(vars(module))
    for key in ("__name__", "__spec__", "__loader__", "__path__", "__file__", "__package__"):
        namespace.pop(key, None)
    namespace.update(mutant.replace)
    for key in mutant.remove:
        namespace.pop(key, None)
    vars(copy).update(namespace)
    return copy


def mutant(
    name: str,
    rule: str,
    description: str,
    base: str,
    *,
    gap: str | None = None,
    remove: tuple[str, ...] = (),
    hangs: bool = False,
    bound: float | None = None,
    **replace: Any,
) -> Mutant:
    """A `Mutant`; keyword arguments name what it replaces (`EventBus=...`, `init=...`)."""
    return Mutant(name, rule, description, base, replace, remove, gap, hangs, bound)


def container_init(container_class: type) -> Callable[..., Any]:
    """An `init(modules=...)` for the alt bus that builds `container_class` instead of its `Container`."""
    from tests.alt_impl.container import scan

    def init(modules: Any) -> Any:
        return container_class(scan(modules))

    return init

"""Completeness per profile: which claimed profiles were judged whole, and what a partial one left unjudged.

A claimed profile is *complete* when no test of its rules was unsupported; else
it is *partial*, and each capability it lacks is listed with the number of the
profile's rules it leaves unjudged (wholly, or some of their tests). SPEC.md
(Capabilities): a rule of the guide an implementation does not support is a
deviation, of the kind "lacks the feature".

`present_undeclared` looks for capabilities a package driven directly (shaped
like pico-ioc) visibly has but does not declare: the run says so prominently.
Such a capability is not tested (the declaration stands), see SPEC.md.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .capabilities import CAPABILITIES
from .rules import RULES

ADAPTER_RAISED = "(raised by the adapter)"
"""How an `Unsupported` an adapter raised itself, naming no declared capability, is listed."""

LACKS = "lacks the feature"
"""The deviation kind of a rule left unjudged because the implementation does not support what it needs."""


@dataclass(frozen=True)
class Gap:
    """One capability a claimed profile's tests needed and the implementation does not declare."""

    capability: str
    rules: tuple[str, ...]
    """The profile's rules it leaves unjudged (wholly or in part), in SPEC.md order."""
    present: tuple[str, ...] = ()
    """The bus's members that show the capability although it is not declared (see `present_undeclared`)."""


@dataclass(frozen=True)
class ProfileCompleteness:
    """Whether one claimed profile was judged whole."""

    profile: str
    gaps: tuple[Gap, ...] = field(default=())

    @property
    def complete(self) -> bool:
        """True when every test of the profile's rules ran."""
        return not self.gaps

    def describe(self) -> str:
        """`core: complete`, or `core: partial (worker: 12 rules unjudged, ...)`."""
        if self.complete:
            return f"{self.profile}: complete"
        parts = [f"{g.capability}: {len(g.rules)} rule{'s' if len(g.rules) != 1 else ''} unjudged" for g in self.gaps]
        return f"{self.profile}: partial ({', '.join(parts)})"


def completeness(
    profiles: Sequence[str],
    unsupported: Iterable[tuple[str, str]],
    present: Mapping[str, Sequence[str]] | None = None,
) -> list[ProfileCompleteness]:
    """Per claimed profile, from the (rule ID, capability) of every unsupported test of the run."""
    by_profile: dict[str, dict[str, set[str]]] = {}
    for rule_id, capability in unsupported:
        rule = RULES.get(rule_id)
        profile: str = rule.profile if rule is not None else ""
        by_profile.setdefault(profile, {}).setdefault(capability or ADAPTER_RAISED, set()).add(rule_id)
    order = [*CAPABILITIES, ADAPTER_RAISED]
    out = []
    for profile in profiles:
        gaps = by_profile.get(profile, {})
        out.append(
            ProfileCompleteness(
                profile,
                tuple(
                    Gap(
                        capability,
                        tuple(r for r in RULES if r in gaps[capability]),
                        tuple((present or {}).get(capability, ())),
                    )
                    for capability in sorted(gaps, key=lambda c: order.index(c) if c in order else len(order))
                ),
            )
        )
    return out


def present_undeclared(impl: Any) -> dict[str, list[str]]:
    """Capability -> the public members showing it, for each capability a directly driven package lacks on paper.

    Only a package the kit drives itself (`ModuleAdapter`, shaped like pico-ioc) is
    looked at: there the kit calls the package's own members by these names. An
    adapter maps its bus's API itself; a member of the same name there may mean
    something else, so its declaration is taken as it is.
    """
    from ._module_adapter import ModuleAdapter

    if not isinstance(impl, ModuleAdapter):
        return {}
    declared = impl.capabilities
    bus = impl.bus_type
    found: dict[str, list[str]] = {}
    policies = getattr(impl, "_policies", None)
    for name, capability in (("TASK", "task"), ("THREADPOOL", "threadpool")):
        if _has(policies, name):
            found[capability] = [f"ExecPolicy.{name}"]
    if _has(bus, "post") and _has(bus, "start_worker"):
        found["worker"] = ["post", "start_worker"] + (["stop_worker"] if _has(bus, "stop_worker") else [])
    if _has(bus, "post"):
        found["threadsafe_post"] = ["post (the guide documents it as callable from any thread)"]
    # A subclass may take **options and pass them on: any constructor up the hierarchy counts.
    if any("max_queue_size" in _parameters(vars(cls).get("__init__")) for cls in getattr(bus, "__mro__", ())):
        found["bounded_queue"] = ["EventBus(max_queue_size=...)"]
    subscribe = _parameters(getattr(bus, "subscribe", None))
    for option in ("priority", "once"):
        if option in subscribe:
            found[option] = [f"subscribe(..., {option}=...)"]
    for member in ("unsubscribe", "publish_sync", "aclose"):
        if _has(bus, member):
            found[member] = [member]
    errors = ("EventBusError", "EventBusClosedError", "EventBusQueueFullError", "EventBusHandlerError")
    if all(impl.error(e) is not None for e in errors):
        found["error_classes"] = list(errors)
    return {c: members for c, members in found.items() if c not in declared}


def _has(obj: Any, name: str) -> bool:
    try:
        return obj is not None and getattr(obj, name, None) is not None
    except Exception:
        return False


def _parameters(fn: Any) -> set[str]:
    if fn is None:
        return set()
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()

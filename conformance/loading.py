"""Turning `--impl=NAME` into an `Implementation`.

NAME is, in this order of lookup:

1. a name registered in the `event_bus_conformance.implementations` entry-point
   group (this project registers `reference` and `pico-ioc`; a third-party package
   adds its own the same way);
2. `module:attribute`, where the attribute is an `Implementation`, a zero-argument
   callable returning one, or a package shaped like pico-ioc;
3. a dotted module path: a package shaped like pico-ioc, or a module exposing
   `conformance_implementation` (an `Implementation` or a callable returning one).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
import types
import warnings
from pathlib import Path
from typing import Any, cast

from ._bounded import safe_repr
from ._loops import POLICY
from .adapter import CONTAINER_MEMBERS, Implementation, ModuleAdapter, check_implementation
from .capabilities import ClaimError

ENTRY_POINT_GROUP = "event_bus_conformance.implementations"


class ImplementationNotFoundError(Exception):
    """`--impl` names nothing the kit can drive."""


def registered_names() -> list[str]:
    """The names of the implementations registered through entry points."""
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)})


class LoopPolicyWarning(UserWarning):
    """Loading the implementation replaced the global event-loop policy."""


def load_implementation(spec: str, profiles: frozenset[str] | None = None) -> Implementation:
    """Resolve `spec` (see the module docstring) to an `Implementation`."""
    try:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == spec:
                return _coerce(_import(ep.value, spec), spec, profiles)
        return _coerce(_import(spec, spec), None, profiles)
    finally:
        changed = POLICY.changed()
        if changed:
            warnings.warn(LoopPolicyWarning(f"loading --impl={spec}: {changed}"), stacklevel=2)


def _import_module(name: str) -> types.ModuleType:
    """Import `name`; an adapter module in the current directory is found too.

    `python -m pytest` puts the current directory on `sys.path`, the `pytest`
    command does not: `pytest --impl=my_adapter:factory` must work either way.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        top = name.split(".")[0]
        if (
            exc.name != top
            or cwd in sys.path
            or not (Path(cwd, f"{top}.py").is_file() or Path(cwd, top, "__init__.py").is_file())
        ):
            raise
        sys.path.insert(0, cwd)
        return importlib.import_module(name)


def _import(target: str, spec: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        module = _import_module(module_name)
    except ImportError as exc:
        known = ", ".join(registered_names()) or "none"
        raise ImplementationNotFoundError(
            f"--impl={spec}: cannot import {module_name!r} ({exc}). "
            f"Registered names: {known}; otherwise give a dotted module path or module:attribute."
        ) from exc
    if not attr:
        return module
    try:
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise ImplementationNotFoundError(f"--impl={spec}: {module_name} has no attribute {attr!r}") from exc
    return obj


def _coerce(obj: Any, name: str | None, profiles: frozenset[str] | None) -> Implementation:
    try:
        if isinstance(obj, types.ModuleType):
            hook = getattr(obj, "conformance_implementation", None)
            if hook is not None:
                return _coerce(hook, name, profiles)
            try:
                return ModuleAdapter(obj, name=name, profiles=profiles)
            except TypeError as exc:
                raise ImplementationNotFoundError(str(exc)) from exc
        if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "publish")):
            obj = obj()
        check_implementation(obj)
    except ClaimError as exc:
        raise ImplementationNotFoundError(str(exc)) from exc
    if profiles is not None:
        missing = [m for m in CONTAINER_MEMBERS if not hasattr(obj, m)]
        if "container" in profiles and missing:
            raise ImplementationNotFoundError(
                f"--profiles includes container, but {safe_repr(obj)} has no container support "
                f"(it lacks {', '.join(missing)})"
            )
        obj.profiles = profiles
        if "container" not in profiles:
            obj.capabilities = frozenset(obj.capabilities) - {"container"}
    return cast(Implementation, obj)

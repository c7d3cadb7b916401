"""Component modules that `init` must find itself: generated packages and submodules, served by a finder.

CTR-4 says `init` accepts dotted module names. A kit that put its generated modules
in `sys.modules` before calling `init` would pass a container that only looks names
up there, or that takes `__import__(name)` (the top-level package) for the module.
`GeneratedModules` holds the modules of one `init` call, with every parent package
of a dotted name, and serves them through `sys.meta_path` while it is active: none
of them is in `sys.modules` until `init` imports it, and all are gone afterwards.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Mapping
from typing import Any


class GeneratedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A set of made-up modules (dotted name -> attributes), importable while the object is active (`with`).

    A name that is the prefix of another (`app` for `app.services.mail`) is a
    package; parents that hold nothing are added as empty packages.
    """

    def __init__(self, contents: Mapping[str, Mapping[str, Any]]) -> None:
        self._contents: dict[str, dict[str, Any]] = {}
        for name, attrs in contents.items():
            parts = name.split(".")
            for i in range(1, len(parts)):
                self._contents.setdefault(".".join(parts[:i]), {})
            self._contents.setdefault(name, {}).update(attrs)
        self.packages = frozenset(n for n in self._contents if any(o.startswith(f"{n}.") for o in self._contents))
        """The names that are packages (they have submodules)."""

    def find_spec(
        self, fullname: str, path: Any = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """The spec of `fullname` if it is one of these modules (import machinery protocol)."""
        if fullname not in self._contents:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=fullname in self.packages)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        """The default module object (import machinery protocol)."""
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        """Fill `module` with its attributes (import machinery protocol)."""
        vars(module).update(self._contents[module.__name__])

    def module(self, name: str) -> types.ModuleType:
        """A module object for `name`, made without importing it: it is not put in `sys.modules`."""
        spec = self.find_spec(name)
        if spec is None:
            raise KeyError(name)
        module = importlib.util.module_from_spec(spec)
        self.exec_module(module)
        return module

    def __enter__(self) -> GeneratedModules:
        sys.meta_path.insert(0, self)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.meta_path.remove(self)
        # What init imported would leak into the next test (and keep its classes alive).
        for name in [n for n in sys.modules if n in self._contents]:
            del sys.modules[name]

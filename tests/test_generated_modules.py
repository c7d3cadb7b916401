"""`conformance._modules.GeneratedModules`: the modules CTR-4's tests hand `init` are really imported by it."""

from __future__ import annotations

import importlib
import sys

import pytest

from conformance._modules import GeneratedModules


class Component:
    """A stand-in for a component class."""


def test_names_are_imported_only_while_active_and_forgotten_after() -> None:
    modules = GeneratedModules({"_gen_app": {"A": Component}, "_gen_app.services.mail": {"B": Component}})
    assert modules.packages == {"_gen_app", "_gen_app.services"}
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("_gen_app.services.mail")
    with modules:
        assert not [n for n in sys.modules if n.startswith("_gen_app")], "nothing is imported before init imports it"
        mail = importlib.import_module("_gen_app.services.mail")
        assert mail.B is Component
        assert importlib.import_module("_gen_app").A is Component
        assert hasattr(sys.modules["_gen_app.services"], "__path__"), "a parent of a dotted name is a package"
        assert not hasattr(mail, "__path__")
    assert not [n for n in sys.modules if n.startswith("_gen_app")], "what was imported is forgotten afterwards"
    assert modules not in sys.meta_path


def test_module_objects_are_made_without_importing() -> None:
    modules = GeneratedModules({"_gen_obj.inner": {"C": Component}})
    with modules:
        inner = modules.module("_gen_obj.inner")
        assert inner.C is Component and inner.__name__ == "_gen_obj.inner"
        assert "_gen_obj.inner" not in sys.modules and "_gen_obj" not in sys.modules
        with pytest.raises(KeyError):
            modules.module("_gen_obj.missing")

"""Claims are checked: profiles and capabilities, adapters, `--impl` targets; a bus-only claim is complete.

Every must-raise case sits beside the same input made valid, which loads.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest

import reference
from conformance.adapter import BusAdapter, ModuleAdapter, check_implementation
from conformance.capabilities import CAPABILITIES, ClaimError, check_names
from conformance.loading import ImplementationNotFoundError, load_implementation
from conformance.rules import PROFILES, RULES
from tests.pytest_run import ROOT, run_pytest

STANDALONE = ROOT / "examples" / "standalone"


class _Bus(BusAdapter):
    name = "claims"
    version = "1"
    bus_class = reference.EventBus


def _adapter(**attrs: Any) -> BusAdapter:
    adapter = _Bus()
    for key, value in attrs.items():
        setattr(adapter, key, value)
    return adapter


def _package(**attrs: Any) -> types.ModuleType:
    """A copy of the reference package's namespace with `attrs` set (e.g. a claim)."""
    package = types.ModuleType("reference")
    package.__dict__.update({k: v for k, v in vars(reference).items() if not k.startswith("__")})
    package.__dict__.update(attrs)
    return package


# -- profile and capability claims ------------------------------------------------------------


def test_a_valid_bus_only_claim_is_accepted() -> None:
    adapter = _adapter(profiles=("core", "robustness"), capabilities=["task", "worker"])
    check_implementation(adapter)
    assert adapter.profiles == frozenset({"core", "robustness"})
    assert adapter.capabilities == frozenset({"task", "worker"})


@pytest.mark.parametrize(
    ("attrs", "says"),
    [
        ({"profiles": "core"}, "declares its profiles as the string 'core'"),
        ({"profiles": ("core", "extnded")}, "unknown profiles: extnded"),
        ({"profiles": ("extended",)}, "but not 'core'"),
        ({"profiles": ()}, "no profile but not 'core'"),
        ({"profiles": ("core", 3)}, "not names: [3]"),
        ({"profiles": None}, "declare a tuple or set of names"),
        ({"capabilities": "task"}, "declares its capabilities as the string 'task'"),
        ({"capabilities": ("task", "priorities")}, "unknown capabilities: priorities"),
        ({"capabilities": ("container",)}, "without claiming the container profile"),
        ({"profiles": ("core", "container")}, "claims the container profile but lacks bus_type"),
        ({"version": 2}, "give a string"),
    ],
)
def test_a_malformed_claim_names_the_fix(attrs: dict[str, Any], says: str) -> None:
    with pytest.raises(ClaimError) as caught:
        check_implementation(_adapter(**attrs))
    assert says in str(caught.value)


def test_an_adapter_missing_calls_is_named_with_the_fix() -> None:
    class Partial:
        name, version, profiles, capabilities, event_type = "partial", "1", ("core",), (), object

    with pytest.raises(ClaimError, match=r"lacks .*publish.*subclass conformance\.adapter\.BusAdapter"):
        check_implementation(Partial())


def test_check_names_accepts_every_known_name() -> None:
    assert check_names("capabilities", list(CAPABILITIES), CAPABILITIES, "x") == frozenset(CAPABILITIES)
    assert check_names("profiles", PROFILES, PROFILES, "x") == frozenset(PROFILES)


def test_a_package_claim_given_as_a_string_is_refused() -> None:
    # `("core")` is the string "core": read letter by letter it would claim nothing, skip most rules, exit 0.
    with pytest.raises(ClaimError, match=r"the string 'core'.*note the comma"):
        ModuleAdapter(_package(__conformance_profiles__=("core")))
    assert ModuleAdapter(_package(__conformance_profiles__=("core",))).profiles == frozenset({"core"})


def test_a_package_with_unknown_capabilities_is_refused() -> None:
    with pytest.raises(ClaimError, match=r"unknown capabilities \(__conformance_capabilities__\): threads"):
        ModuleAdapter(_package(__conformance_capabilities__=("task", "threads")))
    adapter = ModuleAdapter(_package(__conformance_capabilities__=("task", "threadpool")))
    assert adapter.capabilities == frozenset({"task", "threadpool"})


def test_a_package_without_the_container_profile_has_no_container_capability() -> None:
    adapter = ModuleAdapter(_package(__conformance_profiles__=("core", "extended")))
    assert "container" not in adapter.capabilities
    assert "container" in ModuleAdapter(_package()).capabilities


# -- --impl targets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("no_such_module_xyz", "cannot import 'no_such_module_xyz'"),
        ("reference:NoSuchThing", "has no attribute 'NoSuchThing'"),
        ("json", "does not look like an event-bus package: it has no Event"),
        ("tests.test_claims:_not_an_adapter", "lacks"),
    ],
)
def test_a_bad_impl_target_names_what_is_wrong(target: str, says: str) -> None:
    with pytest.raises(ImplementationNotFoundError) as caught:
        load_implementation(target)
    assert says in str(caught.value)
    assert load_implementation("reference").name == "reference"
    assert load_implementation("tests.test_claims:_good_adapter").name == "claims"


def _not_an_adapter() -> object:
    return object()


def _good_adapter() -> BusAdapter:
    return _adapter()


def test_profiles_option_cannot_add_a_container_the_adapter_lacks() -> None:
    with pytest.raises(ImplementationNotFoundError, match="no container support"):
        load_implementation("tests.test_claims:_good_adapter", frozenset({"core", "container"}))
    assert load_implementation("tests.test_claims:_good_adapter", frozenset({"core"})).profiles == {"core"}


def test_a_malformed_claim_stops_the_run_with_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "bad_claim.py").write_text(
        "import reference\n"
        "from conformance.adapter import BusAdapter\n"
        "class Bad(BusAdapter):\n"
        "    name, version, bus_class = 'bad', '1', reference.EventBus\n"
        "    profiles = ('core')\n"
        "def conformance_implementation():\n"
        "    return Bad()\n"
    )
    run = run_pytest("--pyargs", "conformance.suite", "--impl=bad_claim", "-q", cwd=tmp_path, console_script=True)
    assert run.returncode == 4, run.output  # pytest's usage error, before any test runs
    assert "declares its profiles as the string 'core'" in run.output, run.output


# -- a bus-only claim is complete --------------------------------------------------------------------


def test_a_standalone_bus_passes_its_claim_and_the_rest_is_unsupported_or_not_claimed(tmp_path: Path) -> None:
    """The README's worked example: tinybus claims core with one capability and has no container."""
    result = tmp_path / "tinybus.json"
    run = run_pytest(
        "--pyargs",
        "conformance.suite",
        "--impl=tinybus_conformance",
        f"--conformance-json={result}",
        "-q",
        cwd=STANDALONE,
        console_script=True,
        timeout=300,
    )
    assert run.returncode == 0, run.output
    document = json.loads(result.read_text())
    verdicts = {r["id"]: r["verdict"] for r in document["rules"]}
    assert "fail" not in verdicts.values() and "xfail" not in verdicts.values(), verdicts
    by_profile = {p: {v for i, v in verdicts.items() if RULES[i].profile == p} for p in PROFILES}
    assert by_profile["container"] == {"skip"} and by_profile["extended"] <= {"skip", "untested"}, by_profile
    # What it cannot express is unsupported, named by capability; what it can, passes.
    assert verdicts["POL-THREAD-1"] == "unsupported" and verdicts["WRK-2"] == "unsupported"
    assert verdicts["PUB-4"] == "pass" and verdicts["ERR-1"] == "pass"
    # A rule whose publish half passed but whose worker half could not run is partial, not conforming.
    assert verdicts["POL-TASK-2"] == "partial" and verdicts["PUB-1"] == "partial" and verdicts["ERR-3"] == "partial"
    assert verdicts["POL-INLINE-1"] == "partial"  # a publish awaited inside a handler is tried through the worker too
    (core,) = document["completeness"]
    assert core["profile"] == "core" and not core["complete"], core
    assert [g["capability"] for g in core["unsupported"]] == ["threadpool", "worker"], core
    unsupported = {t["capability"] for t in document["tests"] if t["verdict"] == "unsupported"}
    assert unsupported == {"worker", "threadpool"}, unsupported
    assert document["implementation"]["capabilities"] == ["task"]

"""Each conformance test's `@pytest.mark.needs(...)` says exactly which capabilities it uses.

The kit records, as every test runs, the capabilities it asked for without first
asking whether they are declared (`Kit.require` less `Kit.supports`). On the
reference, which declares them all, every test runs to its end; its marker must
name exactly what it used, so a bus lacking one gets *unsupported* before the test
starts, never a failure half-way. The `[worker]` run of a dispatch test also uses
the worker, which the `dispatch` fixture asks for itself.
"""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest

from conformance.capabilities import CAPABILITIES, DERIVED
from tests.pytest_run import ROOT, run_pytest
from tests.reference_run import ReferenceRun

SUITE = ROOT / "conformance" / "suite"


def _declared() -> dict[str, set[str]]:
    """`module::test` -> the capabilities its `needs` marker names, read from the suite's source."""
    declared: dict[str, set[str]] = {}
    for path in sorted(SUITE.glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.name.startswith("test_"):
                continue
            names: set[str] = set()
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Attribute)
                    and decorator.func.attr == "needs"
                ):
                    names |= {ast.literal_eval(arg) for arg in decorator.args}
            declared[f"{path.stem}::{node.name}"] = names
    return declared


@pytest.fixture
def used(reference_run: ReferenceRun) -> dict[str, dict[str, set[str]]]:
    """`module::test` -> {parameters: the capabilities that run used}, from the shared run on the reference."""
    assert reference_run.run.returncode == 0, reference_run.run.output[-6000:]
    junit = reference_run.junit
    found: dict[str, dict[str, set[str]]] = defaultdict(dict)
    for case in ET.parse(junit).iter("testcase"):
        props = {p.get("name"): p.get("value") or "" for p in case.iter("property")}
        if "capabilities_required" not in props:
            continue  # not run by the kit's runner (the stateful test draws only declared actions)
        name = case.get("name") or ""
        function = name.split("[")[0]
        module = (case.get("classname") or "").rsplit(".", 1)[-1]
        found[f"{module}::{function}"][name[len(function) :]] = set(
            filter(None, props["capabilities_required"].split(","))
        )
    return found


def test_every_test_run_by_the_kit_reports_what_it_used(used: dict[str, dict[str, set[str]]]) -> None:
    assert len(used) > 100, f"only {len(used)} tests reported their capabilities"


def test_needs_markers_name_exactly_the_capabilities_used(used: dict[str, dict[str, set[str]]]) -> None:
    declared = _declared()
    wrong = []
    for test, runs in sorted(used.items()):
        common = set.intersection(*runs.values())
        if declared.get(test, set()) != common:
            wrong.append(f"{test}: declares {sorted(declared.get(test, set()))}, uses {sorted(common)}")
        for params, capabilities in runs.items():
            extra = capabilities - common - ({"worker"} if params.startswith("[worker") else set())
            if extra:
                wrong.append(f"{test}{params}: uses {sorted(extra)} in this parametrization only")
    assert not wrong, "\n".join(wrong)


def test_needs_markers_name_known_capabilities() -> None:
    unknown = {t: n - set(CAPABILITIES) - set(DERIVED) for t, n in _declared().items()}
    assert not {t: n for t, n in unknown.items() if n}


def test_a_test_whose_needs_are_not_declared_is_unsupported_before_it_starts(tmp_path: Path) -> None:
    """A bus without `unsubscribe` gets unsupported for an unsubscribe test, even though the test's
    first steps (subscribing duplicates) would fail on a bus that ignores duplicates."""
    (tmp_path / "no_unsubscribe.py").write_text(
        "import reference\n"
        "from conformance.adapter import BusAdapter\n"
        "from conformance.capabilities import CAPABILITIES\n"
        "class Deaf(reference.EventBus):\n"
        "    def subscribe(self, event_type, fn, **options):\n"
        "        if (event_type, fn) not in getattr(self, 'seen', set()):\n"
        "            self.__dict__.setdefault('seen', set()).add((event_type, fn))\n"
        "            super().subscribe(event_type, fn, **options)\n"
        "class Adapter(BusAdapter):\n"
        "    name, version, bus_class, event_type = 'no-unsubscribe', '1', Deaf, reference.Event\n"
        "    profiles = frozenset({'core', 'extended'})\n"
        "    capabilities = frozenset(CAPABILITIES) - {'container', 'unsubscribe'}\n"
        "    def policy(self, name):\n"
        "        return getattr(reference.ExecPolicy, name)\n"
        "def conformance_implementation():\n"
        "    return Adapter()\n"
    )
    node = "conformance.suite.test_extended"
    run = run_pytest(
        "--pyargs",
        node,
        "--impl=no_unsubscribe",
        "-k",
        "unsubscribe_removes_the_handler",
        "-rs",
        "-q",
        cwd=tmp_path,
        console_script=True,
    )
    assert run.returncode == 0, run.output
    # Its own outcome in pytest's counts, apart from "skipped" (profiles not claimed), and what it needs.
    assert "2 unsupported" in run.output and "skipped" not in run.output, run.output
    assert "UNSUP EXT-UNSUB-1 (MUST, extended): Unsubscribe removes a handler: needs 'unsubscribe'" in run.output
    # The same bus, judged on the duplicates rule it breaks, fails it.
    run = run_pytest(
        "--pyargs",
        node,
        "--impl=no_unsubscribe",
        "-k",
        "registering_the_same_handler_twice",
        "-q",
        cwd=tmp_path,
        console_script=True,
    )
    assert run.returncode == 1 and "[EXT-DUP-1]" in run.output, run.output

"""A pytest-xdist worker that dies in a test: a failure of the test's rule in every output, not "not tested".

pytest-xdist's controller reports the test a dead worker was running as failed
(`DSession.handle_crashitem`, `when="???"`), but that report never went through
the kit's makereport hook, so it carries no rule and no result. Here the
controller gives it both, just before it is logged (`pytest_handlecrashitem`).
The rule comes from the reports the test had already sent (its setup's); for a
worker that died before even that, from the rule map the workers write after
collecting (a file the controller names in each worker's `workerinput`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ._results import RESULT_PROPERTY
from .report import TestResult

_MAP_KEY = "conformance_rules_file"
_rules_seen: dict[str, str] = {}
_map_file: list[str] = []


def _map_path() -> str:
    if not _map_file:
        fd, path = tempfile.mkstemp(prefix="conformance-rules-", suffix=".json")
        os.close(fd)
        _map_file.append(path)
    return _map_file[0]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """(controller) Tell each worker where to write the rules of the tests it collected."""
    node.workerinput[_MAP_KEY] = _map_path()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """(worker) Write nodeid -> rule for the controller, in case this worker dies before a test reports."""
    target = getattr(config, "workerinput", {}).get(_MAP_KEY)
    if not target:
        return
    from .plugin import rule_of

    rules = {item.nodeid: rule.id for item in items if (rule := rule_of(item)) is not None}
    tmp = f"{target}.{os.getpid()}"
    Path(tmp).write_text(json.dumps(rules), encoding="utf-8")
    os.replace(tmp, target)  # whole or not at all, whichever worker writes last


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """(controller) Remember each test's rule from its reports."""
    for name, value in report.user_properties:
        if name == "rule" and isinstance(value, str):
            _rules_seen[report.nodeid] = value


def _rule_for(nodeid: str) -> str | None:
    if nodeid in _rules_seen:
        return _rules_seen[nodeid]
    if _map_file:
        try:
            found = json.loads(Path(_map_file[0]).read_text(encoding="utf-8")).get(nodeid)
        except (OSError, ValueError):
            return None
        return found if isinstance(found, str) else None
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: pytest.TestReport, sched: Any) -> None:
    """(controller) Charge the test a dead worker was running to its rule, as a crash."""
    rule = _rule_for(crashitem)
    if rule is None:
        return
    path, _, rest = crashitem.partition("::")
    gateway = getattr(getattr(report, "node", None), "gateway", None)
    worker = f" {gateway.id}" if gateway is not None else ""
    observed = f"crashed: the pytest-xdist worker{worker} running the test died before the test ended"
    result = TestResult(
        test="::".join([Path(path).name, rest]) if rest else Path(path).name,
        rule=rule,
        verdict="fail",
        kind="crash",
        observed=observed,
        expected="the test runs to its end in the kit's process",
    )
    report.when = "call"  # a test's verdict, as the summary and reports count them
    report.longrepr = f"[{rule}] {observed}"
    report.user_properties = [("rule", rule), (RESULT_PROPERTY, dataclasses.asdict(result))]


def pytest_unconfigure(config: pytest.Config) -> None:
    """(controller) Remove the rule map."""
    for path in _map_file:
        Path(path).unlink(missing_ok=True)
    _map_file.clear()

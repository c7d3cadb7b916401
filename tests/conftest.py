"""Shared set-up for the project's own tests.

`pytest tests` runs on four pytest-xdist workers by default. Most of these tests wait on
subprocess suite runs rather than compute, so the workers are shared out for the waiting to
overlap (`FileOrTestScheduling`): a file whose tests share an expensive fixture of module scope
(the kill matrix's runs, a suite run on the reference) goes to one worker whole, so that the
fixture runs once; the tests of every other file go to whichever worker is free, one by one.
The longest start first (`LONGEST_FIRST`). `-n 0` (or `-p no:xdist`) runs them all in this
process, one after another; `-n N --dist MODE` on the command line is xdist's own scheduling.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Any

import pytest

from tests.reference_run import ReferenceRun, shared_reference_run

pytest_plugins = ["pytester"]

HERE = Path(__file__).resolve().parent
DEFAULT_WORKERS = 4
"""Workers for `pytest tests` when the command line names none."""
LONGEST_FIRST = (
    "test_kill_matrix.py",
    "test_foreign_setups.py",
    "test_expectations.py::test_every_pico_ioc_entry_is_a_real_deviation",
    "test_results.py::test_serial_and_xdist_runs_give_identical_reports",
    "test_hang_bounds.py",
    "test_matrix.py",
    "test_domain_coverage.py",
    "test_needs.py",
    "test_bench_smoke.py",
    "test_completeness.py",
    "test_ci_template.py",
    "test_hostile.py",
    "test_plugin.py",
    "test_expectations.py",
)
"""Files, or tests (`file::name`, every parametrization), that take longest, longest first.

Seconds to two minutes each, measured on two cores. They start first, as workers free up, so
that none of them starts near the end and keeps the run waiting on one worker (the rest take
a second or two each).
"""


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Default to `-n 4` with `FileOrTestScheduling` when xdist is loaded and the command line sets neither."""
    if not config.pluginmanager.has_plugin("xdist") or hasattr(config, "workerinput") or not _only_these(config):
        return
    if config.option.numprocesses is None and config.option.dist == "no":
        config.option.numprocesses = DEFAULT_WORKERS
        # Workers run what they are sent as under loadfile; the controller's scheduler is ours.
        config.option.dist = "loadfile"
        config.stash[_OURS] = True


_OURS = pytest.StashKey[bool]()


@pytest.hookimpl(optionalhook=True)  # an unknown hook when xdist is not loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`FileOrTestScheduling` when this file chose the default (`pytest_cmdline_main`); else xdist's own."""
    if not config.stash.get(_OURS, False):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileOrTestScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """Work units: a whole file where `shares_a_module_fixture`, each test elsewhere; in collection order."""

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if shares_a_module_fixture(path) else nodeid

    config.option.loadscopereorder = False  # the order of LONGEST_FIRST, not by number of tests
    return FileOrTestScheduling(config, log)


@functools.cache
def shares_a_module_fixture(path: str) -> bool:
    """Whether the test file at `path` (from the root) defines a fixture of module, package or session scope."""
    file = HERE.parent / path
    if not file.is_file():
        return False
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("pytest.fixture", "fixture"):
            for keyword in node.keywords:
                if keyword.arg == "scope" and ast.literal_eval(keyword.value) != "function":
                    return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The files and tests of LONGEST_FIRST first, in that order; the others after them, as collected."""
    if not _only_these(config):
        return

    def rank(item: pytest.Item) -> int:
        keys = (f"{item.path.name}::{item.name.split('[')[0]}", item.path.name)
        return next((n for n, key in enumerate(LONGEST_FIRST) if key in keys), len(LONGEST_FIRST))

    items.sort(key=rank)


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> ReferenceRun:
    """The plain run of the whole suite on the reference, made once for all workers (`tests/reference_run.py`)."""
    return shared_reference_run(tmp_path_factory)


def _only_these(config: pytest.Config) -> bool:
    """Whether the command line names only the project's tests (pytest also loads this file, as a `test*`
    directory's conftest, for runs from the root that name no path, such as `--pyargs conformance.suite`)."""
    paths = [Path(config.invocation_params.dir, a.split("::")[0]).resolve() for a in config.args]
    return bool(paths) and all(p == HERE or HERE in p.parents for p in paths)

"""Shared set-up for the project's own tests.

`pytest tests` runs on four pytest-xdist workers by default, a test file to a worker (`--dist
loadfile`): most of these tests wait on subprocess suite runs rather than compute, and a module's
expensive fixtures (the kill matrix's runs, a suite run on the reference) then run once. The longest
files start first (`LONGEST_FIRST`). `-n 0`
(or `-p no:xdist`) runs them in this process, one after another.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DEFAULT_WORKERS = 4
"""Workers for `pytest tests` when the command line names none."""
LONGEST_FIRST = (
    "test_kill_matrix.py",
    "test_foreign_setups.py",
    "test_expectations.py",
    "test_results.py",
    "test_matrix.py",
    "test_domain_coverage.py",
    "test_ci_template.py",
    "test_needs.py",
    "test_hostile.py",
    "test_plugin.py",
)
"""The files that take longest (seconds to two minutes each, measured on two cores), longest first.

They run first, each on a worker of its own as workers free up, so that none of them starts near
the end and keeps the run waiting on one worker (the other files take seconds each).
"""


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Default to `-n 4 --dist loadfile` when xdist is loaded and the command line sets neither."""
    if not config.pluginmanager.has_plugin("xdist") or hasattr(config, "workerinput") or not _only_these(config):
        return
    if config.option.numprocesses is None and config.option.dist == "no":
        config.option.numprocesses = DEFAULT_WORKERS
        config.option.dist = "loadfile"
        # Files in the order of LONGEST_FIRST, not by their number of tests (xdist's default).
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The files of LONGEST_FIRST first, in that order; the others after them, as collected."""
    if not _only_these(config):
        return
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def _only_these(config: pytest.Config) -> bool:
    """Whether the command line names only the project's tests (pytest also loads this file, as a `test*`
    directory's conftest, for runs from the root that name no path, such as `--pyargs conformance.suite`)."""
    here = Path(__file__).resolve().parent
    paths = [Path(config.invocation_params.dir, a.split("::")[0]).resolve() for a in config.args]
    return bool(paths) and all(p == here or here in p.parents for p in paths)

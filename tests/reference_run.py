"""One plain run of the whole suite on the reference, shared by the project tests that read one.

Several tests need the same run: what every foreign pytest set-up must match
(`tests/test_foreign_setups.py`), the capabilities each test used (`tests/test_needs.py`),
the report and JSON result an xdist run must equal (`tests/test_results.py`), and the
reference's verdict in the kill matrix (`tests/test_kill_matrix.py`). Each used to start
its own; now the first to ask runs it and the others read its files, in this process or
in another pytest-xdist worker: they wait on a lock beside the workers' temporary
directories (pytest-xdist's documented way of running a session fixture once).

The run is a user's plain `python -m pytest --impl=reference` from the project's root,
with none of the foreign pytest plugins the test extra installs (`FOREIGN`) and without
PYTHONPATH, writing a JUnit report that records every rule each test checks
(`tests.mutants.selecting`), the JSON result and the Markdown report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

try:
    import fcntl
except ImportError:  # Windows: each process makes its own run
    fcntl = None  # type: ignore[assignment]

from tests.pytest_run import PytestRun, run_pytest

FOREIGN = ("asyncio", "randomly", "timeout", "anyio")
"""The foreign pytest plugins, by the name pytest loads them under (and prints them by in its header)."""


def disabled(*active: str) -> list[str]:
    """`-p no:NAME` for every foreign plugin but `active`: one set-up at a time."""
    return [arg for name in FOREIGN if name not in active for arg in ("-p", f"no:{name}")]


ARGS = ("--impl=reference", "-p", "tests.mutants.selecting", *disabled())
"""The run's arguments, but for where it writes: an xdist run given these too must report the same."""
ENVIRONMENT: dict[str, str | None] = {
    "PYTHONPATH": None,
    # The stateful test's own settings come from its defaults, as for any user.
    **{name: None for name in os.environ if name.startswith("CONFORMANCE_STATEFUL_")},
}
"""What the run changes in this process's environment (None: removed)."""


@dataclass(frozen=True)
class ReferenceRun:
    """The shared run: how it ended and the files it wrote."""

    run: PytestRun
    junit: Path
    """JUnit XML; each test case has the kit's properties and `rules` (every rule the test checks)."""
    result: Path
    """`--conformance-json`."""
    report: Path
    """`--conformance-report`."""


def outputs(folder: Path) -> list[str]:
    """The arguments that make a run write its JUnit report, JSON result and Markdown report into `folder`."""
    return [
        f"--junitxml={folder / 'junit.xml'}",
        f"--conformance-json={folder / 'result.json'}",
        f"--conformance-report={folder / 'report.md'}",
    ]


def shared_reference_run(factory: pytest.TempPathFactory) -> ReferenceRun:
    """The run, made by the first caller of this pytest session (any worker) and read by the rest."""
    base = factory.getbasetemp()
    # Under xdist each worker's basetemp is a folder of the controller's, which all workers share.
    folder = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "shared-reference-run"
    if fcntl is None:  # no lock to share it with: a run of this process's own
        folder = folder / f"process-{os.getpid()}"
    return _shared(folder)


@functools.cache
def _shared(folder: Path) -> ReferenceRun:
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / "run.json"
    with _locked(folder / "lock"):
        if not record.exists():
            run = run_pytest(*ARGS, *outputs(folder), timeout=600, env=ENVIRONMENT)
            record.write_text(json.dumps(dataclasses.asdict(run)), encoding="utf-8")
    run = PytestRun(**json.loads(record.read_text(encoding="utf-8")))
    return ReferenceRun(run, folder / "junit.xml", folder / "result.json", folder / "report.md")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (without `fcntl`, the folder is this process's own)."""
    if fcntl is None:
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # the holder's run is bounded by its timeout
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

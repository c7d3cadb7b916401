"""A smoke run of `python -m conformance.flake` on a few tests, and proof that it catches a changing verdict.

Nothing here judges a time. `flaky` is a module-level factory the suite loads as
`--impl=tests.test_flake_smoke:flaky`: the first process that loads it gets the
reference bus, every later one a bus whose publish delivers nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import reference
from conformance.adapter import ModuleAdapter
from reference.event_bus import EventBus

ROOT = Path(__file__).resolve().parent.parent
SUBSET = ["-k", "test_publish.py"]
"""The tests of test_publish.py: a second or two a run."""
COUNTER = "FLAKE_SMOKE_DIR"
"""The environment variable naming the directory in which `flaky` numbers the processes that load it."""


class _DeafBus(EventBus):
    """Publishes to nobody."""

    async def publish(self, event: Any) -> None:
        return None


class _DeafAdapter(ModuleAdapter):
    def new_bus(self, **options: Any) -> Any:
        return _DeafBus(**options)


def _ordinal(directory: Path) -> int:
    """0 for the first process to ask, 1 for the second, and so on (claimed with exclusive file creation)."""
    n = 0
    while True:
        try:
            os.close(os.open(directory / f"{n}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return n
        except FileExistsError:
            n += 1


_mine: dict[int, ModuleAdapter] = {}


def flaky() -> ModuleAdapter:
    """The reference bus in the first process that loads it; a deaf one in the others."""
    pid = os.getpid()
    if pid not in _mine:
        first = _ordinal(Path(os.environ[COUNTER])) == 0
        _mine[pid] = ModuleAdapter(reference, name="flaky") if first else _DeafAdapter(reference, name="flaky")
    return _mine[pid]


def flake(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance.flake", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def test_reference_verdicts_are_stable(tmp_path: Path) -> None:
    path = tmp_path / "flake.json"
    proc = flake("--impl=reference", "--runs=2", "--jobs=2", f"--json={path}", *SUBSET)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "**STABLE**: every test had the same verdict in all 2 runs." in proc.stdout
    assert "[flake] run 1" in proc.stderr and "[flake] run 2" in proc.stderr
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["changed"] == {}
    assert document["tests"] >= 3 and document["first_run_totals"] == {"passed": document["tests"]}
    assert [run["status"] for run in document["runs"]] == [0, 0]


def test_a_changing_verdict_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "flake.json"
    proc = flake(
        "--impl=tests.test_flake_smoke:flaky",
        "--runs=2",
        "--jobs=1",
        f"--json={path}",
        "--bound=0.5",  # the deaf bus makes tests wait for deliveries that never come
        *SUBSET,
        env={COUNTER: str(tmp_path)},
    )
    assert proc.returncode == 1, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "tests whose verdict changed" in proc.stdout and "**FAIL**" in proc.stdout
    changed = json.loads(path.read_text(encoding="utf-8"))["changed"]
    assert changed, proc.stdout
    for test, counts in changed.items():
        assert counts == {"passed": 1, "failed": 1}, (test, counts)
        assert f"| {test} | 1 | 1 | failed in run 2 |" in proc.stdout  # passed, failed, and where


def test_an_unknown_implementation_is_a_usage_error() -> None:
    proc = flake("--impl=no_such_bus_module", "--runs=3", *SUBSET)
    assert proc.returncode == 2, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "no_such_bus_module" in proc.stderr
    assert "[flake] run 2" not in proc.stderr  # it stopped after the first run

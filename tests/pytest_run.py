"""The one way the project's tests run pytest in a subprocess, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The project's root, where the suite runs."""


@dataclass(frozen=True)
class PytestRun:
    """How one pytest subprocess ended."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    @property
    def output(self) -> str:
        """stdout and stderr together, for assertion messages."""
        return self.stdout + self.stderr


def run_pytest(
    *args: str,
    cwd: Path = ROOT,
    timeout: float = 300.0,
    env: Mapping[str, str | None] | None = None,
    console_script: bool = False,
) -> PytestRun:
    """`python -m pytest -p no:cacheprovider ARGS` in `cwd`; a run past `timeout` is reported, not raised.

    `env` adds to this process's environment; a value of None removes that variable. With
    `console_script`, the `pytest` command installed beside this Python runs instead of
    `python -m pytest`, which puts `cwd` first on `sys.path` and so hides whether a module
    there is found without it.
    """
    # Bytecode caching on, whatever the caller's environment says: many runs would otherwise each
    # recompile (and re-rewrite the asserts of) the whole suite.
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for name, value in (env or {}).items():
        if value is None:
            full_env.pop(name, None)
        else:
            full_env[name] = value
    launcher = [_pytest_command()] if console_script else [sys.executable, "-m", "pytest"]
    command = [*launcher, "-p", "no:cacheprovider", *args]
    started = time.monotonic()
    try:
        proc = subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else ""
        err = exc.stderr if isinstance(exc.stderr, str) else ""
        return PytestRun(-1, out, err + f"\ntimed out after {timeout:g} s", time.monotonic() - started, True)
    return PytestRun(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def _pytest_command() -> str:
    """The `pytest` command of this Python's environment (its `bin` or `Scripts` folder)."""
    found = shutil.which("pytest", path=str(Path(sys.executable).parent))
    if found is None:
        raise FileNotFoundError(f"no pytest command beside {sys.executable}")
    return found

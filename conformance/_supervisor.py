"""The supervised runner behind `python -m conformance --impl=NAME`: the suite in a child process, crashes isolated.

A bus can end the process the suite runs in (`os._exit`, a segfault, a signal).
Run in-process, that loses every verdict, and `os._exit(0)` even reads as
success. Here the suite runs in a child pytest with a journal
(`conformance._journal`); when the child dies, the test it had started and not
finished gets the verdict "fail" of kind "crash", charged to its rule, and a
fresh child runs the tests left, replaying what came before, so the last child
prints the summary and writes the JSON result and the report of the whole run.
This is how pytest-xdist recovers a crashed worker (`DSession.worker_errordown`,
`handle_crashitem`), with the journal in place of the controller's schedule.

It protects the verdicts from a bus that kills its process. It does not protect
them from a bus that patches the kit inside the child (see README, threat model).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ._journal import CARRY_ENV, JOURNAL_ENV


def describe_status(returncode: int) -> str:
    """How a child ended, in words: `exit status 3`, `killed by SIGSEGV`."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The journal's entries; a last line cut short by the crash is left out."""
    entries: list[dict[str, Any]] = []
    if not path.exists():
        return entries
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return entries


def supervise(args: list[str]) -> int:
    """Run the suite with `args` (pytest options) in child processes until every test has a verdict."""
    with tempfile.TemporaryDirectory(prefix="conformance-run-") as tmp:
        carried: list[dict[str, Any]] = []
        crashed: list[dict[str, str]] = []
        for child in range(1, 100_000):
            journal = Path(tmp, f"journal-{child}.jsonl")
            carry = Path(tmp, "carry.json")
            carry.write_text(json.dumps({"reports": carried, "crashed": crashed}), encoding="utf-8")
            env = {**os.environ, JOURNAL_ENV: str(journal), CARRY_ENV: str(carry)}
            command = [sys.executable, "-m", "pytest", "-pconformance._journal", "--pyargs", "conformance.suite", *args]
            sys.stdout.flush()
            try:
                returncode = subprocess.call(command, env=env)
            except KeyboardInterrupt:  # the child, in our process group, got it too, and was killed
                print("\nconformance: interrupted", file=sys.stderr)
                return int(pytest.ExitCode.INTERRUPTED)
            entries = read_journal(journal)
            if any("finished" in e for e in entries):
                # A crash replayed as a failure already makes pytest's status 1.
                return returncode
            if returncode == -signal.SIGINT:
                return int(pytest.ExitCode.INTERRUPTED)
            how = describe_status(returncode)
            reports: dict[str, list[dict[str, Any]]] = {}
            started: list[str] = []
            for e in entries:
                if "start" in e:
                    started.append(e["start"])
                elif "report" in e:
                    reports.setdefault(e["report"]["nodeid"], []).append(e["report"])
            done = {n for n, rs in reports.items() if any(r.get("when") == "teardown" for r in rs)}
            in_test = [n for n in started if n not in done]
            if not in_test:
                print(
                    f"\nconformance: the test process died ({how}) outside any test, before the run finished; "
                    "the tests it had not run have no verdict",
                    file=sys.stderr,
                )
                return returncode if returncode > 0 else 3
            nodeid = in_test[-1]
            carried += [r for n in started if n in done for r in reports[n]]
            crashed.append({"nodeid": nodeid, "how": how})
            print(
                f"\nconformance: the test process died ({how}) while running {nodeid}; "
                f"that test is charged to its rule as crashed, and the tests left run on in a fresh process "
                f"(restart {child})\n",
                file=sys.stderr,
            )
    raise AssertionError("unreachable: every restart follows a crash in a test not run before")

"""`python -m tests.mutants.batch JOBS.json [PARALLEL]`: the fast kill matrix's worker, many runs from one process.

Starting pytest costs more than a broken bus's own tests (about a second and a
half of CPU per run on the project's 2-core machines, times some 200 broken
buses), so the fast matrix runs a batch of broken buses from one Python process,
each a `pytest.main` with its own `--impl`, `--bound`, JUnit report and
`RuleSelection`. The suite's modules are imported once, by a collection-only
warm-up, and each run happens in a fork of the batch process that shares them,
PARALLEL at a time (on Linux, where children are awaited by pidfd; elsewhere the
runs follow one another in this process): whatever a broken bus leaves behind,
such as a thread spinning on its queue, ends with its own run instead of taking
a core from every later run, and a run that hangs past its time limit is killed
and loses only its own result.
JOBS.json is a list of `Job`s; each run
writes its exit status, duration and output's tail to `result` (JSON) when it
ends, so the parent knows which runs a hang or a crash lost.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import gc
import importlib.metadata
import io
import json
import linecache
import math
import os
import select
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, TypedDict

import pytest
from _pytest._code import code as pytest_code

from conformance._expectation_file import SUITE

from .selecting import RuleSelection, suite_files

RUN_TIMEOUT = 60.0
"""Seconds a broken bus's selected run may take before it is killed (it takes seconds)."""


class Job(TypedDict):
    """One run of a batch."""

    impl: str
    """`--impl`."""
    bound: str
    """`--bound`."""
    rule: str
    """The rule whose tests and controls run (`tests.mutants.selecting`); empty for the whole suite."""
    stateful: bool
    """Whether the selection includes the stateful test (when it checks the rule)."""
    timeout: float
    """Seconds the run may take before it is killed (`RUN_TIMEOUT` for a selected run)."""
    junit: str
    """Where the JUnit report goes."""
    result: str
    """Where the run's exit status, duration and output's tail go (JSON), once it has ended."""


def run_job(job: Job) -> None:
    """One suite run, in this process."""
    out = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out):
        code = pytest.main(
            [
                "-p",
                "no:cacheprovider",
                "-q",
                f"--impl={job['impl']}",
                f"--bound={job['bound']}",
                f"--junitxml={job['junit']}",
                # Only the modules that hold a test of the rule (the selection happens among them).
                *(suite_files(job["rule"], stateful=job["stateful"]) if job["rule"] else []),
            ],
            plugins=[RuleSelection(job["rule"] or None, stateful=job["stateful"])],
        )
    result = {"returncode": int(code), "seconds": time.monotonic() - started, "output": out.getvalue()[-3000:]}
    Path(job["result"]).write_text(json.dumps(result))


def _parse_each_source_once(sources: list[Path]) -> None:
    """Let pytest's tracebacks reuse one parse of each suite module instead of parsing it per failure.

    Describing a failure, pytest parses the whole module of each traceback entry (a third of a
    run's CPU time, for the suite's few large modules). The sources do not change during a
    batch, so the trees of `sources` are parsed once, before the runs fork, and kept by the text
    pytest reads (`findsource`: the file's lines, right-stripped); any other text is parsed as
    pytest would. A pytest without this private function is left as it is: only the time changes,
    not the report.
    """
    original = getattr(pytest_code, "getstatementrange_ast", None)
    if original is None:
        return
    trees: dict[str, ast.AST] = {}

    def parse(text: str) -> ast.AST:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text, "source", "exec")

    for path in sources:
        text = "\n".join(line.rstrip() for line in linecache.getlines(str(path)))
        trees[text] = parse(text)

    def getstatementrange_ast(
        lineno: int, source: Any, assertion: bool = False, astnode: ast.AST | None = None
    ) -> tuple[ast.AST, int, int]:
        if astnode is None:
            text = str(source)
            astnode = trees.get(text) or trees.setdefault(text, parse(text))
        result: tuple[ast.AST, int, int] = original(lineno, source, assertion, astnode)
        return result

    pytest_code.getstatementrange_ast = getstatementrange_ast  # type: ignore[attr-defined]


def warm_up(impl: str) -> None:
    """Import what every run needs (the kit, the suite's modules, Hypothesis) with a collection-only run."""
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main(["-p", "no:cacheprovider", "-q", "--collect-only", f"--impl={impl}"])


def _can_fork() -> bool:
    """Whether this system forks and waits on children by pidfd (Linux 5.3 and newer)."""
    if not (hasattr(os, "fork") and hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


FORKS = _can_fork()
"""Whether runs fork (`run_forked`); elsewhere they follow one another in the batch process."""


def _start(job: Job) -> int:
    """Fork a child that runs `job`, writes its result and leaves without joining what the bus left behind."""
    # Everything imported so far is shared by the runs: out of the collector's sight, so that
    # neither the children's collections nor their pytest runs touch (and copy) those pages.
    gc.collect()
    gc.freeze()
    pid = os.fork()
    if pid == 0:
        try:
            run_job(job)
        except BaseException:
            traceback.print_exc()  # the run writes no result: the parent reports it as not completed
        finally:
            os._exit(0)
    return pid


def run_forked(jobs: list[Job], parallel: int) -> None:
    """Each job in a child process, `parallel` at a time; a child past its job's `timeout` is killed.

    A killed run writes no result, which the parent reads as a run that did not complete.
    """
    pending = list(jobs)
    running: dict[int, tuple[int, float]] = {}  # pidfd -> (pid, deadline)
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            pid = _start(job)
            running[os.pidfd_open(pid)] = (pid, time.monotonic() + job["timeout"])
        soonest = min(deadline for _, deadline in running.values())
        wait = None if soonest == math.inf else max(0.0, soonest - time.monotonic())  # None: killed ones only
        ended, _, _ = select.select(list(running), [], [], wait)
        for fd in list(running):
            pid, deadline = running[fd]
            if fd in ended:
                os.waitpid(pid, 0)
                os.close(fd)
                del running[fd]
            elif time.monotonic() >= deadline:
                signal.pidfd_send_signal(fd, signal.SIGKILL)  # it ends, and is reaped, in a later round
                running[fd] = (pid, math.inf)


def main(argv: list[str]) -> int:
    """Run every job of the file named by `argv[0]`, `argv[1]` at a time (default 1) where runs fork."""
    jobs: list[Job] = json.loads(Path(argv[0]).read_text())
    parallel = int(argv[1]) if len(argv) > 1 else 1
    # What the kit asks of every bus it loads (its distribution's version) reads every installed
    # distribution's file list: half a second a run. Nothing is installed during a batch, so once.
    importlib.metadata.packages_distributions = functools.cache(importlib.metadata.packages_distributions)
    importlib.metadata.packages_distributions()  # here, once, rather than in every forked run
    _parse_each_source_once(sorted(SUITE.glob("test_*.py")))
    if FORKS:
        if jobs:
            warm_up(jobs[0]["impl"])
        run_forked(jobs, parallel)
        return 0
    for job in jobs:
        gc.collect()
        gc.freeze()
        run_job(job)
    return 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Every result is written: leave without joining what a broken bus may have left running (a stuck
    # handler thread would hold a normal exit until the parent's timeout, for no verdict).
    os._exit(status)

"""`python -m tests.mutants.batch JOBS.json`: the fast kill matrix's worker, many suite runs in one process.

Starting pytest costs more than a broken bus's own tests (about a second and a
half of CPU per run on the project's 2-core machines, times some 160 broken
buses), so the fast matrix runs a batch of broken buses in one Python process, one
`pytest.main` after the other, each with its own `--impl`, `--bound`, JUnit report
and `RuleSelection`. The suite's modules are imported once, by a collection-only
warm-up, and each run happens in a fork of the batch process that shares them
(where `os.fork` exists; elsewhere the runs follow one another in this process):
whatever a broken bus leaves behind, such as a thread spinning on its queue, ends
with its own run instead of taking a core from every later run of the batch, and
a run that hangs past `RUN_TIMEOUT` is killed and loses only its own result.
JOBS.json is a list of `{"impl", "bound", "rule", "junit", "result"}`; each run
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
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from _pytest._code import code as pytest_code

from conformance._expectation_file import SUITE

from .selecting import RuleSelection, suite_files

RUN_TIMEOUT = 60.0
"""Seconds one forked run may take before it is killed (a broken bus's selected run takes seconds)."""


def run_job(job: dict[str, str]) -> None:
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
                *(suite_files(job["rule"]) if job["rule"] else []),
            ],
            plugins=[RuleSelection(job["rule"] or None)],
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


def run_forked(job: dict[str, str]) -> None:
    """`run_job` in a child process; killed past `RUN_TIMEOUT`, which loses this run's result only."""
    pid = os.fork()
    if pid == 0:  # the child: run, write the result, and leave without joining what the bus left behind
        try:
            run_job(job)
        finally:
            os._exit(0)
    ended = threading.Event()

    def reap() -> None:
        os.waitpid(pid, 0)
        ended.set()

    reaper = threading.Thread(target=reap, daemon=True)
    reaper.start()
    if not ended.wait(RUN_TIMEOUT):
        os.kill(pid, signal.SIGKILL)
    # The reaper is gone before the next fork: no thread of this process runs while it forks.
    reaper.join()


def main(argv: list[str]) -> int:
    """Run every job of the file named by `argv[0]`, in order."""
    jobs = json.loads(Path(argv[0]).read_text())
    # What the kit asks of every bus it loads (its distribution's version) reads every installed
    # distribution's file list: half a second a run. Nothing is installed during a batch, so once.
    importlib.metadata.packages_distributions = functools.cache(importlib.metadata.packages_distributions)
    importlib.metadata.packages_distributions()  # here, once, rather than in every forked run
    _parse_each_source_once(sorted(SUITE.glob("test_*.py")))
    forking = hasattr(os, "fork")
    if forking and jobs:
        warm_up(jobs[0]["impl"])
    for job in jobs:
        # Everything imported so far is shared by the runs: out of the collector's sight, so that
        # neither pytest's collections nor a child's touch (and copy) those pages.
        gc.collect()
        gc.freeze()
        if forking:
            run_forked(job)
        else:
            run_job(job)
    return 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Every result is written: leave without joining what a broken bus may have left running (a stuck
    # handler thread would hold a normal exit until the parent's timeout, for no verdict).
    os._exit(status)

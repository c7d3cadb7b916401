"""`python -m tests.mutants.batch JOBS.json`: the fast kill matrix's worker, many suite runs in one process.

Starting pytest costs more than a broken bus's own tests (about a second and a
half of CPU per run on the project's 2-core machines, times some 160 broken
buses), so the fast matrix runs a batch of broken buses in one Python process, one
`pytest.main` after the other, each with its own `--impl`, `--bound`, JUnit report
and `RuleSelection`. The suite's modules are imported once and shared; a broken
bus is a set of synthetic modules and marks nothing outside itself, so one run
leaves nothing to the next. JOBS.json is a list of
`{"impl", "bound", "rule", "junit", "result"}`; each run writes its exit status,
duration and output's tail to `result` (JSON) when it ends, so the parent knows
which runs a hang or a crash of the batch lost.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import gc
import importlib.metadata
import io
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from _pytest._code import code as pytest_code

from .selecting import RuleSelection, suite_files


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


def _parse_each_source_once() -> None:
    """Let pytest's tracebacks parse each source file once per batch instead of once per failure.

    Describing a failure, pytest parses the whole module of each traceback entry (a third of a
    batch's CPU time, for the suite's few large modules). The sources do not change during a
    batch, so the trees are kept by source text. A pytest without this private function is left
    as it is: only the time changes, not the report.
    """
    original = getattr(pytest_code, "getstatementrange_ast", None)
    if original is None:
        return
    trees: dict[str, ast.AST] = {}

    def getstatementrange_ast(
        lineno: int, source: Any, assertion: bool = False, astnode: ast.AST | None = None
    ) -> tuple[ast.AST, int, int]:
        if astnode is None:
            text = str(source)
            if text not in trees:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    trees[text] = ast.parse(text, "source", "exec")
            astnode = trees[text]
        result: tuple[ast.AST, int, int] = original(lineno, source, assertion, astnode)
        return result

    pytest_code.getstatementrange_ast = getstatementrange_ast  # type: ignore[attr-defined]


def main(argv: list[str]) -> int:
    """Run every job of the file named by `argv[0]`, in order."""
    # What the kit asks of every bus it loads (its distribution's version) reads every installed
    # distribution's file list: half a second a run. Nothing is installed during a batch, so once.
    importlib.metadata.packages_distributions = functools.cache(importlib.metadata.packages_distributions)
    _parse_each_source_once()
    for job in json.loads(Path(argv[0]).read_text()):
        # pytest collects garbage at the end of every run (unraisable exceptions); the modules and
        # the collected suite shared by the runs need not be traversed each time.
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

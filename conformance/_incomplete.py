"""No stale result files: the JSON result and the report are written as "incomplete" when a run starts.

The run's end (the plugin's terminal summary) overwrites them with the real
ones. A run that dies on the way leaves a file that says it is incomplete, with
every rule untested, never a result from an earlier run that reads as a pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .report import RunInfo, render_json, reproducing_command

INCOMPLETE = "incomplete"
"""The result document's field (`true`) marking a run that has not finished (schema result-1)."""


def incomplete_json(run: RunInfo) -> str:
    """A valid result document with no tests, every rule untested, marked incomplete."""
    document = json.loads(render_json(run, []))
    document[INCOMPLETE] = True
    return json.dumps(document, indent=2) + "\n"


def incomplete_report(run: RunInfo) -> str:
    """A Markdown report saying the run has not finished."""
    return (
        f"# Conformance report: incomplete run of {run.name}\n\n"
        f"The run `{run.command}` started but has not finished, or ended before writing its results "
        "(the process was killed or crashed). No rule has a verdict from it.\n"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Replace the result files the run will write by incomplete ones, before anything else happens."""
    config = session.config
    spec = config.getoption("impl", None)
    if not spec or hasattr(config, "workerinput"):  # a pytest-xdist worker writes no results
        return
    run = RunInfo(
        name=str(spec),
        version="",
        profiles=[],
        loop=config.getoption("loop"),
        bound=config.getoption("bound"),
        command=reproducing_command(config.invocation_params.args),
        capabilities=None,
    )
    for option, render in (("conformance_report", incomplete_report), ("conformance_json", incomplete_json)):
        target = config.getoption(option, None)
        if target:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(run), encoding="utf-8")

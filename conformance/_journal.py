"""The child side of the supervised runner (`conformance._supervisor`): a journal, and the earlier children's verdicts.

Loaded with `-pconformance._journal` in each child process the runner starts.
As pytest-xdist's controller does for its workers, the runner learns which test
a dead child was in from what the child said last: here, a journal file to which
the child appends, unbuffered, each test's id as it starts and each report
(pytest's own serialisation) as it is made. The next child leaves out the tests
already done, and replays their reports, and a *crashed* report for the test
that killed its predecessor, through `pytest_runtest_logreport`, so that its
summary, JSON result and report are those of the whole run.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Generator
from pathlib import Path
from typing import IO, Any

import pytest

from ._results import RESULT_PROPERTY
from .report import TestResult

JOURNAL_ENV = "CONFORMANCE_JOURNAL"
"""Names the file this child appends its journal to."""
CARRY_ENV = "CONFORMANCE_CARRY"
"""Names the JSON file of what earlier children did: `{"reports": [...], "crashed": [{"nodeid", "how"}]}`."""


def crashed_report(item: pytest.Item | None, nodeid: str, how: str) -> pytest.TestReport:
    """The failed report of a test whose process died while running it, charged to its rule(s)."""
    from .plugin import rules_of, test_key

    rules = rules_of(item) if item is not None else []
    fspath = nodeid.split("::")[0]
    observed = f"crashed: the process running the test died ({how}) before the test ended"
    if len(rules) > 1:
        observed += f"; the test also checks {', '.join(r.id for r in rules[1:])}"
    props: list[tuple[str, object]] = []
    if rules:
        result = TestResult(
            test=test_key(item) if item is not None else nodeid,
            rule=rules[0].id,
            verdict="fail",
            kind="crash",
            observed=observed,
            expected="the test runs to its end in the kit's process",
        )
        props = [("rule", rules[0].id), (RESULT_PROPERTY, dataclasses.asdict(result))]
    head = f"[{rules[0].id}] " if rules else ""
    return pytest.TestReport(
        nodeid,
        item.location if item is not None else (fspath, None, fspath),
        dict.fromkeys(item.keywords, 1) if item is not None else {},
        "failed",
        f"{head}{observed}; the remaining tests ran on in a fresh process",
        "call",
        [],
        user_properties=props,
    )


class Journal:
    """Appends the child's progress to the journal; leaves out and replays what earlier children did."""

    def __init__(self, config: pytest.Config, journal: str, carry: str | None) -> None:
        self.config = config
        self.out: IO[str] = open(journal, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - open for the run
        self.replaying = False
        loaded: dict[str, Any] = json.loads(Path(carry).read_text(encoding="utf-8")) if carry else {}
        self.carried: list[dict[str, Any]] = loaded.get("reports", [])
        self.crashed: dict[str, str] = {c["nodeid"]: c["how"] for c in loaded.get("crashed", [])}
        self.replay: list[pytest.TestReport] = []

    def _write(self, entry: dict[str, Any]) -> None:
        self.out.write(json.dumps(entry) + "\n")
        # Line-buffered, so each line is in the OS's hands at once: a crash right after loses nothing.
        self.out.flush()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Leave out the tests earlier children ran or crashed in; prepare their reports."""
        done = {r["nodeid"] for r in self.carried} | set(self.crashed)
        if not done:
            return
        hook = config.hook
        self.replay = [hook.pytest_report_from_serializable(config=config, data=r) for r in self.carried]
        by_id = {item.nodeid: item for item in items}
        self.replay += [crashed_report(by_id.get(n), n, how) for n, how in self.crashed.items()]
        left = [item for item in items if item.nodeid in done]
        items[:] = [item for item in items if item.nodeid not in done]
        if left:
            hook.pytest_deselected(items=left)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        """After this child's tests, replay the earlier children's reports, as pytest-xdist's controller does.

        Not before: pytest reads failures reported before its loop as collection errors.
        """
        try:
            return (yield)
        finally:
            self._replay()

    def _replay(self) -> None:
        hook = self.config.hook
        self.replaying = True
        try:
            for report in self.replay:
                if report.when == "setup" or (report.when == "call" and report.nodeid in self.crashed):
                    hook.pytest_runtest_logstart(nodeid=report.nodeid, location=report.location)
                hook.pytest_runtest_logreport(report=report)
                if report.when == "teardown" or report.nodeid in self.crashed:
                    hook.pytest_runtest_logfinish(nodeid=report.nodeid, location=report.location)
        finally:
            self.replaying = False

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        """Note that the test starts."""
        if not self.replaying:
            self._write({"start": nodeid})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Note the report, as pytest serialises it."""
        if not self.replaying:
            self._write({"report": self.config.hook.pytest_report_to_serializable(config=self.config, report=report)})

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Note that the run finished: its summary and result files are written."""
        self._write({"finished": True})
        self.out.close()


def pytest_configure(config: pytest.Config) -> None:
    """Start the journal when the supervised runner asked for one (and not on a pytest-xdist worker)."""
    path = os.environ.get(JOURNAL_ENV)
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(Journal(config, path, os.environ.get(CARRY_ENV)), "conformance-journal")

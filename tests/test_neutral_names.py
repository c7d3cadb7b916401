"""The kit's threads, loops and generated modules carry no rule ID and no name that says "under test".

A bus that behaves differently under the kit is out of reach of any kit, but the kit
should not invite it: `tests/name_spy.py` notes every thread name and module name a
bus sees, over tests that run the kit's loop thread, its helper threads, the worker
path, a container and the stateful test's live loop.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from conformance.rules import RULES
from conformance.runner import LOOP_THREAD
from tests.name_spy import LOG_VARIABLE
from tests.pytest_run import run_pytest

TESTS = (
    "conformance/suite/test_publish.py::test_every_kind_of_handler_receives_each_event",
    "conformance/suite/test_worker.py::test_post_from_another_thread_is_delivered",
    "conformance/suite/test_lifecycle.py::test_container_shutdown_drains_the_worker",
    "conformance/suite/test_stateful.py::test_random_programs_match_the_model",
)
RULE_SHAPED = re.compile(r"\b[A-Z]+(?:-[A-Z]+)*-\d+\b")


def _telling(name: str) -> list[str]:
    """What in `name` could tell a bus it is under the kit: a rule ID, or the kit's name."""
    found = [m.group() for m in RULE_SHAPED.finditer(name)] + [r for r in RULES if r in name]
    if "conformance" in name.lower():
        found.append("conformance")
    return found


def test_a_bus_sees_no_rule_id_and_no_name_of_the_kit(tmp_path: Path) -> None:
    log = tmp_path / "names.jsonl"
    proc = run_pytest(
        "--impl=tests.name_spy:implementation",
        "--expectations=none",
        "-q",
        "-p",
        "no:randomly",
        *TESTS,
        env={LOG_VARIABLE: str(log), "CONFORMANCE_STATEFUL_EXAMPLES": "3"},
        timeout=240,
    )
    assert proc.returncode == 0, proc.output
    notes = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    seen: dict[str, set[str]] = {}
    for note in notes:
        seen.setdefault("thread", set()).add(note["thread"])
        if note.get("module"):
            seen.setdefault("module", set()).add(note["module"])
        for module in note.get("modules", ()):
            seen.setdefault("scanned module", set()).add(module)
    # The spy saw what it is there to see: several threads (the loop's and a producer's), the
    # kit's event classes and the modules it generates for a container.
    calls = {note["call"] for note in notes}
    assert {"subscribe", "publish", "post", "start_worker", "init"} <= calls, f"the spy noted only {sorted(calls)}"
    assert LOOP_THREAD in seen["thread"] and len(seen["thread"]) >= 2, (
        f"expected the loop's thread and a helper thread of the kit; saw {seen['thread']}"
    )
    assert seen.get("scanned module"), "the container test scanned no module"
    telling = {
        f"{what} {name!r}: {', '.join(found)}"
        for what, names in seen.items()
        for name in names
        if (found := _telling(name))
    }
    assert not telling, (
        "expected no thread or module name the bus sees to carry a rule ID or the kit's name; observed "
        + "; ".join(sorted(telling))
    )

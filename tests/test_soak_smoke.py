"""A smoke run of `python -m conformance.soak` with tiny counts, and proof that it catches broken buses.

Nothing here judges a time. The broken buses are module-level factories, so the
command loads them as `--impl=tests.test_soak_smoke:lossy` and so on.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import reference
from conformance.adapter import ModuleAdapter
from conformance.soak import Ledger
from reference.event_bus import EventBus

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--events=2000", "--producers=2", "--restarts=1"]


# -- broken buses -------------------------------------------------------------------


class _LossyBus(EventBus):
    """Accepts every post, but silently drops the events whose sequence number ends in 99."""

    def post(self, event: Any) -> None:
        # Chosen by the soak's numbering, not by a count of calls, so that retried posts do not shift it.
        if getattr(event, "s", 0) % 100 == 99:
            return
        super().post(event)


class _HangingBus(EventBus):
    """Its stop_worker never returns (it waits for a future nobody resolves)."""

    async def stop_worker(self) -> None:
        await asyncio.get_running_loop().create_future()


class _BlockingBus(EventBus):
    """Its stop_worker blocks the event loop's thread for good."""

    async def stop_worker(self) -> None:
        while True:
            time.sleep(3600)


class _Adapter(ModuleAdapter):
    def __init__(self, bus_type: type[EventBus], name: str) -> None:
        super().__init__(reference, name=name)
        self._bus = bus_type

    def new_bus(self, **options: Any) -> Any:
        return self._bus(**options)


def lossy() -> ModuleAdapter:
    """The reference bus, dropping one posted event in a hundred."""
    return _Adapter(_LossyBus, "lossy")


def hanging() -> ModuleAdapter:
    """The reference bus, with a stop_worker that never returns."""
    return _Adapter(_HangingBus, "hanging")


def blocking() -> ModuleAdapter:
    """The reference bus, with a stop_worker that blocks the loop's thread."""
    return _Adapter(_BlockingBus, "blocking")


# -- the command ----------------------------------------------------------------------


def soak(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance.soak", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_reference_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "soak.json"
    proc = soak("--impl=reference", *TINY, "--leak-cycles=2000", "--churn", f"--json={path}")
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "| lost | 0 |" in proc.stdout
    assert "| duplicated | 0 |" in proc.stdout
    assert "| out of order | 0 |" in proc.stdout
    assert "**PASS**" in proc.stdout
    assert "[soak] reference" in proc.stderr and "[soak]" not in proc.stdout
    document = json.loads(path.read_text(encoding="utf-8"))
    events = document["events"]
    assert events["accepted"] == events["delivered"] == 2000
    assert events["lost"] == events["duplicated"] == events["out_of_order"] == 0
    assert document["restarts_done"] == 1
    assert document["drained"] is True
    assert document["leak_check"]["cycles"] == 2000 and document["leak_check"]["leaked"] is False
    assert document["ok"] is True


def test_a_bus_that_drops_events_fails_and_says_how_many() -> None:
    proc = soak("--impl=tests.test_soak_smoke:lossy", *TINY, "--leak-cycles=0")
    assert proc.returncode == 1, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    lost = next(line for line in proc.stdout.splitlines() if line.startswith("| lost |"))
    assert lost.split("|")[2].strip().split()[0] == "20", lost
    assert "**FAIL**: 20 lost" in proc.stdout


def test_a_stop_worker_that_never_returns_is_reported_as_a_hang() -> None:
    proc = soak("--impl=tests.test_soak_smoke:hanging", *TINY, "--leak-cycles=0", "--timeout=1")
    assert proc.returncode == 1, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "hang in stop_worker (restart 1)" in proc.stdout


def test_a_bus_that_blocks_the_loop_is_abandoned_and_reported() -> None:
    proc = soak("--impl=tests.test_soak_smoke:blocking", *TINY, "--leak-cycles=0", "--timeout=1")
    assert proc.returncode == 1, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "hang in the event loop's thread (restart 1)" in proc.stdout


def test_usage_errors_exit_2() -> None:
    unknown = soak("--impl=no_such_bus_module", *TINY)
    assert unknown.returncode == 2 and "no_such_bus_module" in unknown.stderr
    too_few = soak("--impl=reference", "--events=3", "--producers=2", "--restarts=1")
    assert too_few.returncode == 2 and "too few" in too_few.stderr


# -- the ledger ---------------------------------------------------------------------


class _Numbered:
    def __init__(self, p: int, s: int) -> None:
        self.p = p
        self.s = s


def _deliver(ledger: Ledger, events: list[tuple[int, int]]) -> None:
    record = ledger.handler()
    for p, s in events:
        record(_Numbered(p, s))


def test_ledger_sorts_out_losses_duplicates_and_reordering() -> None:
    ledger = Ledger(2)
    # Producer 0 posted 0..5: 2 comes late, 4 twice, 5 never. Producer 1 posted 0..2, delivered exactly.
    _deliver(ledger, [(0, 0), (1, 0), (0, 1), (0, 3), (1, 1), (0, 2), (0, 4), (0, 4), (1, 2)])
    tally = ledger.tally([6, 3])
    assert (tally.accepted, tally.delivered) == (9, 9)
    assert (tally.lost, tally.duplicated, tally.out_of_order, tally.unexpected) == (1, 1, 1, 0)
    assert tally.examples == {"out of order": [(0, 2)], "duplicated": [(0, 4)], "lost": [(0, 5)]}


def test_ledger_counts_a_delivery_whose_post_was_refused() -> None:
    ledger = Ledger(1)
    _deliver(ledger, [(0, 0), (0, 1)])
    tally = ledger.tally([1])
    assert (tally.lost, tally.unexpected, tally.faults) == (0, 1, 1)

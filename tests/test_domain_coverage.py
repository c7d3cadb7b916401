"""The domain coverage table cannot drift: it is what a run produces, and its gaps are the known ones.

One run of the suite on the reference (every test runs to its end there)
collects what the kit observed of each test (`conformance.domain`). The test
fails when `docs/domain-coverage.md` differs from what that run renders, and
when the gaps of the rules' declared dimensions differ from `KNOWN_GAPS`, both
ways: a new gap fails, and so does a gap closed but still listed, so the list
only shrinks. MUST rules may have no gap once the suite covers their domain; the
list says what is left today.
"""

from __future__ import annotations

import asyncio
import functools

import pytest

from conformance import coverage, domain
from conformance.rules import RULES
from conformance.runner import LOOPS
from tests.pytest_run import ROOT

KNOWN_GAPS: dict[str, dict[str, list[str]]] = {}
"""Rule -> dimension -> values the suite does not exercise yet (MUST rules only; shrink it, never grow it)."""


@pytest.fixture(scope="module")
def seen() -> coverage.Seen:
    """What the suite exercised, per rule, in one run on the reference."""
    return coverage.run_suite("reference")


def test_the_committed_table_is_what_a_run_produces(seen: coverage.Seen) -> None:
    committed = (ROOT / coverage.DOC).read_text(encoding="utf-8")
    assert committed == coverage.render(seen), (
        f"{coverage.DOC} is out of date: run `python -m conformance coverage` and commit it"
    )


def test_must_rules_leave_no_declared_value_out_but_the_known_gaps(seen: coverage.Seen) -> None:
    must = {r: g for r, g in domain.gaps(domain.DECLARED, seen).items() if RULES[r].level == "MUST"}
    new = {r: {d: v for d, v in g.items() if v != KNOWN_GAPS.get(r, {}).get(d)} for r, g in must.items()}
    closed = {r: {d: v for d, v in g.items() if v != must.get(r, {}).get(d)} for r, g in KNOWN_GAPS.items()}
    new = {r: g for r, g in new.items() if g}
    closed = {r: g for r, g in closed.items() if g}
    assert not new and not closed, (
        f"gaps found but not in KNOWN_GAPS (cover them): {new}\n"
        f"KNOWN_GAPS entries the run no longer shows (remove them): {closed}"
    )


def test_every_test_run_by_the_kit_reports_what_it_exercised(seen: coverage.Seen) -> None:
    assert len(seen) > 60, f"only {len(seen)} rules got observations"
    assert all("loop_implementation" in d for d in seen.values())


def test_declarations_name_known_rules_and_dimensions() -> None:
    for rule_id, scopes in domain.DECLARED.items():
        assert rule_id in RULES, rule_id
        for scope in scopes:
            assert set(scope.values) <= set(domain.DIMENSIONS[scope.key].values), (rule_id, scope)
    assert set(domain.COUNT_FLOORS) <= set(RULES)
    assert domain.LOOPS == LOOPS


def test_handler_kinds_come_from_the_recorder_and_are_classified_by_shape() -> None:
    """Every kind the recorder makes is in the vocabulary, and a lookalike made elsewhere is named alike."""

    class Listener:
        def method(self, event: object) -> None: ...

        async def amethod(self, event: object) -> None: ...

    class Obj:
        def __call__(self, event: object) -> None: ...

    class AObj:
        async def __call__(self, event: object) -> None: ...

    def f(event: object) -> None: ...

    async def af(event: object) -> None: ...

    async def alab(label: str, event: object) -> None: ...

    shapes = {
        "function": f,
        "lambda": lambda event: None,
        "bound method": Listener().method,
        "partial": functools.partial(print, "x"),
        "callable object": Obj(),
        "async function": af,
        "async bound method": Listener().amethod,
        "async partial": functools.partial(alab, "x"),
        "async callable object": AObj(),
    }
    for kind, fn in shapes.items():
        assert kind in domain.HANDLER_KINDS
        assert domain.classify_handler(fn) == kind, kind
    assert domain.classify_handler(42) is None  # type: ignore[arg-type]


def test_observing_a_registration_never_raises_for_what_the_bus_must_refuse() -> None:
    """ROB-3 hands the bus a non-callable (and ROB-4 odd policies): an exception of the kit's own
    would pass for the bus's refusal."""
    seen = domain.Observations("ROB-3")
    seen.registered(object(), object(), 42, "TASK")  # type: ignore[arg-type]
    seen.registered(object(), object(), print, "EVENTUALLY")  # type: ignore[arg-type]
    assert seen.values["handler_kind"] == {"callable object"}
    assert "policy" not in seen.values


def test_observations_count_values_against_the_rules_floor() -> None:
    seen = domain.Observations("POST-9")
    seen.exercise(count=1000)  # an "unbounded" queue capped at 1,024 passes this
    assert "count" not in seen.values
    seen.exercise(count=5000)
    assert seen.values["count"] == {"past hidden caps"}
    other = domain.Observations("POL-TASK-4")
    other.exercise(count=3)
    assert "count" not in other.values
    other.exercise(count=9)
    assert other.values["count"] == {"past hidden caps"}


def test_observations_refuse_unknown_dimensions_and_values() -> None:
    seen = domain.Observations("PUB-1")
    with pytest.raises(ValueError, match="no dimension"):
        seen.exercise(colour="red")
    with pytest.raises(ValueError, match="not one of"):
        seen.exercise(policy="EVENTUALLY")


def test_registrations_are_observed_without_keeping_the_handler_alive() -> None:
    import gc
    import weakref

    seen = domain.Observations("LEAK-3")

    def handler(event: object) -> None: ...

    bus, event_type = object(), object()
    seen.note_handler(handler, kind="static method", duration="a blocked thread")
    seen.registered(bus, event_type, handler, "TASK")
    seen.registered(bus, event_type, handler, "TASK", priority=2)
    assert seen.values["handler_kind"] == {"static method"}
    assert seen.values["duration"] == {"a blocked thread"}
    assert seen.values["registration"] == {"plain", "priority", "duplicate"}
    ref = weakref.ref(handler)
    del handler
    gc.collect()
    assert ref() is None, "the observations keep a registered handler alive"


def test_publish_sync_is_told_apart_by_the_running_loop() -> None:
    seen = domain.Observations("EXT-SYNC-1")
    seen.publish_sync()

    async def on_loop() -> None:
        seen.publish_sync()

    asyncio.run(on_loop())
    assert seen.values["path"] == {domain.SYNC_NO_LOOP, domain.SYNC_ON_LOOP}


def test_a_second_loop_and_another_threads_loop_are_told_apart() -> None:
    import threading

    seen = domain.Observations("PUB-1")
    first = asyncio.new_event_loop()
    first_thread = threading.get_ident()

    async def here() -> None:
        seen.loop_used(first, first_thread)

    asyncio.run(here())  # a loop of its own in the same thread: the first one is not running
    assert seen.values["loop"] == {"second loop in the same thread"}
    done = threading.Thread(target=lambda: asyncio.run(here()))
    done.start()
    done.join(10)
    assert seen.values["loop"] == {"second loop in the same thread", "loop in another thread"}
    first.close()


@pytest.mark.parametrize("sizes", [(2, 2), (3, 3, 3), (4, 3, 2, 2), (10, 3, 5), (2,), ()])
def test_pairwise_covers_every_pair_and_is_deterministic(sizes: tuple[int, ...]) -> None:
    factors = [[f"{i}{v}" for v in range(n)] for i, n in enumerate(sizes)]
    rows = domain.pairwise(factors)
    assert rows == domain.pairwise(factors)
    for i in range(len(factors)):
        assert {r[i] for r in rows} == set(factors[i])
        for j in range(i + 1, len(factors)):
            pairs = {(r[i], r[j]) for r in rows}
            assert pairs == {(a, b) for a in factors[i] for b in factors[j]}
    if len(sizes) >= 2:
        full = 1
        for n in sizes:
            full *= n
        biggest = sorted(sizes)[-2:]
        assert biggest[0] * biggest[1] <= len(rows) <= full

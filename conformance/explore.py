"""`python -m conformance explore --impl=NAME --minutes N [--seed S]`: long random programs on a live bus.

The explorer runs the stateful test's machine (`conformance/suite/test_stateful.py`)
in random mode, batch after batch, each batch seeded from `--seed` (so a run is
repeatable), until the minutes are up. Each program draws handlers of every kind
and policy, registration options, the event types of the model (single
inheritance, equal and unhashable events, a class of the same name in another
module), publish and post from the loop's thread and another thread, worker
starts and stops; the model checks every delivery. A failing program is shrunk
(Hypothesis, waits keeping `--bound`) and written out as a pytest file that
replays it step by step (`replay`), names its rule, and runs on its own:

    pytest -p no:randomly --impl=NAME explore-results/explore_<impl>_<rule>_<seed>.py

One reproduction is written per rule: a failure of a rule already written is
only counted (and not shrunk). The explorer runs each reproduction once on its own against NAME (it must fail
with its rule) and against the reference (it must pass), and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from hypothesis.stateful import run_state_machine_as_test

from ._sync import DEFAULT_BOUND
from .adapter import Implementation
from .domain import HANDLER_KINDS
from .kit import RuleViolation
from .loading import ImplementationNotFoundError, load_implementation
from .rules import RULES
from .runner import LOOPS, loop_factory
from .stateful import KINDS, Run

INVARIANT = "deliveries_match_the_model"
"""The state machine's invariant: checked after the machine is made and after every step, as Hypothesis does."""


@dataclass
class Finding:
    """One failing program, shrunk."""

    rule: str
    expected: str
    observed: str
    steps: list[str]
    seed: int
    path: Path | None = None
    fails_alone: bool | None = None
    passes_on_reference: bool | None = None


def _machine(run: Run) -> Any:
    # The state machine lives with the stateful test; imported late, so `python -m conformance` stays light.
    from .suite.test_stateful import _first_violation, _machine

    return _machine(run), _first_violation


def steps_of(notes: list[str]) -> list[str]:
    """The steps of a program Hypothesis printed (`state.rule(...)` lines), without invariants or teardown."""
    steps = []
    for note in notes:
        for line in note.splitlines():
            line = line.strip()
            if not line.startswith("state.") or line.startswith(("state.teardown(", f"state.{INVARIANT}(")):
                continue
            steps.append(line[len("state.") :])
    return steps


def replay(implementation: Implementation, request: pytest.FixtureRequest, program: Callable[[Any], None]) -> None:
    """Run `program(state)` on a fresh machine of the stateful test: a reproduction's body.

    `program` calls the machine's rules in the order the explorer found them,
    each followed by the invariant; the machine's teardown runs at the end,
    whatever happened, and nothing is shrunk or drawn.
    """
    run = Run(
        implementation,
        request.config.getoption("bound"),
        loop_factory(request.config.getoption("loop")),
        None,
    )
    machine, _ = _machine(run)
    state = machine()
    try:
        getattr(state, INVARIANT)()
        program(state)
    finally:
        state.teardown()


def _wrap(text: str) -> str:
    """`text` as docstring lines of at most 100 characters, with no closing quotes or backslashes in it."""
    text = " ".join(text.replace('"""', "'''").replace("\\", "/").split())
    return textwrap.fill(text, 100, subsequent_indent="    ")


def _render(finding: Finding, impl: str, command: str) -> str:
    rule = RULES[finding.rule]
    path = finding.path.as_posix() if finding.path is not None else "THIS_FILE"
    body = "\n".join(f"    state.{step}\n    state.{INVARIANT}()" for step in finding.steps) or "    pass"
    expected = _wrap(f"Expected: {finding.expected}")
    observed = _wrap(f"Observed on {impl}: " + finding.observed.split("\nstate = ")[0].strip())
    return f'''"""A failing program the explorer found (batch seed {finding.seed}), replayed step by step.

Found by: {command}

Breaks {rule}.
{expected}
{observed}

Run it on its own: pytest -p no:randomly --impl={impl} {path}
Each step runs on a live bus and is followed by the model's checks
(conformance.explore.replay).
"""

from typing import Any

import pytest

from conformance.adapter import Implementation
from conformance.explore import replay


def program(state: Any) -> None:
{body}


@pytest.mark.rule("{finding.rule}")
def test_reproduction(implementation: Implementation, request: pytest.FixtureRequest) -> None:
    replay(implementation, request, program)
'''


def run_alone(path: Path, impl: str, bound: float, loop: str, timeout: float = 300) -> tuple[bool, str]:
    """Run a reproduction file on its own against `impl`: (passed, output)."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-q",
        f"--impl={impl}",
        "--expectations=none",
        f"--bound={bound:g}",
        f"--loop={loop}",
        str(path),
    ]
    # From where the explorer runs, with it on the path, as `--impl=module:attr` was found there.
    here = str(Path.cwd())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    env = {k: v for k, v in env.items() if not k.startswith("CONFORMANCE_STATEFUL_")}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=here, env=env)
    return proc.returncode == 0, proc.stdout + proc.stderr


def explore_batch(run: Run, seed: int, examples: int, steps: int, shrink: bool = True) -> tuple[Finding | None, int]:
    """Run up to `examples` random programs seeded by `seed`: the first failure found (shrunk), and programs run.

    The count includes the programs Hypothesis runs while it shrinks a failure.
    """
    machine, first_violation = _machine(run)
    count = [0]
    original_init = machine.__init__

    def counting_init(self: Any) -> None:
        count[0] += 1
        original_init(self)

    machine.__init__ = counting_init
    machine._hypothesis_internal_use_seed = seed
    config = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=False,
        print_blob=False,
        phases=[p for p in Phase if shrink or p is not Phase.shrink],
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    violation: RuleViolation | None = None
    shown = io.StringIO()
    try:
        with contextlib.redirect_stdout(shown), contextlib.redirect_stderr(shown):
            run_state_machine_as_test(machine, settings=config)
    except RuleViolation as exc:
        violation = exc
    except Flaky as exc:
        violation = first_violation(exc)
        if violation is None:
            raise
    if violation is None:
        return None, count[0]
    notes = list(getattr(violation, "__notes__", ())) or [shown.getvalue()]
    return (
        Finding(violation.rule.id, violation.expected, violation.observed, steps_of(notes), seed),
        count[0],
    )


def main(argv: list[str] | None = None) -> int:
    """Explore for `--minutes`; write each new failure's reproduction; exit 1 if any failure was found."""
    parser = argparse.ArgumentParser(prog="python -m conformance explore", description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", required=True, help="implementation under test (as for pytest --impl)")
    parser.add_argument("--minutes", type=float, required=True, help="how long to explore")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first batch (default: drawn and printed)")
    parser.add_argument("--out", type=Path, default=Path("explore-results"), help="where reproductions go")
    parser.add_argument("--steps", type=int, default=40, help="steps per program at most (default 40)")
    parser.add_argument("--batch", type=int, default=25, help="programs per batch (default 25)")
    parser.add_argument("--bound", type=float, default=DEFAULT_BOUND, help="bound of every wait, as --bound")
    parser.add_argument("--loop", choices=LOOPS, default="asyncio", help="event loop, as --loop")
    parser.add_argument("--max-findings", type=int, default=5, help="stop after this many distinct failures")
    parser.add_argument("--no-shrink", action="store_true", help="write failing programs as found (quick looks)")
    args = parser.parse_args(argv)
    try:
        impl = load_implementation(args.impl, None)
    except ImplementationNotFoundError as exc:
        print(f"python -m conformance explore: {exc}", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    command = f"python -m conformance explore --impl={args.impl} --minutes {args.minutes:g} --seed {seed}"
    print(f"exploring {impl.name} {impl.version} for {args.minutes:g} min (seed {seed}; repeat: {command})")
    left_out = [k for k in HANDLER_KINDS if k not in KINDS]
    if left_out:  # the vocabulary grew: the machine's handlers (stateful/_handlers.py) should follow
        print(f"note: the programs draw no handler of kind {', '.join(left_out)} (not in conformance.stateful.KINDS)")
    started = time.monotonic()
    deadline = started + 60 * args.minutes
    findings: list[Finding] = []
    seen: set[str] = set()
    programs = batch = 0
    while time.monotonic() < deadline and len(findings) < args.max_findings:
        run = Run(impl, args.bound, loop_factory(args.loop), None)
        # Unshrunk first: a failure already written costs no shrinking; a new one is found again, shrunk.
        finding, ran = explore_batch(run, seed + batch, args.batch, args.steps, shrink=False)
        programs += ran
        key = finding.rule if finding is not None else None  # one reproduction per rule
        if finding is not None and key not in seen and not args.no_shrink:
            run = Run(impl, args.bound, loop_factory(args.loop), None)
            shrunk, ran = explore_batch(run, seed + batch, args.batch, args.steps, shrink=True)
            programs += ran
            if shrunk is not None and shrunk.rule == finding.rule:
                finding = shrunk
        batch += 1
        elapsed = time.monotonic() - started
        status = f"[{int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}] batch {batch}: {programs} programs"
        if finding is None or key is None:
            print(f"{status}, no failure", flush=True)
            continue
        if key in seen:
            print(f"{status}, {finding.rule} again (already written)", flush=True)
            continue
        seen.add(key)
        args.out.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"\W+", "_", f"explore_{args.impl}_{finding.rule}_{finding.seed}").lower()
        finding.path = args.out / f"{name}.py"
        finding.path.write_text(_render(finding, args.impl, command), encoding="utf-8")
        passed, output = run_alone(finding.path.resolve(), args.impl, args.bound, args.loop)
        finding.fails_alone = not passed and f"[{finding.rule}]" in output  # failed, and with its rule
        if args.impl != "reference":
            finding.passes_on_reference, _ = run_alone(finding.path.resolve(), "reference", args.bound, args.loop)
        findings.append(finding)
        print(
            f"{status}, FAILURE of {finding.rule}: {finding.expected}\n"
            f"    {len(finding.steps)} steps, written to {finding.path}; "
            f"fails on its own: {'yes' if finding.fails_alone else 'NO (timing-dependent?)'}"
            + (
                ""
                if finding.passes_on_reference is None
                else f"; passes on the reference: {'yes' if finding.passes_on_reference else 'NO'}"
            ),
            flush=True,
        )
    print(f"{programs} programs in {batch} batches; {len(findings)} distinct failure(s)")
    return 1 if findings else 0


__all__ = ["Finding", "explore_batch", "main", "replay", "run_alone", "steps_of"]

"""The command line of `python -m conformance.bench`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from ..loading import ImplementationNotFoundError, load_implementation
from ..runner import LOOPS
from . import report
from .cases import SIZES, Case, all_cases
from .runner import CaseResult, Progress, run

QUICK = {"repeat": 3, "scale": 0.02, "events": 2_000}
"""`--quick`: tiny counts, for a smoke run; figures from it mean little."""
QUICK_SIZES = (10, 100)
"""`--quick`: the handlers registered in the subscribe and unsubscribe cases."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.bench",
        description="Time event-bus implementations side by side with plain-Python baselines.",
    )
    parser.add_argument(
        "--impl",
        action="append",
        required=True,
        metavar="NAME",
        help="an implementation, as for `pytest --impl` (repeat the option to compare several)",
    )
    parser.add_argument("--repeat", type=int, help="samples of each variant of each case (default 11)")
    parser.add_argument("--scale", type=float, help="multiply each case's operations per sample (default 1)")
    parser.add_argument("--events", type=int, help="events per sample in the post-and-worker cases (default 100000)")
    parser.add_argument(
        "--sizes",
        help="comma-separated handler counts already registered in the subscribe and unsubscribe cases "
        f"(default {','.join(map(str, SIZES))})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny counts for a smoke run (3 rounds, 2%% of the operations, 2000 events, sizes 10 and 100); "
        "its figures mean little",
    )
    parser.add_argument("--cases", help="comma-separated case keys to run (default: all; see --list)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--loop", choices=LOOPS, default="asyncio", help="the event loop (default asyncio)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the order of variants within a round")
    parser.add_argument("--json", metavar="PATH", help="also write the results, every sample included, as JSON")
    return parser


_CLEAR = "\x1b[K"
"""Erase to the end of the line, after a carriage return on a terminal."""


class _StderrProgress(Progress):
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()  # on a terminal, one line per case, rewritten as the rounds go
        self.prefix = ""

    def case_started(self, index: int, total: int, case: Case, ops: int) -> None:
        self.prefix = f"[{index}/{total}] {case.title} ({ops:,} per sample)"
        if self.live:
            self.out.write(f"\r{self.prefix}: checking{_CLEAR}")
        else:
            self.out.write(f"{self.prefix} ...\n")
        self.out.flush()

    def round_done(self, case: Case, done: int, total: int) -> None:
        if self.live:
            self.out.write(f"\r{self.prefix}: round {done}/{total}{_CLEAR}")
            self.out.flush()

    def case_done(self, result: CaseResult) -> None:
        figures = [f"baseline {report.cell(result.baseline, ' ns')}"]
        figures += [f"{name} {report.cell(series, ' ns')}" for name, series in result.impls.items()]
        line = "    " + "; ".join(figures)
        if self.live:
            self.out.write(f"\r{self.prefix}{_CLEAR}\n")
        self.out.write(line + "\n")
        self.out.flush()


def _select(cases: list[Case], keys: str | None) -> list[Case]:
    if not keys:
        return cases
    wanted = [k.strip() for k in keys.split(",") if k.strip()]
    known = {c.key for c in cases}
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [c for c in cases if c.key in wanted]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 unless a case could not be measured (no time is ever judged a failure)."""
    args = _parser().parse_args(argv)
    quick = QUICK if args.quick else {}
    repeat = args.repeat or int(quick.get("repeat", 11))
    scale = args.scale or float(quick.get("scale", 1.0))
    events = args.events or int(quick.get("events", 100_000))
    sizes: tuple[int, ...] = QUICK_SIZES if args.quick else SIZES
    if args.sizes:
        try:
            sizes = tuple(int(size) for size in args.sizes.split(","))
        except ValueError:
            raise SystemExit(f"--sizes takes comma-separated integers, got {args.sizes!r}") from None
    cases = _select(all_cases(events, sizes), args.cases)
    if args.list:
        for case in cases:
            print(f"{case.key:16} {case.title}")
        return 0
    try:
        impls = [load_implementation(spec) for spec in args.impl]
    except ImplementationNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    outcome = run(
        impls, cases, repeat=repeat, scale=scale, loop=args.loop, seed=args.seed, progress=_StderrProgress(sys.stderr)
    )
    print(f"# {report.header(outcome)}\n")
    print(report.table(outcome))
    scaling = report.scaling_table(outcome)
    if scaling:
        print()
        print(scaling)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(report.to_json(outcome), out, indent=2)
            out.write("\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 1 if outcome.failed else 0

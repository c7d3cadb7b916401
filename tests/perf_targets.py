"""The reference bus's performance targets, judged on the JSON document of a benchmark run.

The benchmark (`python -m conformance.bench`) measures any implementation and
judges none; these targets are the reference's own (issues 5 and 13), and
`docs/performance.md` reports their verdicts:

    python -m conformance.bench --impl=reference --impl=pico-ioc --json=bench.json
    python -m tests.perf_targets bench.json

It prints a Markdown table, one row per target, with the figure measured and
the verdict. The exit status is 0 even when a target is missed (a time on a
shared machine is evidence, not a test), 2 when the document is unusable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

RATIO_TARGETS: tuple[tuple[str, float], ...] = (
    ("inline-sync-10", 1.5),
    ("inline-async-10", 1.5),
    ("task-1", 1.15),
    ("task-10", 1.15),
    ("post-loop", 2.0),
    ("post-thread", 2.0),
)
"""(case, limit): the subject's median at most `limit` times the baseline's."""

NS_ABOVE_TARGETS: tuple[tuple[str, float], ...] = (("inline-sync-1", 250.0),)
"""(case, limit): the subject's median at most `limit` ns above the baseline's."""

FASTER_ON_INLINE = 3.0
"""The subject at least this many times faster than the other implementation on every INLINE case."""

FLAT_TARGETS: tuple[tuple[str, int, int, float], ...] = (
    ("subscribe", 10, 30_000, 2.0),
    ("unsubscribe", 10, 30_000, 2.0),
)
"""(operation, small, large, limit): with `large` handlers registered, the operation costs the subject at most
`limit` times what it costs with `small` (the cases `subscribe-10`, `subscribe-30000`...)."""


@dataclass(frozen=True)
class Verdict:
    """One target, judged on one run."""

    target: str
    measured: str
    met: bool | None
    """None when the run lacks a figure the target needs."""


def _median(case: dict[str, Any] | None, name: str) -> float | None:
    if case is None:
        return None
    series = case["baseline"] if name == "baseline" else case["results"].get(name, {})
    value = series.get("median_ns")
    return float(value) if isinstance(value, (int, float)) else None


def _times(value: float) -> str:
    return f"{value:.2f}×"


def judge(document: dict[str, Any], subject: str = "reference", other: str | None = "pico-ioc") -> list[Verdict]:
    """The verdict of every target on the run `document` (the benchmark's JSON)."""
    cases = {case["key"]: case for case in document["cases"]}
    names = {impl["name"] for impl in document["implementations"]}
    if other not in names:
        other = None
    found: list[Verdict] = []

    def title(key: str) -> str:
        return str(cases[key]["title"]) if key in cases else key

    for key, limit in RATIO_TARGETS:
        mine, base = _median(cases.get(key), subject), _median(cases.get(key), "baseline")
        value = None if mine is None or not base else mine / base
        shown = "not measured" if value is None else _times(value)
        met = None if value is None else value <= limit
        found.append(Verdict(f"{title(key)}: at most {limit:g}× the baseline", shown, met))
    for key, limit in NS_ABOVE_TARGETS:
        mine, base = _median(cases.get(key), subject), _median(cases.get(key), "baseline")
        if mine is None or base is None:
            found.append(Verdict(f"{title(key)}: at most {limit:g} ns above the baseline", "not measured", None))
            continue
        above = mine - base
        shown = f"{above:+,.0f} ns ({mine:,.0f} vs {base:,.0f} ns)"
        found.append(Verdict(f"{title(key)}: at most {limit:g} ns above the baseline", shown, above <= limit))
    for op, small, large, limit in FLAT_TARGETS:
        low, high = _median(cases.get(f"{op}-{small}"), subject), _median(cases.get(f"{op}-{large}"), subject)
        text = f"{op} one more handler with {large:,} registered: at most {limit:g}× the cost with {small:,}"
        if low is None or high is None:
            found.append(Verdict(text, "not measured", None))
            continue
        shown = f"{_times(high / low)} ({high:,.0f} vs {low:,.0f} ns)"
        found.append(Verdict(text, shown, high / low <= limit))
    if other is not None:
        speedups = []
        for key, case in cases.items():
            mine, theirs = _median(case, subject), _median(case, other)
            if key.startswith("inline-") and mine and theirs:
                speedups.append((theirs / mine, str(case["title"]).removeprefix("publish, ")))
        if speedups:
            slowest, where = min(speedups)
            shown = f"{_times(slowest)} to {_times(max(speedups)[0])} (lowest: {where})"
            text = f"at least {FASTER_ON_INLINE:g}× faster than {other} on every INLINE case"
            found.append(Verdict(text, shown, slowest >= FASTER_ON_INLINE))
    return found


def table(found: Sequence[Verdict], subject: str = "reference") -> str:
    """The verdicts as a Markdown table."""
    verdicts = {True: "met", False: "**missed**", None: "not measured"}
    lines = [f"| target for {subject} | measured | verdict |", "|---|---|---|"]
    lines += [f"| {v.target} | {v.measured} | {verdicts[v.met]} |" for v in found]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the verdicts of a benchmark run's JSON document."""
    parser = argparse.ArgumentParser(prog="python -m tests.perf_targets", description=__doc__.splitlines()[0])
    parser.add_argument("json", help="the document `python -m conformance.bench --json=PATH` wrote")
    parser.add_argument("--subject", default="reference", help="the implementation judged (default: reference)")
    parser.add_argument("--against", default="pico-ioc", help="the one it must beat on INLINE (default: pico-ioc)")
    args = parser.parse_args(argv)
    try:
        with open(args.json, encoding="utf-8") as source:
            document = json.load(source)
        if args.subject not in {impl["name"] for impl in document["implementations"]}:
            raise KeyError(f"{args.subject} was not measured")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: cannot judge {args.json}: {exc}", file=sys.stderr)
        return 2
    print(table(judge(document, args.subject, args.against), args.subject))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Presenting a run: the Markdown table, the reference's targets, and the JSON document."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .runner import CaseResult, Run, Series

JSON_SCHEMA = "event-bus-conformance/bench/1"


def ns(value: float) -> str:
    """A time in ns, to three significant figures or whole ns."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def cell(series: Series, unit: str = "") -> str:
    """A median and its spread, or the error that stopped the measurement."""
    if not series.ok:
        return f"error: {series.error or 'no samples'}"
    return f"{ns(series.median)}{unit} ±{series.spread:.0%}"


def ratio(a: Series, b: Series) -> float | None:
    """median(a) / median(b), or None when either could not be measured."""
    if not (a.ok and b.ok) or not b.median:
        return None
    return a.median / b.median


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def table(run: Run) -> str:
    """The results as a Markdown table: ns per operation, ratios to the baseline and to the first implementation."""
    names = [name for name, _ in run.implementations]
    first = names[0] if names else None
    header = ["case", "ns per", "baseline"]
    for name in names:
        header += [name, "× baseline"]
    header += [f"{name} ÷ {first}" for name in names[1:]]
    rows = [header, ["---"] * 2 + ["---:"] * (len(header) - 2)]
    for result in run.results:
        row = [result.case.title, result.case.unit, cell(result.baseline)]
        for name in names:
            series = result.impls[name]
            row += [cell(series), _times(ratio(series, result.baseline))]
        if first is not None:
            row += [_times(ratio(result.impls[name], result.impls[first])) for name in names[1:]]
        rows.append(row)
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    legend = [
        "",
        "Medians of the samples, in ns per operation; ± is half the interquartile range, relative to the median."
        + (f" `X ÷ {first}` is X's median over {first}'s: above 1, {first} is faster." if len(names) > 1 else ""),
        "",
        "Baselines:",
    ]
    legend += [f"- {r.case.title}: {r.case.baseline_label}." for r in run.results]
    return "\n".join(lines + legend)


def header(run: Run) -> str:
    """One line saying what ran where."""
    impls = ", ".join(f"{name} {version}" for name, version in run.implementations)
    m = run.machine
    return (
        f"{impls}: {m['python']}, {run.loop} loop, {m['cores']} cores ({m['cpu']}), "
        f"{run.repeat} rounds, seed {run.seed}"
    )


# -- targets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One of the reference's performance targets (issue 5), judged on one run."""

    text: str
    measured: str
    met: bool | None
    """None when the run lacks a figure it needs."""


def _result(run: Run, key: str) -> CaseResult | None:
    return next((r for r in run.results if r.case.key == key), None)


RATIO_TARGETS: tuple[tuple[str, float], ...] = (
    ("inline-sync-10", 1.5),
    ("inline-async-10", 1.5),
    ("task-1", 1.15),
    ("task-10", 1.15),
    ("post-loop", 2.0),
    ("post-thread", 2.0),
)
NS_ABOVE_TARGETS: tuple[tuple[str, float], ...] = (("inline-sync-1", 250.0),)
FASTER_ON_INLINE = 3.0


def targets(run: Run, subject: str, other: str | None) -> list[Target]:
    """Judge `subject` against the targets; `other` is the implementation it must beat (pico-ioc)."""
    found: list[Target] = []

    def judge(text: str, key: str, measure: Callable[[CaseResult], tuple[float | None, str]], ok: float) -> None:
        result = _result(run, key)
        if result is None:
            return
        value, shown = measure(result)
        found.append(Target(f"{result.case.title}: {text}", shown, None if value is None else value <= ok))

    for key, limit in RATIO_TARGETS:

        def by_ratio(r: CaseResult) -> tuple[float | None, str]:
            value = ratio(r.impls[subject], r.baseline)
            return value, _times(value)

        judge(f"at most {limit:g}× the baseline", key, by_ratio, limit)
    for key, limit in NS_ABOVE_TARGETS:

        def by_ns(r: CaseResult) -> tuple[float | None, str]:
            mine = r.impls[subject]
            if not (mine.ok and r.baseline.ok):
                return None, "n/a"
            value = mine.median - r.baseline.median
            return value, f"{value:+,.0f} ns ({ns(mine.median)} vs {ns(r.baseline.median)})"

        judge(f"at most {limit:g} ns above the baseline", key, by_ns, limit)
    if other is None:
        return found
    speedups = {r.case.key: (r, ratio(r.impls[other], r.impls[subject])) for r in run.results}
    inline = {k: v for k, v in speedups.items() if k.startswith("inline-")}
    if inline:
        values = [s for _, s in inline.values()]
        shown = ", ".join(f"{r.case.title.removeprefix('publish, ')}: {_times(s)}" for r, s in inline.values())
        met = None if None in values else all(s is not None and s >= FASTER_ON_INLINE for s in values)
        found.append(Target(f"at least {FASTER_ON_INLINE:g}× faster than {other} on the INLINE cases", shown, met))
    if speedups:
        values = [s for _, s in speedups.values()]
        known = [(s, r) for r, s in speedups.values() if s is not None]
        slowest = min(known, key=lambda pair: pair[0]) if known else None
        shown = "n/a" if slowest is None else f"lowest: {_times(slowest[0])} ({slowest[1].case.title})"
        met = None if None in values else all(s is not None and s >= 1.0 for s in values)
        found.append(Target(f"not slower than {other} on any case", shown, met))
    return found


def targets_table(subject: str, found: list[Target]) -> str:
    """The targets as a Markdown table."""
    verdicts = {True: "met", False: "**missed**", None: "not measured"}
    lines = [f"| target for {subject} | measured | verdict |", "|---|---|---|"]
    lines += [f"| {t.text} | {t.measured} | {verdicts[t.met]} |" for t in found]
    return "\n".join(lines)


# -- JSON -------------------------------------------------------------------------------------


def _series_json(series: Series, baseline: Series | None) -> dict[str, Any]:
    if not series.ok:
        return {"error": series.error or "no samples"}
    q1, q3 = series.quartiles
    out: dict[str, Any] = {
        "median_ns": series.median,
        "q1_ns": q1,
        "q3_ns": q3,
        "min_ns": min(series.samples),
        "max_ns": max(series.samples),
        "spread": series.spread,
        "samples_ns": series.samples,
    }
    if baseline is not None:
        out["ratio_to_baseline"] = ratio(series, baseline)
        out["ns_above_baseline"] = series.median - baseline.median if baseline.ok else None
    return out


def to_json(run: Run, found: list[Target] | None = None, subject: str | None = None) -> dict[str, Any]:
    """The run as a JSON-able document (all samples included)."""
    return {
        "schema": JSON_SCHEMA,
        "machine": run.machine,
        "loop": run.loop,
        "repeat": run.repeat,
        "seed": run.seed,
        "implementations": [{"name": n, "version": v} for n, v in run.implementations],
        "cases": [
            {
                "key": r.case.key,
                "title": r.case.title,
                "unit": r.case.unit,
                "ops_per_sample": r.ops,
                "baseline": {"label": r.case.baseline_label, **_series_json(r.baseline, None)},
                "results": {name: _series_json(s, r.baseline) for name, s in r.impls.items()},
            }
            for r in run.results
        ],
        "targets": {
            "subject": subject,
            "results": [{"target": t.text, "measured": t.measured, "met": t.met} for t in found or []],
        },
    }

"""Presenting a run: the Markdown tables and the JSON document.

Nothing here judges a figure: an implementation's own targets (the reference's
are in `tests/perf_targets.py`) are judged from the JSON document.
"""

from __future__ import annotations

from typing import Any

from .runner import Run, Series

JSON_SCHEMA = "event-bus-conformance/bench/2"


def ns(value: float) -> str:
    """A time in ns, to three significant figures or whole ns."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def cell(series: Series, unit: str = "") -> str:
    """A median and its spread, or why there is none."""
    if series.not_measured:
        return f"not measured: {series.error}"
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


# -- scaling ----------------------------------------------------------------------------------


def scaling_table(run: Run) -> str:
    """The cases that belong to a scaling group, one row per size: how each variant's cost grows with N."""
    names = [name for name, _ in run.implementations]
    grouped = [r for r in run.results if r.case.group is not None and r.case.size is not None]
    if not grouped:
        return ""
    rows = [["scaling", "N", "baseline", *names], ["---", "---:", "---:", *["---:"] * len(names)]]
    for result in grouped:
        size = result.case.size or 1
        divisor = size if result.case.per_size else 1
        row = [str(result.case.group), f"{size:,}", _per(result.baseline, divisor)]
        row += [_per(result.impls[name], divisor) for name in names]
        rows.append(row)
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join([*lines, "", "Medians, as in the table above, divided by N where the row says per handler."])


def _per(series: Series, divisor: int) -> str:
    if not series.ok:
        return "not measured" if series.not_measured else "error"
    return ns(series.median / divisor)


# -- JSON -------------------------------------------------------------------------------------


def _series_json(series: Series, baseline: Series | None) -> dict[str, Any]:
    if series.not_measured:
        return {"not_measured": series.error}
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


def to_json(run: Run) -> dict[str, Any]:
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
                "group": r.case.group,
                "size": r.case.size,
                "per_size": r.case.per_size,
                "baseline": {"label": r.case.baseline_label, **_series_json(r.baseline, None)},
                "results": {name: _series_json(s, r.baseline) for name, s in r.impls.items()},
            }
            for r in run.results
        ],
    }

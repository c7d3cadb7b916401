"""Running the cases: a correctness check, a warm-up, then interleaved rounds of samples.

All variants of a case (the baseline and every implementation) are sampled in
each round, in a shuffled order, so that a slow spell of a noisy machine falls on
all of them alike. Each sample runs on the same event loop, after a full
garbage collection and with the cyclic collector off while it runs, as `timeit`
does.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import random
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from .._host import cpu_name
from ..adapter import BusAdapter, Implementation
from ..capabilities import Unsupported
from ..runner import loop_factory
from .cases import CHECK_TIMEOUT, SETUP_BUDGET, Case, NotMeasured, Sample

SAMPLE_TIMEOUT = 600.0
"""The longest one sample may take before the variant is reported as failing."""

BASELINE = "baseline"


@dataclass
class Series:
    """The samples of one variant of one case, in ns per operation."""

    samples: list[float] = field(default_factory=list)
    error: str | None = None
    not_measured: bool = False
    """Set with `error` when the case is beyond the bench's budget for this implementation: not a failure."""

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def quartiles(self) -> tuple[float, float]:
        """(first, third) quartile; both the sample itself when there is one."""
        if len(self.samples) < 2:
            return self.samples[0], self.samples[0]
        q1, _, q3 = statistics.quantiles(self.samples, n=4, method="inclusive")
        return q1, q3

    @property
    def spread(self) -> float:
        """Half the interquartile range, relative to the median."""
        q1, q3 = self.quartiles
        return (q3 - q1) / 2 / self.median if self.median else 0.0


@dataclass
class CaseResult:
    case: Case
    ops: int
    """Operations per sample, as asked (a case may round it, e.g. to whole buses)."""
    baseline: Series
    impls: dict[str, Series]


@dataclass
class Run:
    """Everything one benchmark run measured, and where."""

    implementations: list[tuple[str, str]]
    """(name, version), in the order given."""
    loop: str
    repeat: int
    seed: int
    machine: dict[str, str]
    results: list[CaseResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether any variant of any case failed (a case beyond the budget, `not_measured`, did not)."""
        return any(not (s.ok or s.not_measured) for r in self.results for s in (r.baseline, *r.impls.values()))


class Progress:
    """Receives the run's progress; the CLI prints it on stderr."""

    def case_started(self, index: int, total: int, case: Case, ops: int) -> None:
        pass

    def round_done(self, case: Case, done: int, total: int) -> None:
        pass

    def case_done(self, result: CaseResult) -> None:
        pass


def machine() -> dict[str, str]:
    """The facts about this machine and interpreter that a figure depends on."""
    cpu = cpu_name()
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count() or "?"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
    }


def _names(impls: Sequence[Implementation]) -> list[str]:
    names: list[str] = []
    for impl in impls:
        name, k = impl.name, 2
        while name in names or name == BASELINE:
            name, k = f"{impl.name}#{k}", k + 1
        names.append(name)
    return names


def run(
    impls: Sequence[Implementation],
    cases: Sequence[Case],
    *,
    repeat: int = 11,
    scale: float = 1.0,
    loop: str = "asyncio",
    seed: int = 0,
    progress: Progress | None = None,
) -> Run:
    """Measure every case on the baseline and on every implementation, on one event loop."""
    progress = progress or Progress()
    names = _names(impls)
    result = Run([(n, i.version) for n, i in zip(names, impls, strict=True)], loop, repeat, seed, machine())
    shuffle = random.Random(seed).shuffle
    event_loop = loop_factory(loop)()
    asyncio.set_event_loop(event_loop)
    try:
        for index, case in enumerate(cases, 1):
            ops = max(1, round(case.ops * scale)) if case.scaled else case.ops
            progress.case_started(index, len(cases), case, ops)
            outcome = _run_case(event_loop, case, ops, dict(zip(names, impls, strict=True)), repeat, shuffle, progress)
            result.results.append(outcome)
            progress.case_done(outcome)
    finally:
        try:
            event_loop.run_until_complete(event_loop.shutdown_asyncgens())
            event_loop.run_until_complete(event_loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            event_loop.close()
    return result


_TIMED_CALLS = ("publish", "post", "start_worker", "stop_worker", "unsubscribe")
"""The bus methods the cases call directly."""


def _run_case(
    loop: asyncio.AbstractEventLoop,
    case: Case,
    ops: int,
    impls: dict[str, Implementation],
    repeat: int,
    shuffle: Callable[[list[str]], None],
    progress: Progress,
) -> CaseResult:
    series = {name: Series() for name in (BASELINE, *impls)}
    variants: dict[str, Callable[[int], Awaitable[Sample]]] = {BASELINE: case.baseline}
    for name, impl in impls.items():
        try:
            if any(getattr(type(impl), call, None) is not getattr(BusAdapter, call) for call in _TIMED_CALLS):
                # The cases time the bus's own methods, without an adapter's call in between.
                raise NotMeasured(
                    f"{impl.name}'s adapter maps the bus's calls; the benchmark times pico-ioc-shaped buses"
                )
            loop.run_until_complete(asyncio.wait_for(case.check(impl), 2 * CHECK_TIMEOUT + SETUP_BUDGET))
        except (NotMeasured, Unsupported) as exc:
            series[name].error, series[name].not_measured = str(exc.msg if isinstance(exc, Unsupported) else exc), True
            continue
        except Exception as exc:
            series[name].error = f"check failed: {_describe(exc)}"
            continue
        variants[name] = _bind(case, impl)
    # A warm-up sample of each, discarded: first calls fill caches and start the executor's threads.
    live = list(variants)
    for name in live:
        _sample(loop, name, variants[name], max(1, ops // 5), series)
    for done in range(1, repeat + 1):
        order = [name for name in live if series[name].error is None]
        shuffle(order)
        for name in order:
            value = _sample(loop, name, variants[name], ops, series)
            if value is not None:
                series[name].samples.append(value)
        progress.round_done(case, done, repeat)
    if case.teardown is not None:
        for name in variants.keys() - {BASELINE}:
            loop.run_until_complete(asyncio.wait_for(case.teardown(impls[name]), 2 * CHECK_TIMEOUT))
    baseline = series.pop(BASELINE)
    return CaseResult(case, ops, baseline, series)


def _bind(case: Case, impl: Implementation) -> Callable[[int], Awaitable[Sample]]:
    def variant(n: int) -> Awaitable[Sample]:
        return case.measure(impl, n)

    return variant


def _sample(
    loop: asyncio.AbstractEventLoop,
    name: str,
    variant: Callable[[int], Awaitable[Sample]],
    n: int,
    series: dict[str, Series],
) -> float | None:
    """One sample of `variant`, in ns per operation; None (and the error recorded) if it failed."""
    if series[name].error is not None:
        return None
    gc.collect()
    gc.disable()
    try:
        elapsed, ops = loop.run_until_complete(asyncio.wait_for(variant(n), SAMPLE_TIMEOUT))
    except Exception as exc:
        series[name].error = _describe(exc)
        return None
    finally:
        gc.enable()
    return elapsed / ops


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"

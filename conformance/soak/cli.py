"""The command line of `python -m conformance.soak`: options, progress on stderr, the report on stdout."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, TextIO

from ..loading import ImplementationNotFoundError, load_implementation
from ..runner import LOOPS, loop_factory
from .runner import Options, Result, Snapshot, UsageError, run_soak

JSON_SCHEMA = "event-bus-conformance/soak/1"

_CLEAR = "\x1b[K"
"""Erase to the end of the line, after a carriage return on a terminal."""


def _count(text: str) -> int:
    """An integer written as `1000000`, `1_000_000` or `1e6`."""
    try:
        return int(text.replace("_", ""))
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return int(value)


def _parser() -> argparse.ArgumentParser:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m conformance.soak",
        description="Post numbered events from several threads while the worker is stopped and restarted, "
        "and check that every accepted event is delivered exactly once, in order per producer.",
        allow_abbrev=False,
    )
    parser.add_argument("--impl", required=True, metavar="NAME", help="the implementation, as for `pytest --impl`")
    parser.add_argument(
        "--events", type=_count, default=defaults.events, metavar="N", help="events in all (default 1e6)"
    )
    parser.add_argument(
        "--producers", type=_count, default=defaults.producers, metavar="N", help="producer threads (default 4)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=defaults.duration,
        metavar="SECONDS",
        help="stop the producers when the command has run this long, and report what was done (default 600)",
    )
    parser.add_argument(
        "--restarts",
        type=_count,
        default=defaults.restarts,
        metavar="N",
        help="times the worker is stopped and started again while the producers post (default 3)",
    )
    parser.add_argument(
        "--churn",
        action="store_true",
        help="meanwhile, subscribe and unsubscribe another handler over and over from a thread (needs unsubscribe)",
    )
    parser.add_argument(
        "--leak-cycles",
        type=_count,
        default=defaults.leak_cycles,
        metavar="N",
        help="subscribe/publish/unsubscribe cycles of the leak check, under tracemalloc (default 1e5; 0 skips it)",
    )
    parser.add_argument(
        "--queue-size",
        type=_count,
        default=defaults.queue_size,
        metavar="N",
        help="the bus's max_queue_size (default: unbounded); a full queue makes producers retry",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=defaults.timeout,
        metavar="SECONDS",
        help="a call that neither returns nor lets an event through for this long is reported as hung (default 10)",
    )
    parser.add_argument("--loop", choices=LOOPS, default=defaults.loop, help="the event loop (default asyncio)")
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    return parser


class _Progress:
    """The progress line on stderr: rewritten in place on a terminal, a line every few seconds otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()
        self.every = 0.5 if self.live else 5.0
        self.last = (0, 0.0)

    def __call__(self, snap: Snapshot) -> None:
        if snap.phase == "leak check":
            line = f"[soak] leak check: {snap.leak_cycles:,} cycles"
        else:
            delivered, at = self.last
            rate = (snap.delivered - delivered) / (snap.elapsed - at) if snap.elapsed > at else 0.0
            self.last = (snap.delivered, snap.elapsed)
            line = (
                f"[soak] {snap.phase}: posted {snap.posted:,}/{snap.planned:,}, delivered {snap.delivered:,} "
                f"({rate / 1e6:.2f} M/s), refusals {snap.refusals:,}, "
                f"restarts {snap.restarts_done}/{snap.restarts}, {snap.elapsed:.1f} s"
            )
        self.out.write(f"\r{line}{_CLEAR}" if self.live else f"{line}\n")
        self.out.flush()

    def done(self) -> None:
        if self.live:
            self.out.write("\n")
            self.out.flush()


def _plural(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:,.1f} MiB"


def _signed_bytes(value: int) -> str:
    sign = "+" if value >= 0 else "-"
    size = abs(value)
    if size >= 2**20:
        return f"{sign}{size / 2**20:,.1f} MiB"
    if size >= 1024:
        return f"{sign}{size / 1024:,.1f} KiB"
    return f"{sign}{size:,} B"


def _examples(result: Result, kind: str) -> str:
    found = result.tally.examples.get(kind)
    if not found:
        return ""
    shown = ", ".join(f"producer {p} #{s}" for p, s in found[:6])
    return f" (e.g. {shown})"


def verdict(result: Result) -> str:
    """One line: PASS, or FAIL and every reason."""
    t = result.tally
    reasons = [f"{n:,} {what}" for n, what in ((t.lost, "lost"), (t.duplicated, "duplicated")) if n]
    if t.out_of_order:
        reasons.append(f"{t.out_of_order:,} out of order")
    if t.unexpected:
        reasons.append(f"{t.unexpected:,} delivered though their post was refused")
    reasons += [f"{f.kind} in {f.what}" for f in result.failures]
    if result.leak.leaked:
        reasons.append(f"leak: subscribe/unsubscribe churn left {_signed_bytes(result.leak.growth)}")
    if result.leak.error:
        reasons.append("the leak check failed")
    if not reasons:
        return "**PASS**: every accepted event was delivered exactly once, in order per producer."
    return "**FAIL**: " + "; ".join(reasons) + "."


def report(result: Result) -> str:
    """The result as Markdown."""
    o, t, m = result.options, result.tally, result.machine
    queue = f"max_queue_size={o.queue_size}" if o.queue_size else "an unbounded queue"
    lines = [
        f"# Soak of {result.implementation} {result.version} on {o.loop}",
        "",
        f"{o.events:,} events from {_plural(o.producers, 'producer thread')}, "
        f"{_plural(o.restarts, 'worker restart')} while they post, "
        f"{queue}{', with subscribe/unsubscribe churn' if o.churn else ''}; "
        f"{m['python']}, {m['cores']} cores ({m['cpu']}), load average {m['load']} at the start.",
        "",
        "| figure | value |",
        "|---|---|",
    ]

    def row(name: str, value: str) -> None:
        lines.append(f"| {name} | {value} |")

    posted = f"{t.accepted:,} of {o.events:,}"
    if result.stopped_early:
        posted += f" (stopped early: {result.stopped_early})"
    row("posted (accepted)", posted)
    row("delivered", f"{t.delivered:,}")
    drain = "" if result.drained else "; counted without a final drain, which was not reached or did not return"
    row("lost", f"{t.lost:,}{_examples(result, 'lost')}{drain}")
    row("duplicated", f"{t.duplicated:,}{_examples(result, 'duplicated')}")
    row("out of order", f"{t.out_of_order:,}{_examples(result, 'out of order')}")
    if t.unexpected:
        row("delivered though refused", f"{t.unexpected:,}{_examples(result, 'unexpected')}")
    kinds = ", ".join(f"{name} {n:,}" for name, n in sorted(result.refusal_kinds.items()))
    row("refusals (each retried)", f"{result.refusals:,}" + (f": {kinds}" if kinds else ""))
    row("worker restarts", f"{result.restarts_done} of {o.restarts}")
    if o.churn:
        row("subscribe/unsubscribe churn", f"{result.churn_cycles:,} cycles during the soak")
    row(
        "time",
        f"{result.elapsed:.2f} s (posting {result.posting_time:.2f} s, final drain "
        f"{result.elapsed - result.posting_time:.2f} s)"
        if result.drained
        else f"{result.elapsed:.2f} s",
    )
    row(
        "throughput",
        f"{result.throughput / 1e6:.3f} M events/s delivered, from the first post to the end of the final drain"
        if result.drained
        else "n/a (no final drain)",
    )
    row("peak memory", f"{_mib(result.peak_rss)} (peak RSS of the process)")
    if result.rss_start is not None and result.rss_end is not None:
        change = _signed_bytes(result.rss_end - result.rss_start)
        growth = f"RSS {_mib(result.rss_start)} → {_mib(result.rss_end)} ({change}); "
    else:
        growth = ""
    if result.blocks_start is not None and result.blocks_end is not None:
        growth += f"{result.blocks_end - result.blocks_start:+,} allocated blocks; "
    row(
        "memory growth",
        f"{growth}before the first post and after the final drain, after gc" if growth else "n/a (not measured)",
    )
    row("leak check", _leak_text(result))
    if result.loop_errors:
        row("errors on the event loop", f"{result.loop_errors:,} (first: {result.loop_error_first})")
    lines += ["", verdict(result)]
    for failure in result.failures:
        lines.append(f"- {failure.kind} in {failure.what}: {failure.detail}")
    for name, message in sorted(result.refusal_messages.items()):
        lines.append(f"- first {name}: {message}")
    return "\n".join(lines)


def _leak_text(result: Result) -> str:
    leak = result.leak
    if leak.skipped:
        return f"skipped: {leak.skipped}"
    if leak.error:
        return f"failed after {leak.cycles:,} cycles: {leak.error}"
    text = (
        f"{leak.cycles:,} subscribe/publish/unsubscribe cycles: {_signed_bytes(leak.growth)} traced "
        f"({leak.per_cycle:+.2f} B/cycle; limit {_signed_bytes(int(leak.limit))}): "
    )
    text += "LEAK" if leak.leaked else "no leak"
    if leak.cycles < leak.planned:
        text += f" (of {leak.planned:,} planned: the duration limit was reached)"
    if leak.top:
        text += "; grew most at " + "; ".join(leak.top)
    return text


def to_json(result: Result) -> dict[str, Any]:
    """The result as a JSON-able document."""
    t = result.tally
    return {
        "schema": JSON_SCHEMA,
        "implementation": {"name": result.implementation, "version": result.version},
        "options": asdict(result.options),
        "machine": result.machine,
        "ok": result.ok,
        "verdict": verdict(result),
        "events": {
            "accepted": t.accepted,
            "delivered": t.delivered,
            "lost": t.lost,
            "duplicated": t.duplicated,
            "out_of_order": t.out_of_order,
            "unexpected": t.unexpected,
            "examples": {kind: [list(e) for e in found] for kind, found in t.examples.items()},
        },
        "refusals": {"total": result.refusals, "by_kind": result.refusal_kinds, "messages": result.refusal_messages},
        "restarts_done": result.restarts_done,
        "churn_cycles": result.churn_cycles,
        "stopped_early": result.stopped_early,
        "drained": result.drained,
        "abandoned": result.abandoned,
        "seconds": {"posting": result.posting_time, "total": result.elapsed},
        "throughput_per_s": result.throughput if result.drained else None,
        "memory": {
            "peak_rss_bytes": result.peak_rss,
            "rss_start_bytes": result.rss_start,
            "rss_end_bytes": result.rss_end,
            "allocated_blocks_start": result.blocks_start,
            "allocated_blocks_end": result.blocks_end,
        },
        "leak_check": {
            "planned": result.leak.planned,
            "cycles": result.leak.cycles,
            "growth_bytes": result.leak.growth,
            "limit_bytes": result.leak.limit,
            "leaked": result.leak.leaked,
            "skipped": result.leak.skipped,
            "error": result.leak.error,
            "top": result.leak.top,
        },
        "failures": [asdict(f) for f in result.failures],
        "loop_errors": {"count": result.loop_errors, "first": result.loop_error_first},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run a soak: 0 if every accepted event was delivered exactly once and in order, 1 if not, 2 on usage errors."""
    parser = _parser()
    args = parser.parse_args(argv)
    options = Options(
        events=args.events,
        producers=args.producers,
        duration=args.duration,
        restarts=args.restarts,
        churn=args.churn,
        leak_cycles=args.leak_cycles,
        loop=args.loop,
        queue_size=args.queue_size,
        timeout=args.timeout,
    )
    problems = options.problems()
    if problems:
        parser.error("; ".join(problems))
    try:
        loop_factory(options.loop)
        impl = load_implementation(args.impl)
    except (ImplementationNotFoundError, RuntimeError) as exc:
        parser.error(str(exc))
    lacking = sorted({"worker", "threadsafe_post"} - impl.capabilities)
    if lacking:
        parser.error(
            f"the soak posts from producer threads to the worker; {impl.name} does not declare "
            f"{' or '.join(lacking)} (see conformance/capabilities.py)"
        )
    progress = _Progress(sys.stderr)
    print(
        f"[soak] {impl.name} {impl.version}: {_plural(options.events, 'event')}, "
        f"{_plural(options.producers, 'producer')}, {_plural(options.restarts, 'restart')}, {options.loop}",
        file=sys.stderr,
    )
    started = time.monotonic()
    try:
        result = run_soak(impl, options, progress, every=progress.every)
    except UsageError as exc:
        progress.done()
        parser.error(str(exc))
    progress.done()
    print(f"[soak] done in {time.monotonic() - started:.1f} s", file=sys.stderr)
    print(report(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(to_json(result), out, indent=2)
            out.write("\n")
        print(f"wrote {args.json}", file=sys.stderr)
    code = 0 if result.ok else 1
    if result.abandoned:
        # The loop's thread is stuck inside the implementation; exiting normally could wait on it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code

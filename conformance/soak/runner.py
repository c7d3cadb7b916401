"""Running a soak: producer threads post numbered events while the worker is stopped and started again.

The event loop runs on a thread of its own, with a supervising coroutine that
starts the worker, restarts it at set points, drains it at the end and checks
subscribe/unsubscribe churn for leaks. The calling thread only watches: it
reports progress and, should the loop's thread block for good, gives up on it
with what was measured so far. Every wait is bounded: a wait during which no
event is delivered for `Options.timeout` seconds is reported as a hang.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import sys
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..adapter import Implementation
from ..runner import loop_factory
from .ledger import Ledger, Tally

POLL = 0.01
"""How often, in seconds, the supervisor looks at the producers."""
BACKOFF = (0.0001, 0.01)
"""A producer whose post was refused waits the first, doubling up to the second, before posting again."""
STOPPED_FOR = 0.002
"""How long the worker stays stopped at a restart, so that producers meet a stopped worker too."""
LEAK_WARMUP = 1_000
"""Churn cycles run before the leak check's first measurement, so that caches and free lists settle."""
LEAK_BYTES_PER_CYCLE = 1.0
LEAK_FLOOR = 64 * 1024
"""The leak check fails when memory grew by more than the larger of these (per cycle, in all)."""


class UsageError(Exception):
    """The options cannot work with this implementation (the command exits 2)."""


@dataclass
class Options:
    """What to run; the command-line options of `python -m conformance.soak`."""

    events: int = 1_000_000
    producers: int = 4
    duration: float = 600.0
    """Seconds the whole command may take; when exceeded, the producers stop and the rest is reported."""
    restarts: int = 3
    churn: bool = False
    """Subscribe and unsubscribe another handler over and over, from a thread, while the producers post."""
    leak_cycles: int = 100_000
    loop: str = "asyncio"
    queue_size: int = 0
    """`max_queue_size` of the bus; 0 leaves the implementation's default (unbounded)."""
    timeout: float = 10.0
    """Seconds any wait may go without a delivery before it is reported as a hang."""

    def problems(self) -> list[str]:
        """What is wrong with these options, as messages for the user."""
        found = []
        if self.events < 1:
            found.append("--events must be at least 1")
        if self.producers < 1:
            found.append("--producers must be at least 1")
        if self.restarts < 0:
            found.append("--restarts must be 0 or more")
        if self.events >= 1 and self.producers >= 1 and self.events < self.producers * (self.restarts + 1):
            found.append(
                f"--events={self.events} is too few for {self.producers} producers and {self.restarts} "
                f"restarts: each producer needs at least restarts + 1 = {self.restarts + 1} events"
            )
        if self.duration <= 0:
            found.append("--duration must be positive")
        if self.timeout <= 0:
            found.append("--timeout must be positive")
        if self.leak_cycles < 0:
            found.append("--leak-cycles must be 0 or more")
        if self.queue_size < 0:
            found.append("--queue-size must be 0 (the default) or more")
        return found


@dataclass
class Failure:
    """Something that went wrong besides the fate of events: a hang, an error, a stall."""

    kind: str
    """"hang", "error" or "stuck"."""
    what: str
    """The call or phase, e.g. "stop_worker (restart 1)"."""
    detail: str

    def __str__(self) -> str:
        return f"{self.what}: {self.detail}"


@dataclass
class LeakCheck:
    """The memory that subscribe/publish/unsubscribe cycles leave behind, traced by tracemalloc."""

    planned: int
    cycles: int = 0
    before: int = 0
    """Bytes traced after the warm-up, after a full collection."""
    after: int = 0
    """Bytes traced after the cycles, after a full collection."""
    skipped: str | None = None
    error: str | None = None
    top: list[str] = field(default_factory=list)
    """The allocation sites that grew most, when the check fails."""

    @property
    def growth(self) -> int:
        return self.after - self.before

    @property
    def per_cycle(self) -> float:
        return self.growth / self.cycles if self.cycles else 0.0

    @property
    def limit(self) -> float:
        """The growth above which the check fails."""
        return max(LEAK_FLOOR, LEAK_BYTES_PER_CYCLE * self.cycles)

    @property
    def leaked(self) -> bool:
        return self.skipped is None and self.error is None and self.growth > self.limit


@dataclass
class Result:
    """Everything a soak measured."""

    implementation: str
    version: str
    options: Options
    machine: dict[str, str]
    tally: Tally
    refusals: int = 0
    refusal_kinds: dict[str, int] = field(default_factory=dict)
    """Refusals by exception class name."""
    refusal_messages: dict[str, str] = field(default_factory=dict)
    """The first message of each exception class."""
    restarts_done: int = 0
    churn_cycles: int = 0
    posting_time: float = 0.0
    """Seconds from the first post until every producer had finished."""
    elapsed: float = 0.0
    """Seconds from the first post until the final drain returned (or the run ended otherwise)."""
    drained: bool = False
    """Whether the final drain (`stop_worker`) returned."""
    stopped_early: str | None = None
    """Why the producers stopped before posting every event, if they did."""
    failures: list[Failure] = field(default_factory=list)
    peak_rss: int | None = None
    """The process's peak resident set size in bytes when the soak ended (before the leak check)."""
    rss_start: int | None = None
    rss_end: int | None = None
    blocks_start: int | None = None
    blocks_end: int | None = None
    """`sys.getallocatedblocks()` after a full collection, before the first post and after the final drain."""
    leak: LeakCheck = field(default_factory=lambda: LeakCheck(0, skipped="not run"))
    loop_errors: int = 0
    """Errors the event loop's exception handler received (an exception in a callback, a task's lost error)."""
    loop_error_first: str | None = None
    abandoned: bool = False
    """The event loop's thread blocked for good and was left behind."""

    @property
    def throughput(self) -> float:
        """Deliveries per second, from the first post until the final drain returned."""
        return self.tally.delivered / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Nothing lost, duplicated or reordered, nothing hung or failed, and no leak."""
        return not self.failures and self.tally.faults == 0 and not self.leak.leaked and self.leak.error is None


@dataclass(frozen=True)
class Snapshot:
    """The progress of a run at one moment, for the progress line."""

    phase: str
    posted: int
    planned: int
    delivered: int
    refusals: int
    restarts_done: int
    restarts: int
    leak_cycles: int
    elapsed: float


def machine() -> dict[str, str]:
    """The facts about this machine and interpreter that the figures depend on, with its load average now."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        load = "n/a"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count() or "?"),
        "load": load,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
    }


def peak_rss() -> int | None:
    """The process's peak resident set size in bytes, if the platform says."""
    if sys.platform == "win32":
        return None
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def current_rss() -> int | None:
    """The process's resident set size in bytes now (Linux only; None elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def numbered_event_type(base: type, name: str) -> type:
    """A subclass of the implementation's `Event` whose instances carry `p` (producer) and `s` (sequence)."""

    def init(self: Any, p: int, s: int) -> None:
        self.p = p
        self.s = s

    def init_frozen(self: Any, p: int, s: int) -> None:
        object.__setattr__(self, "p", p)
        object.__setattr__(self, "s", s)

    namespace = {"__slots__": ("p", "s"), "__init__": init, "__module__": __name__, "__qualname__": name}
    made = type(name, (base,), namespace)
    try:
        made(0, 0)
    except Exception:
        # A frozen base (a frozen dataclass) forbids plain assignment; go around it.
        namespace["__init__"] = init_frozen
        made = type(name, (base,), namespace)
    return made


class _Shared:
    """What the producers, the supervisor and the watching thread share."""

    def __init__(self, options: Options) -> None:
        n = options.producers
        self.stop = False
        """Set by the supervisor: producers stop posting."""
        self.accepted = [0] * n
        self.refusals = [0] * n
        self.kinds: list[dict[str, list[Any]]] = [{} for _ in range(n)]
        """Per producer: exception class name -> [count, first message]."""
        self.finished = [False] * n
        self.reached = [0] * n
        """Per producer, how many restart points it has reached (it waits at each for its gate)."""
        self.gates = [threading.Event() for _ in range(options.restarts)]
        self.churn_stop = False
        self.churn_cycles = 0
        self.churn_error: str | None = None
        self.churn_done = threading.Event()
        self.phase = "starting"
        self.beat = time.monotonic()
        """When the supervisor last ran: the watcher's sign that the loop's thread is alive."""
        self.t0 = 0.0
        self.restarts_done = 0
        self.leak_cycles = 0
        self.ledger = Ledger(n)

    def open_all(self) -> None:
        self.stop = True
        for gate in self.gates:
            gate.set()


def _produce(
    pid: int,
    count: int,
    points: list[int],
    post: Callable[[Any], Any],
    make: Callable[[int, int], Any],
    shared: _Shared,
    go: threading.Event,
) -> None:
    """Post events `(pid, 0)` .. `(pid, count - 1)` in order; a refused event is posted again after a backoff."""
    accepted = shared.accepted
    seq = 0
    try:
        go.wait()
        for stage, limit in enumerate([*points, count]):
            if stage:
                # A restart point: wait until the supervisor has begun stopping the worker.
                shared.reached[pid] = stage
                gate = shared.gates[stage - 1]
                while not gate.wait(0.1):
                    if shared.stop:
                        return
            while seq < limit:
                try:
                    post(make(pid, seq))
                except Exception as exc:
                    if not _retry(pid, seq, post, make, shared, exc):
                        return
                seq += 1
                accepted[pid] = seq
            if shared.stop:
                return
    finally:
        shared.finished[pid] = True


def _retry(
    pid: int, seq: int, post: Callable[[Any], Any], make: Callable[[int, int], Any], shared: _Shared, exc: Exception
) -> bool:
    """Post event `(pid, seq)` again, with a growing backoff, until it is accepted (True) or the soak stops."""
    kinds = shared.kinds[pid]
    backoff, high = BACKOFF
    while not shared.stop:
        shared.refusals[pid] += 1
        kind = kinds.get(type(exc).__name__)
        if kind is None:
            kinds[type(exc).__name__] = [1, str(exc)]
        else:
            kind[0] += 1
        time.sleep(backoff)
        backoff = min(2 * backoff, high)
        try:
            post(make(pid, seq))
        except Exception as again:
            exc = again
            continue
        return True
    return False


def _churn(impl: Implementation, bus: Any, event_type: type, shared: _Shared) -> None:
    """Subscribe and unsubscribe a fresh handler over and over until told to stop."""
    unsubscribe = bus.unsubscribe
    try:
        while not shared.churn_stop:

            def handler(event: Any) -> None:
                pass

            impl.add_handler(bus, event_type, handler, policy="INLINE")
            unsubscribe(event_type, handler)
            shared.churn_cycles += 1
    except Exception as exc:
        shared.churn_error = f"{type(exc).__name__}: {exc}"
    finally:
        shared.churn_done.set()


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class _Soak:
    """The supervisor: runs on the loop's thread and fills in `result`."""

    def __init__(self, impl: Implementation, options: Options, shared: _Shared) -> None:
        self.impl = impl
        self.options = options
        self.shared = shared
        self.deadline = time.monotonic() + options.duration
        self.result = Result(impl.name, impl.version, options, machine(), Tally(0, 0, 0, 0, 0, 0))
        self.error: BaseException | None = None
        """An exception the supervisor itself raised (a usage error, or a fault of the soak)."""
        self.hung = False
        self.bus: Any = None

    # -- the loop's thread -------------------------------------------------------------

    def run(self) -> None:
        """The body of the loop's thread."""
        try:
            loop = loop_factory(self.options.loop)()
        except Exception as exc:
            self.error = exc
            return
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(self._loop_error)
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            self.error = exc
        finally:
            try:
                _close_loop(loop)
            finally:
                asyncio.set_event_loop(None)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # Counted rather than printed: a bus that fails in a callback on every event would flood stderr.
        self.result.loop_errors += 1
        if self.result.loop_error_first is None:
            exc = context.get("exception")
            detail = f": {type(exc).__name__}: {exc}" if exc is not None else ""
            self.result.loop_error_first = f"{context.get('message', 'error')}{detail}"

    def fail(self, kind: str, what: str, detail: str) -> None:
        self.result.failures.append(Failure(kind, what, detail))
        if kind == "hang":
            self.hung = True

    async def _main(self) -> None:
        try:
            await self._soak()
        finally:
            self.shared.open_all()
            self.shared.churn_stop = True
        await self._leak_check()

    def _call(self, fn: Callable[[], Awaitable[Any]], what: str) -> asyncio.Future[Any] | None:
        """`fn()` as a running task; None, with the failure recorded, if it raised or returned no awaitable."""
        try:
            task = asyncio.ensure_future(fn())
        except Exception as exc:
            self.fail("error", what, f"raised {type(exc).__name__}: {exc}")
            return None
        # Retrieve the exception of a task given up on, so that asyncio does not log it at exit.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    async def _bounded(self, fn: Callable[[], Awaitable[Any]], what: str) -> bool:
        """Call and await `fn()`; False, with the failure recorded, if it raised or hung."""
        task = self._call(fn, what)
        return task is not None and await self._wait(task, what)

    async def _wait(self, task: asyncio.Future[Any], what: str) -> bool:
        """Await `task`; False, with the failure recorded, if it raised or hung."""
        ledger, timeout = self.shared.ledger, self.options.timeout
        last, since = ledger.progress(), time.monotonic()
        while True:
            done, _ = await asyncio.wait({task}, timeout=5 * POLL)
            now = time.monotonic()
            self.shared.beat = now
            if done:
                if task.cancelled():
                    self.fail("error", what, "was cancelled")
                    return False
                exc = task.exception()
                if exc is not None:
                    self.fail("error", what, f"raised {type(exc).__name__}: {exc}")
                    return False
                return True
            delivered = ledger.progress()
            if delivered != last:
                last, since = delivered, now
            elif now - since > timeout:
                task.cancel()
                self.fail("hang", what, f"did not return, and no event was delivered, for {timeout:g} s")
                return False

    async def _soak(self) -> None:
        impl, options, shared, result = self.impl, self.options, self.shared, self.result
        try:
            event_type = numbered_event_type(impl.event_type, "SoakEvent")
            bus = self.bus = impl.new_bus(**({"max_queue_size": options.queue_size} if options.queue_size else {}))
        except Exception as exc:
            self.fail("error", "making the bus", f"{type(exc).__name__}: {exc}")
            return
        if options.churn and not callable(getattr(bus, "unsubscribe", None)):
            raise UsageError(f"--churn needs the bus's unsubscribe method, and {impl.name}'s bus has none")
        try:
            impl.add_handler(bus, event_type, shared.ledger.handler(), policy="INLINE")
        except Exception as exc:
            self.fail("error", "subscribing the recording handler", f"{type(exc).__name__}: {exc}")
            return
        counts = _split(options.events, options.producers)
        go = threading.Event()
        producers = [
            threading.Thread(
                target=_produce,
                args=(pid, n, [k * n // (options.restarts + 1) for k in range(1, options.restarts + 1)]),
                kwargs={"post": bus.post, "make": event_type, "shared": shared, "go": go},
                name=f"soak producer {pid}",
                daemon=True,
            )
            for pid, n in enumerate(counts)
        ]
        gc.collect()
        result.rss_start, result.blocks_start = current_rss(), sys.getallocatedblocks()
        shared.phase = "starting the worker"
        if not await self._bounded(bus.start_worker, "start_worker"):
            return
        for thread in producers:
            thread.start()
        churn = None
        if options.churn:
            churn = threading.Thread(
                target=_churn, args=(impl, bus, event_type, shared), name="soak churn", daemon=True
            )
            churn.start()
        shared.phase = "posting"
        shared.t0 = t0 = time.perf_counter()
        go.set()
        await self._supervise()
        result.posting_time = time.perf_counter() - t0
        result.restarts_done = shared.restarts_done
        shared.churn_stop = True
        if churn is not None:
            await self._await_thread(shared.churn_done, "the churn thread")
            result.churn_cycles = shared.churn_cycles
            if shared.churn_error is not None:
                self.fail("error", "subscribe/unsubscribe churn", shared.churn_error)
        if not self.hung:
            shared.phase = "draining"
            result.drained = await self._bounded(bus.stop_worker, "stop_worker (the final drain)")
        result.elapsed = time.perf_counter() - t0
        result.peak_rss = peak_rss()
        self._count_refusals()
        result.tally = shared.ledger.tally(shared.accepted)
        del producers, churn
        gc.collect()
        result.rss_end, result.blocks_end = current_rss(), sys.getallocatedblocks()
        if not self.hung:
            shared.phase = "closing"
            await self._bounded(lambda: impl.close_bus(bus), "close_bus")

    async def _supervise(self) -> None:
        """Watch the producers until they finish, restarting the worker at the points."""
        shared, options = self.shared, self.options
        last_posted, since = 0, time.monotonic()
        while not all(shared.finished):
            await asyncio.sleep(POLL)
            now = shared.beat = time.monotonic()
            if shared.stop:
                if now - since > options.timeout:
                    self.fail("stuck", "producers", f"still posting {options.timeout:g} s after being told to stop")
                    return
                continue
            if now > self.deadline:
                self.result.stopped_early = f"the duration limit of {options.duration:g} s was reached"
                shared.open_all()
                since = now
                continue
            posted = sum(shared.accepted)
            if posted != last_posted:
                last_posted, since = posted, now
            elif now - since > options.timeout:
                self.fail(
                    "stuck",
                    "post",
                    f"no event was accepted for {options.timeout:g} s ({sum(shared.refusals):,} refusals so far)",
                )
                shared.open_all()
                continue
            k = shared.restarts_done
            if k < options.restarts and all(
                r > k or done for r, done in zip(shared.reached, shared.finished, strict=True)
            ):
                if not await self._restart(k):
                    shared.open_all()
                since = time.monotonic()

    async def _restart(self, k: int) -> bool:
        """Restart `k` (from 0): stop the worker as the producers resume, then start it again."""
        which = f"(restart {k + 1})"
        self.shared.phase = f"restart {k + 1}"
        stop = self._call(self.bus.stop_worker, f"stop_worker {which}")
        await asyncio.sleep(0)  # let stop_worker begin, so that the producers resume against a stopping worker
        self.shared.gates[k].set()
        if stop is None or not await self._wait(stop, f"stop_worker {which}"):
            return False
        await asyncio.sleep(STOPPED_FOR)
        if not await self._bounded(self.bus.start_worker, f"start_worker {which}"):
            return False
        self.shared.restarts_done = k + 1
        self.shared.phase = "posting"
        return True

    async def _await_thread(self, done: threading.Event, what: str) -> None:
        since = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(POLL)
            self.shared.beat = time.monotonic()
            if self.shared.beat - since > self.options.timeout:
                self.fail("stuck", what, f"did not finish within {self.options.timeout:g} s")
                return

    def _count_refusals(self) -> None:
        result = self.result
        result.refusals = sum(self.shared.refusals)
        for kinds in self.shared.kinds:
            for name, (count, message) in kinds.items():
                result.refusal_kinds[name] = result.refusal_kinds.get(name, 0) + count
                result.refusal_messages.setdefault(name, message)

    async def _leak_check(self) -> None:
        """Subscribe, publish to and unsubscribe a fresh handler, many times, under tracemalloc."""
        impl, options, shared = self.impl, self.options, self.shared
        leak = self.result.leak = LeakCheck(options.leak_cycles)
        if not options.leak_cycles:
            leak.skipped = "--leak-cycles=0"
            return
        if time.monotonic() > self.deadline:
            leak.skipped = "the duration limit was reached"
            return
        try:
            bus = impl.new_bus()
        except Exception as exc:
            leak.error = f"making the bus raised {type(exc).__name__}: {exc}"
            return
        if not callable(getattr(bus, "unsubscribe", None)):
            leak.skipped = "the bus has no unsubscribe method"
            return
        shared.phase = "leak check"
        event_type = numbered_event_type(impl.event_type, "LeakEvent")
        event = event_type(0, 0)
        calls = [0]

        async def cycle() -> None:
            def handler(event: Any) -> None:
                calls[0] += 1

            impl.add_handler(bus, event_type, handler, policy="INLINE")
            await bus.publish(event)
            bus.unsubscribe(event_type, handler)

        tracing = tracemalloc.is_tracing()
        try:
            for _ in range(min(LEAK_WARMUP, options.leak_cycles)):
                await cycle()
            if not tracing:
                tracemalloc.start()
            calls[0] = 0
            gc.collect()
            leak.before = tracemalloc.get_traced_memory()[0]
            baseline = tracemalloc.take_snapshot() if not tracing else None
            for i in range(1, options.leak_cycles + 1):
                await cycle()
                leak.cycles = shared.leak_cycles = i
                if i % 1000 == 0:
                    shared.beat = time.monotonic()
                    if calls[0] != i:
                        leak.error = (
                            f"unsubscribe did not remove the handler: after {i:,} cycles the handlers ran "
                            f"{calls[0]:,} times, not {i:,}"
                        )
                        break
                    if shared.beat > self.deadline:
                        break
                    await asyncio.sleep(0)
            gc.collect()
            # The baseline snapshot is held throughout, so it counts in both figures alike.
            leak.after = tracemalloc.get_traced_memory()[0]
            if leak.leaked and baseline is not None:
                grown = tracemalloc.take_snapshot().compare_to(baseline, "lineno")
                leak.top = [str(stat) for stat in grown[:3] if stat.size_diff > 0]
        except Exception as exc:
            leak.error = f"{type(exc).__name__}: {exc}"
        finally:
            if not tracing:
                tracemalloc.stop()
        await self._bounded(lambda: impl.close_bus(bus), "close_bus (leak check)")


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on `loop`, giving it a moment, and close it."""
    try:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(asyncio.wait({loop.create_task(loop.shutdown_default_executor())}, timeout=1.0))
    except Exception:
        pass  # the loop is closed below whatever is left
    finally:
        loop.close()


def run_soak(
    impl: Implementation, options: Options, progress: Callable[[Snapshot], None] | None = None, every: float = 5.0
) -> Result:
    """Soak `impl`; call `progress` every `every` seconds. Raises UsageError for options `impl` cannot take."""
    problems = options.problems()
    if problems:
        raise UsageError("; ".join(problems))
    shared = _Shared(options)
    soak = _Soak(impl, options, shared)
    thread = threading.Thread(target=soak.run, name="soak loop", daemon=True)
    thread.start()
    last_delivered, since = -1, time.monotonic()
    shown = since
    while thread.is_alive():
        thread.join(min(every, 0.25))
        now = time.monotonic()
        delivered = shared.ledger.progress()
        if delivered != last_delivered or now - shared.beat < options.timeout:
            last_delivered, since = delivered, now
        if progress is not None and thread.is_alive() and now - shown >= every:
            shown = now
            progress(_snapshot(shared, options))
        if thread.is_alive() and now - since > options.timeout + 1:
            # The supervisor has not run, and nothing was delivered, for longer than any wait may take.
            shared.open_all()
            soak.result.tally = shared.ledger.tally(shared.accepted)
            soak.result.abandoned = True
            soak.result.restarts_done = shared.restarts_done
            soak.result.elapsed = time.perf_counter() - shared.t0 if shared.t0 else 0.0
            soak._count_refusals()
            soak.result.peak_rss = peak_rss()
            soak.fail(
                "hang",
                f"the event loop's thread ({shared.phase})",
                f"blocked for over {options.timeout:g} s without delivering anything; it was abandoned",
            )
            return soak.result
    if soak.error is not None:
        raise soak.error
    return soak.result


def _snapshot(shared: _Shared, options: Options) -> Snapshot:
    return Snapshot(
        phase=shared.phase,
        posted=sum(shared.accepted),
        planned=options.events,
        delivered=shared.ledger.progress(),
        refusals=sum(shared.refusals),
        restarts_done=shared.restarts_done,
        restarts=options.restarts,
        leak_cycles=shared.leak_cycles,
        elapsed=time.perf_counter() - shared.t0 if shared.t0 else 0.0,
    )

"""The supervisor on the loop's thread: it starts, restarts and drains the worker, bounding every wait."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..adapter import BoundBus, Implementation
from ..runner import loop_factory
from ._leak import LeakCheck, check_leaks
from ._machine import current_rss, machine, peak_rss
from ._options import Options, UsageError
from ._producers import Shared, produce, run_churn, soak_events, split
from ._result import Failure, Result
from .ledger import Tally

POLL = 0.01
"""How often, in seconds, the supervisor looks at the producers."""
STOPPED_FOR = 0.002
"""How long the worker stays stopped at a restart, so that producers meet a stopped worker too."""


class Soak:
    """The supervisor: runs on the loop's thread and fills in `result`."""

    def __init__(self, impl: Implementation, options: Options, shared: Shared) -> None:
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

    async def bounded(self, fn: Callable[[], Awaitable[Any]], what: str) -> bool:
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
            event_type, make = soak_events(impl, "SoakEvent")
            raw = impl.new_bus(**({"max_queue_size": options.queue_size} if options.queue_size else {}))
            bus = self.bus = BoundBus(impl, raw)
        except Exception as exc:
            self.fail("error", "making the bus", f"{type(exc).__name__}: {exc}")
            return
        if options.churn and "unsubscribe" not in impl.capabilities:
            raise UsageError(f"--churn needs unsubscribe, and {impl.name} does not declare that capability")
        try:
            impl.add_handler(raw, event_type, shared.ledger.handler(), policy="INLINE")
        except Exception as exc:
            self.fail("error", "subscribing the recording handler", f"{type(exc).__name__}: {exc}")
            return
        counts = split(options.events, options.producers)
        go = threading.Event()
        producers = [
            threading.Thread(
                target=produce,
                args=(pid, n, [k * n // (options.restarts + 1) for k in range(1, options.restarts + 1)]),
                kwargs={"post": bus.post, "make": make, "shared": shared, "go": go},
                daemon=True,
            )
            for pid, n in enumerate(counts)
        ]
        gc.collect()
        result.rss_start, result.blocks_start = current_rss(), sys.getallocatedblocks()
        shared.phase = "starting the worker"
        if not await self.bounded(bus.start_worker, "start_worker"):
            return
        for thread in producers:
            thread.start()
        churn = None
        if options.churn:
            churn = threading.Thread(target=run_churn, args=(impl, bus, event_type, shared), daemon=True)
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
            result.drained = await self.bounded(bus.stop_worker, "stop_worker (the final drain)")
        result.elapsed = time.perf_counter() - t0
        result.peak_rss = peak_rss()
        self.count_refusals()
        result.tally = shared.ledger.tally(shared.accepted)
        del producers, churn
        gc.collect()
        result.rss_end, result.blocks_end = current_rss(), sys.getallocatedblocks()
        if not self.hung:
            shared.phase = "closing"
            await self.bounded(lambda: impl.close_bus(raw), "close_bus")

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
        if not await self.bounded(self.bus.start_worker, f"start_worker {which}"):
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

    def count_refusals(self) -> None:
        """Sum the producers' refusals into `result`, by exception class, with each class's first message."""
        result = self.result
        result.refusals = sum(self.shared.refusals)
        for kinds in self.shared.kinds:
            for name, (count, message) in kinds.items():
                result.refusal_kinds[name] = result.refusal_kinds.get(name, 0) + count
                result.refusal_messages.setdefault(name, message)

    async def _leak_check(self) -> None:
        """The leak check of subscribe/unsubscribe churn, its outcome in `result.leak`."""
        leak = self.result.leak = LeakCheck(self.options.leak_cycles)
        await check_leaks(self.impl, self.options, self.shared, leak, self.deadline, self.bounded)


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

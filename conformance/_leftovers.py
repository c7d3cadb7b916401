"""What a bus leaves running after a test, and making sure it cannot keep the run from ending.

Per test: the kit gives each test's loop a default executor of its own (so its
threads are recognisable), and after teardown names the non-daemon threads the
test started and the default-executor jobs that are still running. They are
warnings naming the test and its rule, not failures: SPEC.md has no rule on
threads a bus leaves behind, and the test's verdict is already in.

Per run: such threads would keep the interpreter alive for ever (Python joins
every non-daemon thread, executor threads included, before it exits). Once the
results are written, `arm_exit` makes the process end anyway: at interpreter
shutdown it joins the leftovers with a bound, then ends the process with the
run's exit status.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import itertools
import os
import sys
import threading
import time
from collections.abc import Callable

EXECUTOR_PREFIX = "conformance-executor"
"""The name prefix of the threads of the default executors the kit gives its loops."""

_left: list[threading.Thread] = []
"""Non-daemon threads started by tests and still running after their teardown, over the whole run."""
_exit_status: list[int] = []
"""The run's exit status, once known (`arm_exit`)."""
_armed: list[bool] = []
_executor_ids = itertools.count(1)


def new_executor(rule_id: str) -> concurrent.futures.ThreadPoolExecutor:
    """The default executor of one test's loop (`loop.set_default_executor`)."""
    # Numbered, so that shutting one down waits for its own threads, not for an earlier test's.
    return concurrent.futures.ThreadPoolExecutor(
        thread_name_prefix=f"{EXECUTOR_PREFIX}[{rule_id}]#{next(_executor_ids)}"
    )


def shut_executor(executor: concurrent.futures.ThreadPoolExecutor, bound: float) -> None:
    """Stop `executor` without waiting for ever: queued jobs are cancelled, running ones get `bound` seconds.

    `loop.shutdown_default_executor()` joins its helper thread without a bound, so a job that
    never ends would block the loop's thread (and read as a blocked `stop_worker`).
    """
    executor.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + bound
    own = f"{getattr(executor, '_thread_name_prefix', '')}_"
    for t in [t for t in threading.enumerate() if t.name.startswith(own)]:
        t.join(max(0.0, deadline - time.monotonic()))


def snapshot() -> frozenset[threading.Thread]:
    """The threads alive now (taken before a test)."""
    return frozenset(threading.enumerate())


def after_test(before: frozenset[threading.Thread]) -> list[str]:
    """Lines naming the non-daemon threads and executor jobs a test left running after its teardown."""
    # Executor threads count whatever their daemon flag (they inherit the loop thread's): Python
    # joins every executor's threads at exit all the same (concurrent.futures' exit hook).
    new = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and (not t.daemon or t.name.startswith(f"{EXECUTOR_PREFIX}["))
    ]
    if not new:
        return []
    _left.extend(new)
    jobs = sorted(t.name for t in new if t.name.startswith(f"{EXECUTOR_PREFIX}["))
    threads = sorted(t.name for t in new if not t.name.startswith(f"{EXECUTOR_PREFIX}["))
    notes = []
    if jobs:
        notes.append(
            f"{len(jobs)} job(s) in the event loop's default executor were still running after teardown "
            f"and a wait of 4 bounds (threads {', '.join(jobs)}); such jobs would keep the process from exiting"
        )
    if threads:
        notes.append(
            f"{len(threads)} non-daemon thread(s) the implementation started were still running after teardown "
            f"({', '.join(threads)}); such threads would keep the process from exiting"
        )
    return notes


def still_running() -> list[threading.Thread]:
    """The leftover threads that are still alive."""
    return [t for t in _left if t.is_alive()]


def finalize_abandoned() -> None:
    """Finalize the coroutines and futures a bus left suspended on loops that have ended, now.

    Left to the garbage collection at interpreter shutdown, their clean-up (an `except:` that cancels a
    future of a closed loop) runs while asyncio's modules are being torn down, and CPython can crash
    there (seen with bubus 1.5.6: a segmentation fault after the summary, exit status -11). Here the
    interpreter is whole; what their clean-up raises has no test to belong to, so it is not reported.
    """
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        for task in [o for o in gc.get_objects() if isinstance(o, asyncio.Task)]:
            loop = task.get_loop()
            if loop.is_closed() and not task.done():
                coro = task.get_coro()
                # Its clean-up failing (a future of the closed loop cancelled) has no one to report to.
                with contextlib.suppress(BaseException):
                    coro.close()
        gc.collect()
    finally:
        sys.unraisablehook = hook


def arm_exit(status: int, bound: float) -> None:
    """Make sure the process ends with `status`, after `bound` seconds at most, if leftovers remain.

    Called once the results are written. Python runs the callbacks of
    `threading._register_atexit` (newest first) before it joins the non-daemon
    threads, and concurrent.futures registers its own join of every executor
    thread there at import: ours, registered later, runs before it.
    """
    _exit_status[:] = [status]
    if _armed or not still_running():
        return
    _armed.append(True)
    register: Callable[[Callable[[], None]], None] | None = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - CPython 3.9+ has it
        return

    def end() -> None:
        deadline = time.monotonic() + bound
        for t in still_running():
            t.join(max(0.0, deadline - time.monotonic()))
        stuck = still_running()
        if not stuck:
            return
        names = ", ".join(sorted(t.name for t in stuck))
        print(
            f"conformance: {len(stuck)} thread(s) the implementation left running would keep the process alive "
            f"({names}); ending it with exit status {_exit_status[0]}",
            file=sys.stderr,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[0])

    try:
        register(end)
    except RuntimeError:  # already shutting down: nothing will join later than now
        end()

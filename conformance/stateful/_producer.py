"""The producer thread of a program: one thread that posts on request, so its posts have one ordered origin.

The model's `post` from the "thread" producer hands the call to this thread and
waits for it with the kit's bound; a post that does not return is a hang of
POST-2. Posts from the one thread are ordered, so POST-3 applies to them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from ..kit import Kit


class Producer:
    """One producer thread that posts on request, so its posts have a single, ordered origin [POST-3]."""

    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self.jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.thread: threading.Thread | None = None

    def _serve(self) -> None:
        while (job := self.jobs.get()) is not None:
            job()

    async def post(self, bus: Any, event: Any) -> Exception | None:
        """`bus.post(event)` on the producer thread: what it raised, or None; a hang fails [POST-2]."""
        if self.thread is None:
            self.thread = self.kit.thread(self._serve, "producer")
        done = self.kit.gate("the producer thread's post returned")
        outcome: list[Exception] = []

        def job() -> None:
            try:
                bus.post(event)
            except Exception as exc:  # the post's outcome, looked at by the model
                outcome.append(exc)
            finally:
                done.open()

        self.jobs.put(job)
        if not await done.wait():
            self.kit.fail(
                "post from a thread returns", f"still not done after {self.kit.bound:g} s", rule="POST-2", kind="hang"
            )
        return outcome[0] if outcome else None

    def close(self) -> None:
        """Let the thread end once it has done the posts already asked of it."""
        self.jobs.put(None)

"""Capturing the log records of one test, and finding an exception among them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ._failures import exception_chain
from ._sync import Gate


class LogCapture(logging.Handler):
    """Keeps every log record of the test and opens gates waiting for a matching one."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._guard = threading.Lock()
        self._waiters: list[tuple[Callable[[logging.LogRecord], bool], Gate]] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep `record`; open the gates of the waiters it satisfies."""
        with self._guard:
            self.records.append(record)
            ready = [gate for pred, gate in self._waiters if pred(record)]
        for gate in ready:
            gate.open()

    def snapshot(self) -> list[logging.LogRecord]:
        """The records so far."""
        with self._guard:
            return list(self.records)

    def watch(self, predicate: Callable[[logging.LogRecord], bool], gate: Gate) -> None:
        """Open `gate` when a record matching `predicate` arrives (or has arrived)."""
        with self._guard:
            if any(predicate(r) for r in self.records):
                gate.open()
            else:
                self._waiters.append((predicate, gate))


def logs_error(record: logging.LogRecord, exc: BaseException) -> bool:
    """Whether `record` is at ERROR or above with `exc` in its attached exception's chain."""
    if record.levelno < logging.ERROR or not record.exc_info:
        return False
    return any(e is exc for e in exception_chain(record.exc_info[1]))

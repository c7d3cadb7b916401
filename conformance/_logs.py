"""Capturing the log records of one test, and finding an exception among them.

How records are seen: the kit wraps `logging.Logger.callHandlers` once, when this
module is imported (before any bus module is), and hands every record to the
captures that are active. Every record of every logger passes there once it has
passed its logger's level and filters, whether the logger propagates to the root
or not, and whatever handlers it has: ERR-5 asks only that the bus log "through the
standard `logging` module". A handler on the root logger would miss a logger with
`propagate=False`, and finding the root through `logging.getLogger()` depends on a
function a bus can replace; the wrapped method is taken from the class at import,
so nothing a bus does to the module's functions later unplugs it. (A bus that
patches `Logger.callHandlers` itself is hostile, not buggy: out of the kit's reach.)
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from ._failures import exception_chain
from ._sync import Gate

_active: list[LogCapture] = []
"""The captures of the tests running now (one per test; several under threads)."""
_active_guard = threading.Lock()


def _install() -> None:
    """Wrap `logging.Logger.callHandlers` once per process (a reload of this module does not wrap it twice)."""
    original: Callable[[logging.Logger, logging.LogRecord], None] = logging.Logger.callHandlers
    if getattr(original, "_conformance_capture", False):
        return

    def call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
        with _active_guard:
            captures = list(_active)
        for capture in captures:
            with contextlib.suppress(Exception):  # the kit's capture never breaks the bus's logging call
                capture.take(record)
        original(self, record)

    call_handlers._conformance_capture = True  # type: ignore[attr-defined]
    logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign]


_install()


class LogCapture:
    """Keeps every log record of the test and opens gates waiting for a matching one."""

    def __init__(self) -> None:
        self.records: list[logging.LogRecord] = []
        self._guard = threading.Lock()
        self._waiters: list[tuple[Callable[[logging.LogRecord], bool], Gate]] = []

    def start(self) -> None:
        """Begin taking the records of every logger."""
        with _active_guard:
            if self not in _active:
                _active.append(self)

    def stop(self) -> None:
        """Take no more records (those taken are kept)."""
        with _active_guard:
            if self in _active:
                _active.remove(self)

    def take(self, record: logging.LogRecord) -> None:
        """Keep `record` (once, if a forwarding handler passes it again); open the gates it satisfies."""
        with self._guard:
            if any(r is record for r in self.records):
                return
            self.records.append(record)
            ready = [gate for pred, gate in self._waiters if pred(record)]
            # A satisfied waiter goes: its predicate may hold the exception it looked for (LEAK-1).
            self._waiters = [(pred, gate) for pred, gate in self._waiters if gate not in ready]
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

    def release(self) -> None:
        """Make the records so far let go of the objects they hold: their arguments and attached exceptions.

        A record keeps the exception a bus logged, and its traceback keeps the frames of
        the bus and the handler, with the event in them. Every handler of the record
        (this capture, pytest's) holds the same record object, so clearing it here lets a
        test see whether anything but the log records keeps an event alive (LEAK-1).
        """
        with self._guard:
            records = list(self.records)
        for record in records:
            try:
                record.msg = record.getMessage()
            except Exception:  # a bus's bad format string: keep the text as it is
                record.msg = str(record.msg)
            record.args = None
            record.exc_info = None
            _forget_extras(record)


_PLAIN = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))


def _forget_extras(record: logging.LogRecord) -> None:
    """Drop what `extra=` added to the record beyond its standard attributes."""
    extras: dict[str, Any] = vars(record)
    for name in [n for n in extras if n not in _PLAIN and n not in ("message", "asctime")]:
        del extras[name]


def logs_error(record: logging.LogRecord, exc: BaseException) -> bool:
    """Whether `record` is at ERROR or above with `exc` in its attached exception's chain."""
    if record.levelno < logging.ERROR or not record.exc_info:
        return False
    return any(e is exc for e in exception_chain(record.exc_info[1]))

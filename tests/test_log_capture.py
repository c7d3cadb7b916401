"""The kit's log capture (conformance/_logs.py): records of every logger, whatever a bus does to `logging`."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest

from conformance._logs import LogCapture, logs_error


@pytest.fixture
def capture() -> Iterator[LogCapture]:
    """A started capture, stopped at the end."""
    taken = LogCapture()
    taken.start()
    yield taken
    taken.stop()


def _fail() -> ValueError:
    try:
        raise ValueError("a handler failed")
    except ValueError as exc:
        return exc


def test_a_logger_that_does_not_propagate_is_seen(capture: LogCapture) -> None:
    quiet = logging.getLogger("test_log_capture.quiet")
    quiet.propagate = False
    quiet.addHandler(logging.NullHandler())
    exc = _fail()
    quiet.error("failed", exc_info=exc)
    assert any(logs_error(r, exc) for r in capture.snapshot()), "a record of a non-propagating logger was missed"


def test_replacing_get_logger_does_not_unplug_the_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    own = logging.getLogger("test_log_capture.own")
    stand_in = logging.Logger("root")
    monkeypatch.setattr(logging, "getLogger", lambda name=None: stand_in if not name else own)
    capture = LogCapture()
    capture.start()  # after the replacement: the capture must not depend on logging.getLogger
    try:
        exc = _fail()
        own.error("failed", exc_info=exc)
    finally:
        capture.stop()
    assert any(logs_error(r, exc) for r in capture.snapshot()), "the capture missed a record after getLogger changed"


def test_a_stopped_capture_takes_nothing() -> None:
    capture = LogCapture()
    capture.start()
    capture.stop()
    logging.getLogger("test_log_capture.after").error("after the stop")
    assert capture.snapshot() == []


def test_release_lets_go_of_arguments_and_exceptions(capture: LogCapture) -> None:
    held = object()
    exc = _fail()
    logging.getLogger("test_log_capture.release").error("with %r", held, exc_info=exc)
    capture.release()
    (record,) = capture.snapshot()
    assert record.args is None and record.exc_info is None
    assert record.getMessage().startswith("with <object object"), "the message is kept, formatted"
    assert sys.getrefcount(held) == 2, "the record still holds its argument"  # the local and getrefcount's own

"""Broken buses for SPEC.md §10: cancellation, faults, leaks, and posting under load."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

import reference.event_bus as ref
import tests.alt_impl.event_bus as alt

from .base import ALT, REFERENCE, mutant

log = logging.getLogger(__name__)


class ShieldedInlineBus(alt.EventBus):
    """Async INLINE handlers run shielded: cancelling the publisher leaves the handler running."""

    async def run_inline(self, registration: alt.Registration, event: alt.Event) -> None:
        result = registration.fn(event)
        if inspect.isawaitable(result):
            await asyncio.shield(asyncio.ensure_future(result))


class CancelEverythingBus(alt.EventBus):
    """A cancelled publish cancels every TASK handler the bus is running, too."""

    async def publish(self, event: alt.Event) -> None:
        try:
            await super().publish(event)
        except asyncio.CancelledError:
            for task in list(self._tasks):
                task.cancel()
            raise


class StuckAfterCancelBus(alt.EventBus):
    """A per-type "dispatching" flag is cleared only when publish returns normally; while set, publish skips."""

    async def publish(self, event: alt.Event) -> None:
        busy: set[type] = vars(self).setdefault("_mutant_busy", set())
        if type(event) in busy:
            return
        busy.add(type(event))
        await super().publish(event)
        busy.discard(type(event))


class WrappedCancellationBus(alt.EventBus):
    """A CancelledError an INLINE handler raises itself is wrapped in EventBusHandlerError."""

    async def run_inline(self, registration: alt.Registration, event: alt.Event) -> None:
        try:
            await super().run_inline(registration, event)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the publisher itself is being cancelled
            raise alt.EventBusHandlerError("an INLINE handler was cancelled") from exc


class WrappedSyncCancellationBus(alt.EventBus):
    """A CancelledError raised by a sync INLINE handler is wrapped in EventBusHandlerError (async ones are not)."""

    async def run_inline(self, registration: alt.Registration, event: alt.Event) -> None:
        try:
            result = registration.fn(event)
        except asyncio.CancelledError as exc:
            raise alt.EventBusHandlerError("an INLINE handler was cancelled") from exc
        if inspect.isawaitable(result):
            await result


class WorkerEndsOnCancelledErrorBus(alt.EventBus):
    """A handler of a posted event that raises CancelledError ends the worker: later posts wait forever."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        try:
            await self.publish(event)
        except Exception as exc:
            log.error("the worker's dispatch of %s failed", type(event).__name__, exc_info=exc)


class LoggedCancellationBus(alt.EventBus):
    """A TASK handler's cancellation is logged at ERROR like a failure."""

    async def guarded(self, registration: alt.Registration, event: alt.Event, awaitable: Any) -> None:
        try:
            await super().guarded(registration, event, awaitable)
        except asyncio.CancelledError:
            log.error("TASK handler of %s was cancelled", type(event).__name__)
            raise


class DroppingCancelledStopBus(alt.EventBus):
    """stop_worker, when cancelled, cancels the worker and throws the queue away."""

    async def stop_worker(self) -> None:
        try:
            await super().stop_worker()
        except asyncio.CancelledError:
            with self._qlock:
                worker = self._worker
                dropped = len(self._queue)
                self._queue.clear()
                self._taken += dropped
            if worker is not None:
                worker.cancel()
            raise


class SwallowingBus(alt.EventBus):
    """BaseExceptions of INLINE handlers (SystemExit, KeyboardInterrupt...) are logged at WARNING and dropped."""

    async def run_inline(self, registration: alt.Registration, event: alt.Event) -> None:
        try:
            await super().run_inline(registration, event)
        except (Exception, asyncio.CancelledError):
            raise
        except BaseException as exc:
            log.warning("an INLINE handler raised %s; ignored", type(exc).__name__)


class CancellingCloseBus(alt.EventBus):
    """aclose cancels the TASK handlers that are still running instead of letting them finish."""

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await super().aclose()


class LastEventBus(alt.EventBus):
    """Keeps the last event it published, "for debugging"."""

    async def publish(self, event: alt.Event) -> None:
        self._mutant_last_event = event
        await super().publish(event)


FAILURES: list[BaseException] = []
"""The failures of background handlers, "for diagnostics": a module-level list that never shrinks."""


class FailureHistoryBus(alt.EventBus):
    """Every background handler's exception is kept in `FAILURES`, and with its traceback the failed event."""

    def report(self, registration: alt.Registration, event: alt.Event, exc: BaseException) -> None:
        FAILURES.append(exc)
        super().report(registration, event, exc)


class TaskHistoryBus(alt.EventBus):
    """Keeps every TASK task it started, finished or not."""

    def keep(self, task: asyncio.Future[Any]) -> None:
        vars(self).setdefault("_mutant_history", []).append(task)
        super().keep(task)


class WorkerTaskLedgerBus(alt.EventBus):
    """The worker keeps the TASK tasks of posted events in a ledger it empties only when it stops ("so that
    stop_worker could wait for them"); those of published events are let go."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        self._in_worker = True
        try:
            await super().dispatch_posted(event)
        finally:
            self._in_worker = False

    def keep(self, task: asyncio.Future[Any]) -> None:
        if getattr(self, "_in_worker", False):
            vars(self).setdefault("_ledger", []).append(task)
        super().keep(task)

    async def stop_worker(self) -> None:
        await super().stop_worker()
        vars(self).pop("_ledger", None)


class TombstoneBus(alt.EventBus):
    """unsubscribe moves the removed registrations to a list of tombstones instead of dropping them."""

    def unsubscribe(self, event_type: type[alt.Event], fn: Any) -> None:
        with self._lock:
            removed = [r for r in self._registry.get(event_type, []) if r.fn is fn or r.fn == fn]
        vars(self).setdefault("_mutant_tombstones", []).extend(removed)
        super().unsubscribe(event_type, fn)


class BoundOwnersBus(alt.EventBus):
    """unsubscribe of a bound method keeps its object in a list of "owners" (to unsubscribe them all later)."""

    def unsubscribe(self, event_type: type[alt.Event], fn: Any) -> None:
        if inspect.ismethod(fn):
            vars(self).setdefault("_mutant_owners", []).append(fn.__self__)
        super().unsubscribe(event_type, fn)


class UnsubscribeHistoryBus(alt.EventBus):
    """unsubscribe of a bound method appends (event type, method name) to a history that never shrinks."""

    def unsubscribe(self, event_type: type[alt.Event], fn: Any) -> None:
        if inspect.ismethod(fn):
            vars(self).setdefault("_mutant_history", []).append((event_type.__name__, fn.__func__.__qualname__))
        super().unsubscribe(event_type, fn)


class AuditTrailBus(alt.EventBus):
    """Every subscribe appends an (event type, handler id, options) entry to an audit trail that never shrinks."""

    def subscribe(self, event_type: type[alt.Event], fn: Any, **options: Any) -> None:
        vars(self).setdefault("_mutant_audit", []).append((event_type.__name__, id(fn), tuple(options.items())))
        super().subscribe(event_type, fn, **options)


class DropWhileStoppingBus(ref.EventBus):
    """post while the worker is stopping returns quietly instead of raising: the event is lost."""

    def post(self, event: Any) -> None:
        try:
            super().post(event)
        except ref.EventBusError as exc:
            if "stopping" not in str(exc):
                raise


MUTANTS = (
    mutant(
        "shielded-inline-handlers",
        "CAN-1",
        "async INLINE handlers are awaited through asyncio.shield",
        ALT,
        EventBus=ShieldedInlineBus,
    ),
    mutant(
        "cancel-cancels-task-handlers",
        "CAN-1",
        "a cancelled publish cancels the bus's running TASK handlers",
        ALT,
        EventBus=CancelEverythingBus,
    ),
    mutant(
        "stuck-after-cancelled-publish",
        "CAN-2",
        "a per-type busy flag survives a cancelled publish and later publishes skip",
        ALT,
        EventBus=StuckAfterCancelBus,
    ),
    mutant(
        "wrapped-cancellation",
        "CAN-3",
        "CancelledError from an INLINE handler becomes EventBusHandlerError",
        ALT,
        EventBus=WrappedCancellationBus,
    ),
    mutant(
        "wrapped-sync-cancellation",
        "CAN-3",
        "CancelledError from a sync INLINE handler becomes EventBusHandlerError",
        ALT,
        EventBus=WrappedSyncCancellationBus,
    ),
    mutant(
        "worker-ends-on-handler-cancellation",
        "CAN-3",
        "a CancelledError raised by a handler of a posted event ends the worker; later posts are never delivered",
        ALT,
        EventBus=WorkerEndsOnCancelledErrorBus,
    ),
    mutant(
        "logged-task-cancellation",
        "CAN-4",
        "a cancelled TASK handler is logged at ERROR",
        ALT,
        EventBus=LoggedCancellationBus,
    ),
    mutant(
        "cancelled-stop-drops-queue",
        "CAN-5",
        "stop_worker, cancelled, cancels the worker and clears the queue",
        ALT,
        EventBus=DroppingCancelledStopBus,
    ),
    mutant(
        "swallowed-base-exceptions",
        "CAN-6",
        "SystemExit and other BaseExceptions of INLINE handlers are logged and ignored",
        ALT,
        EventBus=SwallowingBus,
    ),
    mutant(
        "aclose-cancels-task-handlers",
        "CAN-7",
        "aclose cancels the TASK handlers still running",
        ALT,
        EventBus=CancellingCloseBus,
    ),
    mutant("keeps-last-event", "LEAK-1", "the last published event is kept on the bus", ALT, EventBus=LastEventBus),
    mutant(
        "keeps-handler-failures",
        "LEAK-1",
        "a module-level list keeps every background handler's exception, with its traceback",
        ALT,
        EventBus=FailureHistoryBus,
    ),
    mutant("keeps-task-history", "LEAK-2", "every TASK task ever started is kept", ALT, EventBus=TaskHistoryBus),
    mutant(
        "worker-keeps-task-ledger",
        "LEAK-2",
        "the worker keeps the TASK tasks of posted events until it stops",
        ALT,
        EventBus=WorkerTaskLedgerBus,
    ),
    mutant(
        "unsubscribe-tombstones",
        "LEAK-3",
        "unsubscribed registrations are kept as tombstones",
        ALT,
        EventBus=TombstoneBus,
    ),
    mutant(
        "unsubscribed-bound-method-owners-kept",
        "LEAK-3",
        "unsubscribe keeps the object of each bound method it removes",
        ALT,
        EventBus=BoundOwnersBus,
    ),
    mutant(
        "bound-method-unsubscribe-history",
        "LEAK-4",
        "unsubscribe of a bound method appends (type name, method name) to a history",
        ALT,
        EventBus=UnsubscribeHistoryBus,
    ),
    mutant(
        "subscribe-audit-trail", "LEAK-4", "subscribe appends to an audit trail forever", ALT, EventBus=AuditTrailBus
    ),
    mutant(
        "post-dropped-while-stopping",
        "ROB-10",
        "post during stop_worker's drain returns without queueing (the refusal is swallowed)",
        REFERENCE,
        EventBus=DropWhileStoppingBus,
    ),
)

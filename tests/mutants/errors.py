"""Broken buses for SPEC.md §4: where a handler's exception goes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import logging
import threading

import tests.alt_impl.event_bus as alt

from .base import ALT, mutant

Registration = alt.Registration
log = logging.getLogger(__name__)
_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("_quiet", default=False)


class FirstThreeFailuresBus(alt.EventBus):
    """The exception group of a dispatch keeps only the first 3 INLINE failures ("enough to debug")."""

    async def run_inlines(self, registrations: list[Registration], event: alt.Event) -> list[Exception]:
        return (await super().run_inlines(registrations, event))[:3]


class SwallowingBus(alt.EventBus):
    """INLINE failures are logged and swallowed: `publish` returns normally."""

    async def run_inlines(self, registrations: list[Registration], event: alt.Event) -> list[Exception]:
        for error in await super().run_inlines(registrations, event):
            log.error("INLINE handler failed", exc_info=error)
        return []


_nested: contextvars.ContextVar[bool] = contextvars.ContextVar("_nested", default=False)


class NestedFailuresLoggedBus(alt.EventBus):
    """A publish awaited inside a handler logs its INLINE failures instead of raising them ("a handler's own
    publish must not break the outer dispatch"); a publish of the caller's own still raises them."""

    async def publish(self, event: alt.Event) -> None:
        if not _nested.get():
            token = _nested.set(True)
            try:
                await super().publish(event)
            finally:
                _nested.reset(token)
            return
        try:
            await super().publish(event)
        except Exception:
            log.exception("INLINE handler of a nested publish failed")


class SummaryErrorBus(alt.EventBus):
    """INLINE failures are raised as one new error holding only their messages: the exceptions are lost."""

    async def run_inlines(self, registrations: list[Registration], event: alt.Event) -> list[Exception]:
        errors = await super().run_inlines(registrations, event)
        if errors:
            raise alt.EventBusHandlerError("; ".join(repr(e) for e in errors))
        return []


class RetryingBus(alt.EventBus):
    """After an INLINE failure, the handlers after the failing one are run again, as a retry."""

    async def run_inlines(self, registrations: list[Registration], event: alt.Event) -> list[Exception]:
        errors: list[Exception] = []
        for i, registration in enumerate(registrations):
            try:
                await self.run_inline(registration, event)
            except Exception as exc:
                errors.append(exc)
                errors += await super().run_inlines(registrations[i + 1 :], event)
        return errors


class BatchedTaskBus(alt.EventBus):
    """A dispatch's TASK handlers run one after another in a single task: a failure ends the batch."""

    def start_background(self, registrations: list[Registration], event: alt.Event) -> None:
        tasks = [r for r in registrations if r.policy is alt.ExecPolicy.TASK]
        super().start_background([r for r in registrations if r not in tasks], event)
        if tasks:
            self.keep(asyncio.ensure_future(self._batch(tasks, event)))

    async def _batch(self, registrations: list[Registration], event: alt.Event) -> None:
        current = registrations[0]
        try:
            for current in registrations:
                result = current.fn(event)
                if inspect.isawaitable(result):
                    await result
        except Exception as exc:
            self.report(current, event, exc)


class BatchedThreadBus(alt.EventBus):
    """A dispatch's THREADPOOL handlers run one after another on a single thread: a failure ends the batch."""

    def start_background(self, registrations: list[Registration], event: alt.Event) -> None:
        pool = [r for r in registrations if r.policy is alt.ExecPolicy.THREADPOOL]
        super().start_background([r for r in registrations if r not in pool], event)
        if pool:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            self._threads.add(done)
            done.add_done_callback(self._threads.discard)
            threading.Thread(target=self._batch, args=(pool, event, done), daemon=True).start()

    def _batch(
        self, registrations: list[Registration], event: alt.Event, done: concurrent.futures.Future[None]
    ) -> None:
        current = registrations[0]
        try:
            for current in registrations:
                result = current.fn(event)
                if inspect.isawaitable(result):
                    asyncio.run(_await(result))
        except Exception as exc:
            self.report(current, event, exc)
        finally:
            done.set_result(None)


async def _await(awaitable: object) -> None:
    await awaitable  # type: ignore[misc]


class WarningLogBus(alt.EventBus):
    """TASK and THREADPOOL failures are logged at WARNING, not ERROR."""

    def report(self, registration: Registration, event: alt.Event, exc: BaseException) -> None:
        logging.getLogger(alt.__name__).warning("handler failed", exc_info=exc)


class MessageOnlyLogBus(alt.EventBus):
    """TASK and THREADPOOL failures are logged at ERROR, but only as a message: no exception attached."""

    def report(self, registration: Registration, event: alt.Event, exc: BaseException) -> None:
        logging.getLogger(alt.__name__).error("handler failed: %r", exc)


class LastFailureOnlyBus(alt.EventBus):
    """All INLINE handlers run after a failure, but publish raises only the last failure: the others are lost."""

    async def run_inlines(self, registrations: list[Registration], event: alt.Event) -> list[Exception]:
        errors = await super().run_inlines(registrations, event)
        if errors:
            raise errors[-1]
        return []


class FirstFailureGroupBus(alt.EventBus):
    """All INLINE handlers run after a failure, but the group publish raises holds only the first failure."""

    async def run_inlines(self, registrations: list[Registration], event: alt.Event) -> list[Exception]:
        return (await super().run_inlines(registrations, event))[:1]


class SilentWorkerTaskBus(alt.EventBus):
    """TASK failures are logged when `publish` dispatches, but not when the worker does (it passes a quiet flag)."""

    async def dispatch_posted(self, event: alt.Event) -> None:
        token = _quiet.set(True)  # the TASK handlers' tasks copy this context
        try:
            await super().dispatch_posted(event)
        finally:
            _quiet.reset(token)

    def report(self, registration: Registration, event: alt.Event, exc: BaseException) -> None:
        if registration.policy is alt.ExecPolicy.TASK and _quiet.get():
            return
        super().report(registration, event, exc)


MUTANTS = [
    mutant(
        "inline-errors-swallowed",
        "ERR-1",
        "INLINE handler exceptions are logged and swallowed; publish returns normally",
        ALT,
        EventBus=SwallowingBus,
    ),
    mutant(
        "nested-publish-failures-logged",
        "ERR-1",
        "a publish awaited inside a handler logs its INLINE failures instead of raising them",
        ALT,
        EventBus=NestedFailuresLoggedBus,
    ),
    mutant(
        "inline-errors-summarised",
        "ERR-1",
        "publish raises a new error carrying only the messages of the INLINE failures, not the exceptions",
        ALT,
        EventBus=SummaryErrorBus,
    ),
    mutant(
        "handlers-after-a-failure-run-twice",
        "ERR-2",
        "after an INLINE failure the remaining INLINE handlers are retried, so they run twice",
        ALT,
        EventBus=RetryingBus,
    ),
    mutant(
        "task-failure-ends-the-batch",
        "ERR-3",
        "a dispatch's TASK handlers run in one task, so a failing one stops those after it",
        ALT,
        EventBus=BatchedTaskBus,
    ),
    mutant(
        "threadpool-failure-ends-the-batch",
        "ERR-4",
        "a dispatch's THREADPOOL handlers run on one thread, so a failing one stops those after it",
        ALT,
        EventBus=BatchedThreadBus,
    ),
    mutant(
        "background-errors-logged-as-warnings",
        "ERR-5",
        "TASK and THREADPOOL exceptions are logged at WARNING",
        ALT,
        EventBus=WarningLogBus,
    ),
    mutant(
        "background-errors-logged-without-exception",
        "ERR-5",
        "TASK and THREADPOOL exceptions are logged at ERROR as a message, without exc_info",
        ALT,
        EventBus=MessageOnlyLogBus,
    ),
    mutant(
        "inline-failures-but-the-last-lost",
        "ERR-6",
        "the remaining INLINE handlers run after a failure, but publish raises only the last exception",
        ALT,
        EventBus=LastFailureOnlyBus,
    ),
    mutant(
        "inline-failure-group-of-the-first",
        "ERR-6",
        "the remaining INLINE handlers run after a failure, but publish raises a group of only the first exception",
        ALT,
        EventBus=FirstFailureGroupBus,
    ),
    mutant(
        "worker-task-errors-not-logged",
        "ERR-5",
        "TASK handler exceptions are logged when publish dispatches, not when the worker does",
        ALT,
        EventBus=SilentWorkerTaskBus,
    ),
    mutant(
        "inline-failures-group-capped-at-3",
        "ERR-6",
        "the exception group publish raises keeps only the first 3 INLINE failures",
        ALT,
        EventBus=FirstThreeFailuresBus,
    ),
]

"""Conforming variants: buses that chose differently where SPEC.md allows it, so the whole suite must pass them.

Each is built like a broken bus (a base with one name replaced, `base.MutantAdapter`),
but breaks nothing: it takes a choice the reference and the alternative bus do not
take, and that a test once failed although SPEC allows it. `tests/mutants/matrix.py`
lists them in `CONFORMING`, so the kill matrix requires them to pass; put one under
test with `pytest --impl=tests.mutants:<name_with_underscores>`. Others may be
appended: one small class each, its docstring naming the choice and the SPEC text
that allows it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import tests.alt_impl.event_bus as alt

from .base import ALT, Mutant, MutantAdapter

quiet_log = logging.getLogger("conforming.quiet_bus")
"""The logger of `OwnQuietLoggerBus`: its own, not propagating to the root, with a handler that drops records."""
quiet_log.propagate = False
quiet_log.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Variant:
    """A bus that takes an allowed choice (`allowed_by`) and must pass every test."""

    name: str
    """Short, unique, kebab-case: the choice it makes."""
    allowed_by: str
    """The rule or implementation-defined point whose wording allows the choice, e.g. "IMPL-6 (CAN-1)"."""
    description: str
    """One line: the choice."""
    base: str
    """The package it modifies: `REFERENCE` or `ALT`."""
    replace: dict[str, Any] = field(default_factory=dict)
    """Names of the base's bus module and package to replace (as `Mutant.replace`)."""

    @property
    def attr(self) -> str:
        """The attribute of `tests.mutants` that `--impl=tests.mutants:<attr>` loads."""
        return self.name.replace("-", "_")

    @property
    def impl(self) -> str:
        """The `--impl` value that puts this variant under test."""
        return f"tests.mutants:{self.attr}"

    def implementation(self) -> MutantAdapter:
        """The adapter the kit drives (the broken buses' machinery, with a name that says it conforms)."""
        adapter = MutantAdapter(Mutant(self.name, "", self.description, self.base, dict(self.replace)))
        adapter.name = f"conforming variant {self.name}"
        return adapter


class BackgroundLastBus(alt.EventBus):
    """IMPL-6: TASK and THREADPOOL handlers start after the INLINE ones have run; a cancelled dispatch starts none."""

    async def publish(self, event: alt.Event) -> None:
        alt._require_event(event, "publish()")
        if self._closed:
            raise alt.EventBusClosedError("publish() on a closed EventBus")
        chosen = [r for r in self.matching(type(event)) if self.claim(r)]
        errors = await self.run_inlines([r for r in chosen if r.policy is alt.ExecPolicy.INLINE], event)
        self.start_background([r for r in chosen if r.policy is not alt.ExecPolicy.INLINE], event)
        if errors:
            raise alt._failure(f"{len(errors)} INLINE handler(s) of {type(event).__name__} failed", errors)


class LogsThenReraisesBus(alt.EventBus):
    """CAN-6: a BaseException of an INLINE handler is logged at ERROR, then re-raised unchanged."""

    async def run_inline(self, registration: alt.Registration, event: alt.Event) -> None:
        try:
            await super().run_inline(registration, event)
        except (Exception, asyncio.CancelledError):
            raise
        except BaseException as exc:
            alt.log.error("an INLINE handler of %s raised %s", type(event).__name__, type(exc).__name__, exc_info=exc)
            raise


class OwnQuietLoggerBus(alt.EventBus):
    """ERR-5, WRK-6: failures are logged through `logging` on the bus's own logger, which does not propagate."""

    def report(self, registration: alt.Registration, event: alt.Event, exc: BaseException) -> None:
        quiet_log.error("%s handler failed on %s", registration.policy.name, type(event).__name__, exc_info=exc)

    async def dispatch_posted(self, event: alt.Event) -> None:
        try:
            await self.publish(event)
        except Exception as exc:
            quiet_log.error("the worker's dispatch of %s failed", type(event).__name__, exc_info=exc)
        except asyncio.CancelledError:  # as the base does [CAN-3]: a handler's own ends this dispatch only
            worker = asyncio.current_task()
            if worker is None or not hasattr(worker, "cancelling") or worker.cancelling():
                raise

    async def _publish_logged(self, event: alt.Event) -> None:
        try:
            await self.publish(event)
        except Exception as exc:
            quiet_log.error("publish_sync(%s) failed", type(event).__name__, exc_info=exc)


_real_get_logger = logging.getLogger
_shadow_root = logging.Logger("root")
_hijack_guard = threading.Lock()


def _shadowing_get_logger(name: str | None = None) -> logging.Logger:
    """`logging.getLogger`, except that the root logger it returns is a stand-in that nothing logs to."""
    return _shadow_root if not name or name == "root" else _real_get_logger(name)


class GetLoggerReplacedBus(alt.EventBus):
    """ERR-5: having taken its logger, the bus replaces `logging.getLogger` (once, for the process), as some
    logging bridges do; its records still reach the real root logger through its own logger."""

    def __init__(self, max_queue_size: int = 0) -> None:
        super().__init__(max_queue_size)
        with _hijack_guard:
            logging.getLogger = _shadowing_get_logger  # type: ignore[assignment]


VARIANTS = (
    Variant(
        "background-handlers-last",
        "IMPL-6 (CAN-1)",
        "TASK and THREADPOOL handlers start after the INLINE ones; a cancelled publish starts none",
        ALT,
        {"EventBus": BackgroundLastBus},
    ),
    Variant(
        "logs-then-reraises-base-exceptions",
        "CAN-6",
        "a SystemExit or other BaseException of an INLINE handler is logged at ERROR, then re-raised unchanged",
        ALT,
        {"EventBus": LogsThenReraisesBus},
    ),
    Variant(
        "own-quiet-logger",
        "ERR-5 (WRK-6, CAN-4)",
        "failures are logged on the bus's own logger, with propagate=False and a NullHandler",
        ALT,
        {"EventBus": OwnQuietLoggerBus},
    ),
    Variant(
        "get-logger-replaced",
        "ERR-5 (WRK-6, CAN-4)",
        "the bus replaces logging.getLogger after taking its own logger; its records reach the real root",
        ALT,
        {"EventBus": GetLoggerReplacedBus},
    ),
)
"""The conforming variants, by the rule whose test once failed them."""

BY_ATTR: dict[str, Variant] = {v.attr: v for v in VARIANTS}
"""Variants by attribute name (`--impl=tests.mutants:<attr>`)."""

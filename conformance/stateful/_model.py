"""The model of one program on a live bus: each step calls the bus, updates the expectations, checks the answer.

`Model` extends `Expectations` with the live bus and its event classes, the
program's handler callables (`_handlers.make_handler`) and its producer thread
(`_producer.Producer`). Its steps run on the bus's event loop (the state
machine submits them through `LiveLoop`): `open`, `subscribe`, `unsubscribe`,
`publish`, `post`, `start_worker`, `stop_worker`; `check` is the invariant run
after every step, and `drain` ends a program. Each call on the bus is bounded:
one that does not return is a failure of kind "hang" naming the rule the step
checks.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..kit import Kit, describe, exception_chain
from ._expectations import Expectations
from ._handlers import make_handler
from ._producer import Producer
from ._program import BASES, Fn, Reg, Sent

T = TypeVar("T")


class Model(Expectations):
    """The program's registrations and events, what the spec promises of them, and the live bus."""

    def __init__(self, kit: Kit, extended: bool) -> None:
        super().__init__(kit, extended)
        self.bus: Any = None
        self.types: dict[str, Any] = {}
        self.callables: list[Callable[[Any], Any]] = []
        self.running = False
        self.stopped = False
        self.restarted = False
        self.producer: Producer | None = None

    # -- setting up (on the loop) ----------------------------------------------------

    async def open(self) -> None:
        """Define the program's event classes and make its bus and its producer thread."""
        kit = self.kit
        impl = kit.impl

        def same_class(self: Any, other: object) -> bool:
            return other.__class__ is self.__class__

        def alike(self: Any) -> int:
            return 0

        # Base's instances compare equal and are unhashable, Twin's (another class called "Base")
        # compare equal and hash alike: a bus that finds handlers or events by equality mixes them up.
        try:
            base = impl.event_class("Base", fields=[("eid", int)], namespace={"__eq__": same_class, "__hash__": None})
            twin = impl.event_class(
                "Base",
                fields=[("eid", int)],
                frozen=True,
                module="app.other_events",  # not the kit's name: nothing tells the bus it is under test
                namespace={"__eq__": same_class, "__hash__": alike},
            )
        except Exception as exc:
            self.kit.fail(
                "event classes with fields can subclass Event", f"defining one raised {describe(exc)}", rule="EVT-1"
            )
        self.types = {
            "Base": base,
            "Child": impl.event_class("Child", base=base),
            "Other": kit.odd_event("Other", field="eid"),  # all equal, one hash
            "Twin": twin,
        }
        self.bus = kit.new_bus()
        self.producer = Producer(kit)

    # -- the steps (each runs on the loop) -------------------------------------------------

    async def call(self, awaitable: Awaitable[T], what: str, rule: str) -> tuple[T | None, Exception | None]:
        """Await within the bound: (value, None) or (None, exception); a hang fails naming `rule`."""
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task}, timeout=self.kit.bound)
        if not done:
            task.cancel()
            self.kit.fail(what, f"still not done after {self.kit.bound:g} s", rule=rule, kind="hang")
        try:
            return task.result(), None
        except Exception as exc:
            return None, exc

    def subscribe(self, fn: Fn, event_type: str, priority: int = 0, again: bool = False) -> None:
        """Register `fn` (a new callable, or the same one again) for `event_type`."""
        if not again:
            self.fns.append(fn)
            self.callables.append(make_handler(fn, self))
        reg = Reg(len(self.regs), fn, event_type, priority)
        options: dict[str, Any] = {}
        if priority:
            options["priority"] = priority
        if fn.once:
            options["once"] = True
        try:
            self.kit.add(self.bus, self.types[event_type], self.callables[fn.index], fn.policy, **options)  # type: ignore[arg-type]
        except Exception as exc:
            self.kit.fail(
                f"subscribe of {reg.describe()} is accepted",
                f"it raised {describe(exc)}",
                rule="EXT-SUB-1" if options else "EXT-DUP-1" if again and self.extended else "PUB-1",
            )
        self.regs.append(reg)
        for sent in self.sent:
            matches = event_type == sent.event_type or event_type in BASES[sent.event_type]
            if matches and not sent.settled:
                sent.maybe.add(reg.index)
                if fn.once:
                    reg.once_state = "unsure"

    def unsubscribe(self, reg: Reg) -> None:
        """`bus.unsubscribe(type, fn)`, with a fresh binding for bound methods: every registration goes."""
        target = self.callables[reg.fn.index]
        if inspect.ismethod(target):
            target = getattr(target.__self__, target.__func__.__name__)  # equal, not identical [EXT-UNSUB-1]
        known = reg.removed_at is None and reg.once_state != "spent"
        try:
            self.bus.unsubscribe(self.types[reg.event_type], target)
        except Exception as exc:
            self.kit.fail(
                f"unsubscribe of {reg.fn.label} for {reg.event_type} returns normally"
                + ("" if known else " (it may no longer be registered: a no-op)"),
                f"it raised {describe(exc)}",
                rule="EXT-UNSUB-1" if known else "EXT-UNSUB-2",
            )
        for other in self.regs:
            if other.fn is reg.fn and other.event_type == reg.event_type and other.removed_at is None:
                other.removed_at = len(self.sent)
                for sent in self.sent:
                    if not sent.settled and other.index in sent.sure:
                        sent.sure.remove(other.index)
                        sent.maybe.add(other.index)

    def new_event(self, event_type: str, posted: bool) -> Sent:
        """A new event of `event_type`, with the registrations that must or may receive it."""
        sent = Sent(len(self.sent), event_type, posted, regs_at_send=len(self.regs))
        self.take_receivers(sent)
        sent.obj = self.types[event_type](eid=sent.eid)
        self.sent.append(sent)
        return sent

    def take_receivers(self, sent: Sent) -> None:
        """The registrations that must (`sure`) or may (`maybe`) receive `sent`, as of now.

        Called when the event is sent and again, for an event a stopped worker
        buffered, when the worker starts: its dispatch starts later, and it is
        then that the set of handlers is taken (SPEC.md, Terms: Dispatch; POST-4; PUB-5).
        """
        sent.sure, sent.maybe = [], set()
        for reg in self.regs:
            if reg.removed_at is not None or reg.once_state == "spent":
                continue
            if reg.event_type == sent.event_type and not (reg.fn.once and (sent.posted or reg.once_state == "unsure")):
                sent.sure.append(reg.index)
            elif reg.event_type == sent.event_type or reg.event_type in BASES[sent.event_type]:
                sent.maybe.add(reg.index)
                if reg.fn.once:
                    reg.once_state = "unsure"

    async def publish(self, event_type: str) -> None:
        sent = self.new_event(event_type, posted=False)
        sent.due = sent.settled = True
        for r in sent.sure:
            if self.regs[r].fn.once:
                self.regs[r].once_state = "spent"
        _, raised = await self.call(self.bus.publish(sent.obj), f"publish of {sent.label} returns", "PUB-1")
        inline_errors = [e for r in self.inline_failed(sent) for e in self.failures[(r.fn.index, sent.eid)]]
        for r in sent.sure:
            reg = self.regs[r]
            if reg.fn.once and reg not in self.required(sent):
                reg.once_state = "unsure"  # skipped after a failure (IMPL-2): perhaps still registered
        if inline_errors:
            if raised is None:
                self.kit.fail(
                    f"publish of {sent.label} raises the exception of its failing INLINE handler",
                    f"it returned normally; {self.kit.log_summary()}",
                    rule="ERR-1",
                )
            elif not any(e is x for e in exception_chain(raised) for x in inline_errors):
                self.kit.fail(
                    f"publish of {sent.label} raises its INLINE handler's exception, or one chaining or grouping it",
                    f"it raised {describe(raised)}, which carries none of {[describe(x) for x in inline_errors]}",
                    rule="ERR-1",
                )
        elif raised is not None:
            failing = {self.fns[f].run_policy for (f, eid) in list(self.failures) if eid == sent.eid}
            rule = "ERR-3" if "TASK" in failing else "ERR-4" if "THREADPOOL" in failing else "PUB-1"
            self.kit.fail(
                f"publish of {sent.label} returns normally (no INLINE handler failed)", describe(raised), rule=rule
            )
        # INLINE handlers have finished when publish returns: no waiting for them.
        short = [(s, r, n, g) for s, r, n, g in self.shortfall(list(self.rec.calls), only_inline=True) if s is sent]
        if short:
            _, reg, n, got = short[0]
            later = await self.rec.until(
                lambda calls: sum(1 for c in calls if c.label == reg.fn.label and c.event is sent.obj) >= n,
                f"{reg.fn.label} finishes",
            )
            rule = "POL-INLINE-1" if reg.fn.is_async else "POL-INLINE-2"
            self.kit.fail(
                f"{reg.describe()} has finished ({n} call(s)) when publish of {sent.label} returns",
                f"{got} call(s) when it returned; "
                + ("the rest came only after publish returned" if later else "no more came"),
                rule=rule if later else self.missing_rule(sent, reg),
            )

    async def post(self, event_type: str, producer: str) -> None:
        sent = self.new_event(event_type, posted=True)
        self.posted_eids.add(sent.eid)
        sent.producer = producer
        sent.context = "running" if self.running else "after-stop" if self.stopped else "before-start"
        sent.after_restart = self.running and self.restarted
        sent.due = self.running
        if producer == "thread":
            assert self.producer is not None
            error = await self.producer.post(self.bus, sent.obj)
        else:
            result: Any = None
            error = None
            try:
                result = self.bus.post(sent.obj)
            except Exception as exc:
                error = exc
            if hasattr(result, "__await__"):
                getattr(result, "close", lambda: None)()  # an unawaited coroutine would only warn later
                self.kit.fail(
                    "post is a plain call that returns nothing to await", f"it returned {result!r}", rule="POST-1"
                )
            ran = [c.label for c in list(self.rec.calls) if c.event is sent.obj]
            if ran:
                self.kit.fail(
                    f"post of {sent.label} returns before any handler of it has run",
                    f"{', '.join(ran)} had already run when it returned",
                    rule="POST-1",
                )
        if error is None:
            return
        if self.running:
            rule = "WRK-5" if self.restarted else "POST-2" if producer == "thread" else "POST-1"
            self.kit.fail(
                f"post of {sent.label} is accepted while the worker runs (unbounded queue)",
                f"it raised {describe(error)}",
                rule=rule,
            )
        sent.accepted = False  # refused at once: allowed while no worker runs (IMPL-4)
        sent.settled = True
        if not str(error).strip():
            self.kit.fail(
                f"post of {sent.label} without a worker raises a clear error",
                describe(error),
                rule="POST-6" if self.stopped else "POST-5",
            )

    async def start_worker(self) -> None:
        rule = "WRK-1" if self.running else "WRK-5" if self.stopped else "POST-5"
        _, error = await self.call(self.bus.start_worker(), "start_worker returns", rule)
        if error is not None:
            self.kit.fail("start_worker returns normally", f"it raised {describe(error)}", rule=rule)
        if not self.running and self.stopped:
            self.restarted = True
        self.running = True
        for sent in self.sent:
            if sent.posted and sent.accepted:
                if not sent.due:
                    # Buffered while no worker ran: its dispatch starts only now, with the handlers of now.
                    self.take_receivers(sent)
                    sent.retaken_at = len(self.regs)
                sent.due = True  # buffered events come out now

    async def stop_worker(self, posts: tuple[str, ...] = ()) -> None:
        """Post `posts` from the loop's thread, then at once `stop_worker`: it must drain them [WRK-2]."""
        for event_type in posts:
            await self.post(event_type, "loop")
        rule = "WRK-2" if self.running else "WRK-3"
        _, error = await self.call(self.bus.stop_worker(), "stop_worker returns", rule)
        if error is not None:
            self.kit.fail("stop_worker returns normally", f"it raised {describe(error)}", rule=rule)
        if not self.running:
            return  # a no-op: what is buffered stays buffered
        self.running = False
        self.stopped = True
        for sent, reg, n, got in self.shortfall(list(self.rec.calls), only_inline=True):
            if not sent.posted or sent.settled:
                continue
            rule = self.missing_rule(sent, reg)
            self.kit.fail(
                f"{sent.label}, accepted by post, has been dispatched to {reg.describe()} ({n} call(s)) when "
                "stop_worker returns",
                f"{got} call(s) then (the worker was {'running' if sent.context == 'running' else 'not running'} "
                "when it was posted)",
                rule="WRK-2" if rule in ("POST-4", "POST-2") else rule,
            )
        for sent in self.sent:
            if sent.posted and sent.accepted:
                sent.settled = True

    async def check(self) -> None:
        """The invariant: every due delivery arrives (bounded waits), nothing else, in order; failures logged."""
        if not await self.rec.until(lambda calls: not self.shortfall(calls), "the deliveries the model predicts"):
            missing = self.shortfall(list(self.rec.calls))
        else:
            missing = []
        if missing:  # (a delivery may come in just as the wait gives up: then nothing is missing)
            sent, reg, n, got = missing[0]
            buffered = (
                f" (buffered until the worker started after {sent.retaken_at} registrations: its dispatch, and "
                "the handlers it takes, start then, not at post)"
                if sent.retaken_at is not None
                else ""
            )
            self.kit.fail(
                f"{reg.describe()} is called {n} time(s) for {sent.label}{buffered}",
                f"{got} call(s) within {self.kit.bound:g} s",
                rule=self.missing_rule(sent, reg),
            )
        calls = list(self.rec.calls)
        self.check_counts(calls)
        self.check_order(calls)
        for sent in self.sent:
            if sent.due and sent.accepted and any(c.event is sent.obj for c in calls):
                sent.settled = True
        for reg in self.regs:
            if reg.fn.once and any(c.label == reg.fn.label for c in calls):
                reg.once_state = "spent"
        for (f, eid), excs in list(self.failures.items()):
            fn, sent = self.fns[f], self.sent[eid]
            if fn.run_policy == "INLINE" and not sent.posted:
                continue  # it reached the publisher [ERR-1]
            for exc in excs:
                if id(exc) in self.logged_ok:
                    continue
                if not await self.kit.logged(exc):
                    self.kit.fail(
                        f"the failure of {fn.describe()} on {sent.label}, {describe(exc)}, is logged at "
                        "ERROR with the exception attached",
                        self.kit.log_summary(),
                        rule="WRK-6" if fn.run_policy == "INLINE" else "ERR-5",
                    )
                self.logged_ok.add(id(exc))

    async def drain(self) -> None:
        """At the end: start the worker if needed and stop it, so buffered events come out."""
        if not self.kit.supports("worker"):
            await self.check()
            return
        if not self.running:
            await self.start_worker()
        await self.check()
        await self.stop_worker()
        await self.check()
        assert self.producer is not None
        self.producer.close()

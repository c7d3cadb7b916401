"""The model's expectations of a program, and the checks of what its handlers recorded against them.

`Expectations` keeps the program's handlers (`Fn`), registrations (`Reg`) and
events (`Sent`), and what the handlers observed while they ran (their calls on a
recorder, their failures, overlapping INLINE calls). From them it answers what
the spec promises: which registrations must deliver an event (`required`,
`shortfall`), how often at most (`allowed`), and, for a delivery missing or in
excess, which rule it most likely breaks (`missing_rule`, `excess_rule`).
`check_counts` and `check_order` fail the test, through the kit, on calls that
break a promise. Nothing here touches the bus: `_model.Model` does, step by step.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..kit import Call, Kit
from ._program import BACKGROUND, BASES, Fn, Reg, Sent, mixed_rule


class Expectations:
    """The program's handlers, registrations and events, and what the spec promises of them."""

    def __init__(self, kit: Kit, extended: bool) -> None:
        self.kit = kit
        self.extended = extended
        self.rec = kit.recorder()
        self.fns: list[Fn] = []
        self.regs: list[Reg] = []
        self.sent: list[Sent] = []
        self.failures: dict[tuple[int, int], list[BaseException]] = {}
        self.logged_ok: set[int] = set()
        self.active: Counter[int] = Counter()
        """INLINE handler calls running now, per event: two at once break POL-ORDER-1."""
        self.overlaps: list[tuple[int, int]] = []
        self.posted_eids: set[int] = set()
        self.worker_active: list[int] = []
        """INLINE handler calls of posted events running now: the worker runs one event at a time [POST-4]."""
        self.worker_overlaps: list[tuple[int, int, int]] = []

    # -- the model's questions ------------------------------------------------------------

    @staticmethod
    def tally(calls: list[Call]) -> Counter[tuple[str, Any]]:
        """Calls per (handler label, event id)."""
        return Counter((c.label, getattr(c.event, "eid", None)) for c in calls)

    def inline_failed(self, sent: Sent) -> list[Reg]:
        """The INLINE registrations (for `sent`) whose handler raised on it."""
        regs = [self.regs[r] for r in [*sent.sure, *sorted(sent.maybe)]]
        return [r for r in regs if r.fn.run_policy == "INLINE" and (r.fn.index, sent.eid) in self.failures]

    def inline_order(self, sent: Sent) -> list[Reg]:
        """The INLINE registrations of `sent`, in the order they must run (priority, then subscription)."""
        inline = [self.regs[r] for r in sent.sure if self.regs[r].fn.run_policy == "INLINE"]
        return sorted(inline, key=lambda r: (-r.priority, r.index))

    def required(self, sent: Sent) -> list[Reg]:
        """The registrations that must each have delivered `sent` once.

        All of `sure`; after a failing INLINE handler, only the INLINE ones before
        it, which have run by then [POL-ORDER-1] (IMPL-2), or none if a base
        class's handler failed (its place is the bus's).
        """
        failed = self.inline_failed(sent)
        if not failed:
            return [self.regs[r] for r in sent.sure]
        if any(r.index not in sent.sure for r in failed):
            return []
        before: list[Reg] = []
        for reg in self.inline_order(sent):
            if reg.fn.fails:
                break
            before.append(reg)
        return before

    def shortfall(self, calls: list[Call], only_inline: bool = False) -> list[tuple[Sent, Reg, int, int]]:
        """(event, a registration, calls wanted, calls seen) for each due delivery still missing."""
        seen = self.tally(calls)
        short = []
        for sent in self.sent:
            if not (sent.accepted and sent.due):
                continue
            wanted: Counter[int] = Counter()
            first: dict[int, Reg] = {}
            for reg in self.required(sent):
                if only_inline and reg.fn.run_policy != "INLINE":
                    continue
                wanted[reg.fn.index] += 1
                first.setdefault(reg.fn.index, reg)
            for f, n in wanted.items():
                got = seen[(f"h{f}", sent.eid)]
                if got < n:
                    short.append((sent, first[f], n, got))
        return short

    def allowed(self, sent: Sent, fn: Fn) -> int:
        """How many calls of `fn` `sent` may cause at most."""
        if not sent.accepted:
            return 0
        return sum(1 for r in [*sent.sure, *sent.maybe] if self.regs[r].fn is fn)

    def missing_rule(self, sent: Sent, reg: Reg) -> str:
        """The rule a missing delivery of `sent` through `reg` most likely breaks."""
        policy = reg.fn.run_policy
        if policy in BACKGROUND:
            siblings = {self.regs[r].fn.index for r in sent.sure if self.regs[r].fn.run_policy == policy}
            if any((f, sent.eid) in self.failures for f in siblings - {reg.fn.index}):
                return "ERR-3" if policy == "TASK" else "ERR-4"
            mixed = mixed_rule(reg.fn)
            if mixed:
                return mixed
            return "POST-4" if sent.posted else "PUB-1"
        if self.inline_failed(sent):
            return "POL-ORDER-1"
        if not sent.posted:
            return "PUB-1"
        later = [r for r in sent.sure if r >= sent.regs_at_send and self.regs[r].fn is reg.fn]
        if sent.retaken_at is not None and later:
            return "POST-4"  # registered after the post, before the worker took it: its dispatch includes it
        if sent.context in ("before-start", "after-stop"):
            return "POST-5" if sent.context == "before-start" else "POST-6"
        if any(s.posted and s.eid < sent.eid and self.inline_failed(s) for s in self.sent):
            return "WRK-6"  # an earlier posted event failed: did the worker die?
        if sent.after_restart:
            return "WRK-5"
        return "POST-2" if sent.producer == "thread" else "POST-4"

    def excess_rule(self, sent: Sent, fn: Fn) -> str:
        """The rule an extra call of `fn` for `sent` most likely breaks."""
        if not sent.accepted:
            return "POST-6" if sent.context == "after-stop" else "POST-5"
        if fn.once:
            return "EXT-ONCE-2" if fn.fails else "EXT-ONCE-1"
        regs = [r for r in self.regs if r.fn is fn]
        related = [r for r in regs if r.event_type == sent.event_type or r.event_type in BASES[sent.event_type]]
        if any(r.removed_at is not None and r.removed_at <= sent.eid for r in related):
            return "EXT-UNSUB-1"
        if sent.retaken_at is not None and any(r.removed_at is not None for r in related):
            return "POST-4"  # removed after the post, before the worker took it: its dispatch excludes it
        mixed = mixed_rule(fn)
        if mixed:
            return mixed
        if not related:
            return "PUB-2"
        if all(r.event_type != sent.event_type for r in related):
            return "PUB-3"
        if all(r.index not in sent.sure and r.index not in sent.maybe for r in related):
            return "PUB-5"
        return "POST-4" if sent.posted else "PUB-1"

    # -- the checks of what the handlers recorded ----------------------------------------------

    def check_counts(self, calls: list[Call], late: str = "") -> None:
        """No handler got more calls of an event than its registrations allow, each with the event itself."""
        seen = self.tally(calls)
        by_eid = {s.eid: s for s in self.sent}
        for (label, eid), n in seen.items():
            sent = by_eid.get(eid)
            if sent is None:
                continue
            fn = self.fns[int(label[1:])]
            limit = self.allowed(sent, fn)
            if n > limit:
                extra = ", refused by post," if not sent.accepted else ""
                self.kit.fail(
                    f"{fn.describe()} is called at most {limit} time(s) for {sent.label}{extra} "
                    f"({self._why(sent, fn)})",
                    f"it was called {n} times{late}",
                    rule=self.excess_rule(sent, fn),
                )
        for fn in self.fns:
            if fn.once:
                n = sum(1 for c in calls if c.label == fn.label)
                if n > 1:
                    self.kit.fail(
                        f"{fn.describe()} runs for one dispatch only",
                        f"it was called {n} times{late}",
                        rule="EXT-ONCE-2" if fn.fails else "EXT-ONCE-1",
                    )
        for c in calls:
            sent = by_eid.get(getattr(c.event, "eid", -1))
            if sent is not None and c.event is not sent.obj:
                self.kit.fail(
                    f"{c.label} receives the {'posted' if sent.posted else 'published'} event object itself",
                    f"it received {c.event!r}, another object (a copy?)",
                    rule="POST-4" if sent.posted else "PUB-1",
                )

    def _why(self, sent: Sent, fn: Fn) -> str:
        regs = [self.regs[r] for r in [*sent.sure, *sent.maybe] if self.regs[r].fn is fn]
        if not regs:
            return "it has no registration for that event's type at that time"
        return f"{len(regs)} registration(s) for the event's type or a base class"

    def check_order(self, calls: list[Call]) -> None:
        """INLINE handlers ran one at a time, in priority then subscription order; per producer, posting order."""
        if self.worker_overlaps:
            f, eid, other = self.worker_overlaps[0]
            self.kit.fail(
                "the worker dispatches one posted event at a time: its INLINE handlers finish before the next "
                "event's start",
                f"{self.fns[f].describe()} started on e{eid} while an INLINE handler of e{other} was still running",
                rule="POST-4",
            )
        for c in calls:
            fn = self.fns[int(c.label[1:])]
            if fn.run_policy == "THREADPOOL" and not fn.is_async and c.on_loop_thread:
                sent = self.sent[getattr(c.event, "eid", 0)]
                self.kit.fail(
                    f"{fn.describe()} runs off the event loop's thread for {sent.label}",
                    "it ran on the loop's thread",
                    rule="POST-4" if sent.posted else "POL-THREAD-1",
                )
        if self.overlaps:
            f, eid = self.overlaps[0]
            self.kit.fail(
                f"the INLINE handlers of e{eid} run one after another, each starting after the previous finished",
                f"{self.fns[f].describe()} started while another INLINE handler of that event was still running",
                rule="POL-ORDER-1",
            )
        for sent in self.sent:
            if not (sent.due and sent.accepted):
                continue
            order = self.inline_order(sent)
            expected: list[str] = []
            for reg in order:
                expected.append(reg.fn.label)
                if reg.fn.fails:
                    break
            labels = {r.fn.label for r in order}
            observed = [c.label for c in calls if getattr(c.event, "eid", None) == sent.eid and c.label in labels]
            if len(observed) < len(expected) or observed[: len(expected)] == expected:
                continue
            by_subscription = [r.fn.label for r in sorted(order, key=lambda r: r.index)][: len(observed)]
            prioritised = len({r.priority for r in order}) > 1
            self.kit.fail(
                f"the INLINE handlers of {sent.label} run in "
                f"{'priority, then ' if prioritised else ''}subscription order: {expected}",
                f"they ran as {observed}",
                rule="EXT-PRI-1" if prioritised and observed == by_subscription else "POL-ORDER-1",
            )
        posted = {s.eid: s for s in self.sent if s.posted and s.accepted}
        for fn in self.fns:
            if fn.run_policy != "INLINE":
                continue
            for producer in ("loop", "thread"):
                seen = [
                    c.event.eid
                    for c in calls
                    if c.label == fn.label
                    and getattr(c.event, "eid", None) in posted
                    and posted[c.event.eid].producer == producer
                ]
                if seen != sorted(seen):
                    self.kit.fail(
                        f"{fn.describe()} receives the events posted from the {producer} thread in the "
                        "order they were posted",
                        f"it received e{', e'.join(map(str, seen))}",
                        rule="POST-3",
                    )

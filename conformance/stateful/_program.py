"""What a program of the stateful test is made of: its event types, policies and handler kinds, and its records.

`Fn` is a handler callable of the program, `Reg` one registration of it, and
`Sent` an event the program published or posted, with the registrations that
must (`sure`) or may (`maybe`) receive it. The model (`_model.Model`) keeps
lists of them; the state machine draws from the constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TYPES = ("Base", "Child", "Other", "Twin")
"""The event types of a program; Child subclasses Base; Twin is another class called "Base"."""
BASES = {"Base": (), "Child": ("Base",), "Other": (), "Twin": ()}
"""The proper base classes (among TYPES) of each type."""
POLICIES = (None, "INLINE", "TASK", "THREADPOOL")
"""None registers without a policy: INLINE by default [POL-1]."""
KINDS = (
    "function",
    "lambda",
    "bound method",
    "static method",
    "partial",
    "callable object",
    "async function",
    "async bound method",
    "async partial",
    "async callable object",
)
"""The callable kinds of handlers (SPEC.md, Terms: *Handler*)."""
BACKGROUND = ("TASK", "THREADPOOL")
"""The policies that run a handler in the background (in a task, on a thread); drawn only when declared."""


class StatefulHandlerError(Exception):
    """What a failing handler of the program raises: a new instance per call."""


@dataclass
class Fn:
    """A handler callable of the program; it records its calls as `h<index>`."""

    index: int
    kind: str
    policy: str | None
    fails: bool
    once: bool = False

    @property
    def label(self) -> str:
        return f"h{self.index}"

    @property
    def is_async(self) -> bool:
        return self.kind.startswith("async")

    @property
    def run_policy(self) -> str:
        return self.policy or "INLINE"

    def describe(self) -> str:
        extra = ", failing" if self.fails else ""
        extra += ", once" if self.once else ""
        return f"{self.label} ({self.kind}, {self.run_policy}{extra})"


def mixed_rule(fn: Fn) -> str | None:
    """POL-MIX-1 for a sync handler under TASK, POL-MIX-2 for an async one under THREADPOOL."""
    if fn.run_policy == "TASK" and not fn.is_async:
        return "POL-MIX-1"
    if fn.run_policy == "THREADPOOL" and fn.is_async:
        return "POL-MIX-2"
    return None


@dataclass
class Reg:
    """One registration: `fn` subscribed for `event_type`."""

    index: int
    fn: Fn
    event_type: str
    priority: int = 0
    removed_at: int | None = None
    """The number of events sent when it was unsubscribed."""
    once_state: str = "live"
    """For `once` registrations: 'live', 'unsure' (it may have been used up) or 'spent'."""

    def describe(self) -> str:
        pri = f", priority {self.priority}" if self.priority else ""
        return f"{self.fn.describe()} registered for {self.event_type}{pri}"


@dataclass
class Sent:
    """An event the program published or posted, and who must receive it."""

    eid: int
    event_type: str
    posted: bool
    obj: Any = None
    producer: str = "loop"
    context: str = ""
    """For posts: 'running', 'before-start' or 'after-stop' (of the worker, when post was called)."""
    after_restart: bool = False
    """Posted while a restarted worker ran."""
    accepted: bool = True
    """False for a post that raised (allowed while no worker runs): nothing to deliver."""
    sure: list[int] = field(default_factory=list)
    """Registrations that must each deliver it once (for its type, made before the dispatch)."""
    maybe: set[int] = field(default_factory=set)
    """Registrations that may each deliver it at most once (a base class's; or changed while it was queued)."""
    due: bool = False
    """It must be (or have been) dispatched by now: published, or posted while a worker ran."""
    settled: bool = False
    """Its dispatch is over: registrations from now on must not receive it."""
    regs_at_send: int = 0
    """The number of registrations when it was published or posted."""
    retaken_at: int | None = None
    """For an event a stopped worker buffered: the number of registrations when the worker started, and with it
    the dispatch (its handlers are those of then, not of the post)."""

    @property
    def label(self) -> str:
        how = f"posted from the {self.producer} thread" if self.posted else "published"
        return f"event e{self.eid} ({self.event_type}, {how})"

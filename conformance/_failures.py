"""Rule failures: what a conformance test raises, and how exceptions are described and searched."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from .rules import Rule

FailureKind = Literal["assertion", "hang", "crash"]
"""How a test failed: a check did not hold, a call did not return in time, or something raised."""


class RuleViolation(AssertionError):
    """A conformance failure: which rule, what was expected, what happened."""

    def __init__(self, rule: Rule, expected: str, observed: str, kind: FailureKind = "assertion") -> None:
        self.rule = rule
        self.expected = expected
        self.observed = observed
        self.kind = kind
        super().__init__(f"[{rule.id}] {rule.title} ({rule.level})\n  expected: {expected}\n  observed: {observed}")


def exception_chain(exc: BaseException | None) -> Iterable[BaseException]:
    """`exc`, its causes and contexts, and the members of exception groups, at any depth, once each."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc] if exc is not None else []
    while todo:
        cur = todo.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        for nxt in (cur.__cause__, cur.__context__):
            if nxt is not None:
                todo.append(nxt)
        todo.extend(getattr(cur, "exceptions", ()) or ())


def describe(exc: BaseException) -> str:
    """`TypeName('message')`, for failure messages."""
    return f"{type(exc).__name__}({str(exc)!r})"

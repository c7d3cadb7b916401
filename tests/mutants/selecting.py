"""A pytest plugin for the kill matrix's suite runs: every rule a test checks in its report, and the fast selection.

Each test case's JUnit record gets a `rules` property: all the IDs of its
`@pytest.mark.rule(...)` marker, comma-separated, so that the kill matrix can tell
a failure charged to a rule the test checks from one charged to a rule it does not
(a *wrong* charge: a test of another rule whose message names the broken bus's
rule).

With a rule (`RuleSelection("POST-4")`), the run keeps only the tests that check
that rule (first or further ID of their marker, the stateful test included when it
lists the rule) and a control sample of the rest: up to `CONTROL_SAMPLE` other tests
of the same suite modules, in a fixed order (by a hash of their names, not by
chance), so that every fast run of a broken bus also runs neighbouring tests of other
rules and can show that none of them is charged to the broken rule. With
`stateful=False`, the stateful test is left out of the selection: it checks many
rules at once and costs more than all the other tests of a run together, so the
fast matrix runs it for a broken bus only when that bus's other tests do not catch
it (`tests.mutants.matrix.run_fast`).
"""

from __future__ import annotations

import functools
import hashlib

import pytest

from conformance._expectation_file import SUITE, suite_tests
from conformance.plugin import rules_of

CONTROL_SAMPLE = 6
"""Tests of other rules, from the modules of the rule's own tests, that a fast run keeps as controls."""
STATEFUL_MODULE = "test_stateful.py"
"""The suite module of the stateful test, which `stateful=False` leaves out."""


@functools.cache
def _suite_tests() -> dict[str, tuple[str, ...] | None]:
    """`suite_tests()`, read once per process: a batch asks for it once per broken bus (80 ms of parsing each)."""
    return suite_tests()


def suite_files(rule: str, *, stateful: bool = True) -> list[str]:
    """The suite's modules holding a test of `rule`, read from the source (as paths to pass pytest).

    A module with a test whose rules cannot be read without running it is included too; no module
    at all means the whole suite. Collecting only these is what makes a fast run cheap: the
    selection above then happens among them. With `stateful=False`, the stateful test's module
    is not collected.
    """
    found = {key.split("::", 1)[0] for key, rules in _suite_tests().items() if rules is None or rule in rules}
    if not stateful:
        found.discard(STATEFUL_MODULE)
    return [str(SUITE / name) for name in sorted(found)]


def _order(item: pytest.Item) -> str:
    return hashlib.sha256(item.nodeid.encode()).hexdigest()


def select(
    rule: str, items: list[pytest.Item], *, stateful: bool = True
) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """`(kept, dropped)`: the tests of `rule`, then the control sample, in collection order.

    With `stateful=False`, the stateful test's module is dropped before choosing.
    """
    everything = items
    if not stateful:
        items = [item for item in items if item.path.name != STATEFUL_MODULE]
    own = [item for item in items if rule in {r.id for r in rules_of(item)}]
    modules = {item.path for item in own}
    others = [item for item in items if item not in own and item.path in modules and rules_of(item)]
    controls = set(sorted(others, key=_order)[:CONTROL_SAMPLE])
    keep = set(own) | controls
    return [i for i in everything if i in keep], [i for i in everything if i not in keep]


class RuleSelection:
    """The plugin: records every test's rules; with `rule`, keeps only its tests and the control sample."""

    def __init__(self, rule: str | None = None, *, stateful: bool = True) -> None:
        self.rule = rule
        self.stateful = stateful

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Narrow the run to the rule's tests and the controls (when a rule is given)."""
        if self.rule is None:
            return
        kept, dropped = select(self.rule, items, stateful=self.stateful)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Record all the rules the test checks (the kit records only the first, as `rule`)."""
        found = rules_of(item)
        if found:
            item.user_properties.append(("rules", ",".join(r.id for r in found)))


def pytest_configure(config: pytest.Config) -> None:
    """As `-p tests.mutants.selecting`: record the rules of every test, select nothing."""
    config.pluginmanager.register(RuleSelection(), "kill-matrix-rules")

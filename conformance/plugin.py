"""The pytest plugin (entry point `pytest11`): `--impl`, the `kit` fixture, rule-tied reporting.

It stays out of the way: nothing happens unless collected tests carry the
`rule` marker, and the implementation is imported only then.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable, Coroutine, Generator
from pathlib import Path
from typing import Any

import pytest

from . import _leftovers
from ._bounded import bound_report
from ._completeness import present_undeclared
from ._loops import POLICY
from ._results import judge, result_of
from ._selection import OPTION_HELP, Selection, SelectionError, parse
from ._terminal import claims_lines, summary_lines, teststatus
from .adapter import Implementation
from .capabilities import CAPABILITIES, DERIVED
from .expectations import Expectation, ExpectationError, current_mode, default_path, load, select
from .kit import DEFAULT_BOUND, PATHS, Dispatch, Kit, RuleViolation, describe
from .loading import ImplementationNotFoundError, load_implementation, registered_names
from .report import RunInfo, TestResult, render_json, render_report, reproducing_command
from .rules import PROFILES, RULES, Rule
from .runner import LOOPS, loop_factory, run_test

_IMPL_KEY = pytest.StashKey[Implementation]()
_RESULTS_KEY = pytest.StashKey[list[TestResult]]()
_EXPECTATION_KEY = pytest.StashKey[Expectation]()
_EXPECTATIONS_PATH_KEY = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the kit's options."""
    group = parser.getgroup("event-bus conformance")
    group.addoption(
        "--impl",
        metavar="NAME",
        help="implementation under test: a registered name (e.g. reference, pico-ioc), "
        "a dotted module path, or module:attribute",
    )
    group.addoption(
        "--profiles",
        metavar="LIST",
        help="comma-separated profiles to test instead of those the implementation claims "
        f"(from {', '.join(PROFILES)})",
    )
    group.addoption("--rules", metavar="LIST", help=OPTION_HELP)
    group.addoption("--loop", choices=LOOPS, default="asyncio", help="event loop to run the tests on")
    group.addoption(
        "--expectations",
        metavar="PATH",
        help="expectation file of known deviations (default: the bundled file for the implementation, "
        "if any); 'none' runs without one",
    )
    group.addoption(
        "--conformance-report",
        metavar="PATH",
        help="write a Markdown conformance report (rule, verdict, observed behaviour) to PATH",
    )
    group.addoption(
        "--conformance-json",
        metavar="PATH",
        help="write the machine-readable result (JSON, schema conformance/schema/result-1.json) to PATH",
    )
    group.addoption(
        "--bound",
        type=float,
        default=DEFAULT_BOUND,
        metavar="SECONDS",
        help=f"how long any single wait may take before a test fails (default {DEFAULT_BOUND:g})",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the `rule` marker."""
    config.addinivalue_line("markers", "rule(id): the SPEC.md rule a conformance test checks")
    config.addinivalue_line(
        "markers",
        "needs(*capabilities): the capabilities a conformance test uses (conformance/capabilities.py); "
        "without them its verdict is unsupported",
    )
    config.stash[_RESULTS_KEY] = []
    config.pluginmanager.register(_Collector(config), "event-bus-conformance-results")
    # A run that dies leaves result files saying so; a dead pytest-xdist worker's test keeps its rule.
    from . import _crashes, _incomplete

    config.pluginmanager.register(_incomplete, "event-bus-conformance-incomplete")
    config.pluginmanager.register(_crashes, "event-bus-conformance-crashes")


def _implementation(config: pytest.Config) -> Implementation:
    if _IMPL_KEY in config.stash:
        return config.stash[_IMPL_KEY]
    spec = config.getoption("impl")
    if not spec:
        raise pytest.UsageError(
            "the event-bus conformance tests need --impl=NAME "
            f"(registered: {', '.join(registered_names()) or 'none'}; or a dotted module path)"
        )
    chosen = config.getoption("profiles")
    profiles = None
    if chosen:
        profiles = frozenset(p.strip() for p in chosen.split(",") if p.strip())
        unknown = profiles - set(PROFILES)
        if unknown:
            raise pytest.UsageError(f"--profiles: unknown {', '.join(sorted(unknown))}; known: {', '.join(PROFILES)}")
        profiles |= {"core"}
    try:
        impl = load_implementation(spec, profiles)
    except ImplementationNotFoundError as exc:
        raise pytest.UsageError(str(exc)) from exc
    config.stash[_IMPL_KEY] = impl
    return impl


def rules_of(item: pytest.Item) -> list[Rule]:
    """The rules a collected test checks (`@pytest.mark.rule("ID", ...)`), first the main one."""
    marker = item.get_closest_marker("rule")
    if marker is None:
        return []
    if not marker.args:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.rule() needs at least one rule ID")
    unknown = [a for a in marker.args if a not in RULES]
    if unknown:
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.rule names no rule of SPEC.md: {', '.join(map(str, unknown))}"
        )
    return [RULES[a] for a in marker.args]


def rule_of(item: pytest.Item) -> Rule | None:
    """The main rule a collected test checks, or None for tests that are not conformance tests."""
    found = rules_of(item)
    return found[0] if found else None


def _selection(config: pytest.Config) -> Selection | None:
    """The rules `--rules` limits the run to, or None for every rule."""
    value = config.getoption("rules")
    if value is None:
        return None
    try:
        return parse(value)
    except SelectionError as exc:
        raise pytest.UsageError(str(exc)) from exc


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep only the selected rules' tests (`--rules`); skip tests of profiles the implementation does not claim."""
    selection = _selection(config)
    if selection is not None:
        dropped = [i for i in items if rule_of(i) is not None and not selection.selects(r.id for r in rules_of(i))]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = [i for i in items if i not in set(dropped)]
    rule_items = [(item, rule) for item in items if (rule := rule_of(item)) is not None]
    if not rule_items:
        return
    impl = _implementation(config)
    expectations = _expectations(config, impl)
    for item, rule in rule_items:
        key = test_key(item)
        # An entry may name one parametrization (`test_x[worker]`) or all of them (`test_x`).
        entry = expectations.get(key) or expectations.get(key.split("[", 1)[0])
        if entry is not None:
            checked = [r.id for r in rules_of(item)]
            if not set(entry.any_rule) <= set(checked):
                raise pytest.UsageError(
                    f"expectation for {test_key(item)} names rule {' or '.join(entry.any_rule)}, "
                    f"but the test checks {', '.join(checked)}"
                )
            item.stash[_EXPECTATION_KEY] = entry
        if rule.profile not in impl.profiles:
            item.add_marker(
                pytest.mark.skip(
                    reason=f"{rule.id}: profile '{rule.profile}' is not claimed by {impl.name} "
                    f"(claims: {', '.join(_in_order(impl.profiles))})"
                )
            )


def test_key(item: pytest.Item) -> str:
    """`file.py::test_name`: how expectation files and reports name a test, wherever the suite lives."""
    return "::".join([item.path.name, *item.nodeid.split("::")[1:]])


def _expectations(config: pytest.Config, impl: Implementation) -> dict[str, Expectation]:
    """The entries of the expectation file that apply to this implementation's version, loop and mode."""
    chosen = config.getoption("expectations")
    if chosen == "none":
        return {}
    path = Path(chosen) if chosen else default_path(impl.name)
    if path is None:
        return {}
    try:
        entries = load(path, implementation=impl.name)
        applying = select(entries, impl.version, config.getoption("loop"), current_mode())
    except ExpectationError as exc:
        raise pytest.UsageError(str(exc)) from exc
    config.stash[_EXPECTATIONS_PATH_KEY] = str(path)
    return applying


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """Say what is under test."""
    if _IMPL_KEY not in config.stash and not config.getoption("impl"):
        return None
    try:
        impl = _implementation(config)
    except pytest.UsageError:
        return None
    return [
        f"event-bus conformance: {impl.name} {impl.version}, profiles {', '.join(_in_order(impl.profiles))}, "
        f"loop {config.getoption('loop')}, bound {config.getoption('bound'):g} s",
        *claims_lines(_run_info(config, impl)),
    ]


def _run_info(config: pytest.Config, impl: Implementation) -> RunInfo:
    """What the outputs say about this run."""
    return RunInfo(
        name=impl.name,
        version=impl.version,
        profiles=_in_order(impl.profiles),
        loop=config.getoption("loop"),
        bound=config.getoption("bound"),
        command=reproducing_command(config.invocation_params.args),
        capabilities=[c for c in CAPABILITIES if c in impl.capabilities],
        present=present_undeclared(impl),
        selection=_selection(config),
    )


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """Unsupported tests get their own outcome word, apart from pytest's "skipped" (profiles not claimed)."""
    return teststatus(report)


@pytest.fixture(scope="session")
def implementation(request: pytest.FixtureRequest) -> Implementation:
    """The implementation under test (from `--impl`)."""
    return _implementation(request.config)


@pytest.fixture
def kit(request: pytest.FixtureRequest, implementation: Implementation) -> Kit:
    """The per-test helper: the implementation's names, gates, recorders, and rule-named failures."""
    rule = rule_of(request.node)
    if rule is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses the kit fixture without @pytest.mark.rule(...)")
    kit = Kit(implementation, rule, bound=request.config.getoption("bound"))
    # Declared needs are checked before the test starts: a test never runs half-way on a bus
    # that cannot express what it checks (its verdict is unsupported, not a failure of an early step).
    marker = request.node.get_closest_marker("needs")
    needs = list(marker.args) if marker is not None else []
    unknown = [c for c in needs if c not in CAPABILITIES and c not in DERIVED]
    if unknown:
        raise pytest.UsageError(f"{request.node.nodeid}: @pytest.mark.needs names no capability: {unknown!r}")
    order = [*CAPABILITIES, *DERIVED]
    for capability in sorted(needs, key=order.index):  # the most basic missing one names the verdict
        kit.require(capability)
    return kit


@pytest.fixture(params=PATHS)
def dispatch(request: pytest.FixtureRequest, kit: Kit) -> Dispatch:
    """Dispatch events through `publish`, then (a second run of the test) through `post` and the worker.

    POST-4: the worker dispatches as publish does, so a dispatch rule holds on both
    paths. A failure names the path it came through.
    """
    if request.param == "worker":
        kit.require("worker")
    chosen = Dispatch(kit, request.param)
    kit.path = chosen.label
    return chosen


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` conformance tests on a fresh, bounded event loop.

    The kit owns its tests whatever else is installed: pytest-asyncio in auto mode
    wraps coroutine tests in a sync runner of its own (with `functools.wraps`), so
    the test's coroutine function is found under the wrapper.
    """
    if rule_of(pyfuncitem) is None:
        return None
    test_fn: Callable[..., Coroutine[Any, Any, None]] = inspect.unwrap(pyfuncitem.obj)
    if not inspect.iscoroutinefunction(test_fn):
        return None
    kit: Kit = pyfuncitem.funcargs["kit"]  # type: ignore[assignment]
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    config = pyfuncitem.config
    threads_before = _leftovers.snapshot()
    try:
        problems = run_test(
            kit,
            lambda: test_fn(**kwargs),
            loop_factory(config.getoption("loop")),
            hard_bound=4 * kit.bound,
        )
    finally:
        # What the test asked for as it ran; tests/test_needs.py checks its `needs` marker covers it.
        needed = kit.required - kit.optional
        pyfuncitem.user_properties.append(("capabilities_required", ",".join(sorted(needed))))
        # What the test exercised of each domain dimension; tests/test_domain_coverage.py tabulates it.
        kit.observed.exercise(loop_implementation=config.getoption("loop"))
        pyfuncitem.user_properties.append(("domain_exercised", kit.observed.encode()))
        pyfuncitem.user_properties.append(("rules_checked", ",".join(r.id for r in rules_of(pyfuncitem))))
        # Warnings, whatever the verdict: what outlived the test, and a replaced loop policy.
        for note in [*_leftovers.after_test(threads_before), *filter(None, [POLICY.changed()])]:
            pyfuncitem.warn(pytest.PytestWarning(f"[{kit.rule.id}] after the test: {note}"))
    for problem in problems:
        pyfuncitem.warn(pytest.PytestWarning(f"[{kit.rule.id}] after the test: {problem}"))
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Charge every conformance report to its rule and apply the expectations (`_results.judge`)."""
    rule = rule_of(item)
    try:
        report = yield
    except Exception as exc:
        if rule is None:
            raise
        # pytest could not even format the failure (CPython 3.11's parser can raise SystemError
        # while pytest reads the failing source): one test's report must not end the run.
        report = _plain_report(item, call, exc)
    if rule is not None:
        expectation = item.stash.get(_EXPECTATION_KEY, None)
        path = item.config.stash.get(_EXPECTATIONS_PATH_KEY, "")
        judge(item, call, report, rule, test_key(item), expectation, path)
        bound_report(report)
    return report


def _plain_report(item: pytest.Item, call: pytest.CallInfo[None], fault: Exception) -> pytest.TestReport:
    """A report for `call` built without pytest's traceback formatting."""
    failure = call.excinfo.value if call.excinfo is not None else fault
    text = "".join(traceback.format_exception(type(failure), failure, failure.__traceback__))
    if isinstance(failure, RuleViolation):
        text = str(failure)
    return pytest.TestReport(
        item.nodeid,
        item.location,
        dict.fromkeys(item.keywords, 1),
        "failed",
        f"{text}\n(pytest could not format this failure itself: {describe(fault)})",
        "setup" if call.when == "collect" else call.when,
        [],
        call.duration,
        call.start,
        call.stop,
        user_properties=list(item.user_properties),
    )


class _Collector:
    """Collects each verdict where the run is summarised: here, or on pytest-xdist's controller."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the result the report carries, if any."""
        result = result_of(report)
        if result is not None:
            self.config.stash[_RESULTS_KEY].append(result)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the verdict per rule, and write the Markdown report and the JSON result if asked."""
    collected: list[TestResult] = config.stash[_RESULTS_KEY]
    results = sorted(collected, key=lambda r: r.test)
    if not results or not config.getoption("impl"):
        return
    impl = _implementation(config)  # on pytest-xdist's controller, first loaded here
    run = _run_info(config, impl)
    tr = terminalreporter
    tr.section(f"conformance of {impl.name} {impl.version}")
    for line, markup in summary_lines(run, results):
        tr.write_line(line, **markup)
    selection = _selection(config)
    if selection is not None:
        tr.write_line(selection.describe(), yellow=True)
    for option, render in (("conformance_report", render_report), ("conformance_json", render_json)):
        target = config.getoption(option)
        if target:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(run, results), encoding="utf-8")
            tr.write_line(f"conformance {'report' if option == 'conformance_report' else 'result'} written to {path}")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Threads the implementation left running cannot keep the process alive (`_leftovers.arm_exit`);
    what it left suspended is finalized now (`_leftovers.finalize_abandoned`)."""
    if session.config.getoption("impl"):
        _leftovers.finalize_abandoned()
    _leftovers.arm_exit(int(exitstatus), session.config.getoption("bound"))


def _in_order(profiles: frozenset[str]) -> list[str]:
    """`profiles` in SPEC.md's order."""
    return [p for p in PROFILES if p in profiles]

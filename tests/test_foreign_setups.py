"""The kit inside an implementer's own repository, whatever its pytest set-up.

Each test runs the conformance suite against the reference in a subprocess, as an
implementer would, under one pytest set-up the kit does not control: pytest-asyncio
in strict and in auto mode, pytest-randomly, pytest-timeout, AnyIO's plugin, and a
repository outside this one with a strict configuration of its own. Each must give
what a plain run gives (none of those plugins loaded; the run `tests/reference_run.py`
shares among the tests that read one): every test passed, under the same test ids, and
every test and rule with the plain run's verdict, read from the JSON result. The
header of each run shows that the foreign plugin was active, and which others were
not, so that a run which silently left it out cannot pass for one that had it.

pytest-asyncio's auto mode and pytest-randomly run the whole suite; the other
set-ups run SUBSET, whose modules cover coroutine tests with and without the
`dispatch` parametrization, background failures, and the Hypothesis stateful test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.pytest_run import ROOT, PytestRun, run_pytest
from tests.reference_run import FOREIGN, ReferenceRun, disabled

SUBSET = ("test_errors", "test_policies", "test_publish", "test_stateful")
"""The suite's modules run under the cheaper set-ups."""


@dataclass(frozen=True)
class Outcome:
    """One run of the suite and its JSON result."""

    run: PytestRun
    tests: dict[str, str]
    """Test (as reports name it) to verdict."""
    rules: dict[str, str]
    """Rule ID to verdict, for the rules the run tested."""

    @property
    def plugins(self) -> set[str]:
        """The plugins pytest's header lists (`plugins: asyncio-1.5.0, ...`), without their versions."""
        line = re.search(r"^plugins: (.*)$", self.run.stdout, re.MULTILINE)
        assert line is not None, self.run.output
        return {re.sub(r"-[^-]*$", "", plugin.strip()) for plugin in line.group(1).split(",")}


def run_suite(result: Path, *args: str, cwd: Path = ROOT, console_script: bool = False) -> Outcome:
    """Run the suite against the reference with `args`; a run that wrote no result fails here."""
    run = run_pytest(
        f"--conformance-json={result}",
        *args,
        cwd=cwd,
        timeout=600,
        console_script=console_script,
        # Nothing of this process's own imports may help the subprocess find a module.
        env={"PYTHONPATH": None},
    )
    return outcome_of(run, result)


def modules(*names: str) -> list[str]:
    """The suite's modules `names`, as paths from the project's root."""
    return [f"conformance/suite/{name}.py" for name in names]


def outcome_of(run: PytestRun, result: Path) -> Outcome:
    """The outcome of a run that wrote the JSON result `result`; a run that wrote none fails here."""
    assert not run.timed_out, run.output[-6000:]
    assert result.is_file(), f"no JSON result was written\n{run.output[-6000:]}"
    data = json.loads(result.read_text(encoding="utf-8"))
    return Outcome(
        run,
        {test["test"]: test["verdict"] for test in data["tests"]},
        {rule["id"]: rule["verdict"] for rule in data["rules"] if rule["verdict"] != "untested"},
    )


@pytest.fixture
def plain(reference_run: ReferenceRun) -> Outcome:
    """The whole suite with none of the foreign plugins (the run other tests share): what every set-up must give."""
    outcome = outcome_of(reference_run.run, reference_run.result)
    assert outcome.run.returncode == 0, outcome.run.output[-6000:]
    assert not outcome.plugins & set(FOREIGN), outcome.plugins
    # The reference passes every rule; a plain run that passed nothing would make every comparison hollow.
    assert outcome.tests and set(outcome.tests.values()) == {"pass"}, outcome.tests
    assert outcome.rules and set(outcome.rules.values()) == {"pass"}, outcome.rules
    return outcome


def assert_as_plain(outcome: Outcome, plain: Outcome, *, only: tuple[str, ...] | None = None) -> None:
    """`outcome` passed every test and gave every test and rule the plain run's verdict.

    With `only` (module names), the plain run's tests of those modules, and the rules they tested.
    """
    run = outcome.run
    assert run.returncode == 0, run.output[-6000:]
    expected = {test: v for test, v in plain.tests.items() if only is None or test.split(".py::")[0] in only}
    assert expected, f"the plain run has no test in {only}"
    # The same ids: a plugin that parametrized, duplicated or dropped the suite's tests shows here.
    assert outcome.tests == expected, run.output[-6000:]
    expected_rules = plain.rules if only is None else {r: plain.rules.get(r) for r in outcome.rules}
    assert outcome.rules == expected_rules
    summary = run.stdout.strip().splitlines()[-1]
    assert re.fullmatch(rf"=* {len(expected)} passed(, \d+ warnings?)? in .*", summary), summary


def test_the_foreign_plugins_are_installed_and_register_themselves() -> None:
    """Each foreign plugin is installed (the `test` extra) and loads without `-p`, as in an implementer's repository."""
    registered = {ep.name for ep in entry_points(group="pytest11")}
    missing = set(FOREIGN) - registered
    assert not missing, f"not installed: {', '.join(sorted(missing))}: pip install -e '.[test]'"


def test_the_reference_leaves_nothing_running(plain: Outcome) -> None:
    """Teardown warns about any task, thread or worker a test left behind; on the reference there is none."""
    left = [line for line in plain.run.stdout.splitlines() if "] after the test: " in line]
    assert not left, "\n".join(left)


def test_pytest_asyncio_strict_mode(tmp_path: Path, plain: Outcome) -> None:
    outcome = run_suite(
        tmp_path / "result.json",
        "--impl=reference",
        "-o",
        "asyncio_mode=strict",
        *disabled("asyncio"),
        *modules(*SUBSET),
    )
    assert outcome.plugins & set(FOREIGN) == {"asyncio"}
    assert re.search(r"^asyncio: mode=(Mode\.)?strict\b", outcome.run.stdout, re.MULTILINE | re.IGNORECASE)
    assert_as_plain(outcome, plain, only=SUBSET)


def test_pytest_asyncio_auto_mode(tmp_path: Path, plain: Outcome) -> None:
    """In auto mode pytest-asyncio claims every coroutine test; the kit's runner must still run them all."""
    outcome = run_suite(tmp_path / "result.json", "--impl=reference", "-o", "asyncio_mode=auto", *disabled("asyncio"))
    assert outcome.plugins & set(FOREIGN) == {"asyncio"}
    assert re.search(r"^asyncio: mode=(Mode\.)?auto\b", outcome.run.stdout, re.MULTILINE | re.IGNORECASE)
    assert_as_plain(outcome, plain)


def test_pytest_randomly(tmp_path: Path, plain: Outcome) -> None:
    """Tests in random order, `random` reseeded before each: no test may depend on another's having run first."""
    outcome = run_suite(
        tmp_path / "result.json", "--impl=reference", "-p", "randomly", "--randomly-seed=12345", *disabled("randomly")
    )
    assert outcome.plugins & set(FOREIGN) == {"randomly"}
    assert "Using --randomly-seed=12345" in outcome.run.stdout
    assert_as_plain(outcome, plain)


def test_pytest_timeout(tmp_path: Path, plain: Outcome) -> None:
    outcome = run_suite(
        tmp_path / "result.json", "--impl=reference", "--timeout=60", *disabled("timeout"), *modules(*SUBSET)
    )
    assert outcome.plugins & set(FOREIGN) == {"timeout"}
    assert re.search(r"^timeout: 60(\.0)?s", outcome.run.stdout, re.MULTILINE), outcome.run.stdout[:2000]
    assert_as_plain(outcome, plain, only=SUBSET)


def test_anyio_plugin(tmp_path: Path, plain: Outcome) -> None:
    """AnyIO registers its plugin whenever it is installed; in its default (strict) mode it leaves the suite alone."""
    outcome = run_suite(tmp_path / "result.json", "--impl=reference", *disabled("anyio"), *modules(*SUBSET))
    assert outcome.plugins & set(FOREIGN) == {"anyio"}
    assert_as_plain(outcome, plain, only=SUBSET)


ANYIO_AUTO_REPOSITORY = """\
[tool.pytest.ini_options]
addopts = ["--strict-config"]
anyio_mode = "auto"
"""


def test_anyio_auto_mode(tmp_path: Path, plain: Outcome) -> None:
    """AnyIO's auto mode parametrizes every coroutine test by backend and runs it itself.

    Set, as a repository does, in its configuration file; `--strict-config` makes an AnyIO
    too old to know `anyio_mode` an error rather than a run without it.
    """
    repo = tmp_path / "mybus"
    repo.mkdir()
    (repo / "pyproject.toml").write_text(ANYIO_AUTO_REPOSITORY, encoding="utf-8")
    outcome = run_suite(
        tmp_path / "result.json",
        "--pyargs",
        *(f"conformance.suite.{name}" for name in SUBSET),
        "--impl=reference",
        *disabled("anyio"),
        cwd=repo,
        console_script=True,
    )
    assert outcome.plugins & set(FOREIGN) == {"anyio"}
    assert_as_plain(outcome, plain, only=SUBSET)


ADAPTER = '''\
"""An implementer's adapter module: in the directory pytest runs from, neither installed nor on PYTHONPATH."""

import reference
from conformance.adapter import ModuleAdapter


def factory():
    return ModuleAdapter(reference, name="reference")
'''

WARNING = re.compile(r"\b(\w*Warning): (.*)")
"""A warning as pytest prints it, in its summary or (for one issued while it configures) on stderr."""


def warnings_in(run: PytestRun) -> set[tuple[str, str]]:
    """The warnings a run printed: (category, first line of the message)."""
    return {(m.group(1), m.group(2).strip()) for m in WARNING.finditer(run.output)}


def test_from_outside_the_repository_with_an_adapter_in_the_current_directory(tmp_path: Path, plain: Outcome) -> None:
    """The README's `pytest --pyargs conformance.suite --impl=mod:factory`, from an implementer's directory.

    The `pytest` command (not `python -m pytest`, which puts the current directory on
    `sys.path`), no PYTHONPATH, no configuration file, every foreign plugin installed.
    The run prints no warning that the same set-up does not print for a one-line test
    of the implementer's own: pytest-asyncio's own warning about its unset
    `asyncio_default_fixture_loop_scope` is the implementer's to settle, and is printed
    for any run there; anything more (an unknown marker, a configuration warning, a
    warning from a test) came from the kit.
    """
    repo = tmp_path / "mybus"
    repo.mkdir()
    (repo / "my_adapter.py").write_text(ADAPTER, encoding="utf-8")
    args = ("-p", "randomly", "--randomly-seed=2024")
    outcome = run_suite(
        tmp_path / "result.json",
        "--pyargs",
        "conformance.suite",
        "--impl=my_adapter:factory",
        *args,
        cwd=repo,
        console_script=True,
    )
    assert f"rootdir: {repo}" in outcome.run.stdout and "configfile:" not in outcome.run.stdout, outcome.run.stdout
    assert outcome.plugins >= set(FOREIGN)
    assert_as_plain(outcome, plain)

    own = tmp_path / "own"
    own.mkdir()
    (own / "test_own.py").write_text("def test_own():\n    pass\n", encoding="utf-8")
    baseline = run_pytest(*args, cwd=own, console_script=True, env={"PYTHONPATH": None})
    assert baseline.returncode == 0, baseline.output
    kit_warnings = warnings_in(outcome.run) - warnings_in(baseline)
    assert not kit_warnings, outcome.run.output[-6000:]


STRICT_REPOSITORY = """\
[project]
name = "mybus"
version = "0.1.0"

[tool.pytest.ini_options]
addopts = ["--strict-markers", "--strict-config"]
filterwarnings = ["error"]
xfail_strict = true
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
timeout = 60
"""


def test_a_strict_async_repository(tmp_path: Path, plain: Outcome) -> None:
    """Every foreign plugin at once, under a configuration that makes any warning and any unknown marker an error."""
    repo = tmp_path / "mybus"
    repo.mkdir()
    (repo / "pyproject.toml").write_text(STRICT_REPOSITORY, encoding="utf-8")
    (repo / "my_adapter.py").write_text(ADAPTER, encoding="utf-8")
    outcome = run_suite(
        tmp_path / "result.json",
        "--pyargs",
        *(f"conformance.suite.{name}" for name in SUBSET),
        "--impl=my_adapter:factory",
        cwd=repo,
        console_script=True,
    )
    header = outcome.run.stdout[:2000]
    assert "configfile: pyproject.toml" in header, header
    assert outcome.plugins >= set(FOREIGN)
    assert re.search(r"^asyncio: mode=(Mode\.)?auto\b", header, re.MULTILINE | re.IGNORECASE), header
    assert re.search(r"^timeout: 60(\.0)?s", header, re.MULTILINE), header
    assert_as_plain(outcome, plain, only=SUBSET)
    assert not warnings_in(outcome.run), outcome.run.output[-6000:]

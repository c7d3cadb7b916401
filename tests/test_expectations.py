"""Expectation files are strict: expected failures pass, surprises of any kind fail the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.expectations import ExpectationError, load, suite_test_ids
from tests.pytest_run import PytestRun, run_pytest

ROOT = Path(__file__).resolve().parent.parent
HANGING_TEST = "test_publish.py::test_every_kind_of_handler_receives_each_event[publish]"
HANGING_NODE = "conformance/suite/" + HANGING_TEST


def entry(test: str = HANGING_TEST, rule: str = "PUB-1", kind: str = "hang", versions: str = ">=0") -> str:
    return (
        f'[[expected]]\ntest = "{test}"\nrule = "{rule}"\nkind = "{kind}"\n'
        f'versions = "{versions}"\nobserved = "publish never returns."\n'
    )


def run(tmp_path: Path, impl: str, expectations: str, *nodes: str) -> PytestRun:
    path = tmp_path / "expectations.toml"
    path.write_text(expectations, encoding="utf-8")
    return run_pytest(f"--impl={impl}", f"--expectations={path}", "--bound=0.5", "-q", "-rxX", *nodes, timeout=120)


def test_expected_failure_of_the_expected_kind_is_reported_as_xfail(tmp_path: Path) -> None:
    proc = run(tmp_path, "tests.mutants:publish_never_returns", entry(), HANGING_NODE)
    assert proc.returncode == 0, proc.stdout
    assert "1 xfailed" in proc.stdout
    assert "PUB-1: publish never returns." in proc.stdout


def test_failure_of_another_kind_fails_the_run(tmp_path: Path) -> None:
    proc = run(tmp_path, "tests.mutants:publish_never_returns", entry(kind="assertion"), HANGING_NODE)
    assert proc.returncode == 1, proc.stdout
    assert "listed as an expected assertion failure of PUB-1, but it failed as hang of PUB-1" in proc.stdout


def test_unexpected_pass_fails_the_run(tmp_path: Path) -> None:
    proc = run(tmp_path, "reference", entry(), HANGING_NODE)
    assert proc.returncode == 1, proc.stdout
    assert f"unexpected pass: {HANGING_TEST} now conforms to PUB-1; remove it from the expectations" in proc.stdout


def test_entries_for_other_versions_do_not_apply(tmp_path: Path) -> None:
    proc = run(tmp_path, "tests.mutants:publish_never_returns", entry(versions="==0.0.1"), HANGING_NODE)
    assert proc.returncode == 1, proc.stdout
    assert "1 failed" in proc.stdout


def test_entry_naming_a_missing_test_fails_the_run(tmp_path: Path) -> None:
    proc = run(tmp_path, "reference", entry(test="test_publish.py::test_that_does_not_exist"), HANGING_NODE)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert "names test 'test_publish.py::test_that_does_not_exist', which the suite does not have" in proc.stderr


def test_entry_naming_the_wrong_rule_fails_the_run(tmp_path: Path) -> None:
    proc = run(tmp_path, "tests.mutants:publish_never_returns", entry(rule="PUB-2"), HANGING_NODE)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert "names rule PUB-2, but the test checks PUB-1" in proc.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[expected]]\ntest = 'x'\n", "missing rule, kind, versions, observed"),
        (entry(kind="flaky"), "kind must be one of assertion, hang, crash"),
        (entry(rule="XYZ-9"), "rule 'XYZ-9' is not in SPEC.md"),
        (entry(versions="two point five"), "is not a version specifier"),
        (entry() + entry(), "is listed twice"),
        (entry().replace("observed", "seen"), "missing observed"),
        ("[[expected]\n", "line 1"),
    ],
)
def test_malformed_files_are_rejected_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ExpectationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load(path)


def test_suite_ids_are_read_from_the_source() -> None:
    ids = suite_test_ids()
    assert HANGING_TEST.split("[")[0] in ids
    assert all("::test_" in i or "::Test" in i for i in ids)


def test_every_pico_ioc_entry_is_a_real_deviation(tmp_path: Path) -> None:
    """Without its file, each listed pico-ioc test fails: removing any single entry fails the run."""
    from conformance.expectations import BUNDLED

    entries = load(BUNDLED / "pico-ioc.toml")
    nodes = sorted({f"conformance/suite/{e.test}" for e in entries})
    proc = run(tmp_path, "pico-ioc", "", *nodes)
    assert proc.returncode == 1, proc.stdout
    last = proc.stdout.splitlines()[-1]
    assert "failed" in last and "skipped" not in last and "error" not in last, proc.stdout
    assert "passed" not in proc.stdout.splitlines()[-1], proc.stdout


def test_pico_ioc_entries_name_the_installed_version() -> None:
    import importlib.metadata

    from conformance.expectations import BUNDLED

    version = importlib.metadata.version("pico-ioc")
    entries = load(BUNDLED / "pico-ioc.toml")
    assert all(e.applies_to(version, "asyncio") for e in entries), f"entries do not cover pico-ioc {version}"

"""Expectation files are strict: expected failures pass, surprises of any kind fail the run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.expectations import (
    BUNDLED,
    Expectation,
    ExpectationError,
    load,
    normalise_test_id,
    select,
    suite_test_ids,
    suite_tests,
)
from conformance.rules import RULES
from tests.pytest_run import PytestRun, run_pytest

ROOT = Path(__file__).resolve().parent.parent
HANGING_TEST = "test_publish.py::test_every_kind_of_handler_receives_each_event[publish]"
HANGING_NODE = "conformance/suite/" + HANGING_TEST


def entry(
    test: str = HANGING_TEST,
    rule: str = "PUB-1",
    kind: str = '"hang"',
    versions: str = ">=0",
    match: str = "observed: still not done",
    extra: str = "",
) -> str:
    return (
        f'[[expected]]\ntest = "{test}"\nrule = "{rule}"\nkind = {kind}\n'
        f'versions = "{versions}"\nmatch = "{match}"\nobserved = "publish never returns."\n{extra}'
    )


def run(tmp_path: Path, impl: str, expectations: str, *nodes: str) -> PytestRun:
    path = tmp_path / "expectations.toml"
    path.write_text(expectations, encoding="utf-8")
    # The stateful test's first failing program is enough to show a deviation: shrinking it costs minutes.
    return run_pytest(
        f"--impl={impl}",
        f"--expectations={path}",
        "--bound=0.5",
        "-q",
        "-rxX",
        *nodes,
        timeout=120,
        env={"CONFORMANCE_STATEFUL_SHRINK": "0"},
    )


def test_expected_failure_of_the_expected_kind_is_reported_as_xfail(tmp_path: Path) -> None:
    proc = run(tmp_path, "tests.mutants:publish_never_returns", entry(), HANGING_NODE)
    assert proc.returncode == 0, proc.stdout
    assert "1 xfailed" in proc.stdout
    assert "PUB-1: publish never returns." in proc.stdout


def test_failure_of_another_kind_fails_the_run(tmp_path: Path) -> None:
    proc = run(tmp_path, "tests.mutants:publish_never_returns", entry(kind='"assertion"'), HANGING_NODE)
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


def test_suite_ids_are_read_from_the_source() -> None:
    ids = suite_test_ids()
    assert HANGING_TEST.split("[")[0] in ids
    assert all("::test_" in i or "::Test" in i for i in ids)


def test_suite_rules_are_read_from_the_markers() -> None:
    tests = suite_tests()
    assert tests[HANGING_TEST.split("[")[0]] == ("PUB-1",)
    assert any(rules and len(rules) > 1 for rules in tests.values()), "markers naming several rules are read"
    assert all(rule in RULES for rules in tests.values() if rules for rule in rules)


def test_every_pico_ioc_entry_is_a_real_deviation(tmp_path: Path) -> None:
    """Without its file, each listed pico-ioc test fails: removing any single entry fails the run."""
    entries = load(BUNDLED / "pico-ioc.toml")
    nodes = sorted({f"conformance/suite/{e.test}" for e in entries})
    proc = run(tmp_path, "pico-ioc", "", *nodes)
    assert proc.returncode == 1, proc.stdout
    last = proc.stdout.splitlines()[-1]
    assert "failed" in last and "skipped" not in last and "error" not in last, proc.stdout
    assert "passed" not in proc.stdout.splitlines()[-1], proc.stdout


def test_pico_ioc_entries_name_the_installed_version() -> None:
    import importlib.metadata

    version = importlib.metadata.version("pico-ioc")
    entries = load(BUNDLED / "pico-ioc.toml")
    assert all(e.applies_to(version, "asyncio") for e in entries), f"entries do not cover pico-ioc {version}"


# --- the file's inputs, each checked with an error that names the file, the entry and the fix ------

VALID = {
    "test": HANGING_TEST,
    "rule": "PUB-1",
    "kind": "hang",
    "versions": ">=0",
    "match": "observed: still not done",
    "observed": "publish never returns.",
}


def toml_value(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string, for the ASCII text used here
    return repr(value)


def toml_entry(**fields: object) -> str:
    """One `[[expected]]` table: VALID with `fields` replaced; a field set to None is left out."""
    merged = {**VALID, **fields}
    body = "".join(f"{key} = {toml_value(value)}\n" for key, value in merged.items() if value is not None)
    return "[[expected]]\n" + body


def write(tmp_path: Path, text: str, name: str = "bus.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rejected(tmp_path: Path, text: str) -> ExpectationError:
    with pytest.raises(ExpectationError) as caught:
        load(write(tmp_path, text, "bad.toml"))
    return caught.value


BAD_AND_GOOD = {
    # name: (the bad file, what its error says, the corrected file)
    "unknown top-level table": (
        "[[expect]]\n" + "".join(toml_entry().splitlines(keepends=True)[1:]),
        "unknown top-level key or table 'expect' (did you mean 'expected'?)",
        toml_entry(),
    ),
    "unknown top-level key": (
        'title = "bus"\n' + toml_entry(),
        "unknown top-level key or table 'title'",
        'implementation = "bus"\n' + toml_entry(),
    ),
    "expected as one table": (
        "[expected]\n" + "".join(toml_entry().splitlines(keepends=True)[1:]),
        "'expected' is a table; fix: write each entry as a table of its own, under the header [[expected]]",
        toml_entry(),
    ),
    "implementation not a string": (
        "implementation = 3\n" + toml_entry(),
        "implementation is a number (3)",
        'implementation = "bus"\n' + toml_entry(),
    ),
    "unknown key in an entry": (
        toml_entry(versions=None, version=">=0"),
        "unknown key 'version' (did you mean 'versions'?)",
        toml_entry(),
    ),
    "missing key": (
        toml_entry(observed=None, seen="publish never returns."),
        "missing observed; fix: add observed = ...",
        toml_entry(),
    ),
    "rule of the wrong type": (toml_entry(rule=1), "rule is a number (1)", toml_entry()),
    "kind of the wrong type": (toml_entry(kind=1), "kind is a number (1)", toml_entry(kind=["hang"])),
    "empty kind array": (toml_entry(kind=[]), "kind is a array ([])", toml_entry(kind=["hang", "assertion"])),
    "unknown kind in an array": (
        toml_entry(kind=["hang", "flaky"]),
        "kind 'flaky' is not a kind of failure; fix: kind must be one of assertion, hang, crash (or an array of them)",
        toml_entry(kind=["hang", "crash"]),
    ),
    "kind named twice": (toml_entry(kind=["hang", "hang"]), "names a kind twice", toml_entry(kind=["hang"])),
    "nothing expected to see": (
        toml_entry(match=None),
        "says nothing it expects to see; fix: add match = ",
        toml_entry(match=None, match_re="still not done after [0-9.]+ s"),
    ),
    "empty match": (toml_entry(match=""), "match is an empty string", toml_entry(match="still not done")),
    "match of the wrong type": (toml_entry(match=["a"]), "match is a array", toml_entry(match="still")),
    "match_re that is not a regular expression": (
        toml_entry(match_re="still (not done"),
        "match_re 'still (not done' is not a regular expression (missing ), unterminated subpattern",
        toml_entry(match_re="still (not) done"),
    ),
    "unknown mode": (
        toml_entry(mode="randomised"),
        "mode 'randomised' is not a mode of the kit; fix: mode must be 'default' or 'random'",
        toml_entry(mode="random"),
    ),
    "mode of the wrong type": (toml_entry(mode=True), "mode is a boolean (True)", toml_entry(mode="default")),
    "test of the wrong type": (toml_entry(test=True), "test is a boolean (True)", toml_entry()),
    "empty observed": (toml_entry(observed=""), "observed is an empty string", toml_entry()),
    "loop of the wrong type": (toml_entry(loop=1), "loop is a number (1)", toml_entry(loop="asyncio")),
    "versions of the wrong type": (
        toml_entry(versions=2.5),
        "versions is a number (2.5); fix: write a specifier string or an array of them",
        toml_entry(versions="==2.5"),
    ),
    "versions array of numbers": (
        toml_entry(versions=[2.5]),
        "versions is a array ([2.5])",
        toml_entry(versions=["==2.5"]),
    ),
    "empty versions array": (
        toml_entry(versions=[]),
        "versions is an empty array, which selects no version",
        toml_entry(versions=["*"]),
    ),
    "bare version in an array": (
        toml_entry(versions=["2.5.2"]),
        "versions '2.5.2' is not a version specifier; fix: a bare version is not a specifier: write \"==2.5.2\"",
        toml_entry(versions=["==2.5.2"]),
    ),
    "bad version specifier": (
        toml_entry(versions="two point five"),
        "versions 'two point five' is not a version specifier; fix: write a PEP 440 specifier set",
        toml_entry(versions=">=2.5,<2.7"),
    ),
    "empty versions": (toml_entry(versions=""), "versions '' is empty", toml_entry(versions="*")),
    "star among other specifiers": (
        toml_entry(versions=["*", "==1"]),
        'versions "*" already covers every version',
        toml_entry(versions="*"),
    ),
    "unknown rule": (
        toml_entry(rule="XYZ-9"),
        "rule 'XYZ-9' is not in SPEC.md; fix: name the rule the test checks",
        toml_entry(rule="PUB-1"),
    ),
    "rule the test does not check": (
        toml_entry(rule="PUB-2"),
        'names rule PUB-2, but the test checks PUB-1; fix: rule = "PUB-1"',
        toml_entry(rule="PUB-1"),
    ),
    "unknown kind": (
        toml_entry(kind="flaky"),
        "kind 'flaky' is not a kind of failure; fix: kind must be one of assertion, hang, crash",
        toml_entry(kind="crash"),
    ),
    "unknown loop": (
        toml_entry(loop="trio"),
        "loop 'trio' is not a loop the kit runs on; fix: loop must be one of asyncio, uvloop",
        toml_entry(loop="uvloop"),
    ),
    "test the suite does not have": (
        toml_entry(test="test_publish.py::test_that_does_not_exist"),
        "names test 'test_publish.py::test_that_does_not_exist', which the suite does not have",
        toml_entry(),
    ),
    "misspelt test": (
        toml_entry(test="test_publish.py::test_every_kind_of_handler_receive_each_event"),
        "did you mean 'test_publish.py::test_every_kind_of_handler_receives_each_event'?",
        toml_entry(test="test_publish.py::test_every_kind_of_handler_receives_each_event"),
    ),
    "test in the wrong file": (
        toml_entry(test="test_policies.py::test_every_kind_of_handler_receives_each_event"),
        "did you mean 'test_publish.py::test_every_kind_of_handler_receives_each_event'?",
        toml_entry(test="test_publish.py::test_every_kind_of_handler_receives_each_event"),
    ),
    "test without a file": (
        toml_entry(test="test_every_kind_of_handler_receives_each_event"),
        "has no '::'; fix: write it as file.py::test_name (or file.py::test_name[param]): "
        "did you mean 'test_publish.py::test_every_kind_of_handler_receives_each_event'?",
        toml_entry(test="test_publish.py::test_every_kind_of_handler_receives_each_event"),
    ),
    "unbalanced parametrization": (
        toml_entry(test=HANGING_TEST[:-1]),
        "has a '[' without its ']'",
        toml_entry(test=HANGING_TEST),
    ),
    "text after the test id": (
        toml_entry(test=HANGING_TEST + " now"),
        "has 'now' after the test id",
        toml_entry(test=HANGING_TEST + " PASSED"),
    ),
    "duplicate entry": (
        toml_entry() + toml_entry(),
        f"{HANGING_TEST} is listed twice for versions >=0",
        toml_entry() + toml_entry(versions="<0"),
    ),
    "duplicate entry in two forms of the id": (
        toml_entry() + toml_entry(test=HANGING_NODE),
        f"{HANGING_TEST} is listed twice for versions >=0",
        toml_entry() + toml_entry(test=HANGING_NODE, loop="uvloop"),
    ),
    "duplicate entry with the versions in another form": (
        toml_entry(versions=[">=0", "==2"]) + toml_entry(versions=["==2", ">=0"]),
        "is listed twice",
        toml_entry(versions=[">=0", "==2"]) + toml_entry(versions=["==3", ">=0"]),
    ),
}


@pytest.mark.parametrize("case", list(BAD_AND_GOOD))
def test_each_input_is_checked_and_the_corrected_file_loads(tmp_path: Path, case: str) -> None:
    bad, message, good = BAD_AND_GOOD[case]
    error = rejected(tmp_path, bad)
    assert message in str(error), str(error)
    assert "fix: " in str(error), str(error)
    assert load(write(tmp_path, good)), "the corrected file loads and has entries"


def test_an_error_names_the_file_the_line_the_entry_and_its_test(tmp_path: Path) -> None:
    text = "# deviations\n\n" + toml_entry() + "\n" + toml_entry(test=HANGING_NODE, rule="XYZ-9")
    error = rejected(tmp_path, text)
    path = tmp_path / "bad.toml"
    assert str(error) == (
        f"{path}:11: entry 2 (test = {HANGING_NODE!r}): rule 'XYZ-9' is not in SPEC.md; "
        "fix: name the rule the test checks (its rule marker)"
    )
    good = toml_entry() + "\n" + toml_entry(test=HANGING_NODE, versions="<0")
    assert load(write(tmp_path, "# deviations\n\n" + good))[1].where == (
        f"{tmp_path / 'bus.toml'}:11: entry 2 (test = {HANGING_NODE!r})"
    )


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = 'colour = "red"\n' + toml_entry(kind="flaky", loop="trio") + toml_entry(rule="NOPE-1")
    error = rejected(tmp_path, text)
    assert len(error.problems) == 4, error.problems
    assert str(error).startswith(f"{tmp_path / 'bad.toml'}: 4 problems in the expectation file:\n")
    bad = tmp_path / "bad.toml"
    assert error.problems[0].startswith(f"{bad}: unknown top-level key or table 'colour'")
    assert error.problems[1].startswith(f"{bad}:2: entry 1 (test = ") and "kind 'flaky'" in error.problems[1]
    assert error.problems[2].startswith(f"{bad}:2: entry 1 (test = ") and "loop 'trio'" in error.problems[2]
    assert error.problems[3].startswith(f"{bad}:10: entry 2 (test = ") and "rule 'NOPE-1'" in error.problems[3]
    assert load(write(tmp_path, toml_entry(kind="crash", loop="uvloop") + toml_entry(rule="PUB-1", versions="<0")))


def test_malformed_toml_is_reported_with_its_line(tmp_path: Path) -> None:
    error = rejected(tmp_path, toml_entry() + "[[expected]\n")
    assert "is not valid TOML" in str(error) and "line 8" in str(error), str(error)
    assert load(write(tmp_path, toml_entry()))


def test_a_file_that_cannot_be_read_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ExpectationError, match=r"cannot read the expectation file .*--expectations=none"):
        load(tmp_path / "missing.toml")
    binary = tmp_path / "latin1.toml"
    binary.write_bytes(toml_entry(observed="@").replace("@", "caf\xe9").encode("latin-1"))
    with pytest.raises(ExpectationError, match="is not UTF-8 text"):
        load(binary)
    binary.write_bytes(toml_entry(observed="@").replace("@", "caf\xe9").encode("utf-8"))
    assert load(binary)[0].observed == "caf\xe9"


def test_an_empty_file_has_no_entries(tmp_path: Path) -> None:
    assert load(write(tmp_path, "")) == []
    assert load(write(tmp_path, 'implementation = "bus"\n')) == []


def test_a_file_for_another_implementation_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, 'implementation = "pico-ioc"\n' + toml_entry())
    with pytest.raises(ExpectationError, match="is the expectation file of 'pico-ioc', but the implementation under"):
        load(path, implementation="bubus")
    assert load(path, implementation="pico-ioc")
    assert load(path, implementation="pico_ioc"), "names compare as package names do"
    assert load(path)  # without a name to compare with


# --- test ids in the forms pytest prints them ------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        HANGING_TEST,
        HANGING_NODE,
        "/home/me/project/.venv/lib/python3.12/site-packages/" + HANGING_NODE,
        "conformance\\suite\\" + HANGING_TEST,
        f"  {HANGING_NODE}  ",
        f"{HANGING_NODE} PASSED",
        f"{HANGING_NODE} FAILED                                  [ 42%]",
        f"FAILED {HANGING_NODE} - AssertionError: [PUB-1] publish never returns",
        f"XFAIL {HANGING_NODE} - PUB-1: publish never returns.",
    ],
)
def test_test_ids_are_taken_as_pytest_prints_them(tmp_path: Path, written: str) -> None:
    assert normalise_test_id(written) == HANGING_TEST
    assert load(write(tmp_path, toml_entry(test=written)))[0].test == HANGING_TEST


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("test_faults.py::test_x[a BaseException subclass]", "test_faults.py::test_x[a BaseException subclass]"),
        ("PASSED test_faults.py::test_x[a - b] - message", "test_faults.py::test_x[a - b]"),
        ("test_x.py::TestGroup::test_y[p[0]] XPASS [100%]", "test_x.py::TestGroup::test_y[p[0]]"),
        ("test_x.py::test_y", "test_x.py::test_y"),
    ],
)
def test_parametrizations_are_kept_whole(written: str, key: str) -> None:
    assert normalise_test_id(written) == key


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("test_x.py", "has no '::'"),
        ("test_x.py::", "has no test name after '::'"),
        ("::test_y", "has no file before '::'"),
        ("test_x.py::test_y[p", "has a '[' without its ']'"),
        ("test_x.py::test_y[]", "has an empty parametrization"),
        ("test_x.py::test_y[p] - message", "has '- message' after the test id"),
        ("test_x.py::test_y PASSED and more", "has 'PASSED and more' after the test id"),
    ],
)
def test_ids_that_are_not_test_ids_are_refused(written: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        normalise_test_id(written)


# --- versions: which entries apply -----------------------------------------------------------------


def expectation(versions: tuple[str, ...], loop: str | None = None) -> Expectation:
    return Expectation(HANGING_TEST, "PUB-1", "hang", versions, "publish never returns.", loop, where="bus.toml:1")


def test_an_array_of_specifiers_applies_when_any_of_them_holds(tmp_path: Path) -> None:
    (entry_,) = load(write(tmp_path, toml_entry(versions=["==2.5.2", ">=2.7,<3"])))
    assert entry_.versions == ("==2.5.2", ">=2.7,<3")
    assert [entry_.applies_to(v, "asyncio") for v in ("2.5.2", "2.6.0", "2.7.1", "3.0")] == [True, False, True, False]


def test_pre_releases_and_local_versions_count() -> None:
    assert expectation((">=2.5",)).applies_to("2.6.0rc1", "asyncio")
    assert expectation((">=2.5",)).applies_to("2.6.0.dev3", "asyncio")
    assert expectation(("==2.5.2",)).applies_to("2.5.2+patched", "asyncio")
    assert not expectation(("==2.5.2",)).applies_to("2.5.3rc1", "asyncio")


def test_an_entry_for_one_loop_applies_on_that_loop_only() -> None:
    assert expectation((">=0",), loop="uvloop").applies_to("1.0", "uvloop")
    assert not expectation((">=0",), loop="uvloop").applies_to("1.0", "asyncio")
    assert expectation((">=0",)).applies_to("1.0", "asyncio")


@pytest.mark.parametrize("version", [None, "", "  "])
def test_an_unknown_version_is_never_taken_as_zero(version: str | None) -> None:
    with pytest.raises(ExpectationError, match=r"bus.toml:1: names versions >=0, but the implementation under test"):
        expectation((">=0",)).applies_to(version, "asyncio")
    with pytest.raises(ExpectationError, match=r"reports no version .* fix: give the implementation a version"):
        expectation(("==0",), loop="uvloop").applies_to(version, "asyncio")  # on every loop
    assert expectation(("*",)).applies_to(version, "asyncio"), '"*" is the explicit way to cover it'
    assert not expectation(("*",), loop="uvloop").applies_to(version, "asyncio")


def test_a_version_that_is_not_pep_440_is_refused() -> None:
    with pytest.raises(ExpectationError, match="version 'nightly' is not a PEP 440 version"):
        expectation((">=0",)).applies_to("nightly", "asyncio")
    assert expectation((">=0",)).applies_to("2024.1.1", "asyncio")


def test_two_entries_that_apply_to_one_test_are_refused(tmp_path: Path) -> None:
    entries = load(write(tmp_path, toml_entry(versions=">=2") + toml_entry(versions="<3", kind="assertion")))
    with pytest.raises(ExpectationError, match=r"bus.toml:8: entry 2 .* is already listed by .*bus.toml:1: entry 1"):
        select(entries, "2.5", "asyncio")
    assert select(entries, "1.0", "asyncio") == {HANGING_TEST: entries[1]}
    assert select(entries, "3.0", "asyncio") == {HANGING_TEST: entries[0]}


def test_an_entry_for_one_parametrization_stands_beside_one_for_all(tmp_path: Path) -> None:
    general = HANGING_TEST.split("[")[0]
    entries = load(write(tmp_path, toml_entry(test=general) + toml_entry(kind="assertion")))
    assert set(select(entries, "1.0", "asyncio")) == {general, HANGING_TEST}


# --- the bundled files -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(BUNDLED.glob("*.toml")), ids=lambda p: p.name)
def test_bundled_files_load(path: Path) -> None:
    entries = load(path, implementation=path.stem)
    assert all(e.test == normalise_test_id(e.test) for e in entries)


def test_the_bundled_pico_ioc_file_loads() -> None:
    entries = load(BUNDLED / "pico-ioc.toml", implementation="pico-ioc")
    assert len(entries) >= 40
    assert len(select(entries, "2.5.2", "asyncio")) == len(entries)


# --- through pytest: a usage error, never an internal error -----------------------------------------


PICO_TEST = "test_publish.py::test_a_handler_registered_twice_is_called_twice[publish]"
"""A pico-ioc 2.5.2 deviation (PUB-1, assertion) that does not depend on any mutant."""


def test_a_versions_array_and_a_printed_test_id_work_in_a_run(tmp_path: Path) -> None:
    text = toml_entry(
        test=f"conformance/suite/{PICO_TEST} FAILED",
        kind="assertion",
        versions=["==2.5.2", ">=3"],
        match="it received [Num(n=1), Num(n=2)]",
    )
    proc = run(tmp_path, "pico-ioc", text, f"conformance/suite/{PICO_TEST}")
    assert proc.returncode == 0, proc.output
    assert "1 xfailed" in proc.stdout


def test_a_bad_file_is_a_usage_error_that_names_the_fix(tmp_path: Path) -> None:
    text = toml_entry(test=PICO_TEST, kind="assertion", versions=["2.5.2"])
    proc = run(tmp_path, "pico-ioc", text, f"conformance/suite/{PICO_TEST}")
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.output
    assert "INTERNALERROR" not in proc.output
    assert f"expectations.toml:1: entry 1 (test = {PICO_TEST!r})" in proc.stderr, proc.stderr
    assert "versions '2.5.2' is not a version specifier; fix: a bare version is not a specifier: write \"==2.5.2\"" in (
        proc.stderr
    )


def test_an_implementation_without_a_version_is_refused_not_taken_as_zero(tmp_path: Path) -> None:
    """End to end: a versioned entry and an adapter whose version is unknown stop the run with the fix."""
    (tmp_path / "unversioned.py").write_text(
        "from conformance.loading import load_implementation\n"
        "def conformance_implementation():\n"
        "    impl = load_implementation('pico-ioc', None)\n"
        "    impl.version = ''\n"
        "    return impl\n"
    )
    entry = (
        'implementation = "pico-ioc"\n[[expected]]\n'
        'test = "test_publish.py::test_a_handler_registered_twice_is_called_twice"\n'
        'rule = "PUB-1"\nkind = "assertion"\nversions = "{versions}"\nmatch = "it received [Num(n=1), Num(n=2)]"\n'
        'observed = "ignores the duplicate"\n'
    )
    node = "--pyargs", "conformance.suite.test_publish", "-k", "registered_twice"
    for versions, code in (("==2.5.2", 4), ("*", 0)):
        path = tmp_path / f"e{code}.toml"
        path.write_text(entry.format(versions=versions))
        result = run_pytest(
            "--impl=unversioned", f"--expectations={path}", "-q", *node, cwd=tmp_path, console_script=True
        )
        assert result.returncode == code, result.output
    assert (
        "no version"
        in run_pytest(
            "--impl=unversioned",
            f"--expectations={tmp_path / 'e4.toml'}",
            "-q",
            *node,
            cwd=tmp_path,
            console_script=True,
        ).output
    )


STATEFUL = "test_stateful.py::test_random_programs_match_the_model"


def _stateful_entry(rule: str) -> str:
    return (
        f'[[expected]]\ntest = "{STATEFUL}"\nrule = {rule}\nkind = "assertion"\n'
        'versions = "*"\nmatch_re = "call\\\\(s\\\\)|subscription order"\n'
        'observed = "duplicates collapse, or the order depends on addresses."\n'
    )


def test_rule_may_be_an_array_of_the_rules_a_test_may_be_charged_with(tmp_path: Path) -> None:
    path = tmp_path / "e.toml"
    path.write_text(_stateful_entry('["PUB-1", "POL-ORDER-1"]'), encoding="utf-8")
    (loaded,) = load(path)
    assert loaded.rule == "PUB-1" and loaded.any_rule == ("PUB-1", "POL-ORDER-1")
    path.write_text(_stateful_entry('"PUB-1"'), encoding="utf-8")
    assert load(path)[0].any_rule == ("PUB-1",)


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("[]", "rule is"),
        ('["PUB-1", 3]', "rule is"),
        ('["PUB-1", "PUB-99"]', "rule 'PUB-99' is not in SPEC.md"),
        ('["PUB-1", "CAN-1"]', "names rule CAN-1, but the test checks"),
    ],
)
def test_a_malformed_rule_array_names_the_fix(tmp_path: Path, rule: str, says: str) -> None:
    path = tmp_path / "e.toml"
    path.write_text(_stateful_entry(rule), encoding="utf-8")
    with pytest.raises(ExpectationError, match=re.escape(says)):
        load(path)
    path.write_text(_stateful_entry('["PUB-1", "POL-ORDER-1"]'), encoding="utf-8")
    assert load(path)


# --- an entry excuses only the failure it describes ------------------------------------------------

PARTIAL_BUS = "tests.mutants:partial_handlers_skipped"
"""A bus that silently skips `functools.partial` handlers: four tests below fail on it, each its own way."""
PARTIAL_TESTS = (
    "test_publish.py::test_every_kind_of_handler_receives_each_event[publish]",
    "test_publish.py::test_a_handler_registered_twice_is_called_twice[publish]",
    "test_policies.py::test_task_handlers_run_in_tasks_of_their_own[publish]",
    "test_policies.py::test_async_handlers_under_threadpool_run_exactly_once[publish]",
)


def _borrowed(source: Path, tests: tuple[str, ...]) -> str:
    """The entries of the bundled file `source` for `tests`, for any version: texts that describe other faults."""
    loaded = {e.test: e for e in load(source)}
    text = ""
    for test in tests:
        found = loaded[test.split("[", 1)[0]]
        match = f"match = {toml_value(found.match)}\n" if found.match else ""
        match_re = f"match_re = '''{found.match_re}'''\n" if found.match_re else ""
        text += (
            f'[[expected]]\ntest = "{test}"\nrule = {toml_value(list(found.any_rule))}\n'
            f'kind = {toml_value(list(found.any_kind))}\nversions = "*"\n{match}{match_re}'
            f"observed = {toml_value(found.observed)}\n"
        )
    return text


def test_entries_describing_other_faults_do_not_hide_a_bus_that_skips_partial_handlers(tmp_path: Path) -> None:
    """pico-ioc's entries for these four tests (right test, rule and kind) describe its faults, not this bus's."""
    text = _borrowed(BUNDLED / "pico-ioc.toml", PARTIAL_TESTS)
    proc = run(tmp_path, PARTIAL_BUS, text, *(f"conformance/suite/{t}" for t in PARTIAL_TESTS))
    assert proc.returncode == 1, proc.output
    assert "4 failed" in proc.stdout and "xfailed" not in proc.stdout, proc.stdout
    # Each failure shows what the entry expected to see beside what the kit observed.
    assert proc.stdout.count("but the failure is not the one it describes") == 4, proc.stdout
    assert (
        "expected to see: the text 'expected: a function handler registered twice for a type is called twice per "
        "dispatch (once per registration): 4 calls for 2 events observed: it received [Num(n=1), Num(n=2)]'"
    ) in proc.stdout
    assert (
        "observed:        expected: a partial handler registered twice for a type is called twice per dispatch "
        "(once per registration): 4 calls for 2 events observed: it received []"
    ) in proc.stdout


def test_entries_describing_the_fault_excuse_it(tmp_path: Path) -> None:
    """The positive control of the test above: entries whose text is this bus's failure excuse all four."""
    matches = (
        'match = "expected: the partial handler registered with policy (default) is called once per dispatch"',
        "match_re = '''expected: a partial handler registered twice .* observed: it received \\[\\]'''",
        "match = \"'task async bound method', 'task async callable object', 'task def returning coroutine', "
        "'task lambda returning coroutine'] (a coroutine never awaited?)\"",
        # Pool threads finish in any order: the pattern asks only that the partial is missing from the list.
        "match_re = '''completed after [0-9.]+ s: \\[(?![^\\]]*async partial)[^\\]]*\\]'''",
    )
    rules = ("PUB-1", "PUB-1", "POL-TASK-1", "POL-MIX-2")
    text = "".join(
        f'[[expected]]\ntest = "{test}"\nrule = "{rule}"\nkind = "assertion"\nversions = "*"\n{match}\n'
        'observed = "subscribe ignores functools.partial handlers."\n'
        for test, rule, match in zip(PARTIAL_TESTS, rules, matches, strict=True)
    )
    proc = run(tmp_path, PARTIAL_BUS, text, *(f"conformance/suite/{t}" for t in PARTIAL_TESTS))
    assert proc.returncode == 0, proc.output
    assert "4 xfailed" in proc.stdout, proc.stdout


def test_an_entry_may_accept_several_kinds(tmp_path: Path) -> None:
    hang_or_assertion = entry(kind='["assertion", "hang"]')
    proc = run(tmp_path, "tests.mutants:publish_never_returns", hang_or_assertion, HANGING_NODE)
    assert proc.returncode == 0, proc.output
    assert "1 xfailed" in proc.stdout
    proc = run(tmp_path, "tests.mutants:publish_never_returns", entry(kind='["assertion", "crash"]'), HANGING_NODE)
    assert proc.returncode == 1, proc.output
    assert "listed as an expected assertion or crash failure of PUB-1, but it failed as hang of PUB-1" in proc.stdout


@pytest.mark.parametrize(
    ("mode", "random", "applies"),
    [("random", "1", True), ("random", "0", False), ("default", "1", False), ("default", "0", True)],
)
def test_an_entry_for_one_mode_applies_in_that_mode_only(tmp_path: Path, mode: str, random: str, applies: bool) -> None:
    path = tmp_path / "expectations.toml"
    path.write_text(entry(extra=f'mode = "{mode}"\n'), encoding="utf-8")
    proc = run_pytest(
        "--impl=tests.mutants:publish_never_returns",
        f"--expectations={path}",
        "--bound=0.5",
        "-q",
        HANGING_NODE,
        env={"CONFORMANCE_STATEFUL_RANDOM": random},
        timeout=120,
    )
    assert proc.returncode == (0 if applies else 1), proc.output
    assert ("1 xfailed" if applies else "1 failed") in proc.stdout, proc.stdout


def test_mode_and_kinds_are_read_and_selected() -> None:
    hang = Expectation(HANGING_TEST, "PUB-1", "hang", ("*",), "never returns", kinds=("hang", "crash"), mode="random")
    assert hang.any_kind == ("hang", "crash")
    assert select([hang], None, "asyncio", "random") == {HANGING_TEST: hang}
    assert select([hang], None, "asyncio", "default") == {}
    assert select([hang], None, "asyncio") == {}, "the default mode is 'default'"


def test_an_unexpected_pass_names_every_rule_of_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "e.toml"
    path.write_text(_stateful_entry('["PUB-1", "POL-ORDER-1"]'), encoding="utf-8")
    proc = run_pytest(
        "--impl=reference",
        f"--expectations={path}",
        "-q",
        f"conformance/suite/{STATEFUL}",
        env={"CONFORMANCE_STATEFUL_EXAMPLES": "2"},
        timeout=120,
    )
    assert proc.returncode == 1, proc.output
    assert f"unexpected pass: {STATEFUL} now conforms to PUB-1 and POL-ORDER-1" in proc.stdout, proc.stdout


def test_an_observation_is_matched_on_one_line() -> None:
    one = Expectation(HANGING_TEST, "PUB-1", "hang", ("*",), "why", match="publish returns observed: still")
    assert one.sees("expected: publish returns\n   observed:  still not done")
    assert not one.sees("expected: publish returns observed: it raised")
    both = Expectation(HANGING_TEST, "PUB-1", "hang", ("*",), "why", match="still", match_re=r"after \d+ s")
    assert both.sees("still not done after 2 s") and not both.sees("still not done")

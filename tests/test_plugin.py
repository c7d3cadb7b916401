"""The pytest plugin: options, errors for bad input, profile skips, and the ways to run the kit."""

from __future__ import annotations

import subprocess
import sys

import pytest

RULE_TEST = """
import pytest

@pytest.mark.rule("PUB-4")
async def test_lonely(kit):
    Lonely = kit.event_class("Lonely")
    await kit.within(kit.new_bus().publish(Lonely()), "publish returns")

@pytest.mark.rule("EXT-UNSUB-2")
async def test_extended(kit):
    Ping = kit.event_class("Ping")
    kit.new_bus().unsubscribe(Ping, print)
"""


def test_plain_tests_need_no_impl(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_conformance_tests_without_impl_are_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RULE_TEST)
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*need --impl=NAME*registered:*reference*"])


def test_unknown_impl_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RULE_TEST)
    result = pytester.runpytest_subprocess("--impl=no_such_bus_anywhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--impl=no_such_bus_anywhere: cannot import*Registered names:*reference*"])


def test_module_that_is_not_a_bus_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RULE_TEST)
    result = pytester.runpytest_subprocess("--impl=json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*json does not look like an event-bus package*"])


def test_unknown_rule_id_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('import pytest\n\n@pytest.mark.rule("NOPE-1")\nasync def test_x(kit):\n    pass\n')
    result = pytester.runpytest_subprocess("--impl=reference")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*names no rule of SPEC.md: NOPE-1*"])


def test_unknown_profile_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RULE_TEST)
    result = pytester.runpytest_subprocess("--impl=reference", "--profiles=core,turbo")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--profiles: unknown turbo*"])


def test_unclaimed_profiles_are_skipped_with_a_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RULE_TEST)
    result = pytester.runpytest_subprocess("--impl=reference", "--profiles=core", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*EXT-UNSUB-2: profile 'extended' is not claimed by reference*"])


def test_header_and_summary_name_the_implementation(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RULE_TEST)
    result = pytester.runpytest_subprocess("--impl=reference")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "event-bus conformance: reference *, profiles core, container, extended, robustness, loop asyncio*",
            "*2 rules checked: 2 pass*",
        ]
    )


def test_a_failure_names_rule_expectation_and_observation(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.rule("PUB-2")
async def test_wrong(kit):
    kit.check(False, "the thing the rule asks for", "what the bus did instead")
"""
    )
    result = pytester.runpytest_subprocess("--impl=reference")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*[[]PUB-2[]] Unrelated types receive nothing (MUST)",
            "*expected: the thing the rule asks for",
            "*observed: what the bus did instead",
            "*FAIL  PUB-2 (MUST, core): Unrelated types receive nothing",
        ]
    )


def test_kit_fixture_requires_a_rule(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(kit):\n    pass\n")
    result = pytester.runpytest_subprocess("--impl=reference")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*uses the kit fixture without @pytest.mark.rule*"])


def test_installed_kit_runs_with_pyargs_from_anywhere(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--pyargs", "conformance.suite", "--impl=reference", "-k", "PUB or publish")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*passed*"])


def test_python_dash_m_conformance(pytester: pytest.Pytester) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "--impl=reference", "-q", "-k", "publish"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed" in proc.stdout


def test_python_dash_m_conformance_without_impl_explains_usage(pytester: pytest.Pytester) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "conformance"], cwd=pytester.path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "usage: python -m conformance --impl=NAME" in proc.stderr


def test_leftovers_are_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import asyncio
import pytest

@pytest.mark.rule("PUB-4")
async def test_leaves_a_task(kit):
    async def forever():
        await asyncio.get_running_loop().create_future()

    asyncio.ensure_future(forever())
"""
    )
    result = pytester.runpytest_subprocess("--impl=reference")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*[[]PUB-4[]] after the test: 1 task(s) were still running after teardown*"])


def test_failure_is_charged_to_the_rule_it_names_and_keeps_notes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest
from conformance.kit import RuleViolation

@pytest.mark.rule("PUB-1", "PUB-2")
async def test_several(kit):
    try:
        kit.fail("only Ping handlers run", "a Pong handler ran", rule="PUB-2")
    except RuleViolation as exc:
        exc.add_note("Falsifying example: step 3")
        raise
"""
    )
    result = pytester.runpytest_subprocess("--impl=reference")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*[[]PUB-2[]]*", "*Falsifying example: step 3*", "*FAIL  PUB-2 (MUST, core)*"])
    assert "FAIL  PUB-1" not in result.stdout.str()

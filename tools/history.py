"""Regenerate the published conformance matrix: `python tools/history.py` (progress on stderr).

It runs the kit against the reference bus, the alternative bus, bubus, pyee and
blinker (in this environment), pico-ioc 2.5.2 with its expectation file, and every
pico-ioc release that ships `pico_ioc.event_bus` (found by bisecting the releases
PyPI lists) with no expectation file, each release in a virtual environment of its
own; writes one result per column to docs/results/, then docs/matrix/matrix.md and
matrix.html (every shipped implementation), history.md and history.html (pico-ioc's
releases) and releases.md. `--render-only` redraws the pages from the committed results.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
MATRIX = ROOT / "docs" / "matrix"
PINNED = "2.5.2"
"""The pico-ioc release the bundled expectation file describes."""
FIXED = (
    ("reference", "reference.json"),
    ("tests.alt_impl", "alt-impl.json"),
    ("bubus", "bubus.json"),
    ("pyee", "pyee.json"),
    ("blinker", "blinker.json"),
)
"""Columns run in this interpreter's environment (the test extra installs the libraries): (--impl, result file)."""
MARKER = "pico_ioc/event_bus.py"


def say(message: str) -> None:
    """Progress, on stderr."""
    print(f"history: {message}", file=sys.stderr, flush=True)


# --- which releases ship the event bus -----------------------------------------------------------


def parse_index_versions(output: str) -> list[str]:
    """The versions `pip index versions NAME` lists, oldest first."""
    match = re.search(r"^Available versions: (.+)$", output, re.MULTILINE)
    if not match:
        raise RuntimeError(f"cannot read the release list from pip's output:\n{output}")
    return sorted((v.strip() for v in match[1].split(",") if v.strip()), key=Version)


def first_true(items: Sequence[str], test: Callable[[str], bool]) -> int:
    """Index of the first item `test` holds for, where it holds for every later one too; len(items) if none."""
    low, high = 0, len(items)
    while low < high:
        middle = (low + high) // 2
        if test(items[middle]):
            high = middle
        else:
            low = middle + 1
    return low


def release_versions() -> list[str]:
    """Every pico-ioc release on the package index, oldest first."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "pico-ioc"], capture_output=True, text=True, check=False
    )
    return parse_index_versions(proc.stdout)


def ships_event_bus(version: str, downloads: Path) -> bool:
    """True when the distribution of pico-ioc `version` contains `pico_ioc/event_bus.py`."""
    target = downloads / version
    if not any(target.glob("pico_ioc-*")):
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"pico-ioc=={version}", "-d", str(target)],
            check=True,
            capture_output=True,
        )
    (archive,) = target.glob("pico_ioc-*")
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
    else:
        with tarfile.open(archive) as tf:
            names = tf.getnames()
    found = any(name == MARKER or name.endswith("/src/" + MARKER) or name.endswith("/" + MARKER) for name in names)
    say(f"pico-ioc {version}: {'ships' if found else 'has no'} pico_ioc.event_bus")
    return found


# --- running the kit ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One column to produce."""

    label: str
    python: Path
    impl: str
    result: Path
    options: tuple[str, ...] = ()
    version: str | None = None
    """The implementation version the result must name (a check that the right release ran)."""


@dataclass(frozen=True)
class Outcome:
    """What one run left: a result file, or why there is none."""

    run: Run
    ok: bool
    error: str = ""


def prepare_venv(version: str, venvs: Path) -> Path:
    """A virtual environment with the kit (editable, from this tree) and pico-ioc `version`; its python."""
    venv = venvs / f"pico-ioc-{version}"
    python = venv / "bin" / "python"
    # Reused while pico-ioc's version and the kit's declared dependencies are the same.
    stamp = f"pico-ioc=={version}\n{hashlib.sha256((ROOT / 'pyproject.toml').read_bytes()).hexdigest()}\n"
    ready = venv / ".history-ready"
    if ready.is_file() and ready.read_text() == stamp and python.exists():
        return python
    say(f"pico-ioc {version}: creating {venv}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    install = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", f"{ROOT}[kit]"]
    proc = subprocess.run([*install, f"pico-ioc=={version}"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"installing pico-ioc {version} failed:\n{proc.stdout}{proc.stderr}")
    ready.write_text(stamp)
    return python


def run_kit(run: Run, timeout: float) -> Outcome:
    """`pytest --impl=... --conformance-json=...` in the project's root with the run's interpreter."""
    started = time.monotonic()
    say(f"{run.label}: running the suite")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [str(run.python), "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--impl={run.impl}"]
        command += [*run.options, f"--conformance-json={out}"]
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        try:
            proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Outcome(run, False, f"no result after {timeout:g} s")
        if not out.is_file():
            lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
            return Outcome(run, False, " / ".join(lines[-3:]) or f"pytest exited with status {proc.returncode}")
        document = json.loads(out.read_text(encoding="utf-8"))
        found = document["implementation"]["version"]
        if run.version is not None and found != run.version:
            return Outcome(run, False, f"the result names version {found}, not {run.version}")
        run.result.parent.mkdir(parents=True, exist_ok=True)
        run.result.write_text(out.read_text(encoding="utf-8"), encoding="utf-8")
    totals = document["totals"]
    say(
        f"{run.label}: {totals['pass']} conform, {totals['fail']} fail, {totals['xfail']} deviate as expected "
        f"({time.monotonic() - started:.0f} s)"
    )
    return Outcome(run, True)


def release_result(version: str) -> Path:
    """The result file of a release's run without expectation file."""
    return RESULTS / f"pico-ioc-{version}-no-expectations.json"


def published_results() -> list[Path]:
    """The main page's result files in column order: every shipped implementation.

    The reference, the alternative bus, pico-ioc 2.5.2 with and without its expectation file,
    then the three libraries the kit ships adapters for.
    """
    names = ["reference.json", "alt-impl.json", f"pico-ioc-{PINNED}.json", release_result(PINNED).name]
    names += ["bubus.json", "pyee.json", "blinker.json"]
    return [RESULTS / name for name in names if (RESULTS / name).is_file()]


def release_results() -> list[Path]:
    """The release-history page's result files: each pico-ioc release with the bus, oldest first."""
    return sorted(
        RESULTS.glob("pico-ioc-*-no-expectations.json"),
        key=lambda p: Version(p.name[len("pico-ioc-") : -len("-no-expectations.json")]),
    )


def render() -> int:
    """The two matrix pages from the published results; the matrix command's exit status.

    docs/matrix/matrix.md and matrix.html: every shipped implementation; history.md and
    history.html: pico-ioc's releases, each without an expectation file.
    """
    from conformance.matrix import main as matrix_main

    outputs = ["--markdown", str(MATRIX / "matrix.md"), "--html", str(MATRIX / "matrix.html")]
    status = matrix_main([*(str(p) for p in published_results()), *outputs])
    outputs = ["--markdown", str(MATRIX / "history.md"), "--html", str(MATRIX / "history.html")]
    return status or matrix_main([*(str(p) for p in release_results()), *outputs])


def render_releases(versions: list[str], first: int, outcomes: dict[str, Outcome]) -> str:
    """docs/matrix/releases.md: which releases ship the bus, and how each run went."""
    lines = [
        "# pico-ioc releases",
        "",
        "Written by `python tools/history.py`; regenerate it rather than editing it.",
        "",
    ]
    if first < len(versions):
        before = f" ({versions[first - 1]} and earlier have none)" if first else ""
        lines.append(f"The first release with `pico_ioc.event_bus` is **{versions[first]}**{before}.")
    else:
        lines.append("No release on the index has `pico_ioc.event_bus`.")
    lines += ["", "| release | event bus | result |", "|---|---|---|"]
    for i, version in enumerate(versions):
        if i < first:
            continue
        outcome = outcomes.get(version)
        if outcome is None:
            cell = "not run"
        elif outcome.ok:
            cell = f"[{outcome.run.result.name}](../results/{outcome.run.result.name})"
        else:
            cell = "not loadable: " + outcome.error.replace("|", "\\|")
        lines.append(f"| {version} | yes | {cell} |")
    return "\n".join(lines) + "\n"


def run_fixed(run: Run, timeout: float) -> list[Outcome]:
    """A column run in this interpreter's environment."""
    return [run_kit(run, timeout)]


def run_release(version: str, venvs: Path, timeout: float) -> list[Outcome]:
    """Install pico-ioc `version` in its own environment and run the kit on it (and, for 2.5.2, with expectations)."""
    raw = Run(f"pico-ioc {version}", Path(), "pico-ioc", release_result(version), ("--expectations=none",), version)
    try:
        python = prepare_venv(version, venvs)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        return [Outcome(raw, False, str(exc).splitlines()[0])]
    runs = [Run(raw.label, python, raw.impl, raw.result, raw.options, version)]
    if version == PINNED:
        expected = RESULTS / f"pico-ioc-{version}.json"
        runs.append(Run(f"pico-ioc {version} (expectations)", python, "pico-ioc", expected, (), version))
    return [run_kit(run, timeout) for run in runs]


def main(argv: Sequence[str] | None = None) -> int:
    """Run every column (or only render), then write the matrix; exit 1 if a column other than a release's failed."""
    parser = argparse.ArgumentParser(prog="python tools/history.py", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--venvs", type=Path, default=Path(tempfile.gettempdir()) / "event-bus-history")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (default 2)")
    parser.add_argument("--releases", help="comma-separated pico-ioc releases instead of every one with the bus")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds one run may take")
    parser.add_argument("--render-only", action="store_true", help="only redraw the matrix from docs/results/")
    args = parser.parse_args(argv)
    if args.render_only:
        return render()
    args.venvs.mkdir(parents=True, exist_ok=True)
    versions = release_versions()
    first = first_true(versions, lambda v: ships_event_bus(v, args.venvs / "downloads"))
    chosen = args.releases.split(",") if args.releases else versions[first:]
    say(f"first release with the event bus: {versions[first] if first < len(versions) else 'none'}")
    say(f"releases to run: {', '.join(chosen)}")
    tasks: list[Callable[[], list[Outcome]]] = [
        functools.partial(run_fixed, Run(impl, Path(sys.executable), impl, RESULTS / name), args.timeout)
        for impl, name in FIXED
    ]
    tasks += [functools.partial(run_release, v, args.venvs, args.timeout) for v in chosen]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = [o for batch in pool.map(lambda task: task(), tasks) for o in batch]
    status = 0
    by_version: dict[str, Outcome] = {}
    for outcome in outcomes:
        raw = outcome.run.options == ("--expectations=none",)
        if raw and outcome.run.version is not None:
            by_version[outcome.run.version] = outcome
        if not outcome.ok:
            say(f"{outcome.run.label}: NO RESULT: {outcome.error}")
            outcome.run.result.unlink(missing_ok=True)  # a stale file would pass an old run off as this one
            # A release the kit cannot load is history; a fixed column without a result is a failure.
            status = status if raw else 1
    MATRIX.mkdir(parents=True, exist_ok=True)
    (MATRIX / "releases.md").write_text(render_releases(versions, first, by_version), encoding="utf-8")
    return render() or status


if __name__ == "__main__":
    raise SystemExit(main())

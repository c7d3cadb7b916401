"""The wheel: only the kit's own top-level name, the reference bus inside it, and `--impl=reference` working.

The wheel is built as a release would build it, offline (`pip wheel --no-deps
--no-build-isolation`, with hatchling from the test extra), then unpacked into a
folder put first on `PYTHONPATH`: its `.dist-info` makes its entry points the
ones found, so the kit runs from the wheel's files, not from this repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.pytest_run import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, freshly built."""
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), "."]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    built = list(out.glob("*.whl"))
    assert proc.returncode == 0 and len(built) == 1, f"pip wheel failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return built[0]


def test_the_wheel_adds_only_the_kits_own_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"conformance"}, f"the wheel installs these top-level names into site-packages: {sorted(top)}"
    assert "conformance/_reference/event_bus.py" in names, "the reference bus is shipped inside the kit"
    assert "conformance/SPEC.md" in names, "the installed kit quotes SPEC.md"
    assert not [n for n in names if "__pycache__" in n], "compiled files of this machine are not shipped"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "reference = conformance._reference_bus:implementation" in text, text


def test_impl_reference_runs_from_the_unpacked_wheel(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = (
        "from conformance.loading import load_implementation; import conformance; "
        "i = load_implementation('reference'); print(i.name, i.version, i.package.__name__, conformance.__file__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    name, version, package, where = proc.stdout.split()
    assert (name, package) == ("reference", "conformance._reference"), proc.stdout
    own = (ROOT / "reference" / "__init__.py").read_text(encoding="utf-8").split('__version__ = "', 1)[1].split('"')[0]
    assert version == own, f"the reference is labelled {version}, not its own version {own}"
    assert Path(where).is_relative_to(site), f"the kit was imported from {where}, not from the wheel"
    suite = ["--impl=reference", "--pyargs", "conformance.suite.test_events_and_container"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *suite],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0 and " passed" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    assert "conformance of reference" in run.stdout, run.stdout[-3000:]

"""The guide's example runs, and prints the guide's output, on the reference and on pico-ioc."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# The "Example Output" block of the guide, Step 4.
GUIDE_OUTPUT = [
    "Creating user...",
    "DB: Saving alice@example.com",
    "EMAIL: Sending welcome email to test@example.com",
    "ANALYTICS: Tracking event for user 1",
    "User creation initiated (event published).",
    "Cleaning up...",
]


@pytest.mark.parametrize("folder", ["guide", "guide_pico_ioc"])
def test_guide_example_prints_the_guides_output(folder: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / folder / "main.py")],
        cwd=tmp_path,  # not the example's folder: main.py must find its own modules
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == GUIDE_OUTPUT, proc.stdout


def _code_lines(path: Path, name: str) -> list[str]:
    """The file's lines that are not comments, with the implementation's import name neutralised."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("#"):
            continue
        lines.append(line.split("  #")[0].replace(name, "IMPL").rstrip())
    return lines


def test_the_two_examples_differ_only_in_the_import_name() -> None:
    ours = sorted(p.relative_to(EXAMPLES / "guide") for p in (EXAMPLES / "guide").rglob("*.py"))
    theirs = sorted(p.relative_to(EXAMPLES / "guide_pico_ioc") for p in (EXAMPLES / "guide_pico_ioc").rglob("*.py"))
    assert ours == theirs
    for rel in ours:
        assert _code_lines(EXAMPLES / "guide" / rel, "reference") == _code_lines(
            EXAMPLES / "guide_pico_ioc" / rel, "pico_ioc"
        ), f"{rel} differs beyond the import name"

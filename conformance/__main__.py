"""`python -m conformance --impl=NAME [pytest options]`: run the suite against an implementation."""

from __future__ import annotations

import sys

import pytest


def main(argv: list[str] | None = None) -> int:
    """Run the installed conformance suite; extra arguments pass through to pytest."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--impl" or a.startswith("--impl=") for a in args):
        print("usage: python -m conformance --impl=NAME [pytest options]", file=sys.stderr)
        return 2
    return int(pytest.main(["--pyargs", "conformance.suite", *args]))


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m conformance.matrix RESULT.json... [--markdown PATH] [--html PATH]`, as `python -m conformance matrix`."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())

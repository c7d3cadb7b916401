"""`python -m conformance.soak --impl=NAME [options]`."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())

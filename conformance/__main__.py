"""`python -m conformance`: run the suite, print SPEC.md's rules, or render a result matrix.

- `python -m conformance --impl=NAME [pytest options]`: the installed suite against NAME, in a
  child process that a crashing implementation cannot take the verdicts down with (`_supervisor`).
- `python -m conformance rules [ID ...]`: the rules' titles, or the named rules' full text.
- `python -m conformance matrix RESULT.json... [--markdown PATH] [--html PATH]`: results side by side.
- `python -m conformance coverage [--check]`: the domain coverage table (`docs/domain-coverage.md`).
- `python -m conformance explore --impl=NAME --minutes N [--seed S]`: random programs on a live bus.
"""

from __future__ import annotations

import sys

USAGE = """usage: python -m conformance --impl=NAME [pytest options]
       python -m conformance rules [RULE-ID ...]
       python -m conformance matrix RESULT.json... [--markdown PATH] [--html PATH]
       python -m conformance coverage [--impl=NAME] [--output PATH] [--check]
       python -m conformance explore --impl=NAME --minutes N [--seed S] [--out DIR]"""


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the suite or to a subcommand; extra arguments of a suite run pass through to pytest."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "rules":
        from .spec import render_rules

        try:
            print(render_rules(args[1:]))
        except KeyError as exc:
            print(f"python -m conformance rules: {exc.args[0]}", file=sys.stderr)
            return 2
        return 0
    if args and args[0] == "matrix":
        from .matrix import main as matrix_main

        return matrix_main(args[1:])
    if args and args[0] == "coverage":
        from .coverage import main as coverage_main

        return coverage_main(args[1:])
    if args and args[0] == "explore":
        from .explore import main as explore_main

        return explore_main(args[1:])
    if not any(a == "--impl" or a.startswith("--impl=") for a in args):
        print(USAGE, file=sys.stderr)
        return 2
    from ._supervisor import supervise

    return supervise(args)


if __name__ == "__main__":
    raise SystemExit(main())

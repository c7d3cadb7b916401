"""Expectation files: the known deviations of one implementation, strict in both directions.

A file lists tests that are expected to fail for given versions of an
implementation: the rule, the kind of failure, what the kit is expected to see,
and why, in the implementer's words:

    implementation = "pico-ioc"   # optional: the implementation the file is for

    [[expected]]
    test = "test_policies.py::test_dispatch_does_not_wait_for_task_handlers[publish]"
    rule = "POL-TASK-2"          # or an array of the rules it may be charged with
    kind = "hang"                # assertion | hang | crash, or an array: ["hang", "assertion"]
    versions = "==2.5.2"         # a PEP 440 specifier set, or an array of them
    match = "publish returns while its two TASK handlers are blocked observed: still not done"
    match_re = 'TASK handlers? (is|are) blocked'   # optional: a regular expression (re.search)
    observed = "publish gathers the TASK handlers' tasks and waits for them."
    loop = "uvloop"              # optional: only on this event loop (asyncio | uvloop)
    mode = "random"              # optional: only in this mode (default | random)

What an entry excuses
---------------------
A listed test that fails with a listed kind, charged to a listed rule, and whose
failure the kit accounts for with text the entry expects to see, is reported as
an expected failure. The kit's account of a failure is one line:
`expected: <what the check wanted> observed: <what it saw>` for a failure its
checks caught (for a hang, the expected part names the call that did not return),
`observed: raised Type('message')` for anything else: the `expected` and
`observed` of the report and the JSON result. `match` must be a substring of it,
`match_re` must be found in it (`re.search`); an entry has one of them or both
(both must hold), and runs of whitespace in the account count as one space.
Pick text that is stable from run to run (no addresses, timings or counts that
vary) and specific to the deviation. A listed test that fails any other way (another kind, another rule, or a
failure the entry does not describe) fails the run, with the entry's text and
the kit's account side by side; a listed test that passes fails the run too
("unexpected pass", naming every rule of the entry), and so does an entry naming
a test the suite does not have. Entries for other versions, loops or modes are
ignored, so a new release is checked afresh. `observed` is prose, shown as the
explanation of an expected failure; it is not compared with anything.

`mode`: `default` is a run whose stateful test draws the same programs every time;
`random` one with `CONFORMANCE_STATEFUL_RANDOM=1`, which draws new ones (and may
find other failures). Without `mode`, the entry holds in both.

The file, checked before any test runs
--------------------------------------
Top level: `implementation` (a string) and `expected` (an array of tables,
`[[expected]]`); nothing else. Each entry has only the keys above: `test`,
`rule`, `kind`, `versions` and `observed` are required, and `match` or
`match_re` (or both); `loop` and `mode` are optional. All are non-empty strings
except `versions`; `rule` may also be an array of the rules a test checking
several may be charged with from run to run, and `kind` an array of the kinds
one failure may take from run to run (a wait that ends just at the bound is a
hang in one run and a late return in the next). Any other key, a wrong type, an
entry with neither `match` nor `match_re`, a `match_re` that is not a regular
expression, a rule ID that is not in SPEC.md (or not the one the test checks), a
kind, loop or mode the kit does not know, a version specifier that does not
parse, a test the suite does not have and the same test listed twice for the
same versions, loop and mode all raise
`ExpectationError`; so does an `implementation` other than the one under test,
when `load` is told its name (compared as package names: `pico_ioc` is
`pico-ioc`). Every problem of the file is reported at once, each as
`FILE:LINE: entry N (test = ...): what is wrong; fix: what to write`. A file that
is not valid TOML is reported with the line and column of the error. When the
entries are applied (`select`), two entries that both cover one test on this
version, loop and mode (overlapping `versions`) are an error too. The plugin reports an
`ExpectationError` as a usage error (exit code 4).

`test`: a test id as pytest prints it. `file.py::test_name[param]` is the kit's
form; a path in front (`conformance/suite/file.py::...`, or any other path,
with `/` or `\\`) is dropped, and so is what pytest prints around an id: the
outcome word and progress of `pytest -v` (`... PASSED [ 10%]`) or the outcome
word and message of the short summary (`FAILED ... - AssertionError`). Without
`[param]` an entry covers every parametrization of its test; an entry with
`[param]` covers that one, and takes precedence over one without. A `[param]`
is not checked against the suite here: an entry whose parametrization does not
exist covers nothing, so the test's failure fails the run.

`versions`: a PEP 440 specifier set (`"==2.5.2"`, `">=2.5,<2.7"`; the commas of
one set all have to hold), or an array of them (`["==2.5.2", ">=2.6.1"]`): the
entry applies when any of them holds. A bare version (`"2.5.2"`) is not a
specifier: write `"==2.5.2"`. Pre-releases and development versions count
(`">=2.5"` covers `2.6.0rc1`). `"*"` means every version, including an unknown
one.

Where the version comes from: the adapter's `version` attribute. `ModuleAdapter`
(used for packages shaped like pico-ioc) reads the installed distribution that
provides the package (`importlib.metadata`), else the package's `__version__`;
an adapter object of your own sets `version` itself. An unknown version (`None`
or empty) never matches a specifier as if it were "0": applying an entry with
version specifiers to it raises `ExpectationError`, which says how to give the
implementation a version, or to write `versions = "*"`. A version that is not
PEP 440 is rejected the same way.

This module reads a file and applies its entries; the checks of its contents
and the scan of the suite's tests live in `_expectation_file`, whose public
names are re-exported here.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from ._expectation_file import (
    ANY_VERSION,
    KINDS,
    MATCH_KEYS,
    MODES,
    OPTIONAL_KEYS,
    REQUIRED_KEYS,
    SUITE,
    TOP_LEVEL_KEYS,
    check_file,
    normalise_test_id,
    suite_test_ids,
    suite_tests,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "ANY_VERSION",
    "BUNDLED",
    "KINDS",
    "MATCH_KEYS",
    "MODES",
    "OPTIONAL_KEYS",
    "REQUIRED_KEYS",
    "SUITE",
    "TOP_LEVEL_KEYS",
    "Expectation",
    "ExpectationError",
    "current_mode",
    "default_path",
    "load",
    "normalise_test_id",
    "select",
    "suite_test_ids",
    "suite_tests",
]

BUNDLED = Path(__file__).parent / "expectations"


class ExpectationError(Exception):
    """An expectation file that cannot be used as written (the plugin makes it a `pytest.UsageError`).

    Its message names the file, the entry (number, line and test) and the fix;
    `problems` holds each problem's line of that message.
    """

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems) or [message]


@dataclass(frozen=True)
class Expectation:
    """One expected failure."""

    test: str
    """`file.py::test_name` or `file.py::test_name[param]`, whatever form the file used."""
    rule: str
    """The rule the failure breaks (the first, when `rules` names several)."""
    kind: str
    versions: tuple[str, ...]
    """Specifier sets, any of which selects the entry; `("*",)` for every version."""
    observed: str
    loop: str | None = None
    where: str = field(default="", compare=False)
    """Where the entry is written: `FILE:LINE: entry N (test = ...)`, for messages."""
    rules: tuple[str, ...] = ()
    """Every rule the failure may break, when `rule` is an array (else just `rule`)."""
    kinds: tuple[str, ...] = ()
    """Every kind the failure may have, when `kind` is an array (else just `kind`)."""
    match: str = ""
    """Text the kit's observation must contain (`sees`)."""
    match_re: str = ""
    """A regular expression the kit's observation must contain a match of (`sees`)."""
    mode: str | None = None
    """Only in this mode of the stateful test (`MODES`); None for both."""

    @property
    def any_rule(self) -> tuple[str, ...]:
        """The rules a failure may be charged to and still be the expected one."""
        return self.rules or (self.rule,)

    @property
    def any_kind(self) -> tuple[str, ...]:
        """The kinds a failure may have and still be the expected one."""
        return self.kinds or (self.kind,)

    @property
    def expected_to_see(self) -> str:
        """What the entry expects the observation to contain, in words, for messages."""
        parts = [f"the text {self.match!r}"] if self.match else []
        parts += [f"a match of the pattern {self.match_re!r}"] if self.match_re else []
        return " and ".join(parts) or "anything"

    def sees(self, observed: str) -> bool:
        """True when the kit's `observed` text is what this entry expects to see.

        Runs of whitespace in `observed` count as one space, so a one-line `match`
        finds text the kit wrapped. An entry with neither `match` nor `match_re`
        (made in code; `load` refuses one) sees anything.
        """
        text = " ".join(observed.split())
        if self.match and self.match not in text:
            return False
        return not self.match_re or re.search(self.match_re, text) is not None

    def applies_to(self, version: str | None, loop: str, mode: str = "default") -> bool:
        """True when this entry covers `version` running on `loop` in `mode`.

        Raises ExpectationError when `version` is unknown (None or empty) or not a
        PEP 440 version and the entry names versions: it is never taken as "0".
        """
        elsewhere = (self.loop is not None and self.loop != loop) or (self.mode is not None and self.mode != mode)
        if self.versions == (ANY_VERSION,):
            return not elsewhere
        parsed = _version(version, self)  # first: an unknown version is an error on every loop
        if elsewhere:
            return False
        return any(SpecifierSet(spec).contains(parsed, prereleases=True) for spec in self.versions)


def current_mode() -> str:
    """The mode of this run: "random" when `CONFORMANCE_STATEFUL_RANDOM` is a non-zero count, else "default".

    A value that is not a count is left to the stateful test to refuse; here it reads as "default".
    """
    raw = os.environ.get("CONFORMANCE_STATEFUL_RANDOM", "").strip()
    try:
        return MODES[1] if raw and int(raw) != 0 else MODES[0]
    except ValueError:
        return MODES[0]


def select(
    entries: Iterable[Expectation], version: str | None, loop: str, mode: str = "default"
) -> dict[str, Expectation]:
    """The entries that apply to `version` on `loop` in `mode`, by test; two that apply to one test are an error."""
    chosen: dict[str, Expectation] = {}
    for entry in entries:
        if not entry.applies_to(version, loop, mode):
            continue
        other = chosen.get(entry.test)
        if other is not None:
            raise ExpectationError(
                f"{entry.where}: {entry.test} is already listed by {other.where or 'another entry'}, and both "
                f"apply to version {version} on {loop} in {mode} mode; fix: narrow the versions (or loop, or mode) "
                "of one of them"
            )
        chosen[entry.test] = entry
    return chosen


def default_path(impl_name: str) -> Path | None:
    """The bundled file for `impl_name`, if there is one."""
    path = BUNDLED / f"{impl_name}.toml"
    return path if path.is_file() else None


def load(path: Path, *, implementation: str | None = None) -> list[Expectation]:
    """Read and check an expectation file; raise ExpectationError saying what is wrong, where, and the fix.

    With `implementation` (the `--impl` name), a file whose `implementation` key names another one
    is refused; names compare as package names do (`pico_ioc` is `pico-ioc`).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExpectationError(
            f"{path}: cannot read the expectation file ({exc.strerror or exc}); "
            "fix: give --expectations an existing file, or --expectations=none for none"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ExpectationError(f"{path}: is not UTF-8 text ({exc.reason}); fix: save it as UTF-8") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExpectationError(f"{path}: is not valid TOML: {exc}; fix: correct the TOML there") from exc
    entries, problems = check_file(path, text, data, implementation)
    if problems:
        heading = "" if len(problems) == 1 else f"{path}: {len(problems)} problems in the expectation file:\n"
        raise ExpectationError(heading + "\n".join(problems), problems)
    return [Expectation(**entry) for entry in entries]


def _version(version: str | None, entry: Expectation) -> Version:
    """The implementation's version, parsed; ExpectationError if it is unknown or not PEP 440."""
    where = entry.where or f"the entry for {entry.test}"
    fix = (
        "fix: give the implementation a version (the adapter's `version`: ModuleAdapter reads the installed "
        'distribution, else the package\'s __version__), or write versions = "*" in entries that hold for every version'
    )
    if version is None or not str(version).strip():
        raise ExpectationError(
            f"{where}: names versions {' or '.join(entry.versions)}, but the implementation under test reports "
            f"no version ({version!r}), and an unknown version is never taken as 0; {fix}"
        )
    try:
        return Version(str(version))
    except InvalidVersion as exc:
        raise ExpectationError(
            f"{where}: names versions {' or '.join(entry.versions)}, but the implementation's version "
            f"{version!r} is not a PEP 440 version; {fix}"
        ) from exc

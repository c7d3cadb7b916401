"""A conforming bus that writes down the names of the kit it can see: thread names and module names.

It is the reference bus, and `init`, with every call the kit makes noted (one JSON
line each, in the file `$NAME_SPY_LOG`): the calling thread's name, the module of
the event type or event, and the names of the modules `init` scans. A bus that
wanted to tell it is under test would look there; `tests/test_neutral_names.py`
checks that none of it names the kit or a rule. Put it under test with
`--impl=tests.name_spy:implementation`.
"""

from __future__ import annotations

import json
import os
import threading
import types
from collections.abc import Iterable
from typing import Any

import reference
from tests.mutants.base import REFERENCE, Mutant, MutantAdapter

LOG_VARIABLE = "NAME_SPY_LOG"
"""The environment variable naming the file the spy appends its notes to."""

_lock = threading.Lock()


def _note(call: str, **names: object) -> None:
    path = os.environ.get(LOG_VARIABLE)
    if not path:
        return
    line = json.dumps({"call": call, "thread": threading.current_thread().name, **names})
    with _lock, open(path, "a", encoding="utf-8") as log:
        log.write(line + "\n")


class SpyBus(reference.EventBus):
    """The reference bus, noting the thread and the event's module of each call."""

    def subscribe(self, event_type: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Note, then subscribe."""
        _note("subscribe", module=getattr(event_type, "__module__", None))
        return super().subscribe(event_type, fn, *args, **kwargs)

    async def publish(self, event: Any) -> None:
        """Note, then publish."""
        _note("publish", module=type(event).__module__)
        await super().publish(event)

    def post(self, event: Any) -> None:
        """Note, then post."""
        _note("post", module=type(event).__module__)
        super().post(event)

    async def start_worker(self) -> None:
        """Note, then start the worker."""
        _note("start_worker")
        await super().start_worker()


def spy_init(modules: Iterable[types.ModuleType | str]) -> Any:
    """Note the names of the modules to scan, then `reference.init`."""
    modules = list(modules)
    _note("init", modules=[m if isinstance(m, str) else m.__name__ for m in modules])
    return reference.init(modules)


SPY = Mutant(
    "name-spy",
    "PUB-1",  # a Mutant names a rule; this one breaks none (it is not in the catalogue)
    "the reference bus, noting the names of the kit it sees",
    REFERENCE,
    {"EventBus": SpyBus, "init": spy_init},
)


def implementation() -> MutantAdapter:
    """The adapter the kit drives (`--impl=tests.name_spy:implementation`)."""
    return SPY.implementation()

"""The producer and churn threads, and the state they share with the supervisor on the loop's thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..adapter import BoundBus, BusAdapter, Implementation
from ._options import Options
from .ledger import Ledger

BACKOFF = (0.0001, 0.01)
"""A producer whose post was refused waits the first, doubling up to the second, before posting again."""


def numbered_event_type(base: type, name: str) -> type:
    """A subclass of the implementation's `Event` whose instances carry `p` (producer) and `s` (sequence)."""

    def init(self: Any, p: int, s: int) -> None:
        self.p = p
        self.s = s

    def init_frozen(self: Any, p: int, s: int) -> None:
        object.__setattr__(self, "p", p)
        object.__setattr__(self, "s", s)

    namespace = {"__slots__": ("p", "s"), "__init__": init, "__module__": __name__, "__qualname__": name}
    made = type(name, (base,), namespace)
    try:
        made(0, 0)
    except Exception:
        # A frozen base (a frozen dataclass) forbids plain assignment; go around it.
        namespace["__init__"] = init_frozen
        made = type(name, (base,), namespace)
    return made


def soak_events(impl: Implementation, name: str) -> tuple[type, Callable[[int, int], Any]]:
    """The soak's event class and its `make(p, s)`: `numbered_event_type` unless the adapter builds events itself."""
    if getattr(type(impl), "event_class", None) is BusAdapter.event_class:
        made = numbered_event_type(impl.event_type, name)
        return made, made
    cls = impl.event_class(name, fields=[("p", int), ("s", int)], frozen=True)
    return cls, lambda p, s: cls(p=p, s=s)


class Shared:
    """What the producers, the supervisor and the watching thread share."""

    def __init__(self, options: Options) -> None:
        n = options.producers
        self.stop = False
        """Set by the supervisor: producers stop posting."""
        self.accepted = [0] * n
        self.refusals = [0] * n
        self.kinds: list[dict[str, list[Any]]] = [{} for _ in range(n)]
        """Per producer: exception class name -> [count, first message]."""
        self.finished = [False] * n
        self.reached = [0] * n
        """Per producer, how many restart points it has reached (it waits at each for its gate)."""
        self.gates = [threading.Event() for _ in range(options.restarts)]
        self.churn_stop = False
        self.churn_cycles = 0
        self.churn_error: str | None = None
        self.churn_done = threading.Event()
        self.phase = "starting"
        self.beat = time.monotonic()
        """When the supervisor last ran: the watcher's sign that the loop's thread is alive."""
        self.t0 = 0.0
        self.restarts_done = 0
        self.leak_cycles = 0
        self.ledger = Ledger(n)

    def open_all(self) -> None:
        """Stop the producers, and open every restart gate so that none waits at one."""
        self.stop = True
        for gate in self.gates:
            gate.set()


def produce(
    pid: int,
    count: int,
    points: list[int],
    post: Callable[[Any], Any],
    make: Callable[[int, int], Any],
    shared: Shared,
    go: threading.Event,
) -> None:
    """Post events `(pid, 0)` .. `(pid, count - 1)` in order; a refused event is posted again after a backoff."""
    accepted = shared.accepted
    seq = 0
    try:
        go.wait()
        for stage, limit in enumerate([*points, count]):
            if stage:
                # A restart point: wait until the supervisor has begun stopping the worker.
                shared.reached[pid] = stage
                gate = shared.gates[stage - 1]
                while not gate.wait(0.1):
                    if shared.stop:
                        return
            while seq < limit:
                try:
                    post(make(pid, seq))
                except Exception as exc:
                    if not _retry(pid, seq, post, make, shared, exc):
                        return
                seq += 1
                accepted[pid] = seq
            if shared.stop:
                return
    finally:
        shared.finished[pid] = True


def _retry(
    pid: int, seq: int, post: Callable[[Any], Any], make: Callable[[int, int], Any], shared: Shared, exc: Exception
) -> bool:
    """Post event `(pid, seq)` again, with a growing backoff, until it is accepted (True) or the soak stops."""
    kinds = shared.kinds[pid]
    backoff, high = BACKOFF
    while not shared.stop:
        shared.refusals[pid] += 1
        kind = kinds.get(type(exc).__name__)
        if kind is None:
            kinds[type(exc).__name__] = [1, str(exc)]
        else:
            kind[0] += 1
        time.sleep(backoff)
        backoff = min(2 * backoff, high)
        try:
            post(make(pid, seq))
        except Exception as again:
            exc = again
            continue
        return True
    return False


def run_churn(impl: Implementation, bus: BoundBus, event_type: type, shared: Shared) -> None:
    """Subscribe and unsubscribe a fresh handler over and over until told to stop."""
    unsubscribe = bus.unsubscribe
    try:
        while not shared.churn_stop:

            def handler(event: Any) -> None:
                pass

            impl.add_handler(bus.raw, event_type, handler, policy="INLINE")
            unsubscribe(event_type, handler)
            shared.churn_cycles += 1
    except Exception as exc:
        shared.churn_error = f"{type(exc).__name__}: {exc}"
    finally:
        shared.churn_done.set()


def split(total: int, parts: int) -> list[int]:
    """`total` in `parts` near-equal counts, the larger ones first."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]

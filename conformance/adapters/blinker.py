"""The kit's adapter for blinker 1.9 (`--impl=blinker`): one `blinker.Signal` per event type.

blinker (https://blinker.readthedocs.io) is Pallets' in-process signal library
(Flask's signals): a `Signal` has receivers, connected with `connect`, and calls
them with `send(sender, **kwargs)` or `await send_async(sender, **kwargs)`, one
after another, in the order of a `set` of receiver ids ("undefined", says its
documentation). It has no bus, no event classes, no policies, no queue and no
worker. Here a bus is a plain `dict` from event class to its own `Signal`, made
on first use, and the event is sent as blinker's `sender`, so each receiver is
called with the event as its only argument and handlers are found by the event's
class. Events are the kit's default (a plain subclass, or a stdlib dataclass
when it has fields; `event_type` is `object`, since blinker needs no base class),
so `frozen`, `fields`, `base`, `module` and `namespace` all apply, with no gap.

Profiles claimed: core (the bus), extended (duplicates and `unsubscribe` are
testable) and robustness (cancellation, concurrency, bad handlers); not container.

How each call of the suite maps:

- `new_bus()`: `{}`; `max_queue_size` raises `Unsupported` (blinker has no queue).
- `add_handler(bus, E, fn)`: `signal_of(E).connect(fn, weak=False)`. INLINE (or no
  policy) only. `weak=False` because blinker's default `weak=True` silently drops a
  receiver nothing else references, and its documentation says to pass `weak=False`
  for receivers defined within a function, which the kit's handlers are (with the
  default, 9 more rules fail, EVT-1, PUB-2, ERR-1 among them, only because the
  kit's lambdas and closures are garbage-collected before the publish).
- `publish(bus, e)`: `signal_of(type(e)).send_async(e, _sync_wrapper=_in_place)`.
  `send_async` awaits each receiver that `inspect.iscoroutinefunction` calls async
  and hands every other one to the `_sync_wrapper` it takes for that purpose (without
  one it raises RuntimeError); `_in_place` calls it at once on the loop's thread
  (what INLINE means for a sync handler) and returns its result, nothing more.
- `unsubscribe(bus, E, fn)`: `signal_of(E).disconnect(fn)`.
- `policy(name)`: the name; only "INLINE" is accepted.
- `close_bus(bus)` (teardown): nothing; a signal has no worker, tasks or threads.

Capabilities declared:

- unsubscribe: `Signal.disconnect(receiver)`.

Not declared (their tests get the verdict *unsupported*):

- task: `send_async` awaits every receiver in turn; blinker never starts a task for one.
- threadpool: blinker never runs a receiver on a thread (a wrapper that did would still be awaited).
- worker: no `post`, no queue, no worker; `send` and `send_async` dispatch at once.
- threadsafe_post: there is no `post`.
- bounded_queue: there is no queue.
- priority: `connect` takes no priority.
- once: `connect` has no once option.
- publish_sync: `send` refuses coroutine receivers without a wrapper, and neither runs the
  async dispatch on a loop of its own nor schedules it on a running loop.
- aclose: a signal is never closed (`_clear_state` is private, "useful for tests").
- error_classes: blinker defines no exception classes.
- container: blinker has no container (the `container` profile is not claimed).
- event_base (derived by the kit from `event_type = object`): any object can be sent, so a
  non-event cannot be told apart (ROB-1, ROB-2, ROB-4).

Real deviations are in `conformance/expectations/blinker.toml`.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import blinker

from ..adapter import BusAdapter, PolicyName
from ..capabilities import Unsupported

_NO_WORKER = "blinker dispatches in send and send_async; it has no post, queue or worker"

Bus = dict[Any, blinker.Signal]
"""A bus: one blinker signal per event class."""


def _signal_of(bus: Bus, event_type: Any) -> blinker.Signal:
    """The signal of `event_type`, made on first use (`setdefault` keeps concurrent subscribers on one signal)."""
    found = bus.get(event_type)
    return found if found is not None else bus.setdefault(event_type, blinker.Signal())


def _in_place(receiver: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """blinker's `_sync_wrapper` for `send_async`: call the sync receiver at once, in place."""

    async def call(*args: Any, **kwargs: Any) -> Any:
        return receiver(*args, **kwargs)

    return call


class BlinkerAdapter(BusAdapter):
    """blinker, one `Signal` per event type, driven through `connect`, `send_async` and `disconnect`."""

    name = "blinker"
    version = importlib.metadata.version("blinker")
    profiles = frozenset({"core", "extended", "robustness"})
    capabilities = frozenset({"unsubscribe"})
    event_type = object

    def policy(self, name: PolicyName) -> Any:
        """The name itself: `send_async` only knows INLINE (awaited in turn)."""
        if name != "INLINE":
            raise Unsupported(name.lower(), "blinker's send_async awaits every receiver in turn")
        return name

    def new_bus(self, **options: Any) -> Bus:
        """An empty map of event class to signal."""
        if "max_queue_size" in options:
            capability = "bounded_queue" if options["max_queue_size"] else "worker"
            raise Unsupported(capability, "blinker has no queue")
        if options:
            raise TypeError(f"unknown bus options: {', '.join(options)}")
        return {}

    def add_handler(
        self, bus: Any, event_type: Any, fn: Callable[..., Any], *, policy: PolicyName | None = None, **options: Any
    ) -> None:
        """`Signal.connect(fn, weak=False)` on the event type's signal."""
        if policy is not None:
            self.policy(policy)
        if "priority" in options:
            raise Unsupported("priority", "blinker's connect takes no priority")
        if "once" in options:
            raise Unsupported("once", "blinker's connect has no once option")
        if options:
            raise TypeError(f"unknown subscribe options: {', '.join(options)}")
        _signal_of(bus, event_type).connect(fn, weak=False)

    def publish(self, bus: Any, event: Any) -> Awaitable[Any]:
        """`Signal.send_async(event, _sync_wrapper=_in_place)` on the signal of `type(event)`."""
        return _signal_of(bus, type(event)).send_async(event, _sync_wrapper=_in_place)

    def post(self, bus: Any, event: Any) -> Any:
        """blinker has no post."""
        raise Unsupported("worker", _NO_WORKER)

    def start_worker(self, bus: Any) -> Any:
        """blinker has no worker."""
        raise Unsupported("worker", _NO_WORKER)

    def stop_worker(self, bus: Any) -> Any:
        """blinker has no worker."""
        raise Unsupported("worker", _NO_WORKER)

    def unsubscribe(self, bus: Any, event_type: Any, fn: Callable[..., Any]) -> None:
        """`Signal.disconnect(fn)` on the event type's signal."""
        _signal_of(bus, event_type).disconnect(fn)

    def publish_sync(self, bus: Any, event: Any) -> Any:
        """Not expressible: `Signal.send` refuses coroutine receivers and never schedules the async dispatch."""
        raise Unsupported("publish_sync", "blinker's send calls receivers in place and refuses coroutine ones")

    def aclose(self, bus: Any) -> Any:
        """blinker's signals are never closed."""
        raise Unsupported("aclose", "a blinker signal has no close")

    async def close_bus(self, bus: Any) -> None:
        """Nothing to stop: a signal has no worker, no tasks and no threads."""


def conformance_implementation() -> BlinkerAdapter:
    """The adapter `--impl=blinker` loads."""
    return BlinkerAdapter()

"""The kit's adapter for bubus (https://github.com/browser-use/bubus), `--impl=bubus`.

bubus is a pydantic-based asynchronous in-process event bus: events are
`BaseEvent` models, `bus.on(EventType, handler)` subscribes, and
`bus.dispatch(event)` enqueues the event synchronously on the bus's FIFO queue
and returns it; a run-loop task that the bus starts by itself on the first
dispatch runs the handlers, one after another, and `await event` waits until
they have all finished.

How each suite call maps (one library call each, nothing emulated):

- event classes: subclasses of `bubus.BaseEvent` built by pydantic's own model
  metaclass; fields are pydantic fields (keyword arguments), `module` sets
  `__module__`, `namespace` adds methods (the kit's `__eq__`, `__hash__`,
  `__repr__` are kept). Gaps: `frozen` makes the event's own fields frozen
  (`Field(frozen=True)`: assigning one raises), not the whole model, because
  bubus assigns its bookkeeping fields (`event_processed_at`, ...) on every
  event it dispatches, and a frozen model would make that raise inside the run
  loop, so the event would never complete; and every bubus event is hashable
  (`BaseEvent.__hash__` hashes its unique `event_id`) and equal only to
  itself, so non-frozen events are neither unhashable nor equal by value.
- `new_bus()` -> `EventBus()`; `max_queue_size=0` (unbounded) is the default;
  any other size is unsupported (bubus takes no queue size).
- `add_handler(E, fn)` -> `bus.on(E, fn)`; `policy=INLINE` is accepted as the
  default, every other policy and `priority` / `once` are unsupported.
- `publish(e)` -> `bus.dispatch(e)`, whose returned event the kit awaits
  (`await bus.dispatch(e)`, the library's documented way to publish and wait).
- `post(e)` -> `bus.dispatch(e)`, not awaited (the library's fire-and-forget).
- `start_worker()` -> no call: bubus has no start method, its run loop starts
  itself on the first dispatch, so there is nothing to call.
- `stop_worker()` -> `await bus.stop(timeout=math.inf)`: the documented
  graceful stop ("wait up to `timeout` for pending and active events"), with no
  limit on the wait.
- `aclose()` -> `await bus.stop(timeout=math.inf, clear=True)`: the graceful
  stop that also clears the handlers and history ("to free memory").
- `unsubscribe`, `publish_sync`, `error`: none exists (see below).

Profiles: `core`, `extended` and `robustness` (their rules that need a
capability below are unsupported); never `container`, bubus has no container.

Capabilities declared:

- `worker`: `dispatch` without `await` is a post to the bus's queue, drained by
  its run-loop task; `stop(timeout=...)` stops it gracefully.
- `aclose`: `stop(clear=True)` stops the bus and clears its subscribers.

Capabilities not declared:

- `task`: no per-handler policy; every handler runs in the dispatch, awaited.
- `threadpool`: bubus never runs a handler on a thread (sync ones run on the loop).
- `threadsafe_post`: `dispatch` raises RuntimeError in a thread with no running loop.
- `bounded_queue`: no queue-size option (the queue is fixed at 50 while
  `max_history_size` is set, unbounded when it is None).
- `priority`: `on` takes no priority; handlers run in subscription order.
- `once`: `on` takes no `once`.
- `unsubscribe`: there is no `off`/unsubscribe method.
- `publish_sync`: `dispatch` needs a running loop; there is no synchronous publish.
- `error_classes`: bubus defines none of the four exception classes.
- `container`: bubus has no container.
"""

from __future__ import annotations

import importlib.metadata
import math
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from bubus import BaseEvent, EventBus  # type: ignore[import-untyped]
from pydantic import Field

from conformance.adapter import BusAdapter, PolicyName
from conformance.capabilities import Unsupported

__all__ = ["BubusAdapter", "conformance_implementation"]


class BubusAdapter(BusAdapter):
    """bubus's `EventBus`, driven through `on`, `dispatch`, `await event` and `stop`."""

    name = "bubus"
    version = importlib.metadata.version("bubus")
    profiles = frozenset({"core", "extended", "robustness"})
    capabilities = frozenset({"worker", "aclose"})
    event_type: type = BaseEvent

    def __repr__(self) -> str:
        return f"<BubusAdapter bubus {self.version}>"

    def event_class(
        self,
        name: str,
        *,
        base: type | None = None,
        fields: Sequence[tuple[str, type]] = (),
        frozen: bool = False,
        module: str | None = None,
        namespace: Mapping[str, Any] | None = None,
    ) -> type:
        """A `BaseEvent` subclass made by pydantic's model metaclass (see the module docstring for the gaps)."""
        parent: type = base if base is not None else self.event_type
        body: dict[str, Any] = dict(namespace or {})
        body["__module__"] = module if module is not None else __name__
        body["__qualname__"] = name
        body["__annotations__"] = dict(fields)
        if frozen:
            for field_name, _ in fields:
                body[field_name] = Field(frozen=True)
        metaclass: Any = type(parent)
        cls: type = metaclass(name, (parent,), body)
        return cls

    def new_bus(self, **options: Any) -> Any:
        """`EventBus()`; a `max_queue_size` other than 0 (unbounded) is unsupported."""
        size = options.pop("max_queue_size", 0)
        if options:
            raise TypeError(f"the kit passed unknown bus options {sorted(options)}")
        if size != 0:
            raise Unsupported("bounded_queue", "bubus's EventBus takes no queue size")
        return EventBus()

    def add_handler(
        self, bus: Any, event_type: Any, fn: Callable[..., Any], *, policy: PolicyName | None = None, **options: Any
    ) -> None:
        """`bus.on(event_type, fn)`; only the default policy (INLINE), no options."""
        if policy is not None and policy != "INLINE":
            raise Unsupported(policy.lower(), "bubus has no per-handler execution policy")
        if options:
            option = next(iter(options))
            raise Unsupported(option, f"bubus's on() takes no {option}")
        with warnings.catch_warnings():
            # bubus warns when two handlers share a function name; the kit's handlers often do.
            warnings.simplefilter("ignore", UserWarning)
            bus.on(event_type, fn)

    def publish(self, bus: Any, event: Any) -> Awaitable[Any]:
        """`bus.dispatch(event)`: the event it returns is awaitable and completes when its handlers have."""
        dispatched: Awaitable[Any] = bus.dispatch(event)
        return dispatched

    def post(self, bus: Any, event: Any) -> Any:
        """`bus.dispatch(event)`, not awaited."""
        return bus.dispatch(event)

    async def start_worker(self, bus: Any) -> None:
        """Nothing to call: bubus starts its run loop itself on the first dispatch."""

    async def stop_worker(self, bus: Any) -> None:
        """`await bus.stop(timeout=math.inf)`: drain, then stop the run loop."""
        await bus.stop(timeout=math.inf)

    def unsubscribe(self, bus: Any, event_type: Any, fn: Callable[..., Any]) -> Any:
        """bubus has no way to remove a handler."""
        raise Unsupported("unsubscribe", "bubus's EventBus has no off/unsubscribe")

    def publish_sync(self, bus: Any, event: Any) -> Any:
        """bubus has no synchronous publish."""
        raise Unsupported("publish_sync", "bubus's dispatch needs a running event loop")

    async def aclose(self, bus: Any) -> None:
        """`await bus.stop(timeout=math.inf, clear=True)`: drain, stop, clear handlers and history."""
        await bus.stop(timeout=math.inf, clear=True)


def conformance_implementation() -> BubusAdapter:
    """The adapter `--impl=bubus` loads."""
    return BubusAdapter()

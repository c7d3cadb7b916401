"""The kit's adapter for pyee (`--impl=pyee`): `pyee.asyncio.AsyncIOEventEmitter`, a port of node.js's EventEmitter.

pyee is a standalone event emitter: `on(event, f)` registers `f` under any
hashable event name, `emit(event, *args)` calls the listeners of that name
synchronously, in registration order. `AsyncIOEventEmitter` calls every
listener in place; when a listener returns a coroutine, it schedules it with
`asyncio.ensure_future`, keeps the future in a set until it is done and does not
wait for it. A listener's exception, raised or from its future, is emitted as
the special event "error", which raises it when nobody listens to "error".
There is no per-handler policy, no priority, no queue or worker, no close and
no exception classes of the bus's own.

How each call of the suite maps (the event name is the event's class, so
handlers are found by class identity, never by name, equality or hash):

- `new_bus()`: `AsyncIOEventEmitter()` (it takes no queue size).
- `add_handler(bus, E, fn, policy=None|"INLINE"|"TASK")`: `bus.on(E, fn)`; pyee
  has one mode and the handler's kind decides, not a policy (a sync handler runs
  in `emit`, an async one becomes a task `emit` does not wait for).
- `add_handler(..., once=True)`: `bus.once(E, fn)`.
- `publish(bus, e)`: a coroutine whose body is `bus.emit(type(e), e)`: emit is
  synchronous and returns a bool, and the suite awaits `publish`.
- `publish_sync(bus, e)`: `bus.emit(type(e), e)`, pyee's own synchronous publish.
- `unsubscribe(bus, E, fn)`: `bus.remove_listener(E, fn)`.
- `close_bus(bus)` (teardown only): `await bus.wait_for_complete()`, pyee's
  graceful shutdown (waits for the handler futures still pending).
- Events: plain classes (`event_type = object`), dataclasses when they have
  fields; pyee puts no requirement on event objects, so `frozen`, `fields`,
  `base`, `module` and `namespace` are honoured as the kit's default builds them.

Capabilities declared:

- `task`: an async listener runs as an asyncio task (`ensure_future`) that emit neither waits for nor drops.
- `once`: `bus.once(event, f)`, which removes the listener before calling it.
- `unsubscribe`: `bus.remove_listener(event, f)`.
- `publish_sync`: `bus.emit(event_name, event)` is pyee's own synchronous publish.

Not declared (the kit gives these tests the verdict *unsupported*):

- `threadpool`: AsyncIOEventEmitter never runs a listener on a thread (ExecutorEventEmitter is another emitter).
- `worker`: no `post`, no queue, no background worker.
- `threadsafe_post`: there is no `post`.
- `bounded_queue`: there is no queue; the constructor takes only a loop.
- `priority`: listeners run in registration order, with no priority.
- `aclose`: no close; `remove_all_listeners` and `cancel` neither drain nor make later emits fail.
- `error_classes`: pyee has only `PyeeError`, none of the four classes.
- `container`: pyee is a bare emitter, with no container (the `container` profile is not claimed).

A sync handler registered with TASK runs in place, as every sync listener does (IMPL-3 allows it), but
its exception then leaves `emit` and reaches the publisher unlogged, which ERR-3 and ERR-5 forbid for
every TASK handler; an async handler registered without a policy or with INLINE runs as a task, which
is pyee's real deviation from POL-INLINE-1. Both are listed in `conformance/expectations/pyee.toml`.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any

from pyee.asyncio import AsyncIOEventEmitter

from ..adapter import BusAdapter, PolicyName
from ..capabilities import Unsupported


class PyeeAdapter(BusAdapter):
    """Drives `pyee.asyncio.AsyncIOEventEmitter` through its own API, one call per suite call."""

    name = "pyee"
    version = importlib.metadata.version("pyee")
    profiles = frozenset({"core", "extended", "robustness"})
    capabilities = frozenset({"task", "once", "unsubscribe", "publish_sync"})
    event_type = object

    def __repr__(self) -> str:
        return f"<PyeeAdapter pyee {self.version}>"

    def new_bus(self, **options: Any) -> AsyncIOEventEmitter:
        """`AsyncIOEventEmitter()`; it has no queue, so a queue size is unsupported."""
        if options:
            raise Unsupported("bounded_queue", f"AsyncIOEventEmitter takes no {', '.join(sorted(options))}")
        return AsyncIOEventEmitter()

    def add_handler(
        self,
        bus: AsyncIOEventEmitter,
        event_type: Any,
        fn: Callable[..., Any],
        *,
        policy: PolicyName | None = None,
        **options: Any,
    ) -> None:
        """`bus.once(event_type, fn)` for `once=True`, else `bus.on(event_type, fn)`, whatever the policy."""
        if policy == "THREADPOOL":
            raise Unsupported("threadpool", "AsyncIOEventEmitter runs no handler on a thread")
        if "priority" in options:
            raise Unsupported("priority", "pyee calls listeners in registration order")
        unknown = set(options) - {"once"}
        if unknown:
            raise TypeError(f"pyee's adapter does not know the options {sorted(unknown)}")
        if options.get("once"):
            bus.once(event_type, fn)
        else:
            bus.on(event_type, fn)

    async def publish(self, bus: AsyncIOEventEmitter, event: Any) -> bool:
        """`bus.emit(type(event), event)`, inside a coroutine because the suite awaits `publish`."""
        return bus.emit(_event_name(event), event)

    def post(self, bus: AsyncIOEventEmitter, event: Any) -> Any:
        """pyee has no post."""
        raise Unsupported("worker", "pyee has no post, queue or worker")

    def start_worker(self, bus: AsyncIOEventEmitter) -> Any:
        """pyee has no worker."""
        raise Unsupported("worker", "pyee has no post, queue or worker")

    def stop_worker(self, bus: AsyncIOEventEmitter) -> Any:
        """pyee has no worker."""
        raise Unsupported("worker", "pyee has no post, queue or worker")

    def unsubscribe(self, bus: AsyncIOEventEmitter, event_type: Any, fn: Callable[..., Any]) -> None:
        """`bus.remove_listener(event_type, fn)`."""
        bus.remove_listener(event_type, fn)

    def publish_sync(self, bus: AsyncIOEventEmitter, event: Any) -> bool:
        """`bus.emit(type(event), event)`: pyee's emit is itself synchronous."""
        return bus.emit(_event_name(event), event)

    def aclose(self, bus: AsyncIOEventEmitter) -> Any:
        """pyee has no close."""
        raise Unsupported("aclose", "AsyncIOEventEmitter has no close")

    async def close_bus(self, bus: AsyncIOEventEmitter) -> None:
        """`await bus.wait_for_complete()`: pyee's graceful shutdown, for the kit's teardown."""
        await bus.wait_for_complete()


def _event_name(event: Any) -> Any:
    """The event's class, as pyee's event name: pyee annotates names as `str` but keys listeners by any hashable."""
    return type(event)


def conformance_implementation() -> PyeeAdapter:
    """The adapter `--impl=pyee` loads."""
    return PyeeAdapter()

"""The handler callables of a program, one of every kind (SPEC.md, Terms: *Handler*), and what they observe.

`make_handler` builds the callable of one `Fn`: a function, lambda, bound or
static method, partial or callable object, sync or async. Each call records
itself on the model's recorder as `h<index>`, raises a new
`StatefulHandlerError` if the handler is a failing one, and, when async, notes
INLINE calls that overlap (two of one event at once [POL-ORDER-1], or the
worker's of two posted events [POST-4]).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._program import Fn, StatefulHandlerError

if TYPE_CHECKING:
    from ._expectations import Expectations


def make_handler(fn: Fn, model: Expectations) -> Callable[[Any], Any]:
    """The callable of `fn`, of its kind, recording its calls and overlaps in `model`."""
    rec, failures, label = model.rec, model.failures, fn.label
    active, overlaps = model.active, model.overlaps
    posted, worker_active, worker_overlaps = model.posted_eids, model.worker_active, model.worker_overlaps

    def finish(event: Any) -> None:
        rec.record(label, event)
        if fn.fails:
            eid = getattr(event, "eid", -1)
            exc = StatefulHandlerError(f"{label} failed on e{eid} (on purpose)")
            failures.setdefault((fn.index, eid), []).append(exc)
            raise exc

    async def afinish(event: Any) -> None:
        eid = getattr(event, "eid", -1)
        inline = fn.run_policy == "INLINE"
        by_worker = inline and eid in posted
        if inline:
            active[eid] += 1
            if active[eid] > 1:
                overlaps.append((fn.index, eid))
        if by_worker:
            worker_overlaps.extend((fn.index, eid, other) for other in worker_active if other != eid)
            worker_active.append(eid)
        try:
            await asyncio.sleep(0)  # a suspension point: the bus must await past it
        finally:
            if inline:
                active[eid] -= 1
            if by_worker:
                worker_active.remove(eid)
        finish(event)

    kind = fn.kind
    if kind == "function":

        def function(event: Any) -> None:
            finish(event)

        return function
    if kind == "lambda":
        return lambda event: finish(event)
    if kind == "bound method":

        class Listener:
            def on_event(self, event: Any) -> None:
                finish(event)

        return Listener().on_event
    if kind == "static method":

        class Static:
            @staticmethod
            def on_event(event: Any) -> None:
                finish(event)

        return Static.on_event
    if kind == "partial":

        def tagged(tag: str, event: Any) -> None:
            finish(event)

        return functools.partial(tagged, label)
    if kind == "callable object":

        class SyncCallable:
            def __call__(self, event: Any) -> None:
                finish(event)

        return SyncCallable()
    if kind == "async function":

        async def async_function(event: Any) -> None:
            await afinish(event)

        return async_function
    if kind == "async bound method":

        class AsyncListener:
            async def on_event(self, event: Any) -> None:
                await afinish(event)

        return AsyncListener().on_event
    if kind == "async partial":

        async def async_tagged(tag: str, event: Any) -> None:
            await afinish(event)

        return functools.partial(async_tagged, label)

    class AsyncCallable:
        async def __call__(self, event: Any) -> None:
            await afinish(event)

    return AsyncCallable()

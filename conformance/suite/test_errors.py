"""SPEC.md §4: where a handler's exception goes, by policy."""

from typing import Any

import pytest

from conformance.kit import Kit, describe, exception_chain


class HandlerBoom(Exception):
    """The exception the kit's failing handlers raise; each test makes its own instance."""


def _raising(exc: BaseException, *, is_async: bool) -> Any:
    if is_async:

        async def async_handler(event: object) -> None:
            raise exc

        return async_handler

    def sync_handler(event: object) -> None:
        raise exc

    return sync_handler


async def _inline_error_propagates(kit: Kit, *, is_async: bool) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    boom = HandlerBoom("inline handler failed")
    kit.add(bus, Ping, _raising(boom, is_async=is_async))
    kind = "async" if is_async else "sync"
    try:
        await kit.within(bus.publish(Ping()), "publish returns or raises")
    except AssertionError:
        raise
    except BaseException as raised:
        kit.check(
            any(e is boom for e in exception_chain(raised)),
            f"publish raises the {kind} INLINE handler's exception, or one chaining or grouping it",
            f"publish raised {describe(raised)}, which does not carry the handler's {describe(boom)}",
        )
        return
    kit.fail(
        f"the {kind} INLINE handler's {describe(boom)} propagates out of `await bus.publish(...)`",
        f"publish returned normally; {kit.log_summary()}",
    )


@pytest.mark.rule("ERR-1")
async def test_sync_inline_exception_reaches_publisher(kit: Kit) -> None:
    await _inline_error_propagates(kit, is_async=False)


@pytest.mark.rule("ERR-1")
async def test_async_inline_exception_reaches_publisher(kit: Kit) -> None:
    await _inline_error_propagates(kit, is_async=True)


@pytest.mark.rule("ERR-2")
async def test_handlers_after_a_failing_one_run_at_most_once(kit: Kit) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    boom = HandlerBoom("first handler failed")
    kit.add(bus, Ping, _raising(boom, is_async=True))
    kit.add(bus, Ping, rec.sync_handler("after-sync"))
    kit.add(bus, Ping, rec.async_handler("after-async"))
    try:
        await kit.within(bus.publish(Ping()), "publish returns or raises")
    except AssertionError:
        raise
    except BaseException as exc:  # whether it propagates is ERR-1's business
        if not any(e is boom for e in exception_chain(exc)):
            raise
    await kit.settle()
    kit.check(
        rec.count("after-sync") <= 1 and rec.count("after-async") <= 1,
        "each INLINE handler after the failing one runs at most once (running or skipping them is allowed)",
        f"calls: {rec.labels()}",
    )


async def _background_error_stays_away(kit: Kit, policy: str) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    rec = kit.recorder()
    boom = HandlerBoom(f"{policy} handler failed")
    kit.add(bus, Ping, _raising(boom, is_async=policy == "TASK"), policy=policy)  # type: ignore[arg-type]
    kit.add(bus, Ping, rec.sync_handler("inline"))
    kit.add(bus, Ping, rec.async_handler("task"), policy="TASK")
    kit.add(bus, Ping, rec.sync_handler("pool"), policy="THREADPOOL")
    try:
        await kit.within(bus.publish(Ping()), "publish returns")
    except AssertionError:
        raise
    except BaseException as exc:
        kit.fail(f"a {policy} handler's exception never reaches the publisher", f"publish raised {describe(exc)}")
    if not await rec.until(lambda calls: len(calls) >= 3, "the other three handlers ran"):
        kit.fail(
            f"a failing {policy} handler does not keep the other handlers of the dispatch from running",
            f"only these ran: {rec.labels()}",
        )
    kit.check(
        sorted(rec.labels()) == ["inline", "pool", "task"],
        "each of the other handlers runs once",
        f"calls: {rec.labels()}",
    )
    # Let the failure be handled before teardown, so that it cannot leak into another test.
    await kit.logged(boom)


@pytest.mark.rule("ERR-3")
async def test_task_exception_stays_away_from_publisher(kit: Kit) -> None:
    await _background_error_stays_away(kit, "TASK")


@pytest.mark.rule("ERR-4")
async def test_threadpool_exception_stays_away_from_publisher(kit: Kit) -> None:
    await _background_error_stays_away(kit, "THREADPOOL")


async def _background_error_is_logged(kit: Kit, policy: str) -> None:
    Ping = kit.event_class("Ping")
    bus = kit.new_bus()
    boom = HandlerBoom(f"{policy} handler failed")
    kit.add(bus, Ping, _raising(boom, is_async=policy == "TASK"), policy=policy)  # type: ignore[arg-type]
    try:
        await kit.within(bus.publish(Ping()), "publish returns")
    except AssertionError:
        raise
    except BaseException as exc:  # ERR-3/ERR-4 report this; here only the log matters
        if not any(e is boom for e in exception_chain(exc)):
            raise
    if not await kit.logged(boom):
        kit.fail(
            f"the {policy} handler's {describe(boom)} is logged at ERROR or above with the exception attached",
            kit.log_summary(),
        )


@pytest.mark.rule("ERR-5")
async def test_task_exception_is_logged(kit: Kit) -> None:
    await _background_error_is_logged(kit, "TASK")


@pytest.mark.rule("ERR-5")
async def test_threadpool_exception_is_logged(kit: Kit) -> None:
    await _background_error_is_logged(kit, "THREADPOOL")

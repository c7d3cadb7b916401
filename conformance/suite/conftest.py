"""Set-up shared by the conformance suite's modules."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> None:
    """No AnyIO backend: the kit runs the suite's coroutine tests on its own bounded runner.

    AnyIO's pytest plugin in its auto mode (`anyio_mode = "auto"`) makes every
    coroutine test request this fixture, parametrizes it by backend, and runs the
    test itself when the value is set. This override keeps the suite's test ids
    and its runner whatever the implementer's configuration says; the implementer's
    own AnyIO tests, outside the suite, keep AnyIO's fixture.
    """
    return None

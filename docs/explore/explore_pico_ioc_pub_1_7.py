"""A failing program the explorer found (batch seed 7), replayed step by step.

Found by: python -m conformance explore --impl=pico-ioc --minutes 12 --seed 7

Breaks PUB-1 (MUST, core): Publish delivers to the subscribers of the event's type.
Expected: h0 (async function, INLINE) registered for Base has finished (2 call(s)) when publish of
    event e0 (Base, published) returns
Observed on pico-ioc: 1 call(s) when it returned; no more came

Run it on its own: pytest -p no:randomly --impl=pico-ioc docs/explore/explore_pico_ioc_pub_1_7.py
Each step runs on a live bus and is followed by the model's checks
(conformance.explore.replay).
"""

from typing import Any

import pytest

from conformance.adapter import Implementation
from conformance.explore import replay


def program(state: Any) -> None:
    state.first_handlers(start_worker=False, background="TASK", pair_type="Base")
    state.deliveries_match_the_model()
    state.subscribe_again(pick=0)
    state.deliveries_match_the_model()
    state.publish(event_type="Base")
    state.deliveries_match_the_model()


@pytest.mark.rule("PUB-1")
def test_reproduction(implementation: Implementation, request: pytest.FixtureRequest) -> None:
    replay(implementation, request, program)

"""A failing program the explorer found (batch seed 11), replayed step by step.

Found by: python -m conformance explore --impl=pico-ioc --minutes 10 --seed 11

Breaks POST-2 (MUST, core): Post works from any thread.
Expected: h14 (async callable object, INLINE) registered for Child is called 1 time(s) for event e2
    (Child, posted from the thread thread)
Observed on pico-ioc: 0 call(s) within 2 s

Run it on its own: pytest -p no:randomly --impl=pico-ioc docs/explore/explore_pico_ioc_post_2_11.py
Each step runs on a live bus and is followed by the model's checks
(conformance.explore.replay).
"""

from typing import Any

import pytest

from conformance.adapter import Implementation
from conformance.explore import replay


def program(state: Any) -> None:
    state.first_handlers(start_worker=True, pair_type="Other", background="THREADPOOL")
    state.deliveries_match_the_model()
    state.subscribe(event_type="Twin", fails=False, kind="lambda", policy="TASK")
    state.deliveries_match_the_model()
    state.subscribe_again(pick=40)
    state.deliveries_match_the_model()
    state.subscribe_extended(
        event_type="Child", fails=False, kind="async bound method", once=True, policy="INLINE", priority=2
    )
    state.deliveries_match_the_model()
    state.subscribe_extended(
        event_type="Twin", fails=False, kind="async bound method", once=True, policy="INLINE", priority=2
    )
    state.deliveries_match_the_model()
    state.publish(event_type="Base")
    state.deliveries_match_the_model()
    state.publish(event_type="Twin")
    state.deliveries_match_the_model()
    state.subscribe(event_type="Child", fails=False, kind="async callable object", policy="INLINE")
    state.deliveries_match_the_model()
    state.post(event_type="Child", producer="thread", times=1)
    state.deliveries_match_the_model()


@pytest.mark.rule("POST-2")
def test_reproduction(implementation: Implementation, request: pytest.FixtureRequest) -> None:
    replay(implementation, request, program)

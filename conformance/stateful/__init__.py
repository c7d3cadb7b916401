"""The kit's model-based testing of a live bus: what `conformance/suite/test_stateful.py`'s state machine uses.

The suite's Hypothesis state machine runs random programs on one live bus each
and compares every delivery with a model. Its parts live here, by concern:

- `_program`: the event types, policies and handler kinds a program draws
  from, and its records: `Fn` (a handler), `Reg` (a registration), `Sent` (an
  event published or posted);
- `_expectations`: `Expectations`, what the spec promises of those records, and
  the checks of the calls the handlers recorded;
- `_model`: `Model`, the steps of a program on the live bus, each updating the
  expectations and checking what the bus answered;
- `_handlers`: `make_handler`, a handler callable of every kind;
- `_producer`: `Producer`, the thread that posts from outside the loop;
- `_live_loop`: `LiveLoop`, the event loop the bus lives on for a program,
  running on a thread of its own while the state machine drives it;
- `_run`: `Run` and `Settings`, what the programs of one test run share.
"""

from ._expectations import Expectations
from ._handlers import make_handler
from ._live_loop import LiveLoop, StepTimeout
from ._model import Model
from ._producer import Producer
from ._program import BACKGROUND, BASES, KINDS, POLICIES, TYPES, Fn, Reg, Sent, StatefulHandlerError, mixed_rule
from ._run import Run, Settings, log_capture

__all__ = [
    "BACKGROUND",
    "BASES",
    "KINDS",
    "POLICIES",
    "TYPES",
    "Expectations",
    "Fn",
    "LiveLoop",
    "Model",
    "Producer",
    "Reg",
    "Run",
    "Sent",
    "Settings",
    "StatefulHandlerError",
    "StepTimeout",
    "log_capture",
    "make_handler",
    "mixed_rule",
]

"""A conformance kit for pico-ioc's asynchronous in-process event bus.

Run it with `pytest --impl=NAME` (the `rule`-marked suite in `conformance.suite`),
`pytest --pyargs conformance --impl=NAME`, or `python -m conformance --impl=NAME`.

PYTEST_DONT_REWRITE: `python -m conformance` imports this package before pytest
starts, so pytest could not rewrite it anyway (it would warn); the kit reports
through `Kit.check`, never bare asserts.
"""

from .adapter import Implementation, ModuleAdapter
from .kit import Kit, RuleViolation
from .rules import RULES, SPEC_VERSION, Rule

__all__ = ["RULES", "SPEC_VERSION", "Implementation", "Kit", "ModuleAdapter", "Rule", "RuleViolation"]
__version__ = "1.0.0"

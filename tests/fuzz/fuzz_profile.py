"""Hypothesis settings of the CLI fuzz suite: a short profile for ``make test``, a long one for ``make fuzz``.

``make fuzz`` sets ``L3SIM_FUZZ_EXAMPLES`` (examples per property); without it each property runs
:data:`QUICK_EXAMPLES` examples, derandomized so that ``make test`` is repeatable. Deadlines are off
(runs vary with machine load); hangs are caught by the harness' 60 s guard instead.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

QUICK_EXAMPLES = 12
EXAMPLES = int(os.environ.get("L3SIM_FUZZ_EXAMPLES", "0") or 0) or QUICK_EXAMPLES
LONG = EXAMPLES != QUICK_EXAMPLES

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

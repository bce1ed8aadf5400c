"""Every scheduler honours the ServingSpec's batch limits (``max_num_seqs``, ``max_batch_tokens``).

The expectation is the limit itself: no recorded iteration may hold more requests than
``max_num_seqs`` or more tokens than ``max_batch_tokens``, whatever the scheduler. The L3 scheduler
once ignored ``max_num_seqs`` (OPT-66B, 60 requests, limit 4: average batch 4.99).
"""

from __future__ import annotations

import pytest

from l3sim.serving.recorder import SEGMENT_COLUMNS
from l3sim.serving.schedulers import scheduler_names
from l3sim.serving.simulate import simulate
from l3sim.spec.run import build_run_spec

SYSTEM_OF = {"continuous": "gpu-only", "subbatch": "l3", "capacity-first": "l3", "l3": "l3"}
BATCH = SEGMENT_COLUMNS.index("batch_size")
PREFILL_TOKENS = SEGMENT_COLUMNS.index("prefill_tokens")
DECODES = SEGMENT_COLUMNS.index("decode_requests")


def test_every_scheduler_is_covered() -> None:
    assert set(SYSTEM_OF) == set(scheduler_names())


@pytest.mark.parametrize("scheduler", sorted(SYSTEM_OF))
@pytest.mark.parametrize("max_seqs, budget", [(4, 512)])
def test_batch_limits_hold_in_every_iteration(scheduler: str, max_seqs: int, budget: int) -> None:
    spec = build_run_spec(
        [f"serving.max_num_seqs={max_seqs}", f"serving.max_batch_tokens={budget}"],
        platform="dgx-a100", model="opt-66b", workload="dolphin-short", requests=40,
        system=SYSTEM_OF[scheduler], scheduler=scheduler,
    )
    result = simulate(spec)
    assert result.requests_served == 40
    segments = result.segments.to_numpy(dtype=float)
    assert len(segments) > 0
    assert segments[:, BATCH].max() <= max_seqs
    assert result.avg_batch_size <= max_seqs
    assert (segments[:, PREFILL_TOKENS] + segments[:, DECODES]).max() <= budget

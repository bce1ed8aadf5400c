"""What the predictors learn: the seconds of a hypothetical sub-batch's GPU stage and PIM stage.

The L3 paper trains its predictors on runtime profiles; l3sim's "runtime" is
its system's cost model, so the targets come from the disaggregated system
being served (``serving.systems.disaggregated``: ``gpu_stage_s`` = prefill
attention + dense layers, ``pim_stage_s`` = busiest rank of the decode
attention + communication). Anything with these two methods will do.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class StageTimes(Protocol):
    """Seconds of a hypothetical sub-batch's GPU stage and PIM stage."""

    def gpu_stage_s(self, chunk_tokens: np.ndarray, done_tokens: np.ndarray, num_decodes: int) -> float: ...

    def pim_stage_s(self, decode_context_tokens: np.ndarray, other_prefill_tokens: int) -> float: ...

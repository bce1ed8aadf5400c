"""Each scheduler's own settings: one typed section per scheduler that has any (``RunSpec.schedulers``).

A scheduler's knobs live with the scheduler's name, not in the shared ``ServingSpec`` (whose limits,
token budget, sequence limit, KV blocks and watermark, every scheduler applies): ``--set
schedulers.l3.regroup=never`` reaches the L3 scheduler and nothing else. A scheduler with settings declares
which section it reads (``settings_field`` on its class, ``l3sim.serving.schedulers``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from l3sim.spec.base import Spec


class L3SchedulerSpec(Spec):
    """The L3 scheduler (docs/scheduler.md): when it re-forms sub-batches, how it cuts prefills, how its
    predictors are trained and refitted."""

    regroup: Literal["decision", "never"] = Field(
        "decision",
        description="when the L3 scheduler re-forms its two sub-batches from every decoding request: 'decision' "
        "(each time its policy runs: a prefill or a new decode to place; the paper forms them every iteration, "
        "and between decisions the plan repeats) or 'never' (a decode keeps its sub-batch until it finishes or "
        "is pre-empted; only new decodes are placed). The paper does not say; docs/scheduler.md",
    )
    min_chunk_tokens: int = Field(
        16, ge=1, description="shortest prefill chunk the scheduler cuts a prefill to (one KV block of the "
        "default serving.kv_block_tokens, so a cut prefill still makes progress)",
    )
    training_samples: int = Field(
        1000, ge=1, description="sub-batches drawn from the system to train both predictors at the first plan "
        "(the paper's 1,000 profiled points)",
    )
    training_seed: int = Field(0, ge=0, description="seed of the training draw and of the forest")
    forest_trees: int = Field(
        20, ge=1, description="trees of the GPU stage's random forest (docs/scheduler.md: 20 trees keep the "
        "held-out error within the paper's ~1 %)",
    )
    gpu_refit_every: int = Field(
        4000, ge=1, description="observations between online refits of the GPU forest (~0.1 s a fit; the paper: "
        "'updated online', cadence not given)",
    )
    pim_refit_every: int = Field(
        1000, ge=1, description="observations between online refits of the linear PIM model (~1 ms a fit)",
    )


class SchedulersSpec(Spec):
    """The settings sections of the schedulers that have settings, by scheduler name."""

    l3: L3SchedulerSpec = Field(default_factory=L3SchedulerSpec, description="the L3 scheduler ('l3')")

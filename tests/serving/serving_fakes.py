"""A hand-checkable GPU cost model and helpers for the serving tests (not the real roofline)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l3sim.serving.systems.gpu_only import GPUOnlySystem
from l3sim.spec.run import build_run_spec

KV_BYTES_PER_TOKEN = 1000


@dataclass
class FakeCost:
    """fc = base + per_token * n + per_logit * l; prefill attention quadratic; decode attention affine."""

    kv_capacity_bytes: float
    fc_base_s: float = 0.0123
    fc_per_token_s: float = 1.7e-5
    fc_per_logit_s: float = 3.1e-6
    prefill_coeff_s: float = 2.3e-9
    decode_base_s: float = 0.0011
    decode_per_token_s: float = 7.3e-7
    fits: bool = True
    does_not_fit_reason: str = ""
    weight_bytes_per_gpu: float = 0.0

    def fc_time_s(self, num_tokens: int, num_logits: int) -> float:
        return self.fc_base_s + self.fc_per_token_s * num_tokens + self.fc_per_logit_s * num_logits

    def prefill_attention_time_s(self, chunk_tokens: np.ndarray, done_tokens: np.ndarray) -> np.ndarray:
        # each chunk token attends to the tokens before it and to itself
        return self.prefill_coeff_s * chunk_tokens * (done_tokens + (chunk_tokens + 1) / 2)

    def decode_attention_time_s(self, total_context_tokens: int, num_requests: int | None = None) -> float:
        return self.decode_base_s + self.decode_per_token_s * total_context_tokens


@dataclass(frozen=True)
class Req:
    id: int
    arrival_s: float
    prompt_tokens: int
    output_tokens: int


def fake_system(capacity_tokens: int, **cost) -> GPUOnlySystem:
    return GPUOnlySystem(FakeCost(capacity_tokens * KV_BYTES_PER_TOKEN, **cost), KV_BYTES_PER_TOKEN)


def run_spec(*overrides: str, dp: int = 1):
    """A RunSpec whose serving knobs matter here (model and platform are only labels)."""
    return build_run_spec(
        list(overrides),
        platform="dgx-a100",
        model="gpt-175b",
        workload={"name": "test", "prompt_mean": 1.0, "prompt_std": 0.0, "output_mean": 1.0, "output_std": 0.0},
        parallel={"tp": 1, "dp": dp},
    )


class SilentArrivals:
    """An arrival source that never hands out its requests (a broken source). The engine must stop at its first
    look: asked again (an engine that went on after ``next_time()`` said None) it fails the test instead of
    polling forever."""

    def __init__(self) -> None:
        self.polls = 0

    def due(self, now_s: float) -> list[int]:
        self.polls += 1
        assert self.polls == 1, "the engine keeps polling a source that has nothing more to hand out"
        return []

    def next_time(self) -> float | None:
        return None

    def pending(self) -> bool:
        return True

    def finished(self, ids: np.ndarray, now_s: float) -> None:
        pass

"""Training data for the predictors, drawn from StageTimes, and the fit of both (their validation on a held-out
split is ``l3sim.experiments.predictor_validation``).

Sampling (documented in docs/scheduler.md): per sample, independently and
uniformly, a number of decodes in [0, max_decodes] with contexts in
[1, max_context_tokens] each; a number of prefills in [0, PREFILL_SLOTS] with
chunks in [1, max_chunk_tokens] and done tokens in [0, max_chunk_tokens]; the
other sub-batch's prefill tokens in [0, PREFILL_SLOTS x max_chunk_tokens].
The ranges come from the run (``SamplingRanges.for_run``) so the forest sees
what the scheduler will ask about.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l3sim.errors import ConfigError
from l3sim.serving.predictors.features import PREFILL_SLOTS, gpu_features, pim_features
from l3sim.serving.predictors.stage_times import StageTimes
from l3sim.spec.run import RunSpec

# A trace workload has no published means; these stand in (GPT-3-era chat-sized prompts, long outputs).
DEFAULT_CONTEXT_TOKENS = 8192
DEFAULT_PROMPT_TOKENS = 512


@dataclass(frozen=True)
class SamplingRanges:
    """Upper ends of the uniform draws (see the module docstring)."""

    max_decodes: int
    max_context_tokens: int
    max_chunk_tokens: int

    def __post_init__(self) -> None:
        for name in ("max_decodes", "max_context_tokens", "max_chunk_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"SamplingRanges.{name} must be >= 1 (got {getattr(self, name)})")

    @classmethod
    def from_lengths(cls, mean_context_tokens: float, long_prompt_tokens: float, capacity_tokens: float,
                     max_batch_tokens: int) -> "SamplingRanges":
        """Up to every request that fits the KV capacity at the mean context in one sub-batch; contexts up to
        twice that mean; chunks up to a long prompt, within the token budget."""
        return cls(
            max_decodes=max(1, int(np.ceil(capacity_tokens / max(mean_context_tokens, 1.0)))),
            max_context_tokens=max(1, int(2 * mean_context_tokens)),
            max_chunk_tokens=max(1, min(max_batch_tokens, int(np.ceil(long_prompt_tokens)))),
        )

    @classmethod
    def for_run(cls, spec: RunSpec, capacity_tokens: float) -> "SamplingRanges":
        """Ranges from the workload's published means: context = prompt + half the output, a long prompt =
        mean + 3 std (a trace workload: DEFAULT_CONTEXT_TOKENS, DEFAULT_PROMPT_TOKENS)."""
        work = spec.workload
        if work.prompt_mean is not None and work.output_mean is not None:
            mean_context = work.prompt_mean + work.output_mean / 2
            long_prompt = work.prompt_mean + 3 * (work.prompt_std or 0.0)
        else:
            mean_context, long_prompt = DEFAULT_CONTEXT_TOKENS, DEFAULT_PROMPT_TOKENS
        return cls.from_lengths(mean_context, long_prompt, capacity_tokens, spec.serving.max_batch_tokens)


@dataclass(frozen=True)
class Samples:
    """Feature rows and seconds of both stages."""

    gpu_X: np.ndarray
    gpu_y: np.ndarray
    pim_X: np.ndarray
    pim_y: np.ndarray


def draw_samples(times: StageTimes, ranges: SamplingRanges, count: int, rng: np.random.Generator) -> Samples:
    """``count`` random sub-batches timed by ``times`` (both stages)."""
    gpu_X, gpu_y, pim_X, pim_y = [], [], [], []
    for _ in range(count):
        decodes = int(rng.integers(0, ranges.max_decodes + 1))
        contexts = rng.integers(1, ranges.max_context_tokens + 1, size=decodes)
        prefills = int(rng.integers(0, PREFILL_SLOTS + 1))
        chunks = rng.integers(1, ranges.max_chunk_tokens + 1, size=prefills)
        done = rng.integers(0, ranges.max_chunk_tokens + 1, size=prefills)
        other = int(rng.integers(0, PREFILL_SLOTS * ranges.max_chunk_tokens + 1))
        if decodes == 0 and prefills == 0:
            decodes, contexts = 1, rng.integers(1, ranges.max_context_tokens + 1, size=1)
        gpu_X.append(gpu_features(chunks, done, decodes)[0])
        gpu_y.append(times.gpu_stage_s(chunks, done, decodes))
        pim_X.append(pim_features(contexts.sum(), decodes, other)[0])
        pim_y.append(times.pim_stage_s(contexts, other))
    return Samples(np.array(gpu_X), np.array(gpu_y), np.array(pim_X), np.array(pim_y))


def train(times: StageTimes, ranges: SamplingRanges, count: int, seed: int, gpu_refit_every: int = 1000,
          pim_refit_every: int = 1000, gpu_trees: int = 20):
    """A GPUTimePredictor (a forest of ``gpu_trees``) and a PIMTimePredictor fitted on ``count`` samples of
    ``times``, refitting online every ``gpu_refit_every`` / ``pim_refit_every`` observations."""
    from l3sim.serving.predictors.gpu import GPUTimePredictor
    from l3sim.serving.predictors.pim import PIMTimePredictor

    samples = draw_samples(times, ranges, count, np.random.default_rng(seed))
    gpu = GPUTimePredictor(n_estimators=gpu_trees, seed=seed, refit_every=gpu_refit_every).fit(samples.gpu_X,
                                                                                               samples.gpu_y)
    pim = PIMTimePredictor(refit_every=pim_refit_every).fit(samples.pim_X, samples.pim_y)
    return gpu, pim

"""Synthetic request lengths drawn from a published mean and standard deviation.

The L3 paper gives only the mean and std of prompt and output tokens per
dataset. A family with two parameters is fixed by those two moments:

- ``lognormal`` (default): positive and right-skewed, the shape usually fitted
  to LLM prompt and output lengths; sigma^2 = ln(1 + (std/mean)^2),
  mu = ln(mean) - sigma^2 / 2 reproduce mean and std exactly.
- ``gamma``: the lighter-tailed alternative; shape = (mean/std)^2,
  scale = std^2 / mean.

A draw x is scaled by ``length_scale`` and made a token count by rounding to
the nearest integer and raising values below 1 to 1 (a request has at least
one token). Rounding adds about 1/12 to the variance; raising to 1 moves the
mean up by at most P(x < 0.5); docs/workloads.md gives both effects per preset.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from l3sim.errors import ConfigError
from l3sim.spec.numbers import MAX_REQUEST_TOKENS
from l3sim.spec.workload import WorkloadSpec

Sampler = Callable[[float, float, int, np.random.Generator], np.ndarray]


def lognormal_params(mean: float, std: float) -> tuple[float, float]:
    """(mu, sigma) of the lognormal with this mean and standard deviation."""
    sigma2 = np.log1p((std / mean) ** 2)
    return float(np.log(mean) - sigma2 / 2), float(np.sqrt(sigma2))


def _lognormal(mean: float, std: float, size: int, rng: np.random.Generator) -> np.ndarray:
    mu, sigma = lognormal_params(mean, std)
    return rng.lognormal(mu, sigma, size)


def _gamma(mean: float, std: float, size: int, rng: np.random.Generator) -> np.ndarray:
    if std == 0:
        return np.full(size, mean)
    return rng.gamma((mean / std) ** 2, std**2 / mean, size)


LENGTH_SAMPLERS: dict[str, Sampler] = {"lognormal": _lognormal, "gamma": _gamma}


def to_token_counts(lengths: np.ndarray) -> np.ndarray:
    """Round positive real lengths to int64 token counts, at least 1."""
    return np.maximum(np.rint(lengths), 1).astype(np.int64)


def sample_lengths(workload: WorkloadSpec, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` (prompt_tokens, output_tokens) pairs of a synthetic workload, drawn independently.

    Prompts are drawn first, then outputs, both from ``rng``.
    """
    if workload.kind != "synthetic":
        raise ConfigError(f"workload {workload.name!r} is a trace, not a synthetic length distribution")
    sampler = LENGTH_SAMPLERS[workload.length_distribution]
    scale = workload.length_scale
    prompt = sampler(workload.prompt_mean, workload.prompt_std, count, rng) * scale
    output = sampler(workload.output_mean, workload.output_std, count, rng) * scale
    for name, lengths in (("prompt", prompt), ("output", output)):
        if not np.all(np.isfinite(lengths) & (lengths <= MAX_REQUEST_TOKENS)):
            raise ConfigError(f"workload {workload.name!r}: a sampled {name} length exceeds {MAX_REQUEST_TOKENS:,} "
                              f"tokens (or overflows); {name}_mean and {name}_std are too large")
    return to_token_counts(prompt), to_token_counts(output)

"""Synthetic lengths: sample moments against the paper's published statistics.

Tolerance: 5 standard errors of the estimator, the standard errors taken from
the fitted family's closed-form moments (derived here from mean and std, not
from the code): SE(mean) = std / sqrt(n); SE(std) = std * sqrt(kurtosis - 1) / (2 sqrt(n))
(delta method on the sample variance), with kurtosis w^4 + 2w^3 + 3w^2 - 3,
w = 1 + (std/mean)^2, for the lognormal and 3 + 6 (std/mean)^2 for the gamma.
Rounding to whole tokens (>= 1) shifts the moments by far less than one SE for
every preset (about 1/12 token^2 of variance; P(x < 0.5) of mean at most).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from l3sim.spec.presets import load_preset_data, preset_names
from l3sim.spec.workload import WorkloadSpec
from l3sim.workload import LENGTH_SAMPLERS, lognormal_params, sample_lengths

N = 200_000
Z = 5.0

# L3 paper, trace table: (input mean, input std, output mean, output std) and the length scale
PUBLISHED = {
    "openr1": (96.0, 75.1, 12684.1, 8464.6, 1.0),
    "dolphin": (201.9, 563.0, 3926.2, 4216.0, 1.0),
    "openthoughts": (89.4, 66.7, 6366.7, 4662.9, 1.0),
    "dolphin-short": (201.9, 563.0, 3926.2, 4216.0, 0.1),  # Dolphin-r1, every text cut to one tenth
}


def kurtosis(family: str, mean: float, std: float) -> float:
    cv2 = (std / mean) ** 2
    if family == "gamma":
        return 3 + 6 * cv2
    w = 1 + cv2
    return w**4 + 2 * w**3 + 3 * w**2 - 3


def assert_moments(samples: np.ndarray, mean: float, std: float, family: str) -> None:
    se_mean = std / math.sqrt(len(samples))
    se_std = std * math.sqrt(kurtosis(family, mean, std) - 1) / (2 * math.sqrt(len(samples)))
    assert abs(samples.mean() - mean) <= Z * se_mean, (samples.mean(), mean, se_mean)
    assert abs(samples.std() - std) <= Z * se_std, (samples.std(), std, se_std)


def preset(name: str) -> WorkloadSpec:
    return WorkloadSpec.parse(load_preset_data("workloads", name)[0])


def test_every_published_dataset_has_a_preset() -> None:
    assert set(PUBLISHED) <= set(preset_names("workloads"))


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_preset_sample_moments_match_published(name: str) -> None:
    p_mean, p_std, o_mean, o_std, scale = PUBLISHED[name]
    workload = preset(name)
    assert workload.length_distribution == "lognormal" and workload.length_scale == scale
    prompt, output = sample_lengths(workload, N, np.random.default_rng(11))
    assert prompt.dtype == np.int64 and prompt.min() >= 1 and output.min() >= 1
    assert_moments(prompt, p_mean * scale, p_std * scale, "lognormal")
    assert_moments(output, o_mean * scale, o_std * scale, "lognormal")


def test_openr1_moments_within_two_percent() -> None:
    # the light-tailed presets meet "within a few percent" outright (openr1: SE(std) is 0.5 %)
    prompt, output = sample_lengths(preset("openr1"), N, np.random.default_rng(5))
    for samples, mean, std in ((prompt, 96.0, 75.1), (output, 12684.1, 8464.6)):
        assert samples.mean() == pytest.approx(mean, rel=0.02)
        assert samples.std() == pytest.approx(std, rel=0.02)


def test_gamma_family_moments() -> None:
    workload = preset("openthoughts").model_copy(update={"length_distribution": "gamma"})
    prompt, output = sample_lengths(workload, N, np.random.default_rng(2))
    assert_moments(prompt, 89.4, 66.7, "gamma")
    assert_moments(output, 6366.7, 4662.9, "gamma")


@pytest.mark.parametrize(("mean", "std"), [(96.0, 75.1), (201.9, 563.0), (5.0, 0.0)])
def test_lognormal_params_reproduce_mean_and_variance(mean: float, std: float) -> None:
    mu, sigma = lognormal_params(mean, std)
    assert math.exp(mu + sigma**2 / 2) == pytest.approx(mean, rel=1e-12)
    assert math.sqrt(math.expm1(sigma**2) * math.exp(2 * mu + sigma**2)) == pytest.approx(std, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("z", [-2.0, -1.0, 0.0, 1.0, 2.0])
def test_lognormal_quantiles(z: float) -> None:
    # shape check beyond two moments: P(X <= exp(mu + z sigma)) = Phi(z), mu and sigma from mean and std
    mean, std = 201.9, 563.0
    w = 1 + (std / mean) ** 2
    mu, sigma = math.log(mean / math.sqrt(w)), math.sqrt(math.log(w))
    draws = LENGTH_SAMPLERS["lognormal"](mean, std, N, np.random.default_rng(7))
    phi = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    fraction = np.mean(draws <= math.exp(mu + z * sigma))
    assert abs(fraction - phi) <= Z * math.sqrt(phi * (1 - phi) / N)


@pytest.mark.parametrize("family", sorted(LENGTH_SAMPLERS))
def test_zero_std_gives_constant_lengths(family: str) -> None:
    workload = WorkloadSpec(name="c", prompt_mean=10, prompt_std=0, output_mean=3.4, output_std=0,
                            length_distribution=family)
    prompt, output = sample_lengths(workload, 100, np.random.default_rng(0))
    assert set(prompt.tolist()) == {10} and set(output.tolist()) == {3}


def test_same_seed_same_lengths_and_prompts_do_not_depend_on_outputs() -> None:
    a = sample_lengths(preset("dolphin"), 1000, np.random.default_rng(9))
    b = sample_lengths(preset("dolphin"), 1000, np.random.default_rng(9))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], sample_lengths(preset("dolphin"), 1000, np.random.default_rng(10))[0])

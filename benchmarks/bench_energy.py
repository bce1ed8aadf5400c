"""Speed of the energy model (one 1,000-request OpenR1 run's lengths, L3) and of the roofline at OpenR1's mean output."""

from __future__ import annotations

import numpy as np

from l3sim.experiments.energy_accounting import run_energy
from l3sim.hw.roofline import roofline
from l3sim.serving.systems import roofline_devices
from l3sim.spec.run import build_run_spec

SPEC = build_run_spec(platform="dgx-a100", model="gpt-175b", workload="openr1", system="l3")
RNG = np.random.default_rng(0)
PROMPTS = RNG.integers(10, 400, size=1000)
OUTPUTS = RNG.integers(100, 40_000, size=1000)  # up to ~40k decode contexts, as a long OpenR1 draw
METRICS = {"output_tokens": int(OUTPUTS.sum()), "makespan_s": 1e4, "iterations": 50_000}


def test_l3_run_energy_1000_requests(benchmark):
    result = benchmark(run_energy, SPEC, METRICS, prompt_tokens=PROMPTS, output_tokens=OUTPUTS)
    assert result.attention_j > 0


def test_roofline_openr1_mean_context(benchmark):
    curves = benchmark(roofline, SPEC, 12_684, roofline_devices())
    assert len(curves.devices) == 6

"""The long-prompt workload presets (issue 15 item 4): longbench's two moments, the Mooncake trace presets."""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.spec.presets import load_preset_data
from l3sim.spec.workload import WorkloadSpec
from l3sim.workload import load_requests

# LongBench v1 task.md (average words, samples) and dataset2maxlen.json (cap) of the 14 English and code tasks
# that have a cap; prompt tokens = words x 4/3 (docs/workloads.md)
TASKS = [(9151, 200, 32), (4887, 200, 32), (11214, 200, 32), (4559, 150, 64), (18409, 200, 128), (3619, 200, 128),
         (8734, 200, 512), (10614, 200, 512), (8209, 200, 32), (5177, 200, 64), (9289, 200, 32), (11141, 200, 32),
         (1235, 500, 64), (4206, 500, 64)]


def _preset(name: str) -> WorkloadSpec:
    return WorkloadSpec.parse(load_preset_data("workloads", name)[0])


def _weighted(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    mean = float(np.average(values, weights=weights))
    return mean, float(np.sqrt(np.average((values - mean) ** 2, weights=weights)))


def test_longbench_moments_are_the_task_mixture():
    words, samples, caps = (np.array(column, dtype=float) for column in zip(*TASKS))
    preset = _preset("longbench")
    prompt_mean, prompt_std = _weighted(words * 4 / 3, samples)
    output_mean, output_std = _weighted(caps, samples)
    assert (preset.prompt_mean, preset.prompt_std) == pytest.approx((prompt_mean, prompt_std), abs=0.05)
    assert (preset.output_mean, preset.output_std) == pytest.approx((output_mean, output_std), abs=0.05)
    assert preset.kind == "synthetic" and preset.length_distribution == "lognormal"


def test_longbench_draws_long_prompts_and_short_outputs():
    requests = load_requests(_preset("longbench"), 20_000, seed=1)
    prompts = np.array([r.prompt_tokens for r in requests])
    outputs = np.array([r.output_tokens for r in requests])
    assert prompts.mean() == pytest.approx(9350.5, rel=0.03)
    assert outputs.mean() == pytest.approx(113.7, rel=0.05)


@pytest.mark.shared
@pytest.mark.parametrize("name, file, rows", [("mooncake-conversation", "mooncake_conversation_trace.jsonl", 12_031),
                                              ("mooncake-synthetic", "mooncake_synthetic_trace.jsonl", 3_993)])
def test_mooncake_presets_read_the_shared_traces(shared_dir, name, file, rows):
    preset = _preset(name)
    assert preset.kind == "trace" and preset.format == "mooncake" and preset.path.endswith(f"traces/{file}")
    workload = preset.model_copy(update={"path": str(shared_dir / "traces" / file)})
    assert len(load_requests(workload, None, seed=0, arrival="trace")) == rows

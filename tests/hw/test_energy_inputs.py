"""What the energy model reads from a run, by hand: the run's aggregates (FC FLOPs, prefill tokens with
recompute, FC passes) nested or flattened as in a store row, every GPU of a TP x DP deployment, the
makespan check, and the decode histogram's input checks and types.

Written against the energy mutants mutmut left alive (docs/testing.md): each assertion is a value or an error
derived here, not read back from the code.
"""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.errors import ConfigError
from l3sim.experiments.energy_accounting import run_energy
from l3sim.hw.energy import decode_histogram
from l3sim.spec.energy import EnergySpec
from l3sim.spec.run import build_run_spec

from test_energy_model import TINY_MODEL, metrics

PJ = 1e-12
HBM_J_PER_BYTE = 3.9 * 8 * PJ
# TINY_MODEL's parameters (test_energy_model.py): 2 layers of QKV, out, FFN up/gate/down and 2 norms, the
# embedding and LM head, the final norm; norms (2 x 2 x 256 + 256 = 1,280) are replicated over a TP group.
PARAMS = 2 * (256 * 768 + 256 * 256 + 2 * 256 * 512 + 2 * 256) + 2 * 1000 * 256 + 256
REPLICATED = 2 * 2 * 256 + 256
PER_TOKEN_FC_FLOPS = 2 * (2 * 256 * 768 + 2 * 256 * 256 + 2 * 256 * 512 * 2)
LM_HEAD_FLOPS = 2 * 256 * 1000


def _spec(tp: int = 1, dp: int = 1):
    model = {**TINY_MODEL, "parallel": {"tp": tp, "dp": dp}}
    return build_run_spec(platform="dgx-a100", model=model, workload="openr1", requests=4, system="gpu-only")


def test_every_gpu_of_the_deployment_pays_static_power_and_each_replica_reads_its_weights():
    """TP 2 x DP 2 = 4 GPUs at 60 W for 2 s; one FC pass reads a replica's weights: the sharded ones once
    and the replicated ones on both GPUs of the TP group, (PARAMS + REPLICATED) x 2 bytes."""
    result = run_energy(_spec(tp=2, dp=2), metrics(3, makespan_s=2.0, iterations=5), EnergySpec(),
                        prompt_tokens=[2], output_tokens=[3])
    assert result.parts["gpu_static"] == pytest.approx(60.0 * 4 * 2.0, rel=1e-12)
    assert result.parts["fc_weight_reads"] == pytest.approx(5 * (PARAMS + REPLICATED) * 2 * HBM_J_PER_BYTE,
                                                            rel=1e-12)


@pytest.mark.parametrize("flat", [False, True])
def test_aggregates_of_the_run_take_precedence(flat):
    """A run that recomputed (prefill 7 tokens for a prompt of 2) and reports its FC passes (9, not its 3
    iterations): FC FLOPs = (7 prefill + 2 decode tokens) x per token + 3 LM-head rows; weights read 9 times.
    With ``aggregates.fc_flops`` the run's own count (here 1e9) replaces that sum."""
    aggregates = {"prefill_tokens": 7, "fc_passes": 9}
    row = metrics(3)
    row.update({f"aggregates.{k}": v for k, v in aggregates.items()} if flat else {"aggregates": aggregates})
    result = run_energy(_spec(), row, EnergySpec(), prompt_tokens=[2], output_tokens=[3])
    flops = (7 + 2) * PER_TOKEN_FC_FLOPS + 3 * LM_HEAD_FLOPS
    assert result.parts["fc_compute"] == pytest.approx(flops * 1.09 * PJ, rel=1e-12)
    assert result.parts["fc_weight_reads"] == pytest.approx(9 * PARAMS * 2 * HBM_J_PER_BYTE, rel=1e-12)
    given = {**aggregates, "fc_flops": 1e9}
    row = metrics(3)
    row.update({f"aggregates.{k}": v for k, v in given.items()} if flat else {"aggregates": given})
    result = run_energy(_spec(), row, EnergySpec(), prompt_tokens=[2], output_tokens=[3])
    assert result.parts["fc_compute"] == pytest.approx(1e9 * 1.09 * PJ, rel=1e-12)


def test_makespan_must_be_positive_but_may_be_short():
    with pytest.raises(ConfigError, match="makespan_s must be a positive number"):
        run_energy(_spec(), metrics(3, makespan_s=0.0), prompt_tokens=[2], output_tokens=[3])
    with pytest.raises(ConfigError, match="makespan_s"):
        run_energy(_spec(), {k: v for k, v in metrics(3).items() if k != "makespan_s"}, prompt_tokens=[2],
                   output_tokens=[3])
    short = run_energy(_spec(), metrics(3, makespan_s=0.5), EnergySpec(), prompt_tokens=[2], output_tokens=[3])
    assert short.parts["gpu_static"] == pytest.approx(60.0 * 0.5, rel=1e-12)


def test_missing_iterations_is_an_error_naming_them():
    with pytest.raises(ConfigError, match="lack 'iterations'"):
        run_energy(_spec(), {k: v for k, v in metrics(3).items() if k != "iterations"}, prompt_tokens=[2],
                   output_tokens=[3])


@pytest.mark.parametrize("prompts, outputs", [([3, 4], [2]), ([0], [5]), ([5], [0])])
def test_decode_histogram_rejects_bad_lengths(prompts, outputs):
    with pytest.raises(ConfigError, match="equal-length arrays of values >= 1"):
        decode_histogram(prompts, outputs)


def test_decode_histogram_types_and_the_empty_case():
    """Only requests with 2+ outputs decode; the histogram is integer, empty when nobody decodes."""
    contexts, counts = decode_histogram([5, 9], [1, 1])
    assert contexts.size == counts.size == 0
    assert contexts.dtype == counts.dtype == np.int64
    contexts, counts = decode_histogram([5], [3])  # decodes over 6 and 7 tokens
    assert contexts.tolist() == [6, 7] and counts.tolist() == [1, 1]
    assert contexts.dtype == counts.dtype == np.int64


@pytest.mark.parametrize("system, attention_parts", [
    ("gpu-only", {"decode_kv_reads", "decode_attention_compute"}),
    ("hbm-pim", {"decode_kv_inbank_reads", "decode_pim_macs"}),
])
def test_parts_are_named_per_system(system, attention_parts):
    """The breakdown names its terms (the energy study's columns): FC, the system's attention terms, prefill
    attention and GPU static power, and it is labelled with the system."""
    spec = build_run_spec(platform="dgx-a100", model=TINY_MODEL, workload="openr1", requests=4, system=system)
    result = run_energy(spec, metrics(3), EnergySpec(), prompt_tokens=[2], output_tokens=[3])
    assert result.system == system
    assert set(result.parts) == {"fc_compute", "fc_weight_reads", *attention_parts, "prefill_attention_compute",
                                 "gpu_static"}
    assert all(value > 0 for value in result.parts.values())

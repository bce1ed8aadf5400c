"""Long prompts on L3 (issue 15 item 4): the prefill KV's trip to the DIMMs is modelled and shows in the account.

The model (l3sim.hw.comm): a prefilled token's K/V (2 x layers x kv heads x head dim x dtype bytes) is
streamed GPU -> DIMMs over the host links while the GPU computes the dense layers, so it is counted in
``pcie_bytes`` but kept off the attention stage's critical path on the link; on the host it occupies the
DDR channels, and rankset overlap divides that channel time by the ranksets. These tests check the
assumption that makes the link side free (the stream fits inside the chunk's dense layers), that the bytes
are counted, and that the channel side and the prefill show in the run's loss account.
"""

from __future__ import annotations

import pytest

from l3sim.serving import simulate
from l3sim.serving.systems import build_system
from l3sim.spec.run import build_run_spec


def _spec(model: str, *overrides: str, requests: int = 6):
    return build_run_spec(list(overrides), system="l3", model=model, workload="longbench", platform="dgx-a100",
                          requests=requests, arrival="poisson:0.5")


def _kv_bytes_per_token(model) -> int:
    return 2 * model.num_layers * model.num_kv_heads * model.head_dim * model.dtype_bytes


@pytest.mark.parametrize("model", ["gpt-175b", "qwen-72b"])
@pytest.mark.parametrize("chunk", [512, 2048, 8192])
def test_the_prefill_kv_stream_fits_inside_the_chunks_dense_layers(model, chunk):
    spec = _spec(model)
    system = build_system(spec)
    link_s = chunk * _kv_bytes_per_token(spec.model) / (spec.deployment.tp * spec.platform.host_link.bw_bytes_per_s)
    assert link_s < system.fc_s(chunk, 1)  # the asynchronous stream never waits on the link


def test_long_prompt_kv_crosses_the_link_and_shows_in_the_account():
    spec = _spec("gpt-175b")
    result = simulate(spec)
    agg = result.aggregates
    assert agg["prefill_tokens"] >= result.requests_table["prompt_tokens"].sum()
    assert agg["pcie_bytes"] >= agg["prefill_tokens"] * _kv_bytes_per_token(spec.model)
    assert result.losses_s["prefill"] > 0
    assert result.losses_s["host_link"] > 0


def test_rankset_overlap_hides_all_but_one_rankset_share_of_the_channel_time():
    on = build_system(_spec("gpt-175b")).comm
    off = build_system(_spec("gpt-175b", "devices.comm.rankset_overlap=false")).comm
    ranksets = build_run_spec([], system="l3", model="gpt-175b", workload="longbench",
                              platform="dgx-a100").memory.num_ranksets
    prompt = 9000
    assert on.ddr_stall_s(0, prompt) == pytest.approx(off.ddr_stall_s(0, prompt) / ranksets, rel=1e-12)
    assert off.ddr_stall_s(0, prompt) > 0

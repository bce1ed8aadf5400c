"""How a request-layer spreads over the ranks of a rankset (devices.dimm_pim.layer_split)."""

from __future__ import annotations

import pytest

from l3sim.hw.devices.builders import dimm_pim, layer_split
from l3sim.spec.run import build_run_spec


def spec_for(model: str, *overrides: str):
    return build_run_spec(list(overrides), platform="dgx-a100", model=model, workload="openr1", system="l3")


def test_gpt175b_splits_heads_over_all_16_channels() -> None:
    # MHA with N_hc = 8: one head fills a rank's 8 chips; 96 heads over 16 channels divide evenly.
    assert layer_split(spec_for("gpt-175b")) == ("heads", 16)


def test_qwen72b_splits_tokens_over_its_replica_channels() -> None:
    # GQA-8 with N_hc = 1: the 8 KV heads fill one rank, so a head split reaches one channel only;
    # dp = 2 gives each replica 16 / 2 = 8 channels, all of which share every layer by tokens.
    assert layer_split(spec_for("qwen-72b")) == ("tokens", 8)


def test_token_split_streams_each_layer_from_every_channel() -> None:
    tokens = dimm_pim(spec_for("qwen-72b"), "l3")
    one_rank = dimm_pim(spec_for("qwen-72b", "devices.dimm_pim.layer_split=tokens",
                                 "devices.dimm_pim.ranks_per_layer=1"), "l3")
    # the same per-rank work, divided over 8 ranks working at once
    assert tokens.per_token_s == pytest.approx(one_rank.per_token_s / 8)
    assert tokens.fixed_s == pytest.approx(one_rank.fixed_s)
    assert tokens.slots * 8 == one_rank.slots


def test_explicit_group_must_divide_the_channels() -> None:
    from l3sim.errors import ConfigError

    with pytest.raises(ConfigError, match="ranks_per_layer"):
        layer_split(spec_for("gpt-175b", "devices.dimm_pim.ranks_per_layer=3"))

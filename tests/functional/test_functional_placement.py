"""KV placement: round trips, bijectivity of addresses, layer interleave, capacity and shape errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.errors import CapacityError, ConfigError
from l3sim.functional.burst import DDR5_X8
from l3sim.functional.placement import KVCacheStore, KVLayoutSpec

# (layout, kv_heads, head_dim) combinations that divide
SHAPES = [
    (KVLayoutSpec(), 2, 128),  # MHA-style, N_hc = 8, V over 4 banks
    (KVLayoutSpec(chips_per_head=1), 8, 128),  # GQA-8, one KV head per chip
    (KVLayoutSpec(chips_per_head=2, v_banks_per_vector=2), 4, 64),
    (KVLayoutSpec(v_banks_per_vector=2), 3, 64),  # SmolLM2
    (KVLayoutSpec(burst=DDR5_X8, chips_per_head=4, v_banks_per_vector=2), 1, 128),
    (KVLayoutSpec(element_format="fp32", v_banks_per_vector=2), 1, 64),
]


@settings(max_examples=40, deadline=None)
@given(case=st.sampled_from(SHAPES), layers=st.integers(1, 9), tokens=st.integers(1, 70),
       split=st.integers(0, 70), seed=st.integers(0, 2**32 - 1))
def test_append_then_gather_round_trips(case, layers, tokens, split, seed):
    layout, heads, hd = case
    rng = np.random.default_rng(seed)
    store = KVCacheStore(layout, layers, heads, hd, max_tokens=tokens)
    k = rng.standard_normal((layers, heads, tokens, hd)).astype(np.float16).astype(np.float32)
    v = rng.standard_normal((layers, heads, tokens, hd)).astype(np.float16).astype(np.float32)
    cut = min(split, tokens)
    if cut:
        store.append(k[:, :, :cut], v[:, :, :cut])
    for t in range(cut, tokens):  # then token by token, layer by layer, as decoding does
        for layer in range(layers):
            store.append(k[layer, :, t : t + 1], v[layer, :, t : t + 1], layer=layer)
    got_k, got_v = store.gather()
    assert np.array_equal(got_k, k) and np.array_equal(got_v, v)
    layer = int(rng.integers(layers))
    g = store.geo
    assert np.array_equal(store.chip_operands(layer, "k").reshape(heads, tokens, hd), k[layer])
    assert np.array_equal(store.chip_operands(layer, "v").reshape(heads, tokens, hd), v[layer])
    assert store.chip_operands(layer, "k").shape == (heads, tokens, g.chips_per_head, hd // g.chips_per_head)


@pytest.mark.parametrize("case", SHAPES)
def test_addresses_are_distinct_and_in_bounds(case):
    layout, heads, hd = case
    store = KVCacheStore(layout, 5, heads, hd, max_tokens=77)
    layers, tokens = np.arange(5), np.arange(77)
    flat = []
    for which in ("k", "v"):
        addr = store._addresses(layers, tokens, which)
        for a, bound in zip(addr, store.cells.shape[:4]):
            assert a.min() >= 0 and a.max() < bound
        flat.append(np.ravel_multi_index(addr, store.cells.shape[:4]).ravel())
    every = np.concatenate(flat)
    assert len(np.unique(every)) == len(every)  # no burst is written twice: the mapping is injective


def test_k_token_banks_and_layer_interleave():
    layout = KVLayoutSpec()
    store = KVCacheStore(layout, 8, 1, 128, max_tokens=40)
    k = np.zeros((1, 40, 128), dtype=np.float32)
    k[:, 21] = 1.0  # token 21 of layer 6 only
    store.append(k, np.zeros_like(k), layer=6)
    touched = np.argwhere(store.cells.any(axis=(2, 3, 4, 5, 6)))
    # layer 6 -> rankset 6 % 4 = 2; token 21 -> bank 21 % 16 = 5 (same bank in every chip)
    assert touched.tolist() == [[2, 5]]
    chips = np.argwhere(store.cells[2, 5].any(axis=(0, 1, 2, 4)))[:, 0]
    assert chips.tolist() == list(range(8))  # split across all chips of the rank (N_hc = 8)


def test_v_is_spread_over_banks_at_burst_granularity():
    store = KVCacheStore(KVLayoutSpec(), 1, 1, 128, max_tokens=16)
    v = np.zeros((1, 1, 128), dtype=np.float32)
    v[0, 0] = 1.0
    store.append(np.zeros_like(v), v, layer=0)
    banks = np.argwhere(store.cells[0].any(axis=(1, 2, 3, 4, 5)))[:, 0]
    # token 0, V bank group 0: bursts 0..3 of each chip's 16-element slice go to banks 0..3
    assert banks.tolist() == [0, 1, 2, 3]


def test_append_beyond_capacity_is_a_capacity_error():
    store = KVCacheStore(KVLayoutSpec(), 2, 1, 128, max_tokens=3)
    x = np.ones((2, 1, 3, 128))
    store.append(x, x)
    with pytest.raises(CapacityError, match="full"):
        store.append(x[:, :, :1], x[:, :, :1])


def test_layout_larger_than_dram_is_a_capacity_error():
    with pytest.raises(CapacityError, match="rows per bank"):
        KVCacheStore(KVLayoutSpec(rows_per_bank=4), 4, 8, 128, max_tokens=4096)


@pytest.mark.parametrize("layout,heads,hd,what", [
    (KVLayoutSpec(chips_per_head=3), 1, 96, "N_hc=3"),
    (KVLayoutSpec(), 1, 100, "head_dim 100"),
    (KVLayoutSpec(chips_per_head=1), 3, 128, "3 KV heads"),
    (KVLayoutSpec(), 3, 64, "2 bursts per chip slice"),
])
def test_shapes_that_do_not_divide_name_shape_and_mapping(layout, heads, hd, what):
    with pytest.raises(ConfigError) as err:
        KVCacheStore(layout, 1, heads, hd, max_tokens=8)
    assert what in str(err.value) and f"head_dim={hd}" in str(err.value) and "N_hc=" in str(err.value)


def test_relayout_off_round_trips_but_bank_pus_see_split_elements():
    store = KVCacheStore(KVLayoutSpec(relayout=False), 1, 1, 128, max_tokens=4)
    k = np.random.default_rng(0).standard_normal((1, 1, 4, 128)).astype(np.float16)
    store.append(k, k)
    assert np.array_equal(store.gather()[0], k)
    assert not np.array_equal(store.chip_operands(0, "k").reshape(1, 4, 128), k[0])

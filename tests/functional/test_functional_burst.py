"""Byte lanes and the re-layout permutation: closed forms from the DDR pin-out, round trips, streaming."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from l3sim.errors import ConfigError
from l3sim.functional.burst import (
    DDR4_X8,
    DDR5_X8,
    BurstSpec,
    byte_placement,
    chip_bytes,
    read_bursts,
    relayout_permutation,
    relayout_schedule,
    write_bursts,
)
from l3sim.functional.numerics import ELEMENT_BYTES, from_bytes, round_to, to_bytes

BURSTS = {"ddr4-x8": DDR4_X8, "ddr5-x8": DDR5_X8, "ddr4-x16": BurstSpec(chips_per_subchannel=4, device_width_bits=16)}


def test_standard_ddr4_lanes_put_byte_i_of_a_beat_on_chip_i():
    chip, beat = byte_placement(DDR4_X8, 2, relayout=False)
    b = np.arange(64).reshape(32, 2)
    assert np.array_equal(chip, b % 8) and np.array_equal(beat, b // 8)


def test_relayout_fp16_ddr4_closed_form():
    # element e of a 64-byte burst: chip e % 8, beats 2*(e // 8) and 2*(e // 8) + 1 (a beat pair)
    chip, beat = byte_placement(DDR4_X8, 2, relayout=True)
    e = np.arange(32)
    assert np.array_equal(chip, np.stack([e % 8, e % 8], axis=1))
    assert np.array_equal(beat, np.stack([2 * (e // 8), 2 * (e // 8) + 1], axis=1))


@pytest.mark.parametrize("burst", BURSTS.values(), ids=BURSTS.keys())
@pytest.mark.parametrize("fmt", ["fp16", "bf16", "fp32"])
def test_only_relayout_keeps_elements_whole(burst, fmt):
    size = ELEMENT_BYTES[fmt]
    chip, _ = byte_placement(burst, size, relayout=False)
    if size > burst.lane_bytes:  # a lane narrower than the element: no chip holds a whole element
        assert np.all(chip.min(axis=1) != chip.max(axis=1))
    chip, beat = byte_placement(burst, size, relayout=True)
    assert np.all(chip == chip[:, :1])
    lane_beats = beat[:, :: burst.lane_bytes]
    assert np.all(np.diff(lane_beats, axis=1) == 1)  # consecutive beats of the same burst
    # every chip holds the same number of whole elements
    assert np.all(np.bincount(chip[:, 0], minlength=burst.chips_per_subchannel)
                  == burst.burst_bytes // size // burst.chips_per_subchannel)


@pytest.mark.parametrize("burst", BURSTS.values(), ids=BURSTS.keys())
@pytest.mark.parametrize("size", [2, 4, None])
def test_permutation_is_a_bijection(burst, size):
    perm = relayout_permutation(burst, size)
    assert np.array_equal(np.sort(perm), np.arange(burst.burst_bytes))


@settings(max_examples=60, deadline=None)
@given(burst=st.sampled_from(list(BURSTS.values())), fmt=st.sampled_from(["fp16", "bf16", "fp32"]),
       lead=st.lists(st.integers(1, 4), min_size=0, max_size=2), seed=st.integers(0, 2**32 - 1))
def test_write_then_read_returns_the_bytes(burst, fmt, lead, seed):
    rng = np.random.default_rng(seed)
    n = burst.burst_bytes // ELEMENT_BYTES[fmt]
    values = rng.standard_normal((*lead, n)).astype(np.float32) * 100
    host = to_bytes(values, fmt)
    phys = write_bursts(host, burst, ELEMENT_BYTES[fmt])
    assert phys.shape == (*lead, burst.burst_length, burst.chips_per_subchannel, burst.lane_bytes)
    assert np.array_equal(read_bursts(phys, burst, ELEMENT_BYTES[fmt]), host)
    # each chip's bytes decode to whole elements: chip c holds elements c, c + chips, c + 2*chips, ...
    per_chip = from_bytes(chip_bytes(phys), fmt)
    stored = from_bytes(host, fmt)
    for c in range(burst.chips_per_subchannel):
        assert np.array_equal(per_chip[..., c, :], stored[..., c:: burst.chips_per_subchannel], equal_nan=True)


@pytest.mark.parametrize("burst", BURSTS.values(), ids=BURSTS.keys())
@pytest.mark.parametrize("size", [2, 4])
def test_relayout_streams_with_double_buffering(burst, size):
    group = size // burst.lane_bytes
    sched = relayout_schedule(burst, size)
    assert sched["window_beats"] == group
    assert sched["latency_beats"] == group  # one window: a beat pair (one tCK) for FP16 on x8
    assert sched["max_buffered_beats"] <= 2 * group


def test_impossible_relayout_is_a_config_error():
    with pytest.raises(ConfigError, match="x32"):
        relayout_permutation(BurstSpec(chips_per_subchannel=2, device_width_bits=32), 2)
    with pytest.raises(ConfigError, match="BL2"):
        relayout_permutation(BurstSpec(burst_length=2), 4)


@settings(max_examples=200, deadline=None)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False).filter(lambda x: abs(x) < 3e38))
def test_bf16_rounding_is_nearest(x):
    r = float(round_to(np.float32(x), "bf16"))
    bits = np.float32(r).view(np.uint32)
    assert bits & 0xFFFF == 0
    assert abs(r - x) <= 2.0**-8 * abs(x) + 2.0**-134  # relative, or half a subnormal step


@settings(max_examples=300, deadline=None)
@given(st.floats(width=32, allow_nan=False))
@example(2.0**115)  # the shift 2^(e+13) itself overflowed float32 here (inf - inf): NaN instead of inf
@example(-(2.0**127))
def test_fast_fp16_rounding_is_bit_identical_to_numpy(x):
    from l3sim.functional.numerics import round_fp16_as_fp32

    with np.errstate(over="ignore"):
        expect = np.float32(x).astype(np.float16).astype(np.float32)
    got = round_fp16_as_fp32(np.array([x], dtype=np.float32))[0]
    assert got.view(np.uint32) == expect.view(np.uint32)

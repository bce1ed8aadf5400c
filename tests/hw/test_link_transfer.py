"""Link transfer times: latency + bytes / bandwidth and its compositions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.hw.link import batched_transfer_time_s, striped_transfer_time_s, transfer_time_s
from l3sim.spec.platform import LinkSpec

PCIE4 = LinkSpec(name="pcie4", bw_bytes_per_s=31.5e9, latency_s=1e-6)


def test_by_hand():
    assert transfer_time_s(PCIE4, 31.5e9) == pytest.approx(1.0 + 1e-6)
    assert transfer_time_s(PCIE4, 0) == 0.0
    np.testing.assert_allclose(transfer_time_s(PCIE4, [0, 63e3]), [0.0, 1e-6 + 2e-6])
    assert batched_transfer_time_s(PCIE4, 63e3, 10) == pytest.approx(10e-6 + 2e-6)
    assert striped_transfer_time_s(PCIE4, 8 * 63e3, 8) == pytest.approx(1e-6 + 2e-6)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError):
        transfer_time_s(PCIE4, -1)
    with pytest.raises(ValueError):
        batched_transfer_time_s(PCIE4, 10, 0)
    with pytest.raises(ValueError):
        striped_transfer_time_s(PCIE4, 10, 0)


@settings(max_examples=50, deadline=None)
@given(st.floats(1, 1e12), st.floats(1, 1e12), st.integers(1, 64))
def test_properties(a, b, links):
    # Splitting one transfer in two costs one extra latency; striping never beats the latency.
    assert transfer_time_s(PCIE4, a) + transfer_time_s(PCIE4, b) == pytest.approx(
        transfer_time_s(PCIE4, a + b) + PCIE4.latency_s, rel=1e-9)
    assert batched_transfer_time_s(PCIE4, a + b, 2) == pytest.approx(
        transfer_time_s(PCIE4, a) + transfer_time_s(PCIE4, b), rel=1e-9)
    striped = striped_transfer_time_s(PCIE4, a, links)
    assert PCIE4.latency_s <= striped <= transfer_time_s(PCIE4, a) * (1 + 1e-12)

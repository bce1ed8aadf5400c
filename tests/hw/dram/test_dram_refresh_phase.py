"""The in-order engine's refresh phase: the first REF falls due tREFI - phase cycles into the stream."""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.errors import ConfigError
from l3sim.hw.dram.commands import Cmd
from l3sim.hw.dram.engine import simulate

from dram_streams import mac_rounds


@pytest.mark.parametrize("phase", [0, 1000, 9000])
def test_first_refresh_falls_due_at_trefi_minus_phase(ddr4, phase):
    t = ddr4.timing
    stream = mac_rounds(ddr4, 120, 128)  # about 1,200 cycles per round: long enough for a REF at any phase
    schedule = simulate(stream, ddr4, 1, refresh=True, refresh_phase=phase)
    ref = schedule.inserted_cycle[schedule.inserted.cmd == Cmd.REF]
    due = t.tREFI - phase
    assert due <= ref[0] <= due + t.tRAS + 16 * t.tCCD_L + t.tRP  # as soon as the open row's PREA may issue
    assert np.all(np.diff(ref) >= t.tREFI - t.tRAS - 16 * t.tCCD_L - t.tRP)


def test_phase_out_of_range_is_an_error(ddr4):
    with pytest.raises(ConfigError, match="refresh_phase"):
        simulate(mac_rounds(ddr4, 1, 8), ddr4, 1, refresh_phase=ddr4.timing.tREFI)

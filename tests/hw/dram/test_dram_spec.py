"""DRAM specs and presets: the paper's configuration arithmetic, JEDEC relations, clear errors."""

from __future__ import annotations

import pytest

from l3sim.errors import ConfigError
from l3sim.spec.dram import DRAMSpec, HostMemorySpec, load_memory
from l3sim.spec.presets import load_preset_data, preset_names


def memory(name: str, overrides=()) -> HostMemorySpec:
    return load_memory(name, overrides)


def dram_data(name: str):
    data, _ = load_preset_data("dram", name)
    return data


def test_all_presets_parse():
    assert set(preset_names("dram")) >= {"ddr4-3200", "ddr5-4800", "ddr5-5600", "ddr5-6400"}
    for name in preset_names("dram"):
        DRAMSpec.parse(*load_preset_data("dram", name))
    for name in preset_names("memory"):
        memory(name)


def test_paper_host_arithmetic():
    """L3 paper, section VI: 16 ch x 2 DIMM x 2 ranks, 8 x8 chips of 16 banks, 2 TB, 4 ranksets."""
    m = memory("dgx-a100-l3")
    assert (m.channels, m.ranks_per_channel, m.total_ranks, m.num_ranksets) == (16, 4, 64, 4)
    assert m.capacity_bytes == 2 * 2**40  # 2 TB counted in binary units
    assert m.cpu_bw_bytes_per_s == pytest.approx(16 * 8 * 3200e6)  # 409.6 GB/s (paper quotes 406)
    d = m.dram
    assert d.subchannel_peak_bw_bytes_per_s == pytest.approx(25.6e9)
    rank_pim = m.total_ranks * d.subchannel_peak_bw_bytes_per_s
    assert rank_pim == pytest.approx(1.6384e12)  # paper: R-PIM 1.6 TB/s
    assert d.bank_column_bw_bytes_per_s == pytest.approx(8 / 5e-9)  # 8 B per tCCD_L = 5 ns
    bank_pim = d.bank_column_bw_bytes_per_s * d.organisation.banks_per_chip * d.organisation.chips_per_rank * 64
    assert bank_pim == pytest.approx(13.1072e12)  # paper: 13.0-13.1 TB/s
    assert d.organisation.column_accesses_per_row == 128


def test_ddr5_server_arithmetic():
    m = memory("ddr5-server")
    d = m.dram
    assert d.channel_bus_bits == 64 and d.subchannel_bus_bits == 32
    assert d.channel_peak_bw_bytes_per_s == pytest.approx(4800e6 * 8)  # 38.4 GB/s
    assert m.cpu_bw_bytes_per_s == pytest.approx(12 * 38.4e9)
    assert m.bus_channels == 24
    assert d.column_bytes_per_chip == 16  # x8, BL16
    assert m.capacity_bytes == 12 * 2 * 2 * 8 * 2 * 2**30  # 8 chips of 16 Gb per rank over two sub-channels


@pytest.mark.parametrize("name", ["ddr4-3200", "ddr5-4800", "ddr5-5600", "ddr5-6400"])
def test_jedec_relations_hold_in_presets(name):
    t = DRAMSpec.parse(*load_preset_data("dram", name)).timing
    assert t.tRC == t.tRAS + t.tRP
    assert t.tCCD_L >= t.tCCD_S >= t.tBL
    assert t.tRFC < t.tREFI
    # ns-defined values come back to their definition within one clock
    assert t.tREFI * t.tCK_ns == pytest.approx(7800 if name == "ddr4-3200" else 3900, rel=1e-3)


def test_inconsistent_organisation_names_the_fields():
    data = dram_data("ddr4-3200")
    data["organisation"]["rows"] = 131072  # half the rows the 32 Gb density needs
    with pytest.raises(ConfigError) as err:
        DRAMSpec.parse(data, "test")
    text = str(err.value)
    assert "chip_density_gbit" in text and "rows" in text and "organisation" in text


def test_trc_below_tras_plus_trp_is_rejected():
    data = dram_data("ddr4-3200")
    data["timing"]["tRC"] = 60
    with pytest.raises(ConfigError, match=r"tRC \(60\) must be >= tRAS \+ tRP"):
        DRAMSpec.parse(data, "test")


def test_burst_duration_and_clock_must_match_organisation_and_rate():
    data = dram_data("ddr5-4800")
    data["timing"]["tBL"] = 4
    data["data_rate_mts"] = 3200
    with pytest.raises(ConfigError) as err:
        DRAMSpec.parse(data, "test")
    assert "tBL" in str(err.value) and "data_rate_mts" in str(err.value)


def test_memory_override_reaches_the_dram_preset():
    assert isinstance(memory("dgx-a100-l3"), HostMemorySpec)
    m = memory("dgx-a100-l3", ["channels=32", "dram.timing.tCCD_L=10"])
    assert m.cpu_bw_bytes_per_s == pytest.approx(32 * 25.6e9)
    assert m.dram.timing.tCCD_L == 10

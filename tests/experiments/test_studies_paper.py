"""The studies themselves: the paper's configuration arithmetic, normalisation, and each study's table shape."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.experiments.studies import StudyOptions, run_study
from l3sim.experiments.studies.breakdown import FRACTION_KEY, fraction_notes
from l3sim.experiments.studies.e2e import normalise
from l3sim.experiments.studies.memory_scaling import MODES, base_host, host_figures, scaled_memory

GIB = 2**30
# The paper's bank-level PIM: one 8-byte column per bank per tCCD_L = 8 x 0.625 ns (L3 paper, section VI),
# 16 banks x 8 chips per rank.
BANK_PIM_BW_PER_RANK = 16 * 8 * 8 / (8 * 0.625e-9)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("factor", [1, 2, 4, 8])
def test_scaled_hosts_follow_the_definitions(mode: str, factor: int) -> None:
    ranksets, rows, density = base_host("dgx-a100-l3")
    assert (ranksets, rows, density) == (4, 2**18, 32)  # the paper's 2 TB host: 4 ranksets of 32 Gb chips
    figures = host_figures("dgx-a100-l3", scaled_memory(mode, factor, 1, rows, density))
    # One rankset = 16 channels x 1 rank x 8 chips x 4 GiB = 512 GiB (the paper's starting point).
    capacity_factor = 1 if mode == "bandwidth" else factor
    bandwidth_factor = 1 if mode == "capacity" else factor
    assert figures["dimm_capacity_bytes"] == 512 * GIB * capacity_factor
    assert figures["bank_pim_bw_bytes_per_s"] == pytest.approx(16 * BANK_PIM_BW_PER_RANK * bandwidth_factor)


def test_scaled_memory_rejects_fractional_rows_and_ranks() -> None:
    from l3sim.errors import ConfigError

    with pytest.raises(ConfigError, match="ranksets"):
        scaled_memory("both", 1.5, 1, 2**18, 32)
    with pytest.raises(ConfigError, match="rows"):
        scaled_memory("capacity", 1 / 3, 1, 2**18, 32)
    with pytest.raises(ConfigError, match="mode"):
        scaled_memory("sideways", 2, 1, 2**18, 32)


cells = st.lists(
    st.tuples(st.floats(1, 1e4), st.floats(1, 1e4), st.booleans()), min_size=1, max_size=4
)


@settings(max_examples=60, deadline=None)
@given(cells)
def test_normalise_to_gpu_only_else_l3(data) -> None:
    rows = []
    for cell, (gpu, l3, gpu_oom) in enumerate(data):
        rows.append({"model": f"m{cell}", "workload": "w", "system": "gpu-only", "status": "ok",
                     "throughput_tok_s": gpu, "oom": gpu_oom})
        rows.append({"model": f"m{cell}", "workload": "w", "system": "l3", "status": "ok",
                     "throughput_tok_s": l3, "oom": False})
        rows.append({"model": f"m{cell}", "workload": "w", "system": "r-pim", "status": "unavailable",
                     "throughput_tok_s": math.nan, "oom": False})
    table = normalise(pd.DataFrame(rows), "throughput_tok_s", ["model", "workload"], "gpu-only", "l3")
    for cell, (gpu, l3, gpu_oom) in enumerate(data):
        mine = table[table["model"] == f"m{cell}"].set_index("system")
        ref = l3 if gpu_oom else gpu
        assert set(mine["normalized_to"]) == {"l3" if gpu_oom else "gpu-only"}
        assert mine.loc["l3", "normalized_throughput_tok_s"] == pytest.approx(l3 / ref)
        assert math.isnan(mine.loc["r-pim", "normalized_throughput_tok_s"])
        if gpu_oom:
            assert math.isnan(mine.loc["gpu-only", "normalized_throughput_tok_s"])
        else:
            assert mine.loc["gpu-only", "normalized_throughput_tok_s"] == 1


def _tiny(tmp_path) -> StudyOptions:
    return StudyOptions(tmp_path, backend="serial", progress=False, requests=3)


def test_e2e_table_covers_every_cell(tmp_path, monkeypatch) -> None:
    import l3sim.experiments.studies.e2e as e2e

    # One model and workload keep it quick (the L3 scheduler trains its predictors in every run).
    monkeypatch.setattr(e2e, "MODELS", ["opt-66b"])
    monkeypatch.setattr(e2e, "WORKLOADS", ["dolphin-short"])
    table = run_study("e2e", _tiny(tmp_path)).table
    assert len(table) == 6  # every system
    assert set(table["system"]) == {"gpu-only", "hbm-pim", "hbm-pim-ext", "cpu-offload", "r-pim", "l3"}
    gpu = table[(table["system"] == "gpu-only") & (table["status"] == "ok") & ~table["oom"].astype(bool)]
    assert len(gpu) and (gpu["normalized_throughput_tok_s"] == 1).all()


def test_breakdown_capacity_follows_the_fraction(tmp_path, monkeypatch) -> None:
    import l3sim.experiments.studies.breakdown as breakdown

    monkeypatch.setattr(breakdown, "SYSTEMS", ["gpu-only", "hbm-pim"])  # l3's scheduler trains per run: slow
    table = run_study("breakdown", _tiny(tmp_path)).table
    assert len(table) == 2 * 2 * 5  # systems x models x fractions
    gpu = table[table["system"] == "gpu-only"]
    for _, group in gpu.groupby("model"):
        full = group.loc[group[FRACTION_KEY] == 1.0, "kv_capacity_tokens"].iloc[0]
        block = 16  # whole KV blocks (serving.kv_block_tokens) are rounded down, at full capacity too
        for _, row in group.iterrows():
            share = row[FRACTION_KEY]
            assert share * full - block <= row["kv_capacity_tokens"] <= share * (full + block)
    assert fraction_notes(table) == []  # hbm-pim too


def test_fraction_notes_flag_a_system_that_ignores_the_knob() -> None:
    table = pd.DataFrame({"model": ["m"] * 2, "system": ["s"] * 2, FRACTION_KEY: [0.5, 1.0],
                          "kv_capacity_tokens": [1000.0, 1000.0]})
    assert len(fraction_notes(table)) == 1
    assert fraction_notes(table.assign(kv_capacity_tokens=[500.0, 1000.0])) == []


def test_scalability_and_scheduler_tables(tmp_path, monkeypatch) -> None:
    import l3sim.experiments.studies.scalability as scalability
    import l3sim.experiments.studies.scheduler as scheduler

    # Plumbing only: schedulers without predictor training keep the test quick (the study itself
    # compares capacity-first with the L3 scheduler).
    monkeypatch.setattr(scalability, "SCHEDULER", "subbatch")
    monkeypatch.setattr(scheduler, "SCHEDULERS", ["capacity-first", "subbatch"])
    scal = run_study("scalability", _tiny(tmp_path)).table
    assert len(scal) == 3 * 4 and set(scal["mode"]) == set(MODES)
    sched = run_study("scheduler", _tiny(tmp_path)).table
    assert len(sched) == 2 * 3 * 2  # models x capacities x schedulers
    assert list(sched["capacity_factor"].drop_duplicates()) == [1, 1.5, 2]
    # 1.5x and 2x the paper's 2 TiB by denser chips
    assert sorted(set(sched["dimm_capacity_bytes"])) == [2048 * GIB, 3072 * GIB, 4096 * GIB]


def test_pcie_overlap_divides_the_ddr_stall_by_the_ranksets(tmp_path) -> None:
    table = run_study("pcie", _tiny(tmp_path)).table
    assert len(table) == 3 * 2
    off = table[~table["rankset_overlap"]].reset_index(drop=True)
    on = table[table["rankset_overlap"]].reset_index(drop=True)
    # The paper's rule: with overlap one rankset of four communicates while the others compute.
    assert (on["ranksets"] == 4).all()
    assert on["ddr_stall_s"].to_numpy() == pytest.approx(off["ddr_stall_s"].to_numpy() / 4)
    assert on["pcie_sync_s"].to_numpy() == pytest.approx(off["pcie_sync_s"].to_numpy())
    assert (on["pcie_overhead"] < off["pcie_overhead"]).all()
    share = table["comm_s"] / (table["comm_s"] + table["decode_attention_s"])
    assert table["pcie_overhead"].to_numpy() == pytest.approx(share.to_numpy())


def test_account_adds_the_losses_up_to_each_makespan(tmp_path) -> None:
    """One column per system; in each, bound + every loss = the makespan (cells 'seconds s (share)', 0.1 s each)."""
    from l3sim.experiments.studies.account import SYSTEMS

    table = run_study("account", _tiny(tmp_path)).table
    assert list(table.columns) == ["step", *SYSTEMS]
    steps = table["step"].tolist()
    assert steps[0] == "bound" and "= makespan" in steps

    def seconds(cell: str) -> float:
        return float(cell.split(" s")[0].replace(",", ""))

    end = steps.index("= makespan")
    for system in SYSTEMS:
        parts = [seconds(cell) for cell in table[system][:end]]
        assert sum(parts) == pytest.approx(seconds(table[system][end]), abs=0.05 * (end + 1)), system
        assert all(part >= 0 for part in parts), system


def test_account_equals_the_direct_runs_and_a_rerun_reads_the_store(tmp_path, monkeypatch) -> None:
    """The table is ``compare --explain``'s account of the same runs simulated directly (every cell, to the
    printed digit), and a second run into the same folder simulates nothing."""
    import importlib

    from l3sim.experiments.studies.account import MODEL, PLATFORM, SYSTEMS, WORKLOAD
    from l3sim.report.account import account_rows
    from l3sim.serving.compare import compare
    from l3sim.spec.run import build_run_spec

    options = _tiny(tmp_path)
    table = run_study("account", options).table
    specs = [build_run_spec(platform=PLATFORM, model=MODEL, workload=WORKLOAD, system=system, **options.spec_fields)
             for system in SYSTEMS]
    assert table.to_dict("records") == account_rows(compare(specs))

    def no_simulation(*args, **kwargs):
        raise AssertionError("a stored point was simulated again")

    # the module, not the function l3sim.serving exports under the same name
    monkeypatch.setattr(importlib.import_module("l3sim.serving.simulate"), "serve", no_simulation)
    assert run_study("account", options).table.equals(table)

"""The ``energy`` study on tiny runs: parts add up, the table and plot are written, unavailable systems are noted."""

from __future__ import annotations

import pytest

from l3sim.experiments.studies.base import StudyOptions
from l3sim.experiments.studies.energy import energy_study


def test_energy_study_tiny(tmp_path):
    result = energy_study(StudyOptions(out_dir=tmp_path, requests=3, backend="serial", progress=False))
    table = result.table
    assert "gpu-only" in set(table["system"])
    for _, row in table.iterrows():
        parts = row["gpu_fc_j"] + row["attention_j"] + row["background_j"]
        assert row["energy_per_token_j"] == pytest.approx(parts, rel=1e-12)
        assert min(row["gpu_fc_j"], row["attention_j"], row["background_j"]) > 0
    missing = {"gpu-only", "hbm-pim", "l3"} - set(table["system"])
    assert len(result.notes) >= len(missing)  # every system without a row is explained
    result.plot(table, tmp_path / "energy.png")
    assert (tmp_path / "energy.png").stat().st_size > 0

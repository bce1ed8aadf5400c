"""The ``hw`` command group, and the removed ``study`` command pointing to ``reproduce``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.errors import ConfigError

runner = CliRunner()


def test_hw_group_is_registered():
    result = runner.invoke(app, ["hw", "--help"])
    assert result.exit_code == 0 and "validate" in result.output


@pytest.mark.parametrize("args", [["study", "hw-ablation", "--out", "x", "--platform", "dgx-a100-l3"], ["study"]])
def test_study_is_gone_and_says_where_to(args, tmp_path):
    result = runner.invoke(app, args)
    assert isinstance(result.exception, ConfigError)
    assert "l3sim reproduce hw-ablation" in str(result.exception)
    listed = [line.split()[1] for line in runner.invoke(app, ["--help"]).output.splitlines()
              if line.startswith("│ ") and len(line.split()) > 2]
    assert "reproduce" in listed and "study" not in listed  # hidden from the command list


def test_hw_report_json_on_the_papers_host():
    pytest.importorskip("l3sim.hw.dram.engine")
    import json

    result = runner.invoke(app, ["hw", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["cpu_bw_bytes_per_s"] == pytest.approx(16 * 25.6e9)
    assert 0.5 < data["bank_pim_efficiency"] < 1
    # the engine's streaming run and the closed form agree on the effective bandwidth
    assert data["effective_bank_pim_bw_bytes_per_s"] == pytest.approx(
        data["effective_bank_pim_bw_model_bytes_per_s"], rel=0.02)


def test_mapping_that_does_not_fit_is_reported():
    result = runner.invoke(app, ["hw", "--set", "pim.mapping.n_hc=3"])
    assert isinstance(result.exception, ConfigError)
    assert "pim.mapping.n_hc = 3" in str(result.exception)

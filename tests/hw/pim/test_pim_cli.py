"""The ``hw`` and ``study`` command groups: registration, the study registry, errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.cli.study_cmd import STUDIES, run_study
from l3sim.errors import ConfigError

runner = CliRunner()


def test_groups_are_registered():
    result = runner.invoke(app, ["hw", "--help"])
    assert result.exit_code == 0 and "validate" in result.output
    result = runner.invoke(app, ["study", "--help"])
    assert result.exit_code == 0 and "hw-ablation" in result.output


def test_study_registry_resolves_every_entry():
    import importlib

    for name, (help_text, target) in STUDIES.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name
        assert help_text


def test_unknown_study_is_a_config_error():
    with pytest.raises(ConfigError, match="known: hw-ablation"):
        run_study("no-such-study", "dgx-a100-l3", [], None)


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

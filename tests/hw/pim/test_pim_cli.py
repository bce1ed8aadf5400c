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

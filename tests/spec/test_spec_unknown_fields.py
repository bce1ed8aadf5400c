"""An unknown field is answered with the fields that exist where it was given, the closest first, and a field a
spec no longer has with what replaced it (``Spec.RETIRED_FIELDS``)."""

from __future__ import annotations

import pytest

from l3sim.errors import ConfigError
from l3sim.spec.gpu_calibration import GPUCalibrationSpec
from l3sim.spec.run import build_run_spec

BASE = {"platform": "dgx-a100", "model": "llama-2-7b", "workload": "openr1"}


def _error(overrides: list[str] | None = None, **fields) -> str:
    with pytest.raises(ConfigError) as caught:
        build_run_spec(overrides, **{**BASE, **fields})
    return str(caught.value)


def test_a_misspelt_top_level_field_names_the_closest_and_every_known_one():
    message = _error(seeds=3)
    assert "seeds: unknown field of RunSpec; did you mean 'seed'?" in message
    known = message.split("known: ", 1)[1]
    for name in ("arrival", "model", "requests", "seed", "workload"):
        assert name in known


def test_a_misspelt_nested_field_is_looked_up_in_its_own_spec():
    # platform.gpu.calibration is reached through fields that take a preset name or the spec itself
    message = _error(["platform.gpu.calibration.row_latency_cycle=10"])
    assert "unknown field of GPUCalibrationSpec; did you mean 'row_latency_cycles'?" in message
    assert "tensor_efficiency" in message  # the known fields are the calibration's, not the run spec's
    assert "workload" not in message.split("known: ", 1)[1]


def test_a_retired_field_says_what_replaced_it():
    for name, replacement in (("elementwise_efficiency", "hbm_efficiency"),
                              ("row_bandwidth_bytes_per_s", "row_bytes_per_cycle"),
                              ("blocks_per_sm", "max_threads_per_sm")):
        message = _error([f"platform.gpu.calibration.{name}=1"])
        assert f"{name}: no longer a field of GPUCalibrationSpec" in message
        assert replacement in message
    assert set(GPUCalibrationSpec.RETIRED_FIELDS).isdisjoint(GPUCalibrationSpec.model_fields)


def test_a_name_far_from_every_field_gets_no_guess():
    message = _error(zzzz=1)
    assert "did you mean" not in message and "unknown field of RunSpec; known:" in message

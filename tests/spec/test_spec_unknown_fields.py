"""An unknown field is answered with the fields that exist where it was given, the closest first; a field a spec
no longer has (``Spec.RETIRED_FIELDS``) still reads, ignored with a SpecWarning that says what replaced it; a
GPU without the SM numbers the calibrated model needs gets the A100's, with a SpecWarning."""

from __future__ import annotations

import pytest

from l3sim.errors import ConfigError
from l3sim.experiments.sweep import SweepFileSpec
from l3sim.spec.base import SpecWarning
from l3sim.spec.gpu_calibration import GPUCalibrationSpec
from l3sim.spec.platform import GPUSpec
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


def test_a_spec_in_a_list_is_looked_up_too():
    with pytest.raises(ConfigError) as caught:
        SweepFileSpec.parse({"output": {"plots": [{"x": "seed", "y": "iterations", "hu": "seed"}]}}, source="sweep")
    assert "output.plots.0.hu: unknown field of PlotSpec; did you mean 'hue'?" in str(caught.value)


def test_a_retired_field_is_ignored_with_a_warning_that_says_what_replaced_it():
    for name, replacement in (("elementwise_efficiency", "hbm_efficiency"),
                              ("row_bandwidth_bytes_per_s", "row_bytes_per_cycle"),
                              ("blocks_per_sm", "max_threads_per_sm")):
        with pytest.warns(SpecWarning, match=f"GPUCalibrationSpec.{name} is no longer a field and is ignored") as got:
            spec = build_run_spec([f"platform.gpu.calibration.{name}=1"], **BASE)
        assert replacement in str(got[0].message)
        # the run spec is the one without the field: the current calibration
        assert spec.platform.gpu.calibration == GPUCalibrationSpec()
    assert set(GPUCalibrationSpec.RETIRED_FIELDS).isdisjoint(GPUCalibrationSpec.model_fields)


def test_a_gpu_without_its_sm_numbers_gets_the_a100s_with_a_warning():
    data = {"name": "old-h100", "peak_flops": 989.4e12, "hbm_bw_bytes_per_s": 3.35e12, "hbm_capacity_bytes": 80e9,
            "num_sms": 132}
    with pytest.warns(SpecWarning, match="'old-h100' states no sm_clock_hz, max_threads_per_sm, max_blocks_per_sm"):
        gpu = GPUSpec.parse(data)
    assert (gpu.sm_clock_hz, gpu.max_threads_per_sm, gpu.max_blocks_per_sm) == (1.41e9, 2048, 32)
    stated = {**data, "sm_clock_hz": 1.98e9, "max_threads_per_sm": 2048, "max_blocks_per_sm": 32}
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpecWarning)
        assert GPUSpec.parse(stated).sm_clock_hz == 1.98e9


def test_a_name_far_from_every_field_gets_no_guess():
    message = _error(zzzz=1)
    assert "did you mean" not in message and "unknown field of RunSpec; known:" in message

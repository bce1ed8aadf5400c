"""Presets, references between them and --set overrides."""

from __future__ import annotations

from importlib import resources

import pytest

from l3sim.errors import ConfigError
from l3sim.spec import PlatformSpec, apply_overrides, load_preset_data
from l3sim.spec.presets import parse_override, preset_names


def test_unknown_preset_lists_known_names() -> None:
    with pytest.raises(ConfigError) as info:
        load_preset_data("models", "gpt-4")
    assert "gpt-175b" in str(info.value) and "llama-2-7b" in str(info.value)


def test_platform_resolves_gpu_and_link_presets() -> None:
    platform = PlatformSpec.parse(load_preset_data("platforms", "dgx-a100")[0])
    assert platform.gpu.peak_flops == 312e12
    assert platform.num_gpus == 8
    # the DGX-A100 aggregate figures of the L3 spec: 640 GB (80 GB each) and 16.3 TB/s
    assert platform.num_gpus * platform.gpu.hbm_bw_bytes_per_s == pytest.approx(16.3e12, rel=0.01)
    assert platform.host_link.bw_bytes_per_s == pytest.approx(32e9, rel=0.02)


def test_nvlink4_platforms_share_the_dgx_h100_all_reduce_fit_and_differ_from_the_dgx_a100() -> None:
    """The DGX-H100's all-reduce parameters come from its own profile (docs/gpu-model.md); the HGX H200 has the
    same NVLink 4 / NVSwitch fabric and borrows them; neither keeps the DGX-A100 values, which were ~50 % off
    on the DGX-H100. Per direction, NCCL then reaches more bandwidth on NVLink 4 than on NVLink 3, and no
    platform more than its link."""
    a100, h100, h200 = (PlatformSpec.parse(load_preset_data("platforms", name)[0])
                        for name in ("dgx-a100", "dgx-h100", "hgx-h200"))
    fit = (h100.allreduce_latency_s, h100.allreduce_bus_efficiency)
    assert (h200.allreduce_latency_s, h200.allreduce_bus_efficiency) == fit
    assert fit != (a100.allreduce_latency_s, a100.allreduce_bus_efficiency)
    per_direction = [p.gpu.nvlink_bw_bytes_per_s / 2 * p.allreduce_bus_efficiency for p in (a100, h100)]
    assert per_direction[0] < per_direction[1]
    assert all(0 < p.allreduce_bus_efficiency <= 1 and p.allreduce_latency_s > 0 for p in (a100, h100, h200))


def test_preset_by_path(tmp_path) -> None:
    path = tmp_path / "mygpu.toml"
    path.write_text('name = "mine"\npeak_flops = 1e15\nhbm_bw_bytes_per_s = 1e12\nhbm_capacity_bytes = 1e11\n'
                    'sm_clock_hz = 1.5e9\nmax_threads_per_sm = 2048\nmax_blocks_per_sm = 32\n')
    platform = PlatformSpec.parse({"name": "p", "gpu": str(path), "host_link": "pcie5-x16"})
    assert platform.gpu.name == "mine" and platform.gpu.peak_flops == 1e15 and platform.gpu.sm_clock_hz == 1.5e9


def test_bad_toml_file_names_file(tmp_path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("peak_flops = = 3\n")
    with pytest.raises(ConfigError, match="broken.toml"):
        load_preset_data("gpus", str(path))


@pytest.mark.parametrize(
    ("text", "value"),
    [("a.b=3", 3), ("a.b=2.5e9", 2.5e9), ("a.b=true", True), ("a.b=gpt-175b", "gpt-175b"), ('a.b="x y"', "x y")],
)
def test_override_values_are_typed(text: str, value) -> None:
    assert parse_override(text) == (["a", "b"], value)


def test_override_through_missing_table_is_an_error() -> None:
    with pytest.raises(ConfigError, match="'gpu.typo'"):
        apply_overrides({"gpu": {"x": 1}}, ["gpu.typo.y=2"])


def test_override_does_not_mutate_input() -> None:
    data = {"gpu": {"x": 1}}
    assert apply_overrides(data, ["gpu.x=2"]) == {"gpu": {"x": 2}}
    assert data == {"gpu": {"x": 1}}


def test_override_without_equals_sign() -> None:
    with pytest.raises(ConfigError, match="dotted.key=value"):
        parse_override("gpu.x")


@pytest.mark.parametrize("kind", ["models", "gpus", "links", "platforms", "workloads", "dram", "memory"])
def test_a_copied_preset_loads_as_is(tmp_path, kind: str) -> None:
    """A shipped preset copied to a file of the same name loads by path to the same table."""
    name = preset_names(kind)[0]
    copy = tmp_path / f"{name}.toml"
    copy.write_bytes(resources.files("l3sim").joinpath("presets", kind, f"{name}.toml").read_bytes())
    shipped, _ = load_preset_data(kind, name)
    copied, source = load_preset_data(kind, str(copy))
    assert copied == shipped and source == str(copy)


@pytest.mark.parametrize("name", preset_names("gpus"))
def test_every_gpu_preset_states_its_sm_numbers(name) -> None:
    # the calibrated model's row kernels read them; a preset without them would fall back to the A100's with a
    # SpecWarning, which no shipped preset may need
    import warnings

    from l3sim.spec.base import SpecWarning
    from l3sim.spec.platform import SM_DATASHEET_FIELDS, GPUSpec

    data = load_preset_data("gpus", name)[0]
    assert set(SM_DATASHEET_FIELDS) <= set(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpecWarning)
        gpu = GPUSpec.parse(data)
    assert gpu.max_blocks_per_sm <= gpu.max_threads_per_sm // 32 and gpu.sm_clock_hz > 1e9

"""``l3sim validate gpu``: the error table from real profiles and from a synthetic one with a known error."""

from __future__ import annotations

import json

import pytest
from gpu_csv_helpers import write_mlp_csv
from typer.testing import CliRunner

from l3sim.cli import app

RUNNER = CliRunner()


def test_known_error_on_a_compute_bound_synthetic_profile(tmp_path):
    # Llama-2-70B shape at TP1, 4096 tokens: the QKV GEMM is compute-bound on the roofline:
    # 2 x 4096 x 8192 x (8192 + 2 x 1024) FLOPs / (312e12 x 0.8). Measured twice that -> error -0.5.
    flops = 2 * 4096 * 8192 * (8192 + 2 * 1024)
    measured_ms = 2 * flops / (312e12 * 0.8) * 1e3
    write_mlp_csv(tmp_path / "x_mlp.csv", {(4096, 1): {"attn_pre_proj": measured_ms}})
    result = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(tmp_path), "--set", "cost_source=roofline",
                                 "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["mlp"]
    qkv = [r for r in rows if r["operator"] == "qkv_proj"]
    assert len(qkv) == 1 and qkv[0]["tokens"] == "513-4096" and qkv[0]["n"] == 1
    assert qkv[0]["mean_err"] == pytest.approx(-0.5, rel=1e-9)
    assert qkv[0]["max_abs_err"] == pytest.approx(0.5, rel=1e-9)


def test_missing_folder_says_where_to_get_the_profiles(tmp_path):
    result = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(tmp_path / "none")])
    message = str(result.exception)
    assert result.exit_code != 0 and f"--profiles {tmp_path / 'none'}: folder not found" in message
    assert "https://github.com/microsoft/vidur" in message and "L3SIM_PROFILES" in message


def test_an_installed_copy_without_shared_data_says_where_to_get_it(monkeypatch, tmp_path):
    """After pip install there is no ../shared: the default is no folder, and the error says what to do."""
    import l3sim.cli.validate_cmd as validate_cmd

    monkeypatch.setattr(validate_cmd, "_CHECKOUT", tmp_path / "site-packages")
    monkeypatch.delenv("L3SIM_PROFILES", raising=False)
    result = RUNNER.invoke(app, ["validate", "gpu"])
    message = str(result.exception)
    assert result.exit_code != 0 and "no measured GPU profiles" in message
    assert "data/profiling/network/a100_dgx/all_reduce.csv" in message and "--profiles FOLDER" in message


def test_the_profiles_folder_can_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("L3SIM_PROFILES", str(tmp_path / "from-env"))
    result = RUNNER.invoke(app, ["validate", "gpu"])
    assert result.exit_code != 0 and f"--profiles {tmp_path / 'from-env'}: folder not found" in str(result.exception)


@pytest.mark.shared
def test_real_profiles_table(shared_dir):
    folder = shared_dir / "profiles/vidur-a100"
    result = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(folder), "--files",
                                 "Llama-2-70b-hf_mlp.csv", "--set", "cost_source=roofline", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = data["mlp"]
    # 4 TP degrees x 3 token buckets (the file stops at 4096) x 5 operators (no "other": the roofline has none).
    assert len(rows) == 4 * 3 * 5
    assert sum(r["n"] for r in rows if r["operator"] == "fc") == 1044 - 8  # 8 repeated points averaged
    assert len(data["rows"]) == 1044 - 8
    large = [r for r in rows if r["operator"] == "fc" and r["tokens"] == "513-4096"]
    assert all(r["mean_abs_err"] < 0.2 for r in large)
    # 16 workers span two nodes (devices_per_node = 8): not an NVLink ring, so not compared.
    assert {r["tp"] for r in data["all_reduce"]} == {2, 4, 8}


def _points():
    return {(1, 1): {"attn_pre_proj": 0.2, "mlp_up_proj": 0.9}, (256, 2): {"attn_pre_proj": 0.3},
            (4096, 1): {"attn_pre_proj": 4.0}}


def test_a_vidur_checkout_tree_reads_like_a_folder_of_copies(tmp_path):
    """``--profiles`` may be Vidur's own ``data/profiling/compute/<gpu>`` folder: each ``<org>/<model>/mlp.csv``
    is found, named ``<model>_mlp.csv`` and validated exactly as a flat copy of that name is; ``--files`` and
    ``--fit`` select by that name."""
    tree = tmp_path / "h100"
    (tree / "meta-llama" / "Llama-2-70b-hf").mkdir(parents=True)
    write_mlp_csv(tree / "meta-llama" / "Llama-2-70b-hf" / "mlp.csv", _points())
    flat = tmp_path / "flat"
    flat.mkdir()
    write_mlp_csv(flat / "Llama-2-70b-hf_mlp.csv", _points())
    outputs = []
    for folder in (tree, flat):
        result = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(folder), "--files", "Llama-2-70b*",
                                     "--json"])
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(result.output))
    assert outputs[0] == outputs[1] and {row["file"] for row in outputs[0]["rows"]} == {"Llama-2-70b-hf_mlp.csv"}
    fitted = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(tree), "--fit", "--out",
                                 str(tmp_path / "fit.toml"), "--json"])
    assert fitted.exit_code == 0, fitted.output
    report = json.loads(fitted.output)["profiles"]
    assert [(r["file"], r["used_in_fit"]) for r in report] == [("Llama-2-70b-hf_mlp.csv", True)]
    assert "--fit on Llama-2-70b-hf_mlp.csv" in (tmp_path / "fit.toml").read_text()


def test_two_profiles_of_one_name_are_refused(tmp_path):
    (tmp_path / "meta-llama" / "Llama-2-7b-hf").mkdir(parents=True)
    write_mlp_csv(tmp_path / "meta-llama" / "Llama-2-7b-hf" / "mlp.csv", _points())
    write_mlp_csv(tmp_path / "Llama-2-7b-hf_mlp.csv", _points())
    result = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(tmp_path)])
    message = str(result.exception)
    assert result.exit_code != 0 and "two profiles named Llama-2-7b-hf_mlp.csv" in message


ATTENTION_HEADER = ("time_stats.attn_prefill.median,time_stats.attn_decode.median,n_embd,n_q_head,n_kv_head,"
                    "num_tensor_parallel_workers,batch_size,prefill_chunk_size,kv_cache_size,is_prefill")


def test_attention_profile_against_the_roofline_by_hand(tmp_path):
    """A decode of 4 requests with 1,023 cached tokens each on a 4096-wide GQA layer (32 query, 8 KV heads of
    128, TP1): the roofline streams 4 x 1,024 tokens x 2 x 8 x 128 x 2 B = 16,777,216 B of K and V at
    2.039 TB/s x 0.85 = 9.680 us. Measured at twice that, the error is -0.5; a prefill row is read too."""
    write_mlp_csv(tmp_path / "x_mlp.csv", {(1, 1): {"attn_pre_proj": 0.1}})
    decode_ms = 2 * 16_777_216 / (2.039e12 * 0.85) * 1e3
    (tmp_path / "x_attention.csv").write_text(
        f"{ATTENTION_HEADER}\n,{decode_ms!r},4096,32,8,1,4,0,1023,False\n0.05,,4096,32,8,1,1,512,0,True\n")
    result = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(tmp_path), "--set", "cost_source=roofline",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["attention_mape"]["decode"] == pytest.approx(0.5, rel=1e-9)
    decode = [row for row in data["attention"] if row["kind"] == "decode"]
    assert len(decode) == 1 and decode[0]["mean_err"] == pytest.approx(-0.5, rel=1e-9)
    assert {row["kind"] for row in data["attention"]} == {"decode", "prefill"}
    table = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(tmp_path), "--set", "cost_source=roofline"])
    assert "attention MAPE decode 50.0%" in table.output


def test_a_head_dim_column_sets_the_attention_shape(tmp_path):
    """tools/gpu_profile.py writes the head dimension it ran (a model TOML's, which need not be hidden / heads):
    the same decode with 64-wide heads instead of 4096 / 32 = 128 streams half the K and V, so the roofline's
    time halves and, against one measurement, the error goes from +1 to 0."""
    from l3sim.hw.gpu.attention_validation import attention_points
    from l3sim.spec import load_preset_data
    from l3sim.spec.platform import PlatformSpec
    from l3sim.spec.run import GPUCostSpec

    platform = PlatformSpec.parse(load_preset_data("platforms", "dgx-a100")[0], source="dgx-a100")
    cost = GPUCostSpec.parse({"cost_source": "roofline"}, source="test")
    measured_ms = 16_777_216 / 2 / (2.039e12 * 0.85) * 1e3  # the 64-wide heads' bytes at the roofline's rate
    errors = []
    for extra_header, extra_cell in (("", ""), (",head_dim", ",64")):
        path = tmp_path / f"x{len(errors)}_attention.csv"
        path.write_text(f"{ATTENTION_HEADER}{extra_header}\n,{measured_ms!r},4096,32,8,1,4,0,1023,False{extra_cell}\n")
        errors.append(float(attention_points(path, platform, cost)["err"].iloc[0]))
    assert errors == [pytest.approx(1.0, rel=1e-9), pytest.approx(0.0, abs=1e-12)]


@pytest.mark.parametrize("row, complaint", [
    (",0.01,4096,32,8,1,4,0,1023,False", None),
    ("0.01,,4096,32,8,1,4,0,1023,False", "line 2, column 'time_stats.attn_decode.median'"),  # a decode needs its time
    (",-1,4096,32,8,1,4,0,1023,False", "line 2, column 'time_stats.attn_decode.median'"),
    (",0.01,4096,32,8,1,4,0,1023,maybe", "line 2, column 'is_prefill'"),
    ("0.01,,4096,32,8,1,1,0,64,True", "line 2, column 'prefill_chunk_size'"),  # a prefill of no tokens
    (",0.01,4096,32,8,1,4,0,-3,False", "line 2, column 'kv_cache_size'"),
])
def test_attention_profile_errors_name_line_and_column(tmp_path, row, complaint):
    from l3sim.errors import TraceFormatError
    from l3sim.hw.profiles import load_vidur_attention_csv

    path = tmp_path / "x_attention.csv"
    path.write_text(f"{ATTENTION_HEADER}\n{row}\n")
    if complaint is None:
        assert load_vidur_attention_csv(path)["median_s"].tolist() == [1e-5]
        return
    with pytest.raises(TraceFormatError) as error:
        load_vidur_attention_csv(path)
    assert str(path) in str(error.value) and complaint in str(error.value)

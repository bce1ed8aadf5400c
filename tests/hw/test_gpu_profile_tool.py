"""tools/gpu_profile.py (the blind check's measuring script) writes profiles l3sim reads as Vidur's.

Run on the CPU with torch's CPU build, two small model TOMLs (a Llama-style one: gated SiLU FFN, GQA,
RoPE, RMSNorm; a GPT-style one: biases, GELU, learned positions, LayerNorm) and a tiny grid: the point
is the file, not the timings. The shape columns are checked against the TOMLs read through ModelSpec
(not the tool's own reading), the operator columns against the loader, and the folder goes through
`validate gpu`.
"""

from __future__ import annotations

import importlib.util
import json
import tomllib
from pathlib import Path

import pytest

from l3sim.hw.gpu.validation import validate_gpu
from l3sim.hw.profiles import load_vidur_mlp_csv
from l3sim.spec import ModelSpec, load_preset_data
from l3sim.spec.platform import PlatformSpec
from l3sim.spec.run import GPUCostSpec

pytest.importorskip("torch")

TOOL = Path(__file__).resolve().parents[2] / "tools" / "gpu_profile.py"


def _tool():
    spec = importlib.util.spec_from_file_location("gpu_profile", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MODELS = {
    "tiny-llama": 'num_layers = 2\nhidden_size = 256\nnum_heads = 16\nnum_kv_heads = 8\nhead_dim = 16\n'
                  'ffn_hidden_size = 688\ngated_ffn = true\nactivation = "silu"\nvocab_size = 1000\n',
    "tiny-gpt": 'num_layers = 2\nhidden_size = 256\nnum_heads = 8\nnum_kv_heads = 8\nffn_hidden_size = 1024\n'
                'vocab_size = 1000\nlinear_bias = true\nlearned_positions = 64\n',
}


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    models, out = tmp_path_factory.mktemp("models"), tmp_path_factory.mktemp("profiles")
    for name, text in MODELS.items():
        (models / f"{name}.toml").write_text(text)
    paths = ",".join(str(models / f"{name}.toml") for name in MODELS)
    code = _tool().main(["--out", str(out), "--models", paths, "--tp", "4,8", "--tokens", "1,8,136",
                         "--repeats", "2", "--warmup", "0", "--dtype", "float32", "--device", "cpu",
                         "--decode", "2:16,4:40", "--prefill", "8:0,8:24"])
    assert code == 0
    return out


@pytest.mark.parametrize("name", list(MODELS))
def test_profile_has_vidurs_layout_and_the_models_shape(profiled, name):
    table = load_vidur_mlp_csv(profiled / f"{name}_mlp.csv")
    model = ModelSpec.parse({"name": name, **tomllib.loads(MODELS[name])}, source=name)
    shape = table[["n_head", "n_kv_head", "n_embd", "n_expanded_embd", "vocab_size", "use_gated_mlp"]].drop_duplicates()
    assert shape.values.tolist() == [[model.num_heads, model.num_kv_heads, model.hidden_size, model.ffn_hidden_size,
                                      model.vocab_size, model.gated_ffn]]
    assert sorted(set(zip(table["tp"], table["num_tokens"]))) == [(4, 1), (4, 8), (4, 136), (8, 1), (8, 8), (8, 136)]
    operators = set(table["operator"])
    fc = {"attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_act", "mlp_down_proj"}
    assert fc <= operators and {"input_layernorm", "post_attention_layernorm", "add", "emb"} <= operators
    assert ("attn_rope" in operators) == (model.learned_positions == 0)  # tiny-gpt has learned positions
    assert (table["median_s"] > 0).all() and (table["min_s"] <= table["median_s"]).all()
    assert (table["median_s"] <= table["max_s"]).all()


def test_validate_gpu_reads_the_folder(profiled):
    platform = PlatformSpec.parse(load_preset_data("platforms", "dgx-a100")[0], source="dgx-a100")
    result = validate_gpu(profiled, platform, GPUCostSpec())
    assert {row["file"] for row in result["rows"]} == {"tiny-llama_mlp.csv", "tiny-gpt_mlp.csv"}
    assert len(result["rows"]) == 2 * 2 * 3  # files x tp x token counts
    assert result["allreduce_mape"] is None  # one GPU: no all-reduce file
    assert set(result["attention_mape"]) == {"decode", "prefill"}  # the tool's attention files are read too
    assert len(result["attention"]) == 2 * 2 * 2  # files x tp x (decode, prefill)


def test_device_record_and_budget(tmp_path):
    code = _tool().main(["--out", str(tmp_path), "--models", "llama-2-7b", "--tp", "8", "--tokens", "1",
                         "--device", "cpu", "--budget-s", "0"])
    assert code == 0
    info = json.loads((tmp_path / "device.json").read_text())
    assert info["device"] == "cpu" and info["models"] == ["llama-2-7b"] and info["tp"] == [8]
    assert not (tmp_path / "llama-2-7b_mlp.csv").exists()  # nothing measured inside a spent budget


def test_unknown_model_names_the_known_ones(tmp_path):
    with pytest.raises(SystemExit, match="unknown model .llama-9.*known presets: .*llama-2-70b"):
        _tool().main(["--out", str(tmp_path), "--models", "llama-9", "--device", "cpu"])


@pytest.mark.parametrize("name", list(MODELS))
def test_attention_profile_has_vidurs_columns_one_row_per_point(profiled, name):
    """Decode rows carry time_stats.attn_decode.*, prefill rows time_stats.attn_prefill.* (the other kind
    empty), with the model's heads and the point's batch, chunk and cached tokens."""
    import csv

    model = ModelSpec.parse({"name": name, **tomllib.loads(MODELS[name])}, source=name)
    rows = list(csv.DictReader((profiled / f"{name}_attention.csv").open()))
    points = {(r["num_tensor_parallel_workers"], r["batch_size"], r["prefill_chunk_size"], r["kv_cache_size"],
               r["is_prefill"]) for r in rows}
    assert len(rows) == len(points) == 2 * 4  # tp 4 and 8 x (2 decode + 2 prefill points)
    assert {p[1:] for p in points} == {("2", "0", "16", "False"), ("4", "0", "40", "False"),
                                       ("1", "8", "0", "True"), ("1", "8", "24", "True")}
    for row in rows:
        assert (row["n_q_head"], row["n_kv_head"], row["n_embd"]) == (
            str(model.num_heads), str(model.num_kv_heads), str(model.hidden_size))
        kind, other = ("attn_prefill", "attn_decode") if row["is_prefill"] == "True" else ("attn_decode",
                                                                                           "attn_prefill")
        low, middle, high = (float(row[f"time_stats.{kind}.{stat}"]) for stat in ("min", "median", "max"))
        assert 0 < low <= middle <= high and row[f"time_stats.{other}.median"] == ""


@pytest.mark.parametrize("heads, kv_heads, queries, cached", [(8, 8, 4, 6), (8, 2, 5, 3), (4, 1, 1, 9),
                                                             (4, 4, 7, 0)])
def test_the_timed_attention_is_causal_attention_over_the_cache(heads, kv_heads, queries, cached):
    """What the tool times computes attention right: each new token sees the cached ones and the new ones up
    to itself (a chunk after cached tokens: lower-right causal), each query head its group's KV head;
    checked against softmax(QK^T / sqrt(d)) V written out here."""
    import math

    import torch

    tool = _tool()
    torch.manual_seed(0)
    keys = cached + queries
    q, k, v = torch.randn(2, heads, queries, 16), torch.randn(2, kv_heads, keys, 16), torch.randn(2, kv_heads, keys, 16)
    out = tool.attention_call(torch, q, k, v, tool.causal_arguments(torch, queries, keys, "cpu"))
    group = heads // kv_heads
    scores = q @ k.repeat_interleave(group, 1).transpose(-1, -2) / math.sqrt(16)
    visible = torch.ones(queries, keys, dtype=torch.bool).tril(diagonal=cached)
    expected = torch.softmax(scores.masked_fill(~visible, float("-inf")), -1) @ v.repeat_interleave(group, 1)
    assert torch.allclose(out, expected, atol=1e-5)


def test_attention_points_over_the_memory_cap_are_skipped(tmp_path, capsys):
    (tmp_path / "tiny-gpt.toml").write_text(MODELS["tiny-gpt"])
    out = tmp_path / "out"
    code = _tool().main(["--out", str(out), "--models", str(tmp_path / "tiny-gpt.toml"), "--tp", "8", "--tokens",
                         "1", "--repeats", "1", "--warmup", "0", "--dtype", "float32", "--device", "cpu",
                         "--decode", "1:10,64:4096", "--prefill", "", "--attention-max-gb", "0.0001"])
    # tiny-gpt at tp 8: 1 KV head of 128 dims; K and V of 64 x 4097 tokens in float32 are 268 MB > 0.1 MB
    assert code == 0 and "64 x 4096 tokens skipped" in capsys.readouterr().out
    rows = (out / "tiny-gpt_attention.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].endswith(",8,1,0,10,False,128")  # tp 8, batch 1, no chunk, 10 cached

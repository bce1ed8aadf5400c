"""Results trace back to their configuration: the provenance saved with every result, ``l3sim run --spec``,
the short ``--set`` keys and the deployment chosen for a model that states none (issue 13 items 2, 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from l3sim import __version__
from l3sim.cli import app
from l3sim.errors import ConfigError
from l3sim.spec.run import build_run_spec, fitting_deployment

RUNNER = CliRunner()
SMALL = ["--model", "llama-2-7b", "--workload", "openr1", "--requests", "24"]


def invoke(args: list[str]) -> str:
    """Run ``l3sim args``; fail with its output unless it exits 0; return stdout."""
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output + str(result.exception)
    return result.stdout


def metrics(result_json: Path) -> dict:
    """result.json without its provenance: the run's metrics."""
    data = json.loads(result_json.read_text())
    data.pop("provenance")
    return data


def test_spec_of_a_result_json_reruns_it_bit_for_bit(tmp_path: Path) -> None:
    first, again = tmp_path / "first", tmp_path / "again"
    printed = invoke(["run", *SMALL, "--seed", "7", "--set", "max_batch_tokens=2048", "--out", str(first), "--json"])
    rerun = invoke(["run", "--spec", str(first / "result.json"), "--out", str(again), "--json"])
    assert rerun == printed  # the printed metrics, every digit
    assert metrics(again / "result.json") == metrics(first / "result.json")
    # and the rerun's own record holds the same resolved spec
    saved = [json.loads((folder / "result.json").read_text())["provenance"] for folder in (first, again)]
    assert saved[0]["spec"] == saved[1]["spec"]


def test_saved_provenance_holds_overrides_seed_version_command_and_resolved_presets(tmp_path: Path) -> None:
    args = ["run", *SMALL, "--seed", "11", "--set", "gpu=h200", "--set", "serving.kv_block_tokens=32",
            "--out", str(tmp_path)]
    invoke(args)
    record = json.loads((tmp_path / "result.json").read_text())["provenance"]
    assert record["overrides"] == ["gpu=h200", "serving.kv_block_tokens=32"]
    assert record["seed"] == 11 and record["spec"]["seed"] == 11
    assert record["l3sim_version"] == __version__
    assert record["command_line"] == "l3sim " + " ".join(args)
    spec = record["spec"]
    # every preset written out as its values, the overrides already applied
    assert spec["platform"]["gpu"]["name"] == "h200" and spec["platform"]["gpu"]["hbm_capacity_bytes"] > 0
    assert spec["platform"]["host_link"]["bw_bytes_per_s"] > 0
    assert spec["model"]["num_layers"] == 32 and spec["workload"]["prompt_mean"] > 0
    assert spec["memory"]["dram"]["name"] and spec["pim"] and spec["gpu"]["cost_source"]
    assert spec["serving"]["kv_block_tokens"] == 32


def test_hand_written_spec_file_equals_the_same_options(tmp_path: Path) -> None:
    hand = tmp_path / "run.toml"
    hand.write_text('platform = "dgx-a100"\nmodel = "llama-2-7b"\nworkload = "openr1"\nrequests = 24\nseed = 2\n'
                    'set = ["serving.max_batch_tokens=2048"]\n[serving]\nkv_block_tokens = 32\n')
    from_file = invoke(["run", "--spec", str(hand), "--json"])
    from_options = invoke(["run", *SMALL, "--seed", "2", "--set", "serving.kv_block_tokens=32",
                           "--set", "serving.max_batch_tokens=2048", "--json"])
    assert from_file == from_options
    # --set still applies on top of a spec file
    with_set = json.loads(invoke(["run", "--spec", str(hand), "--set", "requests=12", "--json"]))
    assert with_set["requests"] == 12


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ('platform = "dgx-a100"\nmodel = "llama-2-7b"\nworkload = "openr1"\nseeds = 3\n', "run.toml",
         ["run.toml", "seeds", "unknown field of RunSpec", "did you mean 'seed'?"]),
        ('platform = "dgx-a100"\nmodel = "llama-2-7b"\nworkload = "openr1"\nrequests = "many"\n', "run.toml",
         ["run.toml", "requests", "valid integer"]),
        ('{"provenance": {"spec": {"platform": "dgx-a100"}}}', "result.json",
         ["result.json", "model", "Field required"]),
        ('{"provenance": 3}', "result.json", ["result.json", "'provenance' must be an object"]),
        ('model = "llama-2-7b"\nset = "tp=2"\n', "run.toml", ["run.toml", "'set' must be a list"]),
        ("[1, 2]", "run.json", ["run.json", "expected a JSON object"]),
        ("platform = ", "run.toml", ["run.toml"]),
        ("x", "run.yaml", ["run.yaml", ".json", ".toml"]),
    ],
)
def test_a_bad_spec_file_names_file_field_and_what_is_expected(tmp_path: Path, text: str, name: str,
                                                               expected: list[str]) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = RUNNER.invoke(app, ["run", "--spec", str(path)])
    assert result.exit_code != 0
    message = str(result.exception) if isinstance(result.exception, ConfigError) else result.output
    for part in expected:
        assert part in message


def test_spec_with_another_run_option_is_refused(tmp_path: Path) -> None:
    hand = tmp_path / "run.toml"
    hand.write_text('platform = "dgx-a100"\nmodel = "llama-2-7b"\nworkload = "openr1"\n')
    result = RUNNER.invoke(app, ["run", "--spec", str(hand), "--model", "gpt-175b", "--seed", "1"])
    assert isinstance(result.exception, ConfigError)
    assert "--model" in str(result.exception) and "--seed" in str(result.exception)


def test_short_set_keys_equal_their_long_spelling() -> None:
    base = {"platform": "dgx-a100", "model": "llama-2-7b", "workload": "openr1"}
    assert build_run_spec(["gpu=h200"], **base) == build_run_spec(["platform.gpu=h200"], **base)
    assert build_run_spec(["gpu=h200"], **base).platform.gpu.name == "h200"
    assert build_run_spec(["tp=2", "dp=4"], **base) == build_run_spec(["parallel.tp=2", "parallel.dp=4"], **base)
    assert build_run_spec(["max_batch_tokens=1024"], **base).serving.max_batch_tokens == 1024
    # with a dot, gpu is still the GPU cost model's table
    assert build_run_spec(["gpu.compute_util=0.5"], **base).gpu.compute_util == 0.5


def test_short_gpu_key_through_the_cli_gives_the_same_run() -> None:
    short = invoke(["run", *SMALL, "--set", "gpu=h200", "--json"])
    long = invoke(["run", *SMALL, "--set", "platform.gpu=h200", "--json"])
    assert short == long
    assert short != invoke(["run", *SMALL, "--json"])  # and it did change the GPU


# A Llama-2-70B-shaped Hugging Face config, no deployment in it.
HF_70B = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "_name_or_path": "my-70b",
          "hidden_size": 8192, "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8,
          "intermediate_size": 28672, "vocab_size": 32000, "tie_word_embeddings": False}


def hand_weights_per_gpu(tp: int) -> float:
    """Bytes per GPU of HF_70B at ``tp``, counted by hand: per layer QKV 8192 x (8192 + 2 x 1024), output
    8192 x 8192, gated FFN 3 x 8192 x 28672, two RMS norms 2 x 8192; embedding and LM head 2 x 32000 x 8192;
    final norm 8192. The norms are replicated on every GPU; the rest is split over the TP group. FP16."""
    layer_sharded = 8192 * 10240 + 8192 * 8192 + 3 * 8192 * 28672
    replicated = 80 * 2 * 8192 + 8192
    sharded = 80 * layer_sharded + 2 * 32000 * 8192
    return 2 * (sharded / tp + replicated)


def test_hf_model_on_eight_gpus_gets_the_smallest_tp_that_fits(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(HF_70B))
    usable = 0.96 * 80 * 2**30  # an A100-80GB less the 4 % activation reserve
    kv_bytes = 8192 * 80 * 2 * 1024 * 2  # one 8192-token iteration budget, K and V of 8 x 128 per layer, FP16
    # by hand: tp = 1 needs 138 GB of weights on one 85.9 GB GPU; tp = 2 leaves 2 x 13.5 GB >= 2.7 GB of KV
    assert hand_weights_per_gpu(1) > usable
    assert 2 * (usable - hand_weights_per_gpu(2)) >= kv_bytes
    spec = build_run_spec(platform="dgx-a100", model=str(config), workload="openr1")
    assert spec.model.parallel is None and spec.parallel is None
    assert (spec.deployment.tp, spec.deployment.dp) == (2, 4)
    assert fitting_deployment(spec).fits
    # the run uses it, says so, and saves it
    result = RUNNER.invoke(app, ["run", "--model", str(config), "--requests", "8", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["tp"], data["dp"]) == (2, 4)
    assert "tp=2, dp=4" in result.stderr and "--tp/--dp" in result.stderr
    # a TP given alone keeps the platform full
    assert build_run_spec(["tp=4"], platform="dgx-a100", model=str(config), workload="openr1").deployment.dp == 2


def test_compare_says_which_deployment_it_chose_for_an_hf_model(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(HF_70B))
    args = ["compare", "--systems", "gpu-only,hbm-pim", "--model", str(config), "--requests", "8", "--json"]
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output
    # once for both systems, the same TP/DP as the hand-checked run above
    assert result.stderr.count("states no deployment") == 1
    assert "tp=2, dp=4" in result.stderr and "--tp/--dp" in result.stderr
    stated = RUNNER.invoke(app, [*args, "--tp", "2", "--dp", "4"])
    assert stated.exit_code == 0 and "states no deployment" not in stated.stderr


def test_hf_model_that_fits_nowhere_takes_the_largest_tp_its_heads_allow_and_says_so(tmp_path: Path) -> None:
    # 20 heads: TP 8 does not divide them, so the candidates are 1, 2, 4; 8 x the 70B's layers fits on none
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**HF_70B, "hidden_size": 2560 * 4, "num_attention_heads": 20,
                                  "num_key_value_heads": 20, "head_dim": 512, "num_hidden_layers": 640}))
    spec = build_run_spec(platform="dgx-a100", model=str(config), workload="openr1")
    choice = fitting_deployment(spec)
    assert not choice.fits and (choice.parallel.tp, choice.parallel.dp) == (4, 2)
    assert "does not fit" in choice.note and "--tp/--dp" in choice.note


def test_compare_out_saves_each_systems_result_and_reruns_it(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    invoke(["compare", "--systems", "gpu-only,hbm-pim", *SMALL, "--seed", "4", "--set", "gpu=h200",
            "--out", str(out), "--json"])
    for system in ("gpu-only", "hbm-pim"):
        saved = out / "results" / f"{system}.json"
        record = json.loads(saved.read_text())["provenance"]
        assert record["overrides"] == ["gpu=h200"] and record["seed"] == 4
        assert record["spec"]["system"] == system and record["command_line"].startswith("l3sim compare ")
        rerun = json.loads(invoke(["run", "--spec", str(saved), "--json"]))
        assert rerun == metrics(saved)


def test_every_sweep_store_point_holds_its_provenance(tmp_path: Path) -> None:
    import pandas as pd

    sweep = tmp_path / "sweep.toml"
    sweep.write_text('[base]\nplatform = "dgx-a100"\nmodel = "llama-2-7b"\nworkload = "openr1"\nrequests = 6\n'
                     'set = ["gpu=h200"]\n[grid]\nseed = [1, 2]\n"serving.max_batch_tokens" = [2048]\n')
    invoke(["sweep", str(sweep), "--out", str(tmp_path / "out"), "--backend", "serial", "--json"])
    parts = sorted((tmp_path / "out" / "store" / "parts").glob("*.parquet"))
    records = [json.loads(pd.read_parquet(part)["provenance_json"].iloc[0]) for part in parts]
    assert sorted(record["seed"] for record in records) == [1, 2]
    for record in records:
        assert record["overrides"] == ["gpu=h200", "serving.max_batch_tokens=2048"]
        assert record["l3sim_version"] == __version__ and record["command_line"].startswith("l3sim sweep ")
        assert record["spec"]["platform"]["gpu"]["name"] == "h200" and record["spec"]["seed"] == record["seed"]
    # provenance is not a metric column of the results table
    assert "provenance_json" not in pd.read_csv(tmp_path / "out" / "results.csv").columns

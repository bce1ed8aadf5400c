"""The bound-and-loss account (serving/account.py): exact, non-negative, zero where nothing is lost."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from l3sim.hw.comm import CommModel
from l3sim.hw.devices import AttentionDevice
from l3sim.serving import account
from l3sim.serving.simulate import serve
from l3sim.serving.systems import build_system
from l3sim.serving.systems.accounting import nominal_gpu_cost
from l3sim.serving.systems.disaggregated import DisaggregatedSystem
from l3sim.serving.systems.gpu_only import GPUOnlySystem
from l3sim.spec.run import build_run_spec

from serving_fakes import Req

simulate_module = importlib.import_module("l3sim.serving.simulate")

SYSTEMS = ("gpu-only", "hbm-pim", "hbm-pim-single", "hbm-pim-ext", "cpu-offload", "r-pim", "l3")


def _spec(system: str, model: str, *overrides: str, scheduler: str | None = None, tp: int | None = None):
    parallel = {"tp": tp, "dp": 1} if tp else None
    return build_run_spec(
        list(overrides), platform="dgx-a100", model=model, workload="openr1", system=system, scheduler=scheduler,
        parallel=parallel,
    )


def _requests(draw_lengths, arrivals) -> list[Req]:
    return [Req(i, a, p, o) for i, ((p, o), a) in enumerate(zip(draw_lengths, arrivals))]


def _serve_spied(system, requests, spec, monkeypatch):
    """Serve, and keep the recorders and basis the account was computed from."""
    seen = {}
    original = simulate_module.summarise

    def spy(labels, kv, arrays, never_fits, tables, recorders, basis=None):
        seen.update(recorders=recorders, basis=basis, kv=kv)
        return original(labels, kv, arrays, never_fits, tables, recorders, basis)

    monkeypatch.setattr(simulate_module, "summarise", spy)
    return serve(system, requests, spec), seen


def _check_exact(result) -> None:
    losses = result.losses_s
    assert list(losses) == list(account.LOSS_CATEGORIES)
    assert all(v >= 0.0 for v in losses.values()), losses
    gap = result.makespan_s - result.bound_s
    assert math.isclose(sum(losses.values()), gap, rel_tol=1e-9, abs_tol=1e-9 * result.makespan_s)
    assert 0.0 < result.bound_s <= result.makespan_s * (1 + 1e-12)


def _check_rows(seen) -> None:
    """Every step of every recorded segment is non-negative, and the system's formula re-applied to its
    own terms gives the recorded time (so the first category is a removal, not a modelling mismatch)."""
    for rec in seen["recorders"]:
        seg, terms = rec.to_rows(), np.array(rec.account)
        if not len(seg):
            continue
        table = account.iteration_totals(seg, terms, seen["basis"], seen["kv"].capacity_tokens)
        steps = table[:, :-1]
        assert np.all(np.diff(steps, axis=1) <= 1e-9 * steps[:, :1]), "a removal lengthened an iteration"
        k = seg[:, 3]
        s0, s1 = (account.StageTerms(*terms[:, 2 + i * 9 : 11 + i * 9].T) for i in range(2))
        modelled = account._sum_max(s0.gpu_s, s1.busiest_s + s1.comm_s, s1.busiest_increment_s, k) + account._sum_max(
            s1.gpu_s, s0.busiest_s + s0.comm_s, s0.busiest_increment_s, k
        )
        np.testing.assert_allclose(modelled, steps[:, 0], rtol=1e-12)


@pytest.mark.parametrize("system", SYSTEMS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lengths=st.lists(st.tuples(st.integers(1, 400), st.integers(1, 600)), min_size=1, max_size=24),
    rate=st.sampled_from([0.0, 0.5, 5.0]),
    capacity=st.sampled_from([0.002, 0.02, 1.0]),
    model=st.sampled_from(["gpt-175b", "qwen-72b", "opt-66b"]),
    seed=st.integers(0, 1000),
)
def test_losses_are_non_negative_and_add_up_to_the_gap(system, lengths, rate, capacity, model, seed, monkeypatch):
    """Random small workloads (offline or Poisson, with pre-emption at small capacities) on every system."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / rate, len(lengths))) if rate else np.zeros(len(lengths))
    spec = _spec(system, model, f"serving.kv_capacity_fraction={capacity}")
    sys = build_system(spec)
    result, seen = _serve_spied(sys, _requests(lengths, arrivals), spec, monkeypatch)
    if result.requests_served == 0:
        return
    _check_exact(result)
    _check_rows(seen)


IDEAL_GPU = ('gpu.cost_source="roofline"', "gpu.compute_util=1.0", "gpu.mem_util=1.0")


def _identical_requests(n: int, prompt: int, output: int) -> list[Req]:
    return [Req(i, 0.0, prompt, output) for i in range(n)]


def test_gpu_only_without_overheads_runs_at_its_bound(monkeypatch):
    """One GPU (no all-reduce), no caps, identical requests admitted at once (no drain, no wait): every
    category is zero and the makespan is the bound."""
    spec = _spec("gpu-only", "llama-2-7b", *IDEAL_GPU, tp=1)
    result, _ = _serve_spied(build_system(spec), _identical_requests(8, 50, 40), spec, monkeypatch)
    assert result.preemptions == 0
    for name, value in result.losses_s.items():
        assert value <= 1e-9 * result.makespan_s, (name, value)
    assert math.isclose(result.bound_s, result.makespan_s, rel_tol=1e-9)


def test_halved_gpu_rates_lose_exactly_half(monkeypatch):
    """Caps of 0.5 on compute and memory double every GPU time (one GPU, no all-reduce): the bound is half the
    makespan, and the loss is the GPU's (its prefill share counted under prefill)."""
    spec = _spec("gpu-only", "llama-2-7b", 'gpu.cost_source="roofline"', "gpu.compute_util=0.5",
                 "gpu.mem_util=0.5", tp=1)
    result, _ = _serve_spied(build_system(spec), _identical_requests(8, 50, 40), spec, monkeypatch)
    assert math.isclose(result.bound_s, result.makespan_s / 2, rel_tol=1e-9)
    lost = result.losses_s["gpu_efficiency"] + result.losses_s["prefill"]
    assert math.isclose(lost, result.makespan_s / 2, rel_tol=1e-9)


def _ideal_disaggregated(spec, bw_bytes_per_s: float) -> DisaggregatedSystem:
    """A GPU (no caps) beside one attention unit reading KV at exactly its nominal bandwidth, no fixed cost,
    no link and no DDR transfers, capacity far beyond the workload."""
    model = spec.model
    device = AttentionDevice(
        name="ideal", kv_capacity_bytes=1e15, slots=1, fixed_s=0.0,
        per_token_s=model.kv_bytes_per_token / bw_bytes_per_s, nominal_bw_bytes_per_s=bw_bytes_per_s,
    )
    comm = CommModel(0.0, 0.0, model.num_layers, 1, 0.0, 0.0, 0.0, 1)
    gpu = nominal_gpu_cost(spec)
    return DisaggregatedSystem("ideal", "continuous", gpu, device, comm, model, nominal_gpu=gpu,
                               nominal_bw_bytes_per_s=bw_bytes_per_s)


def test_disaggregated_without_overheads_runs_at_its_bound(monkeypatch):
    spec = _spec("l3", "llama-2-7b", *IDEAL_GPU, tp=1, scheduler="continuous")
    system = _ideal_disaggregated(spec, 2e12)
    result, _ = _serve_spied(system, _identical_requests(6, 30, 25), spec, monkeypatch)
    assert all(value <= 1e-9 * result.makespan_s for value in result.losses_s.values()), result.losses_s
    assert math.isclose(result.bound_s, result.makespan_s, rel_tol=1e-9)


def test_fixed_costs_of_a_single_slot_are_counted_as_such(monkeypatch):
    """One slot, one request: its fixed cost per step is hidden only where the GPU stage is longer, so with a
    GPU-free stage order (no sub-batches: stages back to back) the loss is exactly steps x fixed."""
    spec = _spec("l3", "llama-2-7b", *IDEAL_GPU, tp=1, scheduler="continuous")
    system = _ideal_disaggregated(spec, 2e12)
    fixed = 1e-3
    system.device = AttentionDevice(**{**system.device.__dict__, "fixed_s": fixed})
    output = 30
    result, _ = _serve_spied(system, _identical_requests(1, 20, output), spec, monkeypatch)
    assert math.isclose(result.losses_s["fixed_per_call"], (output - 1) * fixed, rel_tol=1e-9)
    others = sum(v for k, v in result.losses_s.items() if k != "fixed_per_call")
    assert others <= 1e-9 * result.makespan_s


def test_a_system_without_terms_has_no_account():
    from serving_fakes import fake_system, run_spec

    result = serve(fake_system(10_000), _identical_requests(3, 10, 5), run_spec())
    assert result.losses_s == {} and math.isnan(result.bound_s)


def test_cli_run_and_compare_explain(tmp_path):
    """``run --json --explain`` adds bound_s (float) and losses_s (category -> float); without --explain the
    run object is unchanged; ``compare --json --explain`` adds them to every row; ``--out`` draws account.png."""
    import json

    from typer.testing import CliRunner

    from l3sim.cli import app

    runner = CliRunner()
    base = ["--model", "llama-2-7b", "--tp", "1", "--requests", "6", "--workload", "openr1"]
    plain = runner.invoke(app, ["run", "--system", "l3", *base, "--json"])
    assert plain.exit_code == 0, plain.output
    assert "bound_s" not in json.loads(plain.stdout)
    out = tmp_path / "run"
    explained = runner.invoke(app, ["run", "--system", "l3", *base, "--json", "--explain", "--out", str(out)])
    assert explained.exit_code == 0, explained.output
    data = json.loads(explained.stdout)
    assert isinstance(data["bound_s"], float) and list(data["losses_s"]) == list(account.LOSS_CATEGORIES)
    assert math.isclose(data["bound_s"] + sum(data["losses_s"].values()), data["makespan_s"], rel_tol=1e-9)
    assert (out / "account.png").is_file()
    rows = runner.invoke(app, ["compare", "--systems", "gpu-only,l3", *base, "--json", "--explain"])
    assert rows.exit_code == 0, rows.output
    assert [set(row["losses_s"]) for row in json.loads(rows.stdout)] == [set(account.LOSS_CATEGORIES)] * 2
    table = runner.invoke(app, ["compare", "--systems", "gpu-only,l3", *base, "--explain"])
    assert table.exit_code == 0 and "pipeline_bubble" in table.stdout


def test_drain_is_the_weight_reads_a_shrunken_batch_shares(monkeypatch):
    """Two requests admitted at once, one finishing first: each later iteration decodes one request where
    two fitted and nothing waits, so the drain loses FC*(1) - FC*(2) / 2 (the nominal dense layers of one
    token against half of two tokens') per such iteration, and nothing else is lost."""
    spec = _spec("gpu-only", "llama-2-7b", *IDEAL_GPU, tp=1)
    short, long = 10, 35
    requests = [Req(0, 0.0, 40, short), Req(1, 0.0, 40, long)]
    result, _ = _serve_spied(build_system(spec), requests, spec, monkeypatch)
    nominal = nominal_gpu_cost(spec)
    expected = (long - short) * (nominal.fc_time_s(1, 1) - nominal.fc_time_s(2, 2) / 2)
    assert expected > 0
    assert math.isclose(result.losses_s["drain"], expected, rel_tol=1e-9)
    others = sum(v for k, v in result.losses_s.items() if k != "drain")
    assert others <= 1e-9 * result.makespan_s


@pytest.mark.parametrize("system", SYSTEMS)
def test_a_run_without_its_account_times_the_same(system):
    """``simulate(account=False)`` (sweeps, studies, ``l3sim run`` without --explain or --out) leaves out the
    nominal-peak terms only: every metric of the result is the same, and no bound or loss is reported."""
    from l3sim.serving.simulate import simulate

    for arrival in ("offline", "poisson:0.5"):
        spec = build_run_spec(platform="dgx-a100", system=system, model="llama-2-7b", workload="openr1",
                              parallel={"tp": 1, "dp": 1}, requests=12, arrival=arrival)
        with_account, without = simulate(spec), simulate(spec, account=False)
        assert without.to_dict() == with_account.to_dict()
        assert without.losses_s == {} and math.isnan(without.bound_s)
        assert math.isfinite(with_account.bound_s) and set(with_account.losses_s) == set(account.LOSS_CATEGORIES)


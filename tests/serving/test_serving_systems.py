"""The disaggregated systems: device numbers from the paper's configuration, the sub-batch timing
formula on hand-checked cases, and run invariants on every system."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.hw.comm import CommModel
from l3sim.hw.devices import AttentionDevice, dimm_pim, gpu_hbm_pim, hbm_pim_ext, host_cpu
from l3sim.serving import serve
from l3sim.serving.affine import affine_max
from l3sim.serving.plan import IterationPlan
from l3sim.serving.state import RequestTable
from l3sim.serving.systems import build_system
from l3sim.serving.systems.disaggregated import DisaggregatedSystem
from l3sim.spec.run import build_run_spec
from serving_fakes import FakeCost

DISAGGREGATED = ("hbm-pim", "hbm-pim-single", "hbm-pim-ext", "cpu-offload", "r-pim", "l3")


def paper_spec(**fields):
    return build_run_spec(platform="dgx-a100", model="gpt-175b", workload="openr1", **fields)


# ---- device numbers (paper section VI, baselines table) ------------------------------------------
def test_device_bandwidths_and_capacities_follow_the_paper_configuration():
    spec = paper_spec()
    kv = spec.model.kv_bytes_per_token  # 2 x 12288 x 2 B x 96 layers
    assert kv == 2 * 12288 * 2 * 96
    # HBM-PIM: 16 x (8 A100 x 2.039 TB/s) = 261 TB/s (paper 260.8)
    assert gpu_hbm_pim(spec, 1e11).per_token_s == pytest.approx(kv / (16 * 8 * 2.039e12))
    ext = hbm_pim_ext(spec)
    assert ext.kv_capacity_bytes == pytest.approx(320e9)
    assert ext.per_token_s == pytest.approx(kv / 130.4e12)
    cpu = host_cpu(spec)  # 16 channels x 3200 MT/s x 8 B
    assert cpu.per_token_s == pytest.approx(kv / (16 * 3200e6 * 8))
    assert cpu.kv_capacity_bytes == 2 * 2**40
    l3 = dimm_pim(spec, "l3")
    assert l3.kv_capacity_bytes == 2 * 2**40
    assert l3.slots == 4  # 16 channels / 16 ranks per layer x 4 ranksets
    # bank-level PIM is below its 13.1 TB/s peak (activations, refresh) and far above rank-level
    assert 0.6 * 13.1e12 < l3.peak_bw_bytes_per_s < 13.1e12
    assert dimm_pim(spec, "rank-pim").peak_bw_bytes_per_s < 1.65e12


def test_overrides_scale_the_devices():
    base = hbm_pim_ext(paper_spec())
    doubled = hbm_pim_ext(paper_spec(devices={"hbm_pim_ext": {"modules": 40}}))
    assert doubled.kv_capacity_bytes == 2 * base.kv_capacity_bytes
    assert doubled.per_token_s == pytest.approx(base.per_token_s / 2)


# ---- affine max ----------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(0, 5)), min_size=1, max_size=6),
    st.integers(1, 40),
)
def test_affine_max_piece_matches_brute_force(terms, limit):
    first = np.array([t[0] for t in terms], dtype=float)
    slope = np.array([t[1] for t in terms], dtype=float)
    value, inc, valid = affine_max(first, slope, limit)
    assert 1 <= valid <= limit
    brute = [float(np.max(first + slope * j)) for j in range(limit)]
    for j in range(valid):
        assert value + inc * j == pytest.approx(brute[j])
    if valid < limit:  # the piece really ends there
        assert value + inc * valid < brute[valid]


# ---- the sub-batch formula on a hand case --------------------------------------------------------
@dataclass
class _Model:
    num_layers: int = 2
    qkv_flops_per_token: int = 1
    out_proj_flops_per_token: int = 1
    ffn_flops_per_token: int = 1
    lm_head_flops_per_token: int = 1
    kv_bytes_per_token: int = 10


def _hand_system(slots=2):
    gpu = FakeCost(kv_capacity_bytes=1e9, fc_base_s=1.0, fc_per_token_s=0.5, fc_per_logit_s=0.0)
    device = AttentionDevice("dev", 1e9, slots=slots, fixed_s=0.25, per_token_s=0.01)
    comm = CommModel(100.0, 10.0, 2, 1, 1000.0, 0.0, 0.0, 1)  # 0.1 s per decode over the link
    return DisaggregatedSystem("hand", "subbatch", gpu, device, comm, _Model())


def _table(kv_tokens, slots):
    n = len(kv_tokens)
    table = RequestTable(np.arange(n), np.zeros(n), np.ones(n, dtype=np.int64), np.full(n, 100, dtype=np.int64))
    table.kv_tokens[:] = kv_tokens
    table.prefill_done[:] = 1
    table.slot[:] = slots
    return table


def test_two_sub_batches_take_max_gpu0_att1_plus_max_gpu1_att0():
    system = _hand_system()
    table = _table([99, 199, 49], [0, 1, 0])
    plan = IterationPlan(decode_ids=np.array([0, 1, 2]), sub_batches=(np.array([0, 1]), np.array([2])), steady=True)
    # sub-batch 0: decodes 0 (ctx 100, slot 0) and 1 (ctx 200, slot 1); sub-batch 1: decode 2 (ctx 50)
    gpu0, gpu1 = 1.0 + 0.5 * 2, 1.0 + 0.5 * 1
    att0 = max(0.25 + 0.01 * 100, 0.25 + 0.01 * 200) + 2 * 0.1  # busiest slot + link
    att1 = 0.25 + 0.01 * 50 + 0.1
    expected = max(gpu0, att1) + max(gpu1, att0)
    assert system.iteration_cost(plan, table).duration_s == pytest.approx(expected)
    segment = system.segment_cost(plan, table, 1000)
    # Only att0 grows (slot 1's 0.01 s per iteration) once it is the larger of its pair.
    assert segment.first.duration_s == pytest.approx(expected)
    assert segment.increment.duration_s == pytest.approx(0.01)
    single = IterationPlan(decode_ids=np.array([0, 1, 2]))
    serial = (1.0 + 0.5 * 3) + max(0.25 + 0.01 * 150 + 0.25 + 0.01 * 0, 0.25 + 0.01 * 200) + 3 * 0.1
    # no sub-batches: everything in sub-batch 0, GPU then attention (slot 0 holds decodes 0 and 2)
    assert system.iteration_cost(single, table).duration_s == pytest.approx(serial)


def test_place_puts_each_admission_on_the_least_loaded_slot():
    from l3sim.serving.kvstore import KVStore
    from l3sim.serving.state import ReplicaState

    system = _hand_system(slots=3)
    table = _table([500, 100, 0, 0, 0], [0, 1, -1, -1, -1])
    table.prefill_target[:] = [500, 100, 300, 50, 10]
    state = ReplicaState(table, KVStore(100, 16, 0), running=[0, 1, 2, 3, 4])
    system.place(np.array([2, 3, 4]), state)
    # loads: slot0 5.25, slot1 1.25, slot2 0 -> 2 to slot 2 (3.25), 3 to slot 1 (1.75), 4 to slot 1
    assert table.slot.tolist() == [0, 1, 2, 1, 1]


# ---- invariants of whole runs on every system -----------------------------------------------------
@dataclass(frozen=True)
class _Request:
    id: int
    arrival_s: float
    prompt_tokens: int
    output_tokens: int


def _requests(seed, n=24):
    rng = np.random.default_rng(seed)
    prompts = rng.integers(1, 300, n)
    outputs = rng.integers(1, 400, n)
    return [_Request(i, 0.0, int(p), int(o)) for i, (p, o) in enumerate(zip(prompts, outputs))]


def _run(system_name, requests, **serving):
    spec = paper_spec(system=system_name, serving={"kv_reservation": "full", **serving})
    return spec, serve(build_system(spec), requests, spec)


@pytest.mark.parametrize("name", DISAGGREGATED)
def test_run_invariants(name):
    requests = _requests(1)
    spec, result = _run(name, requests)
    agg = result.aggregates
    prompts = sum(r.prompt_tokens for r in requests)
    outputs = sum(r.output_tokens for r in requests)
    assert result.output_tokens == outputs
    # every output token is a decode step or a prefill completion (no pre-emption under 'full')
    assert agg["decode_tokens"] + len(requests) == outputs
    assert agg["prefill_tokens"] == prompts
    assert result.kv_util_peak <= 1.0
    model = spec.model
    per_decode = (2 * model.num_heads * 128 + 2 * model.num_kv_heads * 128) * 2 * model.num_layers
    over_pcie = name not in ("hbm-pim", "hbm-pim-single")
    expected_pcie = (agg["decode_tokens"] * per_decode + prompts * model.kv_bytes_per_token) if over_pcie else 0.0
    assert agg["pcie_bytes"] == pytest.approx(expected_pcie)
    # decode attention reads every context once per step: sum over requests of sum_{t} (prompt + t)
    reads = sum(sum(r.prompt_tokens + t for t in range(1, r.output_tokens)) for r in requests)
    assert agg["decode_kv_bytes_read"] == pytest.approx(reads * model.kv_bytes_per_token)
    for fraction in result.busy_fraction.values():
        assert 0.0 <= fraction <= 1.0 + 1e-9


@pytest.mark.parametrize("name", DISAGGREGATED)
def test_phases_never_overlap_on_one_track(name):
    _, result = _run(name, _requests(2, n=12))
    previous_end = 0.0
    for _replica, start, end, k, phases in result.timeline:
        assert start >= previous_end - 1e-9
        previous_end = end
        by_track: dict[str, list] = {}
        for phase in phases:
            by_track.setdefault(phase.track, []).append(phase)
        first_iteration = max((p.start_s + p.duration_s for p in phases), default=0.0)
        assert start + first_iteration <= end + 1e-9
        for spans in by_track.values():
            spans.sort(key=lambda p: p.start_s)
            for a, b in zip(spans, spans[1:]):
                assert a.start_s + a.duration_s <= b.start_s + 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hbm-pim", "cpu-offload", "l3"])
def test_closed_form_equals_stepping(name):
    requests = _requests(3, n=16)
    _, fast = _run(name, requests, max_batch_tokens=512)
    _, slow = _run(name, requests, max_batch_tokens=512, stepping="per-iteration")
    assert fast.iterations == slow.iterations
    assert fast.makespan_s == pytest.approx(slow.makespan_s, rel=1e-9)
    assert fast.tbt_s["p99"] == pytest.approx(slow.tbt_s["p99"], rel=1e-9)
    assert fast.aggregates["decode_kv_bytes_read"] == pytest.approx(slow.aggregates["decode_kv_bytes_read"], rel=1e-9)


def test_rankset_overlap_lowers_the_pcie_share():
    requests = _requests(4)
    spec = paper_spec(system="l3", scheduler="subbatch")
    with_overlap = serve(build_system(spec), requests, spec)
    spec_off = paper_spec(system="l3", scheduler="subbatch", devices={"comm": {"rankset_overlap": False}})
    without = serve(build_system(spec_off), requests, spec_off)
    assert 0 < with_overlap.pcie_share < without.pcie_share


def test_weights_that_do_not_fit_give_oom_on_every_system():
    for name in DISAGGREGATED:
        spec = paper_spec(system=name, parallel={"tp": 1, "dp": 1})
        result = serve(build_system(spec), _requests(5, n=3), spec)
        assert result.oom and result.oom_reason

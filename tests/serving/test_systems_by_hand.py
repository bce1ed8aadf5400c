"""The systems' cost of one plan and their what-if answers on hand-made cost models (issue 17 item 7: the
``systems`` mutants).

Hand GPU: dense layers 1 ms per token + 0.1 ms per logit row; prefill attention 0.01 ms x chunk x (done +
chunk) per chunk; decode attention (GPU-only) 0.002 ms per context token + 0.5 ms per request. Its nominal
twin runs everything twice as fast. Hand attention device (disaggregated): 3 slots, a slot's step 2 ms per
request + 0.01 ms per context token. Hand link: 1,000 bytes per decode and 100 per prefill token, two layers,
two links of 1 MB/s with 0.1 ms latency per DMA, DDR at 1 MB/s shared by two ranksets. Every expected number
below is worked out in the docstrings from these rates, not from the systems' code.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_l3_scheduler_engine import _spec

from l3sim.hw.comm import CommModel
from l3sim.hw.devices.base import AttentionDevice
from l3sim.serving.plan import IterationPlan, Phase
from l3sim.serving.state import RequestTable
from l3sim.serving.systems import gpu_only, slot_placement
from l3sim.serving.systems.disaggregated import DisaggregatedSystem
from l3sim.serving.systems.gpu_only import GPUOnlySystem

MS = 1e-3


class _HandGPU:
    """The hand GPU (module docstring); ``speed`` 2 is its nominal twin."""

    kv_capacity_bytes = 1e12
    weight_bytes_per_gpu = 1e9
    fits = True

    def __init__(self, speed: float = 1.0, does_not_fit_reason: str | None = None) -> None:
        self.speed = speed
        self.does_not_fit_reason = does_not_fit_reason

    def fc_time_s(self, num_tokens, num_logits):
        return (1.0 * np.asarray(num_tokens) + 0.1 * np.asarray(num_logits)) * MS / self.speed

    def prefill_attention_time_s(self, chunk_tokens, done_tokens) -> np.ndarray:
        chunks = np.asarray(chunk_tokens, dtype=float)
        return 0.01 * MS * chunks * (np.asarray(done_tokens, dtype=float) + chunks) / self.speed

    def decode_attention_time_s(self, total_context_tokens, num_requests=None) -> float:
        return (0.002 * total_context_tokens + 0.5 * (num_requests or 0)) * MS / self.speed


def _gpu_only(model=True) -> GPUOnlySystem:
    return GPUOnlySystem(_HandGPU(), 8, _spec().model if model else None, _HandGPU(speed=2.0))


def _mixed_plan() -> tuple[IterationPlan, RequestTable]:
    """Request 0 (prompt 30, 10 done) prefills its last 20 tokens; request 1 (prompt 100) its first 40;
    requests 2 and 3 decode over 99 and 49 stored tokens (+1 each: contexts 100 and 50)."""
    table = RequestTable(ids=np.arange(4), arrival_s=np.zeros(4), prompt_tokens=np.array([30, 100, 10, 10]),
                         output_tokens=np.full(4, 50))
    table.prefill_done[:] = [10, 0, 10, 10]
    table.kv_tokens[:] = [10, 0, 99, 49]
    plan = IterationPlan(decode_ids=np.array([2, 3]), prefill_ids=np.array([0, 1]),
                         prefill_chunk_tokens=np.array([20, 40]), prefill_done_tokens=np.array([10, 0]))
    return plan, table


def test_gpu_only_iteration_by_hand():
    """Tokens 20 + 40 + 2 = 62; logits: 2 decodes + request 0, whose chunk ends its prompt (10 + 20 = 30) = 3:
    dense 62.3 ms. Prefill attention 0.01 x (20 x 30 + 40 x 40) = 22 ms: GPU stage 84.3 ms. Decode attention
    over 100 + 50 = 150 tokens, 2 requests: 0.3 + 1 = 1.3 ms. One interval on the GPU: 85.6 ms."""
    plan, table = _mixed_plan()
    cost = _gpu_only().iteration_cost(plan, table)
    assert cost.duration_s == pytest.approx(85.6 * MS, rel=1e-12)
    assert cost.busy_s == pytest.approx({"gpu": 85.6 * MS}, rel=1e-12)
    (phase,) = cost.phases
    assert phase == Phase("gpu", 0.0, pytest.approx(85.6 * MS, rel=1e-12), "iteration")


def test_gpu_only_counts_by_hand():
    """The run's totals of the same plan: 60 prefill tokens, 2 decodes, dense FLOPs over 62 tokens and 3 LM-head
    rows, KV read over 150 context tokens; none without a model."""
    plan, table = _mixed_plan()
    model = _spec().model
    per_token = model.num_layers * (model.qkv_flops_per_token + model.out_proj_flops_per_token
                                    + model.ffn_flops_per_token)
    counts = _gpu_only().iteration_cost(plan, table).counts
    assert counts == pytest.approx({
        "prefill_tokens": 60.0, "decode_tokens": 2.0, "fc_flops": 62 * per_token + 3 * model.lm_head_flops_per_token,
        "decode_kv_bytes_read": 150.0 * model.kv_bytes_per_token, "pcie_bytes": 0.0}, rel=1e-12)
    assert _gpu_only(model=False).iteration_cost(plan, table).counts == {}


def test_gpu_only_account_terms_by_hand():
    """Not pipelined; sub-batch 0: GPU stage 84.3 ms (no recomputed token: the same); prefill at nominal speed
    = 11 ms attention + (31 + 0.15) ms dense over 62 tokens / 3 logits - (1 + 0.1) ms the 2 decodes' own =
    41.05 ms; 2 decodes over 150 tokens; attention 1.3 ms, no growth, no link; sub-batch 1 empty."""
    plan, table = _mixed_plan()
    account = _gpu_only().iteration_cost(plan, table).account
    expected = (0.0, 84.3 * MS, 84.3 * MS, 41.05 * MS, 2.0, 150.0, 1.3 * MS, 0.0, 0.0, 0.0, *[0.0] * 9)
    assert account == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_gpu_only_account_with_recomputed_tokens_by_hand():
    """The same plan after a pre-emption dropped request 0's tokens 10-19 (computed_tokens 20): 10 of its 20-token
    chunk are recomputed, so its first-time part is 10 tokens after 20 done. Without recompute: prefill attention
    0.01 x (10 x 30 + 40 x 40) = 19 ms + dense over 10 + 40 + 2 = 52 tokens and 3 logits (52.3 ms) = 71.3 ms;
    at nominal speed (twice as fast): 9.5 ms + (52.3 - 2.2) / 2 ms = 34.55 ms. The iteration itself (84.3 ms on
    the GPU stage) is unchanged: the recomputed tokens are computed."""
    plan, table = _mixed_plan()
    table.computed_tokens[0] = 20
    cost = _gpu_only().iteration_cost(plan, table)
    assert cost.duration_s == pytest.approx(85.6 * MS, rel=1e-12)
    expected = (0.0, 84.3 * MS, 71.3 * MS, 34.55 * MS, 2.0, 150.0, 1.3 * MS, 0.0, 0.0, 0.0, *[0.0] * 9)
    assert cost.account == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_gpu_only_one_iteration_segment_is_the_iteration():
    """A decode-only plan stepped once and as a one-iteration segment cost the same, account included."""
    plan, table = _mixed_plan()
    decode_only = IterationPlan(decode_ids=plan.decode_ids)
    system = _gpu_only()
    one = system.iteration_cost(decode_only, table)
    segment = system.segment_cost(decode_only, table, 1)
    assert segment.valid_iterations == 1
    assert segment.first.duration_s == pytest.approx(one.duration_s, rel=1e-12)
    assert segment.first.account == pytest.approx(one.account, rel=1e-12, abs=1e-15)
    assert segment.first.counts == pytest.approx(one.counts, rel=1e-12)


def test_gpu_only_account_basis_by_hand():
    """The GPU is the attention device: one slot, no fixed or per-token device cost; nominal 0.001 ms per
    context token; dense layers over n decodes: n x 1.1 ms, nominal n x 0.55 ms (as floats)."""
    basis = _gpu_only().account_basis()
    assert (basis.slots, basis.fixed_s, basis.per_token_s, basis.attention_on_gpu) == (1, 0.0, 0.0, True)
    assert basis.nominal_per_token_s == pytest.approx(0.001 * MS, rel=1e-12)
    assert basis.fc_s(4) == pytest.approx(4.4 * MS, rel=1e-12)
    nominal = basis.nominal_fc_s(np.array([2, 3]))
    assert nominal.dtype == np.float64 and nominal == pytest.approx([1.1 * MS, 1.65 * MS], rel=1e-12)
    assert GPUOnlySystem(_HandGPU(), 8).account_basis() is None


def test_gpu_only_keeps_the_cost_models_verdict():
    assert _gpu_only().does_not_fit_reason == ""
    assert GPUOnlySystem(_HandGPU(does_not_fit_reason="weights need 9 GB"), 8).does_not_fit_reason == \
        "weights need 9 GB"


def test_gpu_only_build_counts_the_specs_model():
    spec = _spec("system=gpu-only")
    system = gpu_only.build(spec, "gpu-only-x", "fcfs-x")
    assert (system.name, system.default_scheduler) == ("gpu-only-x", "fcfs-x")
    assert system.model is spec.model and system.nominal is not None


# ---- the disaggregated system's what-if answers ----------------------------------------------------------

def _disaggregated() -> DisaggregatedSystem:
    device = AttentionDevice(name="hand-pim", kv_capacity_bytes=1e12, slots=3, fixed_s=2 * MS,
                             per_token_s=0.01 * MS)
    comm = CommModel(decode_bytes_per_request=1000.0, prefill_bytes_per_token=100.0, layers=2, links=2,
                     link_bw_bytes_per_s=1e6, link_latency_s=0.1 * MS, ddr_bw_bytes_per_s=1e6, ddr_stall_divisor=2)
    return DisaggregatedSystem("hand", "l3", _HandGPU(), device, comm, _spec().model)


def test_gpu_stage_by_hand():
    """Chunks 10 (5 done) and 20 (none done) beside 3 decodes: attention 0.01 x (10 x 15 + 20 x 20) = 5.5 ms;
    dense 33 tokens, 5 logits (every chunk completing) = 33.5 ms; 39 ms. With 1 logit: 38.6 ms. No chunk,
    4 decodes: 4.4 ms."""
    system = _disaggregated()
    assert system.gpu_stage_s([10, 20], [5, 0], 3) == pytest.approx(39.0 * MS, rel=1e-12)
    assert system.gpu_stage_s([10, 20], [5, 0], 3, num_logits=1) == pytest.approx(38.6 * MS, rel=1e-12)
    assert system.gpu_stage_s([], [], 4) == pytest.approx(4.4 * MS, rel=1e-12)


def test_attention_stage_by_hand():
    """Contexts 100, 200, 50 on slots 0, 2, 0: slot 0 = 2 x 2 + 1.5 = 5.5 ms, slot 2 = 2 + 2 = 4 ms, busiest
    5.5 ms. Link: 2 DMAs x 2 layers x 0.1 ms + 3 x 1,000 B / 2 links / 1 MB/s = 0.4 + 1.5 = 1.9 ms; DDR:
    (3,000 + 40 x 100) B / 1 MB/s / 2 = 3.5 ms. 10.9 ms. No decode beside 40 prefill tokens: DDR 2 ms only."""
    system = _disaggregated()
    assert system.slot_loads_s([100, 200, 50], [0, 2, 0]) == pytest.approx([5.5 * MS, 0.0, 4.0 * MS], rel=1e-12)
    assert system.attention_stage_s([100, 200, 50], [0, 2, 0], 40) == pytest.approx(10.9 * MS, rel=1e-12)
    assert system.attention_stage_s([], [], 40) == pytest.approx(2.0 * MS, rel=1e-12)
    assert system.attention_stage_s([], []) == 0.0


def test_pim_stage_places_longest_first_on_the_least_loaded_slot():
    """Contexts 100, 300, 50, 250, 80, longest first onto 3 equal slots: 300 -> slot 0 (5 ms), 250 -> slot 1
    (4.5), 100 -> slot 2 (3), 80 -> slot 2 (5.8), 50 -> slot 1 (7.0): busiest 7 ms. Link 0.4 + 5 x 1,000 / 2
    / 1e6 = 2.9 ms; DDR 5,000 / 1e6 / 2 = 2.5 ms: 12.4 ms."""
    assert _disaggregated().pim_stage_s([100, 300, 50, 250, 80], 0) == pytest.approx(12.4 * MS, rel=1e-12)
    # beside 40 prefill tokens of the other sub-batch: DDR + 40 x 100 / 1e6 / 2 = 2 ms more
    assert _disaggregated().pim_stage_s([100, 300, 50, 250, 80], 40) == pytest.approx(14.4 * MS, rel=1e-12)


def _place(loads: list[float], contexts: list[int], compiled: bool) -> tuple[list[int], list[float]]:
    """The slots ``_disaggregated``'s placement gives, and the loads after it."""
    device = _disaggregated().device
    loads_after = np.array(loads, dtype=np.float64)
    slots = slot_placement.place(loads_after, contexts, device.fixed_s, device.per_token_s, compiled=compiled)
    return slots.tolist(), loads_after.tolist()


@pytest.mark.parametrize("compiled", [False, True], ids=["interpreted", "compiled"])
def test_least_loaded_slots_from_unequal_loads(compiled):
    """Loads 4, 1, 1, 0.5 ms (4 slots); requests of 100, 100, 300 tokens (3, 3, 5 ms): the first onto slot 3
    (0.5 -> 3.5), the second onto slot 1 (the first of the two 1 ms slots -> 4), the third onto slot 2 (1 -> 6)."""
    slots, loads = _place([4 * MS, 1 * MS, 1 * MS, 0.5 * MS], [100, 100, 300], compiled)
    assert slots == [3, 1, 2]
    assert loads == pytest.approx([4 * MS, 4 * MS, 6 * MS, 3.5 * MS], rel=1e-12)


@pytest.mark.parametrize("compiled", [False, True], ids=["interpreted", "compiled"])
def test_least_loaded_slots_prefers_a_chosen_slot_of_equal_load_with_a_lower_index(compiled):
    """Loads 1 and 3 ms, three requests of no context (2 ms each): slot 0 (1 -> 3); then slot 0 again, whose 3 ms
    ties slot 1's and comes first (-> 5); then slot 1 (3 -> 5). Integers of milliseconds keep the ties exact."""
    assert _place([1 * MS, 3 * MS], [0, 0, 0], compiled)[0] == [0, 0, 1]


@pytest.mark.parametrize("compiled", [False, True], ids=["interpreted", "compiled"])
def test_least_loaded_slots_of_one_slot_and_of_equal_loads(compiled):
    """One slot takes everything; equal loads go by index, then back to the least loaded; no request, no slot."""
    assert _place([5 * MS], [10, 20], compiled)[0] == [0, 0]
    assert _place([0.0, 0.0, 0.0], [100, 100, 100, 0], compiled)[0] == [0, 1, 2, 0]
    assert _place([0.0, 1.0], [], compiled) == ([], [0.0, 1.0])


@pytest.mark.parametrize("compiled", [False, True], ids=["interpreted", "compiled"])
def test_placement_gives_integer_slots_and_takes_loads_of_any_number_type(compiled):
    """Slots come back as int64 (they index the table's slot column). Loads given as whole numbers (a list of
    ints, seconds) grow as floats: four requests of 3 ms (2 ms + 100 x 0.01 ms) onto two idle slots alternate
    0, 1, 0, 1 (loads truncated to whole seconds would stay 0 and keep choosing slot 0). No slot and no
    request places nothing."""
    device = _disaggregated().device
    slots = slot_placement.place([0, 0], [100] * 4, device.fixed_s, device.per_token_s, compiled=compiled)
    assert slots.dtype == np.int64 and slots.tolist() == [0, 1, 0, 1]
    assert slot_placement.place(np.zeros(0), [], device.fixed_s, device.per_token_s, compiled=compiled).size == 0


def test_disaggregated_account_basis_by_hand():
    """The device's own figures (3 slots, 2 ms per request, 0.01 ms per token); at a nominal 1 GB/s the
    device reads the model's KV bytes per token in kv_bytes_per_token / 1e9 s; dense layers over n decodes:
    n x 1.1 ms, nominal n x 0.55 ms (as floats); without a nominal bandwidth, no account."""
    system = _disaggregated()
    model = _spec().model
    with_account = DisaggregatedSystem("hand", "l3", _HandGPU(), system.device, system.comm, model,
                                       nominal_gpu=_HandGPU(speed=2.0), nominal_bw_bytes_per_s=1e9)
    basis = with_account.account_basis()
    assert (basis.slots, basis.attention_on_gpu) == (3, False)
    assert (basis.fixed_s, basis.per_token_s) == pytest.approx((2 * MS, 0.01 * MS), rel=1e-12)
    assert basis.nominal_per_token_s == pytest.approx(model.kv_bytes_per_token / 1e9, rel=1e-12)
    assert basis.fc_s(4) == pytest.approx(4.4 * MS, rel=1e-12)
    nominal = basis.nominal_fc_s(np.array([2, 3]))
    assert nominal.dtype == np.float64 and nominal == pytest.approx([1.1 * MS, 1.65 * MS], rel=1e-12)
    assert system.account_basis() is None
    without_bandwidth = DisaggregatedSystem("hand", "l3", _HandGPU(), system.device, system.comm, model,
                                            nominal_gpu=_HandGPU(speed=2.0))
    assert without_bandwidth.account_basis() is None


@pytest.mark.parametrize("name", ["r-pim", "cpu-offload"])
def test_compose_names_the_system_and_draws_its_attention_on_its_tracks(name):
    """A system built from its registry entry carries the entry's name and default scheduler; DIMM-PIM draws
    decode attention on one track per rankset ("pim rankset r"), the host CPU on one track named after it."""
    from l3sim.serving.systems import system_entry

    spec = _spec(f"system={name}")
    entry = system_entry(name)
    system = entry.build(spec, entry)
    assert (system.name, system.default_scheduler) == (entry.name, entry.default_scheduler)
    table = RequestTable(ids=np.arange(2), arrival_s=np.zeros(2), prompt_tokens=np.array([10, 10]),
                         output_tokens=np.array([50, 50]))
    table.prefill_done[:] = 10
    table.kv_tokens[:] = [300, 500]
    table.slot[:] = [0, system.device.slots - 1]
    cost = system.iteration_cost(IterationPlan(decode_ids=np.array([0, 1])), table)
    tracks = {phase.track for phase in cost.phases if phase.label.endswith("decode attention")}
    ranksets = system.device.ranksets
    expected = {f"pim rankset {r}" for r in range(ranksets)} if name == "r-pim" else {system.device.name}
    assert tracks == expected
    if name == "r-pim":
        assert ranksets > 1  # else the two kinds of track could not be told apart


@pytest.mark.parametrize("ranksets", [1, 2, 3])
def test_decode_attention_is_drawn_on_one_track_per_rankset(ranksets):
    """The hand device split into ``ranksets`` ranksets: a decode-only plan (request 0 over 100 tokens on slot 0,
    request 1 over 200 on slot 1; everything in sub-batch 0) draws its decode attention on each rankset's track,
    "pim rankset 0" .. "pim rankset r-1", the same interval on every one (the busiest slot: 2 + 2 = 4 ms after
    the transfers); with one rankset on one track named after the device."""
    base = _disaggregated()
    system = DisaggregatedSystem("hand", "r-pim", _HandGPU(), base.device, base.comm, _spec().model,
                                 rankset_tracks=ranksets)
    table = RequestTable(ids=np.arange(2), arrival_s=np.zeros(2), prompt_tokens=np.array([10, 10]),
                         output_tokens=np.array([50, 50]))
    table.prefill_done[:] = 10
    table.kv_tokens[:] = [99, 199]
    table.slot[:] = [0, 1]
    cost = system.iteration_cost(IterationPlan(decode_ids=np.array([0, 1])), table)
    attention = [p for p in cost.phases if p.label == "sub-batch 0 decode attention"]
    expected = [f"pim rankset {r}" for r in range(ranksets)] if ranksets > 1 else ["hand-pim"]
    assert [p.track for p in attention] == expected
    assert {(p.start_s, p.duration_s) for p in attention} == {(attention[0].start_s, attention[0].duration_s)}
    assert attention[0].duration_s == pytest.approx(4 * MS, rel=1e-12)


def test_a_dimm_pim_host_of_two_ranksets_draws_two_rankset_tracks():
    """r-pim on the default host with 2 ranks per channel (one DIMM of 2 ranks): 2 ranksets, 2 tracks."""
    from l3sim.serving.systems import system_entry

    spec = _spec("system=r-pim", "memory.dimms_per_channel=1", "memory.ranks_per_dimm=2")
    entry = system_entry("r-pim")
    system = entry.build(spec, entry)
    assert system.device.ranksets == 2
    table = RequestTable(ids=np.arange(1), arrival_s=np.zeros(1), prompt_tokens=np.array([10]),
                         output_tokens=np.array([50]))
    table.prefill_done[:] = 10
    table.kv_tokens[:] = [300]
    table.slot[:] = 0
    cost = system.iteration_cost(IterationPlan(decode_ids=np.array([0])), table)
    tracks = [p.track for p in cost.phases if p.label.endswith("decode attention")]
    assert tracks == ["pim rankset 0", "pim rankset 1"]


def _with_account() -> DisaggregatedSystem:
    base = _disaggregated()
    return DisaggregatedSystem("hand", "l3", _HandGPU(), base.device, base.comm, _spec().model,
                               nominal_gpu=_HandGPU(speed=2.0), nominal_bw_bytes_per_s=1e9)


def _two_sub_batch_plan() -> tuple[IterationPlan, RequestTable]:
    """Sub-batch 0: request 0 decodes over 100 tokens (slot 0); request 3 prefills its last 20 prompt tokens
    (10 done of 30). Sub-batch 1: requests 1 and 2 decode over 200 (slot 1) and 50 (slot 0); request 4
    prefills 30 of its 100 prompt tokens."""
    table = RequestTable(ids=np.arange(5), arrival_s=np.zeros(5), prompt_tokens=np.array([10, 10, 10, 30, 100]),
                         output_tokens=np.full(5, 50))
    table.prefill_done[:] = [10, 10, 10, 10, 0]
    table.kv_tokens[:] = [99, 199, 49, 10, 0]
    table.slot[:] = [0, 1, 0, 0, 2]
    plan = IterationPlan(decode_ids=np.array([0, 1, 2]), prefill_ids=np.array([3, 4]),
                         prefill_chunk_tokens=np.array([20, 30]), prefill_done_tokens=np.array([10, 0]),
                         sub_batches=(np.array([0]), np.array([1, 2])),
                         prefill_sub_batches=(np.array([0]), np.array([1])))
    return plan, table


def test_disaggregated_iteration_of_two_sub_batches_by_hand():
    """GPU 0: 20 + 1 tokens, 2 logits (request 3 completes) = 21.2 ms + attention 0.01 x 20 x 30 = 6 ms: 27.2 ms.
    GPU 1: 30 + 2 tokens, 2 logits = 32.2 ms + 0.01 x 30 x 30 = 9 ms: 41.2 ms. Device 0: slot 0 = 2 + 1 = 3 ms;
    its link: 0.4 + 1,000 / 2 / 1e6 = 0.9 ms, DDR (1,000 + 30 x 100) / 1e6 / 2 = 2 ms: 2.9 ms. Device 1: slot 1
    = 2 + 2 = 4 ms (slot 0: 2.5); link 0.4 + 1 = 1.4 ms, DDR (2,000 + 20 x 100) / 2e6 = 2 ms: 3.4 ms.
    GPU 0 beside device 1: max(27.2, 7.4); GPU 1 beside device 0: max(41.2, 5.9): 68.4 ms."""
    plan, table = _two_sub_batch_plan()
    cost = _disaggregated().iteration_cost(plan, table)
    assert cost.duration_s == pytest.approx(68.4 * MS, rel=1e-12)
    assert cost.gpu_stage_s == pytest.approx((27.2 * MS, 41.2 * MS), rel=1e-12)
    assert cost.attention_stage_s == pytest.approx((5.9 * MS, 7.4 * MS), rel=1e-12)
    assert cost.busy_s == pytest.approx({"gpu": 68.4 * MS, "attention": 7 * MS, "pcie": 6.3 * MS}, rel=1e-12)
    expected = [("gpu", 0, 21.2, "sub-batch 0 FC"), ("gpu", 21.2, 6, "sub-batch 0 prefill attention"),
                ("pcie", 0, 3.4, "sub-batch 1 transfers"), ("hand-pim", 3.4, 4, "sub-batch 1 decode attention"),
                ("gpu", 27.2, 32.2, "sub-batch 1 FC"), ("gpu", 59.4, 9, "sub-batch 1 prefill attention"),
                ("pcie", 27.2, 2.9, "sub-batch 0 transfers"), ("hand-pim", 30.1, 3, "sub-batch 0 decode attention")]
    assert [p.track for p in cost.phases] == [e[0] for e in expected]
    assert [p.label for p in cost.phases] == [e[3] for e in expected]
    assert [p.start_s for p in cost.phases] == pytest.approx([e[1] * MS for e in expected], rel=1e-12, abs=1e-15)
    assert [p.duration_s for p in cost.phases] == pytest.approx([e[2] * MS for e in expected], rel=1e-12)
    model = _spec().model
    assert cost.counts["prefill_tokens"] == 50 and cost.counts["decode_tokens"] == 3
    assert cost.counts["decode_kv_bytes_read"] == 350 * model.kv_bytes_per_token
    assert cost.counts["pcie_bytes"] == 3 * 1000 + 50 * 100
    per_token = model.num_layers * (model.qkv_flops_per_token + model.out_proj_flops_per_token
                                    + model.ffn_flops_per_token)
    # 53 tokens through the dense layers; logits: 3 decodes + request 3, which completes
    assert cost.counts["fc_flops"] == pytest.approx(53 * per_token + 4 * model.lm_head_flops_per_token, rel=1e-12)


def _terms(account: tuple[float, ...]) -> list[float]:
    """The account without the two busiest-slot growth terms (positions 7 and 16)."""
    return [v for k, v in enumerate(account) if k not in (7, 16)]


def test_disaggregated_account_terms_by_hand():
    """Pipelined. Sub-batch 0: GPU 27.2 ms (nothing recomputed: the same); prefill at nominal speed 3 ms
    attention + (10.5 + 0.1) ms dense over 21 tokens / 2 logits - 0.55 ms for its decode alone = 13.05 ms;
    1 decode over 100 tokens; busiest slot 3 ms; link 2.9 ms (2.9 without recomputed tokens). Sub-batch 1:
    41.2; 4.5 + 16.1 - 1.1 = 19.5 ms; 2 decodes over 250 tokens; 4 ms; 3.4 ms."""
    plan, table = _two_sub_batch_plan()
    account = _with_account().iteration_cost(plan, table).account
    expected = [1.0, 27.2 * MS, 27.2 * MS, 13.05 * MS, 1, 100, 3 * MS, 2.9 * MS, 2.9 * MS,
                41.2 * MS, 41.2 * MS, 19.5 * MS, 2, 250, 4 * MS, 3.4 * MS, 3.4 * MS]
    assert _terms(account) == pytest.approx(expected, rel=1e-12)


def test_disaggregated_account_without_recomputed_tokens_by_hand():
    """Request 3 had computed 20 tokens before a pre-emption: of its chunk (tokens 10..30) the first 10 are
    recomputed. Sub-batch 0 without them: attention 0.01 x 10 x 30 = 3 ms + dense (10 + 1 tokens, 2 logits)
    11.2 ms = 14.2 ms; at nominal 1.5 + 5.6 - 0.55 = 6.55 ms. Sub-batch 1's link without them: 1.4 ms +
    (2,000 + 10 x 100) / 2e6 = 2.9 ms."""
    plan, table = _two_sub_batch_plan()
    table.computed_tokens[3] = 20
    account = _with_account().iteration_cost(plan, table).account
    expected = [1.0, 27.2 * MS, 14.2 * MS, 6.55 * MS, 1, 100, 3 * MS, 2.9 * MS, 2.9 * MS,
                41.2 * MS, 41.2 * MS, 19.5 * MS, 2, 250, 4 * MS, 3.4 * MS, 2.9 * MS]
    assert _terms(account) == pytest.approx(expected, rel=1e-12)


def _placing_state(slots_of_running: list[int], admitted: list[int]):
    """Requests 0..3 with prompts 100, 300, 200, 50 (their load when placed: 2 ms + 0.01 ms x tokens)."""
    from collections import deque

    from l3sim.serving.kvstore import KVStore
    from l3sim.serving.state import ReplicaState

    table = RequestTable(ids=np.arange(4), arrival_s=np.zeros(4), prompt_tokens=np.array([100, 300, 200, 50]),
                         output_tokens=np.full(4, 10))
    table.slot[:] = slots_of_running
    return ReplicaState(table, KVStore(1000, 16, 0), running=[0, 1, 2, 3], waiting=deque()), np.array(admitted)


def test_place_puts_one_admission_on_the_least_loaded_of_two_slots():
    """Two slots; request 0 (3 ms) on slot 0: request 3, admitted alone, goes to slot 1."""
    base = _disaggregated()
    device = AttentionDevice(name="two", kv_capacity_bytes=1e12, slots=2, fixed_s=2 * MS, per_token_s=0.01 * MS)
    system = DisaggregatedSystem("hand", "l3", _HandGPU(), device, base.comm, _spec().model)
    state, ids = _placing_state([0, -1, -1, -1], [3])
    state.running = [0, 3]
    system.place(ids, state)
    assert state.table.slot[3] == 1


def test_place_ignores_the_stale_slot_of_a_readmitted_request():
    """Three slots; requests 0 (3 ms) on slot 0 and 2 (4 ms) on slot 2; request 1 comes back from a pre-emption
    with its old slot 1 still written: its own old load does not count, so slot 1 (empty) takes it."""
    system = _disaggregated()
    state, ids = _placing_state([0, 1, 2, -1], [1])
    state.running = [0, 2, 1]
    system.place(ids, state)
    assert state.table.slot[1] == 1


def test_disaggregated_account_when_a_whole_chunk_is_recomputed():
    """Request 3 had computed 40 tokens: its whole chunk (tokens 10..30) is recomputed. Sub-batch 0 without it:
    dense over its 1 decode with 2 logits = 1.2 ms; at nominal 0.6 - 0.55 = 0.05 ms; sub-batch 1's link
    without request 3's KV: 1.4 + 2,000 / 2e6 = 2.4 ms."""
    plan, table = _two_sub_batch_plan()
    table.computed_tokens[3] = 40
    account = _with_account().iteration_cost(plan, table).account
    expected = [1.0, 27.2 * MS, 1.2 * MS, 0.05 * MS, 1, 100, 3 * MS, 2.9 * MS, 2.9 * MS,
                41.2 * MS, 41.2 * MS, 19.5 * MS, 2, 250, 4 * MS, 3.4 * MS, 2.4 * MS]
    assert _terms(account) == pytest.approx(expected, rel=1e-12)


def test_disaggregated_keeps_the_cost_models_verdict_and_refuses_unplaced_decodes():
    base = _disaggregated()
    assert base.does_not_fit_reason == ""
    refused = DisaggregatedSystem("hand", "l3", _HandGPU(does_not_fit_reason="weights need 9 GB"), base.device,
                                  base.comm, _spec().model)
    assert refused.does_not_fit_reason == "weights need 9 GB"
    plan, table = _two_sub_batch_plan()
    table.slot[1] = -1
    with pytest.raises(RuntimeError, match="^hand: requests decode before the system placed them$"):
        base.iteration_cost(plan, table)


def _decode_table() -> RequestTable:
    """Requests 0 and 1 decode over 100 and 50 tokens, on slots 0 and 1."""
    table = RequestTable(ids=np.arange(2), arrival_s=np.zeros(2), prompt_tokens=np.array([10, 10]),
                         output_tokens=np.full(2, 500))
    table.prefill_done[:] = 10
    table.kv_tokens[:] = [99, 49]
    table.slot[:] = [0, 1]
    return table


def test_disaggregated_segment_of_two_sub_batches_by_hand():
    """Request 0 in sub-batch 0, request 1 in sub-batch 1. GPU stages 1.1 ms each (one decode, one logit). Device
    0: 2 + 1 = 3 ms, growing 0.01 ms an iteration; link 0.4 + 0.5 ms + DDR 1,000 / 2e6 = 0.5 ms: 1.4 ms. Device
    1: 2 + 0.5 = 2.5 ms, + 1.4 ms. Each half is the device's: 3.9 + 4.4 = 8.3 ms, growing 0.02 ms an iteration
    for all 10 iterations (the GPU stays below); one iteration asked, one given."""
    plan = IterationPlan(decode_ids=np.array([0, 1]), sub_batches=(np.array([0]), np.array([1])))
    segment = _disaggregated().segment_cost(plan, _decode_table(), 10)
    assert segment.first.duration_s == pytest.approx(8.3 * MS, rel=1e-12)
    assert segment.increment.duration_s == pytest.approx(0.02 * MS, rel=1e-9)
    assert segment.increment.busy_s == pytest.approx({"attention": 0.02 * MS}, rel=1e-9)
    assert segment.valid_iterations == 10
    assert _disaggregated().segment_cost(plan, _decode_table(), 1).valid_iterations == 1


def test_disaggregated_segment_without_sub_batches_by_hand():
    """Both decodes in sub-batch 0 (no interleaving): GPU 2.2 ms (2 tokens, 2 logits), then the device: slots 0
    and 1 hold 3 and 2.5 ms, the busiest grows 0.01 ms an iteration; link 0.4 + 1 ms + DDR 2,000 / 2e6 = 1 ms:
    2.4 ms. 2.2 + 5.4 = 7.6 ms; the other half is empty: no interval of zero length is drawn."""
    plan = IterationPlan(decode_ids=np.array([0, 1]))
    segment = _disaggregated().segment_cost(plan, _decode_table(), 10)
    assert segment.first.duration_s == pytest.approx(7.6 * MS, rel=1e-12)
    assert segment.increment.duration_s == pytest.approx(0.01 * MS, rel=1e-9)
    assert segment.increment.busy_s == pytest.approx({"attention": 0.01 * MS}, rel=1e-9)
    assert segment.valid_iterations == 10
    phases = [(p.track, p.label) for p in segment.first.phases]
    assert phases == [("gpu", "sub-batch 0 FC"), ("pcie", "sub-batch 0 transfers"),
                      ("hand-pim", "sub-batch 0 decode attention")]
    assert [p.start_s for p in segment.first.phases] == pytest.approx([0.0, 2.2 * MS, 4.6 * MS], rel=1e-12)


class _KinkedGPU(_HandGPU):
    """Decode attention 0.0002 ms per context token, but never less than for 160 tokens, + 0.5 ms per request."""

    def decode_attention_time_s(self, total_context_tokens, num_requests=None) -> float:
        return (0.0002 * max(total_context_tokens, 160) + 0.5 * (num_requests or 0)) * MS


def test_gpu_only_segment_is_affine_while_the_attention_is():
    """Two decodes over 150 tokens, growing 2 tokens an iteration: 0.004 ms an iteration on the hand GPU, for as
    many iterations as asked (10, or 2); dense 2.2 ms + attention 0.3 + 1 ms = 3.5 ms first; one asked: no
    growth."""
    plan, table = _mixed_plan()
    decode_only = IterationPlan(decode_ids=plan.decode_ids)
    system = _gpu_only()
    model = _spec().model
    for asked in (10, 2):
        segment = system.segment_cost(decode_only, table, asked)
        assert segment.valid_iterations == asked
        assert segment.first.duration_s == pytest.approx(3.5 * MS, rel=1e-12)
        assert segment.increment.duration_s == pytest.approx(0.004 * MS, rel=1e-9)
    assert segment.first.busy_s == pytest.approx({"gpu": 3.5 * MS}, rel=1e-12)
    assert segment.first.phases == (Phase("gpu", 0.0, pytest.approx(3.5 * MS, rel=1e-12), "decode iteration"),)
    assert segment.first.counts["prefill_tokens"] == 0 and segment.first.counts["decode_tokens"] == 2
    assert segment.increment.busy_s == pytest.approx({"gpu": 0.004 * MS}, rel=1e-9)
    assert segment.increment.counts == {"decode_kv_bytes_read": 2.0 * model.kv_bytes_per_token}
    assert system.segment_cost(decode_only, table, 1).increment.duration_s == 0.0


def test_gpu_only_segment_is_halved_across_a_kink():
    """Attention flat at 160 tokens' worth up to iteration 5 (150 + 2 x 5 = 160), then rising 0.0004 ms an
    iteration. Asked 10: the straight line from iteration 0 to 9 misses iteration 4 (158 tokens: flat) by
    0.0007 ms, so 10 halves to 5, whose line (iterations 0..4, all flat) holds: 5 iterations, no growth."""
    plan, table = _mixed_plan()
    system = GPUOnlySystem(_KinkedGPU(), 8, _spec().model)
    segment = system.segment_cost(IterationPlan(decode_ids=plan.decode_ids), table, 10)
    assert segment.valid_iterations == 5
    assert segment.increment.duration_s == 0.0


class _FloorGPU(_HandGPU):
    """Decode attention 0.0002 ms per context token, but never less than for ``floor`` tokens, + 0.5 ms per request."""

    def __init__(self, floor: float) -> None:
        super().__init__()
        self.floor = floor

    def decode_attention_time_s(self, total_context_tokens, num_requests=None) -> float:
        return (0.0002 * max(total_context_tokens, self.floor) + 0.5 * (num_requests or 0)) * MS


@pytest.mark.parametrize("floor, asked, increment_ms", [(151, 2, 0.0002), (152, 3, 0.0)])
def test_gpu_only_segment_probes_its_stretch_at_an_iteration_in_the_middle(floor, asked, increment_ms):
    """Two decodes over 150 tokens, 2 more an iteration (iteration k: 150 + 2k tokens); dense 2.2 ms an iteration.

    - Floor 151, asked 2: iterations 0 and 1 attend over 150 (floor: 151) and 152 tokens. Two iterations are
      always one segment (a line through two points; nothing lies between iterations): 2 iterations, growing
      0.0002 x (152 - 151) = 0.0002 ms.
    - Floor 152, asked 3: 150, 152, 154 tokens, attention 0.0304, 0.0304, 0.0308 ms (+ 1 ms). The line from
      iteration 0 to 2 passes 0.0002 ms above iteration 1, the one in the middle: 3 halves to 2, iterations 0
      and 1, both on the floor: no growth.

    Each iteration the segment covers costs what it costs stepped: first + k x increment."""
    plan, table = _mixed_plan()
    system = GPUOnlySystem(_FloorGPU(floor), 8, _spec().model)
    segment = system.segment_cost(IterationPlan(decode_ids=plan.decode_ids), table, asked)
    assert segment.valid_iterations == 2
    assert segment.increment.duration_s == pytest.approx(increment_ms * MS, rel=1e-9, abs=1e-15)
    for k in range(segment.valid_iterations):
        stepped = (2.2 + 0.0002 * max(150 + 2 * k, floor) + 1.0) * MS
        assert segment.first.duration_s + k * segment.increment.duration_s == pytest.approx(stepped, rel=1e-12)


def test_nominal_gpu_is_the_roofline_at_full_rates_with_free_all_reduces(monkeypatch):
    """The account's bound: the spec's GPUs as a roofline at 100 % compute, memory and NVLink, no all-reduce
    latency; the rest of the spec as it is."""
    import l3sim.hw.gpu
    from l3sim.serving.systems.accounting import nominal_gpu_cost

    monkeypatch.setattr(l3sim.hw.gpu, "GPUCostModel", lambda spec: spec)
    spec = _spec("gpu.compute_util=0.5", "gpu.nvlink_util=0.5", "gpu.allreduce_latency_s=1e-5")
    nominal = nominal_gpu_cost(spec)
    gpu = nominal.gpu
    assert (gpu.cost_source, gpu.compute_util, gpu.mem_util, gpu.nvlink_util, gpu.allreduce_latency_s) == \
        ("roofline", 1.0, 1.0, 1.0, 0.0)
    assert nominal.model_dump(exclude={"gpu"}) == spec.model_dump(exclude={"gpu"})


def test_gpu_only_prefill_only_plan_reads_no_kv():
    """Only request 0's last 20 prompt tokens: no decode, so no KV is read for decode attention."""
    plan, table = _mixed_plan()
    prefill_only = IterationPlan(prefill_ids=plan.prefill_ids[:1], prefill_chunk_tokens=plan.prefill_chunk_tokens[:1],
                                 prefill_done_tokens=plan.prefill_done_tokens[:1])
    counts = _gpu_only().iteration_cost(prefill_only, table).counts
    assert counts["decode_kv_bytes_read"] == 0.0 and counts["decode_tokens"] == 0.0


def test_prefill_seconds_per_sub_batch_are_numpys_sums_bit_for_bit():
    """The per-sub-batch sums of prefill attention seconds add up to two in Python and more with numpy: every
    size must give ``float(np.sum(array[positions]))`` exactly (numpy adds pairwise beyond a few)."""
    from l3sim.serving.systems.disaggregated import _numpy_sum

    rng = np.random.default_rng(9)
    for size in range(0, 12):
        for _ in range(200):
            array = rng.uniform(0, 1e-3, 12) * 10.0 ** rng.integers(-6, 1, 12)
            positions = rng.choice(12, size, replace=False).astype(np.int64)
            values = [array[i] for i in positions.tolist()]
            assert _numpy_sum(values, array, positions) == float(np.sum(array[positions]))


def test_plan_counts_of_gpt175b_by_hand():
    """GPT-175B (h = 12,288, 96 layers, MHA, a 4h FFN): 24 h^2 dense
    FLOPs per token per layer (QKV 6h^2, output 2h^2, FFN 16h^2), 2 h V for a logit, 2 h x 2 bytes x 96 of KV."""
    from l3sim.serving.systems.accounting import CountRates, decode_increment_counts, plan_counts
    from l3sim.spec import ModelSpec, load_preset_data

    data, source = load_preset_data("models", "gpt-175b")
    model = ModelSpec.parse(data, source=source)
    h, layers = 12288, 96
    rates = CountRates.of(model)
    assert rates.dense_flops_per_token == 24 * h * h * layers
    assert rates.lm_head_flops_per_token == 2 * h * model.vocab_size
    assert rates.kv_bytes_per_token == 2 * h * 2 * layers
    counts = plan_counts(rates, 300, 40, 45, 1.5e6, 7.0)
    assert counts == {"prefill_tokens": 300.0, "decode_tokens": 40.0,
                      "fc_flops": float(24 * h * h * layers * 340 + 2 * h * model.vocab_size * 45),
                      "decode_kv_bytes_read": 1.5e6 * 4 * h * layers, "pcie_bytes": 7.0}
    assert decode_increment_counts(rates, 40) == {"decode_kv_bytes_read": float(40 * 4 * h * layers)}


def test_three_prefills_in_one_sub_batch_sum_their_own_attention():
    """Chunks 10, 20, 30 (none done) in sub-batch 0 and 40 in sub-batch 1, no decodes, none completing: GPU 0 =
    0.01 x (100 + 400 + 900) = 14 ms of attention + 60 ms dense = 74 ms; GPU 1 = 16 + 40 = 56 ms (a sum over
    three values takes numpy's path, and must still cover only its own sub-batch's chunks)."""
    table = RequestTable(ids=np.arange(4), arrival_s=np.zeros(4), prompt_tokens=np.full(4, 100),
                         output_tokens=np.full(4, 5))
    empty = np.zeros(0, dtype=np.int64)
    plan = IterationPlan(decode_ids=empty, prefill_ids=np.arange(4), prefill_chunk_tokens=np.array([10, 20, 30, 40]),
                         prefill_done_tokens=np.zeros(4, dtype=np.int64), sub_batches=(empty, empty),
                         prefill_sub_batches=(np.array([0, 1, 2]), np.array([3])))
    cost = _disaggregated().iteration_cost(plan, table)
    assert cost.gpu_stage_s == pytest.approx((74 * MS, 56 * MS), rel=1e-12)

"""RunSpec: everything one simulation run depends on, and how it is built from names and overrides."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from l3sim.spec.base import Spec
from l3sim.spec.devices import DevicesSpec
from l3sim.spec.dram import HostMemorySpec
from l3sim.spec.model import ModelSpec, ParallelSpec
from l3sim.spec.pim import PIMSpec
from l3sim.spec.platform import PlatformSpec
from l3sim.spec.presets import apply_overrides, preset_ref
from l3sim.spec.workload import WorkloadSpec


class GPUCostSpec(Spec):
    """How GPU operator times are obtained."""

    compute_util: float = Field(
        0.8, gt=0, le=1, description="cap on achieved/peak FLOP/s (AttAcc simulator, used by the L3 paper)"
    )
    mem_util: float = Field(
        0.85, gt=0, le=1, description="cap on achieved/peak HBM bandwidth (AttAcc simulator, used by the L3 paper)"
    )
    cost_source: Literal["calibrated", "roofline", "profile", "attacc"] = Field(
        "calibrated",
        description="'calibrated': operator model with tiles, waves, kernel overheads and fitted efficiencies "
        "(the GPU preset's [calibration]); 'roofline': the AttAcc-style capped roofline (compute_util, "
        "mem_util); 'profile': interpolation in measured Vidur profiles (profile_path, allreduce_profile_path); "
        "'attacc': the AttAcc simulator's GPU formulas, the L3 paper's GPU side (docs/gpu-attacc.md)",
    )
    profile_path: str | None = Field(None, description="Vidur-format *_mlp.csv for cost_source = 'profile'")
    allreduce_profile_path: str | None = Field(
        None,
        description="Vidur-format all-reduce CSV; with cost_source = 'profile' the TP all-reduces interpolate it "
        "(None: the ring model of the platform's all-reduce parameters)",
    )
    activation_reserve_fraction: float = Field(
        0.04,
        ge=0,
        lt=1,
        description="share of each GPU's HBM kept for activations and workspace, not given to the KV cache "
        "(docs/gpu-model.md: CUDA context, NCCL and CUDA-graph pools and the activations of an 8192-token "
        "GPT-175B TP8 iteration come to about 2.0-3.4 GB of an 80 GiB A100, 2.3-4 %; 0.04 is the upper end)",
    )
    allreduce_latency_s: float | None = Field(
        None,
        ge=0,
        description="fixed time of one NCCL all-reduce call, s (None: the platform preset's allreduce_latency_s)",
    )
    nvlink_util: float | None = Field(
        None,
        gt=0,
        le=1,
        description="achieved ring all-reduce bus bandwidth / NVLink bandwidth per direction (None: the platform "
        "preset's allreduce_bus_efficiency)",
    )


class ServingSpec(Spec):
    """Batching limits of the serving engine (vLLM-style continuous batching)."""

    max_batch_tokens: int = Field(
        8192, ge=1, description="token budget per iteration: decode tokens plus prefill chunk tokens"
    )
    max_num_seqs: int = Field(0, ge=0, description="most requests in one batch (0: no limit but capacity)")
    kv_block_tokens: int = Field(16, ge=1, description="KV allocation granularity in tokens (paged attention)")
    kv_reservation: Literal["prompt", "full"] = Field(
        "prompt",
        description="KV blocks reserved at admission: 'prompt' (vLLM: the prompt's blocks; decode grows on demand "
        "and pre-empts the latest admitted request by recompute when blocks run out) or 'full' (prompt + every "
        "output token reserved up front, so no pre-emption; an oracle that knows output lengths)",
    )
    admission_watermark_fraction: float = Field(
        0.01,
        ge=0,
        lt=1,
        description="share of KV blocks that must stay free after an admission (vLLM's watermark, default 0.01)",
    )
    kv_capacity_fraction: float = Field(
        1.0,
        gt=0,
        le=1,
        description="share of the system's KV-cache capacity the run may use (the breakdown study runs each "
        "system at 20-100 % of its capacity, L3 paper Fig. 11); applied where the KV store is sized",
    )
    stepping: Literal["closed-form", "per-iteration"] = Field(
        "closed-form",
        description="advance steady all-decode stretches in closed form, or step every iteration (reference mode)",
    )
    l3_regroup: Literal["decision", "never"] = Field(
        "decision",
        description="when the L3 scheduler re-forms its two sub-batches from every decoding request: 'decision' "
        "(each time its policy runs: a prefill or a new decode to place; the paper forms them every iteration, "
        "and between decisions the plan repeats) or 'never' (a decode keeps its sub-batch until it finishes or "
        "is pre-empted; only new decodes are placed). The paper does not say; docs/scheduler.md",
    )


class RunSpec(Spec):
    """One simulation run: platform, model, workload, system and every knob, validated together."""

    platform: Annotated[PlatformSpec, BeforeValidator(preset_ref("platforms"))]
    model: Annotated[ModelSpec, BeforeValidator(preset_ref("models"))]
    workload: Annotated[WorkloadSpec, BeforeValidator(preset_ref("workloads"))]
    system: str = "gpu-only"
    scheduler: str | None = Field(None, description="scheduler name; None: the system's default")
    parallel: ParallelSpec | None = Field(None, description="TP/DP; None: the model preset's default")
    requests: int | None = Field(1000, ge=1, description="requests to draw (None: the whole trace)")
    arrival: str = Field("offline", description="offline | poisson:RATE | gamma:RATE:CV | trace[:SCALE] | closed:N")
    seed: int = Field(0, ge=0, description="seed of every random draw (numpy needs it non-negative)")
    assumptions: str | None = Field(
        None,
        description="the assumption profile (a name in presets/assumptions or a TOML path) build_run_spec "
        "applied; a label here, its settings are already in the other fields (l3sim.spec.assumptions)",
    )
    gpu: GPUCostSpec = Field(default_factory=GPUCostSpec)
    serving: ServingSpec = Field(default_factory=ServingSpec)
    memory: Annotated[HostMemorySpec, BeforeValidator(preset_ref("memory"))] = Field(
        "dgx-a100-l3", description="host memory (DIMMs) that DIMM-PIM and CPU-offload systems use"
    )
    pim: PIMSpec = Field(default_factory=PIMSpec, description="the PIM units fitted to the host's DIMMs")
    devices: DevicesSpec = Field(
        default_factory=DevicesSpec, description="attention devices of the baseline systems and communication"
    )

    @property
    def deployment(self) -> ParallelSpec:
        """The TP/DP degrees in force."""
        return self.parallel or self.model.parallel


def build_run_spec(overrides: list[str] | None = None, **fields: Any) -> RunSpec:
    """Validate ``fields`` (preset names allowed), apply the assumption profile ``fields["assumptions"]``
    names (if any), then the ``dotted.key=value`` overrides, re-validating after each step."""
    spec = RunSpec.parse(fields, source="run spec")
    if spec.assumptions is not None:
        from l3sim.spec.assumptions import apply_profile, load_profile

        profile = load_profile(spec.assumptions)
        data = apply_profile(spec.model_dump(), profile, given=set(fields))
        spec = RunSpec.parse(data, source=f"run spec (after the assumptions of {profile.source})")
    if not overrides:
        return spec
    data = spec.model_dump()
    if data["parallel"] is None and any(text.startswith("parallel.") for text in overrides):
        data["parallel"] = spec.model.parallel.model_dump()  # so parallel.tp=... can reach the default
    data = apply_overrides(data, overrides)
    return RunSpec.parse(data, source="run spec (after --set overrides)")

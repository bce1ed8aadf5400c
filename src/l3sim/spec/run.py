"""RunSpec: everything one simulation run depends on, and how it is built from names and overrides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from l3sim.spec.base import Spec
from l3sim.spec.devices import DevicesSpec
from l3sim.spec.dram import HostMemorySpec
from l3sim.spec.model import ModelSpec, ParallelSpec
from l3sim.spec.pim import PIMSpec
from l3sim.spec.platform import PlatformSpec
from l3sim.spec.presets import apply_overrides, parse_override, preset_ref
from l3sim.spec.schedulers import SchedulersSpec
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
    schedulers: SchedulersSpec = Field(
        default_factory=SchedulersSpec, description="each scheduler's own settings (l3sim.spec.schedulers)"
    )
    memory: Annotated[HostMemorySpec, BeforeValidator(preset_ref("memory"))] = Field(
        "dgx-a100-l3", description="host memory (DIMMs) that DIMM-PIM and CPU-offload systems use"
    )
    pim: PIMSpec = Field(default_factory=PIMSpec, description="the PIM units fitted to the host's DIMMs")
    devices: DevicesSpec = Field(
        default_factory=DevicesSpec, description="attention devices of the baseline systems and communication"
    )

    @model_validator(mode="before")
    @classmethod
    def _moved_l3_regroup(cls, data: Any) -> Any:
        """``serving.l3_regroup``, the name ``schedulers.l3.regroup`` had before the L3 scheduler got its own
        section, still reads (result files and settings written then): where given, it sets the new field (a
        resolved spec always holds the new field, so the old name is the one that was written)."""
        serving = data.get("serving") if isinstance(data, dict) else None
        if not isinstance(serving, dict) or "l3_regroup" not in serving:
            return data
        schedulers = dict(data.get("schedulers") or {})
        schedulers["l3"] = {**(schedulers.get("l3") or {}), "regroup": serving["l3_regroup"]}
        return {**data, "serving": {k: v for k, v in serving.items() if k != "l3_regroup"},
                "schedulers": schedulers}

    @property
    def deployment(self) -> ParallelSpec:
        """The TP/DP degrees in force: ``parallel``, else the model's own, else (a model that states none, such
        as one read from a Hugging Face config) the smallest TP that fits (:func:`fitting_deployment`)."""
        return self.parallel or self.model.parallel or fitting_deployment(self).parallel


@dataclass(frozen=True)
class DeploymentChoice:
    """A deployment chosen for a model that states none: the degrees, whether they fit, and why."""

    parallel: ParallelSpec
    fits: bool
    note: str


def tp_candidates(model: ModelSpec, num_gpus: int) -> list[int]:
    """TP degrees a model can take on ``num_gpus`` GPUs, ascending: powers of two that divide the GPU count
    and the query heads, and either divide the KV heads or are a multiple of them (vLLM's rule: a KV head is
    then replicated); 1 always qualifies."""
    candidates = []
    tp = 1
    while tp <= num_gpus:
        kv_ok = model.num_kv_heads % tp == 0 or tp % model.num_kv_heads == 0
        if num_gpus % tp == 0 and model.num_heads % tp == 0 and kv_ok:
            candidates.append(tp)
        tp *= 2
    return candidates


def fitting_deployment(spec: RunSpec) -> DeploymentChoice:
    """The smallest TP of :func:`tp_candidates` whose replica holds the weights and a minimal KV cache in HBM,
    with DP = GPUs / TP, so that the whole platform serves.

    Per GPU the HBM left after the activation reserve (``gpu.activation_reserve_fraction``) and the weight
    shard must hold 1/TP of the KV of one iteration's token budget (``serving.max_batch_tokens`` tokens):
    with less, no iteration could run full. The same split as ``l3sim.hw.gpu.memory.plan_memory``. Where no
    TP fits, the largest candidate is taken (the run then reports that the model does not fit) and the note
    says so.
    """
    model, gpu, num_gpus = spec.model, spec.platform.gpu, spec.platform.num_gpus
    usable = gpu.hbm_capacity_bytes * (1 - spec.gpu.activation_reserve_fraction)
    min_kv_bytes = spec.serving.max_batch_tokens * model.kv_bytes_per_token
    candidates = tp_candidates(model, num_gpus)
    fitting = [tp for tp in candidates if tp * (usable - model.weight_bytes_per_gpu(tp)) >= min_kv_bytes]
    tp = fitting[0] if fitting else candidates[-1]
    parallel = ParallelSpec(tp=tp, dp=num_gpus // tp)
    how = "set --tp/--dp (or --set tp=..., dp=...) to choose another"
    if fitting:
        note = (f"{model.name} states no deployment: tp={tp}, dp={parallel.dp} on {num_gpus} x {gpu.name}, "
                f"the smallest power-of-two TP whose weights and {spec.serving.max_batch_tokens} tokens of KV fit; "
                f"{how}")
    else:
        note = (f"{model.name} states no deployment and does not fit on {num_gpus} x {gpu.name} at any TP "
                f"({', '.join(map(str, candidates))}): took tp={tp}, dp={parallel.dp}; {how}, or a platform "
                "with more GPU memory")
    return DeploymentChoice(parallel, bool(fitting), note)


#: Short ``--set`` keys and the RunSpec paths they stand for. ``gpu`` alone names the GPU (``platform.gpu``):
#: written with a dot (``gpu.compute_util``) it is the GPU cost model's table, which no single value can be.
SET_ALIASES = {
    "tp": "parallel.tp",
    "dp": "parallel.dp",
    "num_gpus": "platform.num_gpus",
    "link": "platform.host_link",
    "host_link": "platform.host_link",
    "dram": "memory.dram",
    "max_batch_tokens": "serving.max_batch_tokens",
    "max_num_seqs": "serving.max_num_seqs",
    "cost_source": "gpu.cost_source",
}


def expand_alias(text: str) -> str:
    """``text`` (``key=value``) with a short key of :data:`SET_ALIASES`, or ``gpu=NAME``, written out in full."""
    key, sep, value = text.partition("=")
    name = key.strip()
    if not sep:
        return text  # apply_overrides reports the missing '='
    if name == "gpu" and not isinstance(parse_override(text)[1], dict):
        return f"platform.gpu={value}"
    return f"{SET_ALIASES[name]}={value}" if name in SET_ALIASES else text


def build_run_spec(overrides: list[str] | None = None, **fields: Any) -> RunSpec:
    """Validate ``fields`` (preset names allowed), apply the assumption profile ``fields["assumptions"]``
    names (if any), then the ``dotted.key=value`` overrides (short keys of :data:`SET_ALIASES` allowed),
    re-validating after each step."""
    spec = RunSpec.parse(fields, source="run spec")
    if spec.assumptions is not None:
        from l3sim.spec.assumptions import apply_profile, load_profile

        profile = load_profile(spec.assumptions)
        data = apply_profile(spec.model_dump(), profile, given=set(fields))
        spec = RunSpec.parse(data, source=f"run spec (after the assumptions of {profile.source})")
    return override_run_spec(spec, overrides or [])


def override_run_spec(spec: RunSpec, overrides: list[str]) -> RunSpec:
    """``spec`` with the ``dotted.key=value`` overrides applied (short keys of :data:`SET_ALIASES` allowed),
    re-validated; the step :func:`build_run_spec` ends with, and ``l3sim run --spec FILE --set ...``."""
    if not overrides:
        return spec
    overrides = [expand_alias(text) for text in overrides]
    data = spec.model_dump()
    keys = {".".join(parse_override(text)[0]) for text in overrides}
    if data["parallel"] is None and any(key.startswith("parallel.") for key in keys):
        data["parallel"] = spec.deployment.model_dump()  # so parallel.tp=... can reach the default
    data = apply_overrides(data, overrides)
    if spec.model.parallel is None and "parallel.tp" in keys and "parallel.dp" not in keys:
        # a model that states no deployment: a TP given alone keeps the whole platform serving (dp = GPUs / tp)
        parallel, platform = data["parallel"], data["platform"]
        if isinstance(parallel, dict) and isinstance(platform, dict):
            tp, gpus = parallel.get("tp"), platform.get("num_gpus")
            if isinstance(tp, int) and tp >= 1 and isinstance(gpus, int):
                parallel["dp"] = max(gpus // tp, 1)
    return RunSpec.parse(data, source="run spec (after --set overrides)")

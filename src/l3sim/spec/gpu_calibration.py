"""GPUCalibrationSpec: the achieved-efficiency parameters of the calibrated GPU operator model.

They live in the GPU preset (``[calibration]`` table of ``presets/gpus/*.toml``)
because they describe how close a GPU's kernels come to its datasheet peaks.
The defaults are the least-squares fit on the four Vidur A100-80GB MLP
profiles (``l3sim validate gpu --fit``, docs/gpu-model.md); a GPU without
measurements of its own reuses them together with its datasheet peaks and SM
count, which is what the model's structure (tiles, waves, kernel overheads)
is for.
"""

from __future__ import annotations

from pydantic import Field

from l3sim.spec.base import Spec

# The parameters ``l3sim validate gpu --fit`` estimates, in the order of its parameter vector.
FITTED_FIELDS = (
    "tensor_efficiency",
    "small_tile_efficiency",
    "hbm_efficiency",
    "overlap_exponent",
    "kernel_overhead_s",
    "elementwise_overhead_s",
    "row_bytes_per_cycle",
    "flat_elementwise_efficiency",
    "row_latency_cycles",
)


class GPUCalibrationSpec(Spec):
    """Efficiencies and per-kernel overheads of one GPU (see docs/gpu-model.md, "calibrated")."""

    RETIRED_FIELDS = {
        "elementwise_efficiency": "since 2026-12-08 a row kernel streams at hbm_efficiency, bounded by Little's "
        "law (row_latency_cycles), and a flat one at flat_elementwise_efficiency (docs/gpu-model.md); the "
        "current values apply, so a rerun of a result written before differs a little, and a calibration of "
        "your own (`l3sim validate gpu --fit`) should be refit",
        "row_bandwidth_bytes_per_s": "since 2026-12-08 row_bytes_per_cycle, in bytes per SM clock cycle (the "
        "GPU's sm_clock_hz); the current value applies (see elementwise_efficiency)",
        "blocks_per_sm": "since 2026-12-08 the resident blocks follow from the GPU's max_threads_per_sm and "
        "max_blocks_per_sm and each kernel's block size",
    }

    tensor_efficiency: float = Field(
        0.754, gt=0, le=1,
        description="achieved / peak tensor-core FLOP/s of a full wave of 128x128 GEMM tiles "
        "(fit on the Vidur A100 MLP profiles)",
    )
    small_tile_efficiency: float = Field(
        0.961, gt=0, le=1,
        description="throughput of a 64-wide GEMM tile relative to a 128x128 one (less operand reuse); "
        "fit on the Vidur A100 MLP profiles",
    )
    hbm_efficiency: float = Field(
        0.852, gt=0, le=1,
        description="achieved / peak HBM bandwidth of a streaming read (GEMM weights, KV cache; also the cap of "
        "a row kernel that keeps enough bytes in flight); fit on the Vidur A100 MLP profiles",
    )
    overlap_exponent: float = Field(
        2.79, ge=1,
        description="p of the p-norm (t_compute^p + t_memory^p)^(1/p) joining a GEMM's compute and memory "
        "times (1: no overlap, large: the roofline's max); fit on the Vidur A100 MLP profiles",
    )
    kernel_overhead_s: float = Field(
        5.25e-6, ge=0,
        description="fixed time of one GEMM or attention kernel (launch, prologue, tail), s; "
        "fit on the Vidur A100 MLP profiles",
    )
    elementwise_overhead_s: float = Field(
        1.72e-6, ge=0,
        description="fixed time of one elementwise kernel, s; fit on the Vidur A100 MLP profiles",
    )
    row_bytes_per_cycle: float = Field(
        7.67, gt=0,
        description="bytes one thread block of a row kernel streams through its token row per SM clock cycle, every "
        "pass counted (few tokens cannot fill the GPU: their rows' blocks are all that run; a loop of memory round "
        "trips, so it scales with the clock); fit on the Vidur A100 MLP profiles",
    )
    row_latency_cycles: float = Field(
        1783.0, gt=0,
        description="SM clock cycles of one loop iteration of a row kernel when the GPU is full of them (a loaded "
        "memory round trip): by Little's law the resident threads' bytes in flight over it bound the kernel's "
        "bandwidth; fit on the Vidur A100 MLP profiles",
    )
    flat_elementwise_efficiency: float = Field(
        1.0, gt=0, le=1,
        description="achieved / peak HBM bandwidth of a flat elementwise kernel (PyTorch's, over the whole "
        "tensor: the residual add, GELU, ReLU); fit on the Vidur A100 MLP profiles, at its bound: the add's "
        "operands, written just before, are partly read from the L2 cache",
    )
    flash_attention_efficiency: float = Field(
        0.6, gt=0, le=1,
        description="achieved / peak tensor FLOP/s of FlashAttention-2's forward pass (Dao, 2023: 50-73 % "
        "of A100 peak; 0.6 for the causal head-dim-128 case); not fitted (no attention profile)",
    )
    split_kv_tokens: int = Field(
        512, ge=1,
        description="KV tokens per thread block of split-KV decode attention (vLLM PagedAttention v2 "
        "partition size 512, flash-decoding); sets how many blocks a decode batch launches",
    )

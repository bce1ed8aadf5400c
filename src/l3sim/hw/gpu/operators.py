"""The dense operators of one transformer layer and the LM head, as seen by ONE GPU of a TP group.

Megatron-style tensor parallelism (as vLLM runs it): the QKV projection and
the FFN's first matrix (gate and up, fused) are column-parallel, the output
projection and the FFN's down matrix row-parallel, the LM head vocab-parallel;
each GPU holds 1/tp of every matrix and computes 1/tp of every product. An
operator is therefore described per GPU by three numbers from which the
roofline takes its two bounds (see ``roofline.py``):

* ``flops_per_token``: multiply-adds x 2 for one token row;
* ``bytes_per_token``: activation bytes read and written for one token row;
* ``fixed_bytes``: bytes read once per call whatever the token count (the
  weight shard and its bias);
* ``gemm_n``, ``gemm_k``: for a GEMM, the output columns and the reduction
  depth per GPU (the token count is M), which the calibrated model's tile
  and wave count needs; 0 for an elementwise kernel.
* ``row_threads``, ``row_bytes``, ``row_read_bytes``,
  ``thread_bytes_in_flight``: for a row kernel (vLLM's norm, activation and
  rotary kernels, as sarathi-serve and Vidur run them: one thread block of
  ``row_threads`` threads per token row, looping over the row), the block
  size, the bytes one block streams through for its row (every pass
  counted), the bytes of the row read from HBM, and the bytes one thread's
  loop iteration loads at once (its independent loads x element size); 0
  for a GEMM and for a flat kernel (a PyTorch elementwise kernel over the
  whole tensor: the residual add, a GELU or ReLU).
"""

from __future__ import annotations

from dataclasses import dataclass

from l3sim.errors import ConfigError
from l3sim.spec.model import ModelSpec

# Groups reported by GPUCostModel.fc_breakdown_s; the FFN's three kernels are summed into "ffn".
LAYER_GROUPS = ("qkv_proj", "out_proj", "ffn")
# The layer's kernels outside the FC work (norms, rotary embedding, residual add), one group.
OTHER_GROUP = "other"
# Thread-block sizes of vLLM's row kernels (csrc: rms_norm and act_and_mul launch min(width, 1024) threads
# per token row, rotary_embedding min(heads x rotary_dim / 2, 512)).
ROW_KERNEL_MAX_THREADS = 1024
ROTARY_MAX_THREADS = 512


@dataclass(frozen=True)
class Operator:
    """One kernel on one GPU; see the module docstring for the meaning of the numbers."""

    name: str
    group: str
    flops_per_token: float
    bytes_per_token: float
    fixed_bytes: float
    gemm_n: int = 0
    gemm_k: int = 0
    row_threads: int = 0
    row_bytes: float = 0.0
    row_read_bytes: float = 0.0
    thread_bytes_in_flight: float = 0.0

    @property
    def is_gemm(self) -> bool:
        """True for a matrix multiply (tiles and waves apply), False for an elementwise kernel."""
        return self.gemm_k > 0


def check_tensor_parallel(model: ModelSpec, tp: int) -> None:
    """TP must split the query and KV heads evenly (no KV-head replication is modelled) and leave every GPU
    some of the FFN; a rotary embedding needs head pairs (head_dim at least 2)."""
    if model.num_heads % tp or model.num_kv_heads % tp:
        raise ConfigError(
            f"model {model.name!r}: tp={tp} must divide num_heads ({model.num_heads}) and "
            f"num_kv_heads ({model.num_kv_heads})"
        )
    if model.ffn_hidden_size < tp:
        raise ConfigError(f"model {model.name!r}: tp={tp} exceeds ffn_hidden_size ({model.ffn_hidden_size}): "
                          "a GPU would hold none of the FFN")
    if not model.learned_positions and model.head_dim < 2:
        raise ConfigError(f"model {model.name!r}: a rotary embedding needs head_dim >= 2 (pairs), got "
                          f"{model.head_dim}")


def layer_operators(model: ModelSpec, tp: int) -> tuple[Operator, ...]:
    """QKV projection, output projection and the FFN (up, activation, down) of one layer on one GPU.

    The activation kernel is kept as its own memory-bound operator because
    vLLM runs it as a separate kernel (Vidur profiles it as ``mlp_act``); its
    FLOPs are counted as zero (a few per element, far below the roofline's
    ridge point). Norms, rotary embedding and residual adds are not FC work:
    see ``other_operators`` (the calibrated model counts them, the roofline
    leaves them out).
    """
    check_tensor_parallel(model, tp)
    d = model.dtype_bytes
    h, f = model.hidden_size, model.ffn_hidden_size
    qkv = model.q_size + 2 * model.kv_size
    f_up = 2 * f if model.gated_ffn else f  # gate and up matrices fused, as vLLM does
    qkv_bias = qkv if (model.linear_bias or model.qkv_bias) else 0
    bias = 1 if model.linear_bias else 0
    return (
        Operator("qkv_proj", "qkv_proj", 2 * h * qkv / tp, (h + qkv / tp) * d, (h * qkv + qkv_bias) * d / tp,
                 qkv // tp, h),
        # Row-parallel: each GPU writes a full-width partial sum; the (replicated) bias is read once.
        Operator(
            "out_proj", "out_proj", 2 * model.q_size * h / tp, (model.q_size / tp + h) * d,
            (model.q_size * h / tp + bias * h) * d, h, model.q_size // tp,
        ),
        Operator("ffn_up", "ffn", 2 * h * f_up / tp, (h + f_up / tp) * d, (h * f_up + bias * f) * d / tp,
                 f_up // tp, h),
        _activation(model, tp),
        Operator("ffn_down", "ffn", 2 * f * h / tp, (f / tp + h) * d, (f * h / tp + bias * h) * d, h, f // tp),
    )


def _activation(model: ModelSpec, tp: int) -> Operator:
    """The FFN activation: vLLM's SiLU-and-mul row kernel for a gated FFN (reads gate and up, writes their
    product: one pass over 3 f / tp per token), PyTorch's flat GELU/ReLU otherwise (reads and writes f / tp)."""
    f, d = model.ffn_hidden_size / tp, model.dtype_bytes
    if not model.gated_ffn:
        return Operator("ffn_act", "ffn", 0.0, 2 * f * d, 0.0)
    threads = min(model.ffn_hidden_size // tp, ROW_KERNEL_MAX_THREADS)
    return Operator("ffn_act", "ffn", 0.0, 3 * f * d, 0.0, row_threads=threads, row_bytes=3 * f * d,
                    row_read_bytes=2 * f * d, thread_bytes_in_flight=2 * d)


def other_operators(model: ModelSpec, tp: int) -> tuple[Operator, ...]:
    """The elementwise kernels of one layer besides the FFN activation, as Vidur profiles a layer.

    Two norms (before attention and before the FFN; replicated, so full
    hidden width on every GPU). Each is a row kernel of two passes: the first
    reads the row for its mean square, the second reads it again with the
    weight and writes the output, so a block streams 4 h per token while the
    HBM sees 2 h (the second read hits the cache) plus the weight once. The
    rotary embedding of the GPU's query and key heads (read and write each
    element; none for learned positions) and one residual add, a flat kernel
    (two reads, one write of h). Their FLOPs are a few per element and
    counted as zero.
    """
    check_tensor_parallel(model, tp)
    d, h = model.dtype_bytes, model.hidden_size
    norm_threads = min(h, ROW_KERNEL_MAX_THREADS)
    operators = [Operator(name, OTHER_GROUP, 0.0, 2 * h * d, h * d, row_threads=norm_threads, row_bytes=4 * h * d,
                          row_read_bytes=h * d, thread_bytes_in_flight=d) for name in ("input_norm", "post_norm")]
    if not model.learned_positions:
        rotated = 2 * (model.q_size + model.kv_size) / tp * d
        threads = min(model.num_heads // tp * model.head_dim // 2, ROTARY_MAX_THREADS)
        # each thread rotates one pair a step: two loads of the head (the cos/sin cache stays in cache)
        operators.append(Operator("rotary", OTHER_GROUP, 0.0, rotated, 0.0, row_threads=threads, row_bytes=rotated,
                                  row_read_bytes=rotated / 2, thread_bytes_in_flight=2 * d))
    operators.append(Operator("residual_add", OTHER_GROUP, 0.0, 3 * h * d, 0.0))
    return tuple(operators)


def lm_head_operator(model: ModelSpec, tp: int) -> Operator:
    """The vocabulary projection of the rows that need logits, vocab-parallel over tp GPUs.

    The gather of the logit shards is not modelled (it is num_logits x vocab
    x 2 bytes, tiny next to the weight read for the batch sizes of decoding).
    """
    h, v, d = model.hidden_size, model.vocab_size, model.dtype_bytes
    return Operator("lm_head", "lm_head", 2 * h * v / tp, (h + v / tp) * d, h * v * d / tp, v // tp, h)

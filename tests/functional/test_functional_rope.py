"""RoPE in the numpy forward pass against hand-computed rotary angles (no torch needed).

The HF cross-check (torch-gated) was the only test that noticed a wrong RoPE base; the SmolLM2 token match
compares the forward pass with itself. Here a recording attention backend captures the q and k the forward
pass hands to attention. The same token fed at position 0 (no rotation) and at position p gives the same
pre-rotation vectors (q and k come before the layer's attention), so q_p must be q_0 turned pair by pair by
p x base^(-2i/d): with d = 8 and base 10,000 the angles are p x (1, 1/10, 1/100, 1/1000), written out by
hand below and applied as complex multiplications, not through ``rope_interleaved``.
"""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.functional.gguf_weights import LlamaConfig, LlamaLayerWeights, LlamaWeights
from l3sim.functional.llama import forward_token

HEADS, KV_HEADS, HEAD_DIM, HIDDEN, VOCAB = 2, 1, 8, 16, 5
BASE = 10_000.0
HAND_ANGLES_PER_POSITION = np.array([1.0, 1e-1, 1e-2, 1e-3])  # 10,000^(-2i/8) = 10^(-i), i = 0..3


def _weights(seed: int = 7) -> LlamaWeights:
    """A one-layer Llama of random float32 weights (shapes are all that matter)."""
    rng = np.random.default_rng(seed)

    def mat(rows: int, cols: int) -> np.ndarray:
        return rng.standard_normal((rows, cols)).astype(np.float32)

    layer = LlamaLayerWeights(
        attn_norm=np.ones(HIDDEN, np.float32), wq=mat(HEADS * HEAD_DIM, HIDDEN), wk=mat(KV_HEADS * HEAD_DIM, HIDDEN),
        wv=mat(KV_HEADS * HEAD_DIM, HIDDEN), wo=mat(HIDDEN, HEADS * HEAD_DIM), ffn_norm=np.ones(HIDDEN, np.float32),
        w_gate=mat(32, HIDDEN), w_up=mat(32, HIDDEN), w_down=mat(HIDDEN, 32),
    )
    config = LlamaConfig(num_layers=1, hidden_size=HIDDEN, num_heads=HEADS, num_kv_heads=KV_HEADS,
                         ffn_hidden_size=32, vocab_size=VOCAB, rope_base=BASE, rms_eps=1e-6, name="tiny")
    return LlamaWeights(config, mat(VOCAB, HIDDEN), (layer,), np.ones(HIDDEN, np.float32), mat(VOCAB, HIDDEN))


class _Recording:
    """Attention backend that keeps the q and k it is given and returns zeros."""

    def __init__(self) -> None:
        self.q: list[np.ndarray] = []
        self.k: list[np.ndarray] = []

    def attend(self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        self.q.append(q.copy())
        self.k.append(k.copy())
        return np.zeros_like(q)


def _turn(x: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Pairs (x[2i], x[2i+1]) as complex numbers x[2i] + j x[2i+1], times e^(j angle_i)."""
    z = (x[..., 0::2].astype(np.float64) + 1j * x[..., 1::2]) * np.exp(1j * angles)
    out = np.empty(x.shape)
    out[..., 0::2], out[..., 1::2] = z.real, z.imag
    return out


@pytest.mark.parametrize("position", [1, 3, 17, 250])
def test_forward_pass_turns_q_and_k_by_hand_angles(position):
    weights = _weights()
    backend = _Recording()
    forward_token(weights, 2, 0, backend)
    forward_token(weights, 2, position, backend)
    q0, qp = backend.q
    k0, kp = backend.k
    angles = position * HAND_ANGLES_PER_POSITION
    assert np.allclose(qp, _turn(q0, angles), rtol=1e-4, atol=1e-4 * np.abs(q0).max())
    assert np.allclose(kp, _turn(k0, angles), rtol=1e-4, atol=1e-4 * np.abs(k0).max())
    # the rotation is not the identity at these positions: the check has something to see
    assert not np.allclose(qp, q0, atol=1e-2 * np.abs(q0).max())


def test_slow_pairs_distinguish_the_base():
    """Only pairs i >= 1 depend on the base; at position 250 pair 3 turns by 0.25 rad with base 10,000 and by
    0.79 rad with base 1,000: a base off by 10x moves it by far more than the tolerance above."""
    with_base_1000 = 250 * 1000.0 ** (-np.arange(4) / 4)
    assert abs(with_base_1000[3] - 250 * HAND_ANGLES_PER_POSITION[3]) > 0.5


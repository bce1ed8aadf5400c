"""KV-cache capacity in blocks (paged attention) and the block arithmetic the scheduler and engine share.

A request holds ``max(reserved_blocks, ceil(kv_tokens / block_tokens))``
blocks: the reservation made at admission (the prompt, or prompt plus output
under the 'full' policy) or what its stored tokens need, whichever is larger.
One store per replica and attention device; systems with several devices or
per-rank placement (L3's ranksets) give each its own store.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KVStore:
    """Capacity of one replica's KV cache.

    ``watermark_blocks`` must stay free after an admission (vLLM's watermark),
    so that running requests can grow a little before pre-emption starts.
    """

    capacity_blocks: int
    block_tokens: int
    watermark_blocks: int
    reservation: str = "prompt"

    @classmethod
    def from_bytes(
        cls,
        capacity_bytes: float,
        kv_bytes_per_token: int,
        block_tokens: int,
        watermark_fraction: float,
        reservation: str = "prompt",
    ) -> "KVStore":
        """Whole blocks that fit in ``capacity_bytes``; the watermark is a fraction of them, rounded down."""
        capacity_tokens = int(capacity_bytes // kv_bytes_per_token) if capacity_bytes > 0 else 0
        blocks = capacity_tokens // block_tokens
        return cls(blocks, block_tokens, int(blocks * watermark_fraction), reservation)

    @property
    def capacity_tokens(self) -> int:
        return self.capacity_blocks * self.block_tokens

    @property
    def admissible_blocks(self) -> int:
        """Most blocks one request may ever need and still be served: capacity less the watermark."""
        return self.capacity_blocks - self.watermark_blocks

    def blocks_for(self, tokens: np.ndarray | int) -> np.ndarray | int:
        """Blocks that hold ``tokens`` tokens (ceiling division)."""
        return -(-tokens // self.block_tokens)

    def peak_tokens(self, prompt_tokens: np.ndarray, output_tokens: np.ndarray) -> np.ndarray:
        """Most tokens a request ever stores: its prompt and every output token but the last."""
        return prompt_tokens + output_tokens - 1

    def admission_blocks(
        self, prefill_target: np.ndarray | int, prompt_tokens: np.ndarray | int, output_tokens: np.ndarray | int
    ) -> np.ndarray | int:
        """Blocks reserved when a request is admitted: its prefill ('prompt') or its whole life ('full')."""
        if self.reservation == "full":
            return self.blocks_for(prompt_tokens + output_tokens - 1)
        return self.blocks_for(prefill_target)

    def never_fits(self, prompt_tokens: np.ndarray, output_tokens: np.ndarray) -> np.ndarray:
        """Requests that could not be served even alone in an empty cache (watermark kept free)."""
        return self.blocks_for(self.peak_tokens(prompt_tokens, output_tokens)) > self.admissible_blocks

    def held_blocks(self, reserved: np.ndarray, kv_tokens: np.ndarray) -> np.ndarray:
        """Blocks held per request."""
        return np.maximum(reserved, self.blocks_for(kv_tokens))

    def iterations_that_fit(
        self, static_blocks: int, reserved: np.ndarray, stored: np.ndarray, limit: int
    ) -> int | None:
        """Largest k <= limit such that iterations 0..k-1 fit, iteration j storing j + 1 more tokens per request.

        ``static_blocks`` is held by requests that do not grow. Exact in closed
        form: with r = stored + 1 and r + block - 1 = q * block + m, a request
        holds q + a + [m + b >= block] blocks at iteration j = a * block + b,
        so the total is Q + B * a + #{m >= block - b}. Returns None when some
        request's reservation is outgrown part-way (the caller then searches).
        """
        bs = self.block_tokens
        at_end = self.blocks_for(stored + limit)
        if static_blocks + int(np.maximum(reserved, at_end).sum()) <= self.capacity_blocks:
            return limit  # the common case far from capacity: the last iteration fits, so all do
        fixed = reserved >= at_end  # the reservation covers the whole stretch
        grows = ~fixed
        q, m = np.divmod(stored[grows] + bs, bs)  # (stored + 1) + bs - 1; q = blocks at iteration 0
        if (reserved[grows] > q).any():
            return None
        room = self.capacity_blocks - static_blocks - int(reserved[fixed].sum()) - int(q.sum())
        if room < 0:
            return 0
        count = int(q.size)
        if count == 0:
            return limit
        rounds, extra = divmod(room, count)
        m_extra = int(np.sort(m)[count - 1 - extra])  # the extra-th largest m (0: the largest)
        last_j = rounds * bs + bs - 1 - m_extra
        return min(limit, last_j + 1)


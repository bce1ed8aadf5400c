"""Measured per-layer FC times (a Vidur MLP profile) as an alternative to the roofline.

For the run's model shape and TP degree, each operator group's time per layer
is the sum of its Vidur kernels' median times, piecewise linear in
``num_tokens`` between measured points (repeated points are averaged).
Outside the measured range the last (or first) measured point is scaled by
the roofline's own ratio, t(n) = t(n_edge) x roofline(n) / roofline(n_edge),
so the extrapolation keeps the measured level and the roofline's slope (for
large n, compute-bound GEMMs grow linearly in n). Zero tokens cost zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from l3sim.errors import ConfigError
from l3sim.hw.gpu.operators import LAYER_GROUPS
from l3sim.hw.gpu.roofline import OperatorRoofline
from l3sim.spec.model import ModelSpec

if TYPE_CHECKING:
    import pandas as pd  # the tables come from profile files (l3sim.hw.profiles); annotations only

# Vidur kernel names (vidur/profiling/mlp) making up each of our operator groups.
VIDUR_KERNELS = {
    "qkv_proj": ("attn_pre_proj",),
    "out_proj": ("attn_post_proj",),
    "ffn": ("mlp_up_proj", "mlp_act", "mlp_down_proj"),
}


def shape_mask(table: pd.DataFrame, model: ModelSpec) -> pd.Series:
    """Rows of a profile table measured on ``model``'s shape (the vocabulary only affects ``emb``)."""
    return (
        (table["n_head"] == model.num_heads)
        & (table["n_kv_head"] == model.num_kv_heads)
        & (table["n_embd"] == model.hidden_size)
        & (table["n_expanded_embd"] == model.ffn_hidden_size)
        & (table["use_gated_mlp"] == model.gated_ffn)
    )


def measured_kernel_times(table: pd.DataFrame, kernels: tuple[str, ...]) -> pd.DataFrame:
    """Median time (s) per (tp, num_tokens) and kernel, repeated points averaged; columns = kernels."""
    present = set(table["operator"].unique())
    missing = [k for k in kernels if k not in present]
    if missing:
        raise ConfigError(f"profile lacks kernel(s) {', '.join(missing)} (time_stats.<kernel>.median)")
    rows = table[table["operator"].isin(kernels)]
    return rows.pivot_table(index=["tp", "num_tokens"], columns="operator", values="median_s", aggfunc="mean")[
        list(kernels)
    ]


class MeasuredLayerTimes:
    """Per-layer FC times of one model shape and TP degree, interpolated in a measured table."""

    def __init__(self, table: pd.DataFrame, model: ModelSpec, tp: int, roofline: OperatorRoofline, source: str) -> None:
        rows = table[shape_mask(table, model)]
        if rows.empty:
            shapes = table[["n_head", "n_kv_head", "n_embd", "n_expanded_embd", "use_gated_mlp"]].drop_duplicates()
            raise ConfigError(
                f"{source}: no measurements for model {model.name!r} (n_head={model.num_heads}, "
                f"n_kv_head={model.num_kv_heads}, n_embd={model.hidden_size}, "
                f"n_expanded_embd={model.ffn_hidden_size}, use_gated_mlp={model.gated_ffn}); "
                f"the file holds: {shapes.to_dict('records')}"
            )
        if tp not in set(rows["tp"]):
            raise ConfigError(f"{source}: no measurements at tp={tp}; measured TP degrees: {sorted(set(rows['tp']))}")
        if roofline.groups != LAYER_GROUPS:
            raise ValueError(f"roofline groups {roofline.groups} differ from {LAYER_GROUPS}")
        kernels = tuple(k for group in LAYER_GROUPS for k in VIDUR_KERNELS[group])
        try:
            per_kernel = measured_kernel_times(rows, kernels).loc[tp]
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        self.num_tokens = per_kernel.index.to_numpy(dtype=float)
        self.times_per_layer_s = np.stack(
            [per_kernel[list(VIDUR_KERNELS[g])].sum(axis=1).to_numpy() for g in LAYER_GROUPS], axis=-1
        )
        self._roofline = roofline
        edges = np.array([self.num_tokens[0], self.num_tokens[-1]])
        self._edge_scale = self.times_per_layer_s[[0, -1]] / roofline.group_times_s(edges)

    def group_times_s(self, num_tokens) -> np.ndarray:
        """Per-layer time of each group in LAYER_GROUPS: shape ``num_tokens.shape + (3,)``."""
        n = np.asarray(num_tokens, dtype=float)
        flat = n.reshape(-1)
        inside = np.stack(
            [np.interp(flat, self.num_tokens, self.times_per_layer_s[:, g]) for g in range(len(LAYER_GROUPS))],
            axis=-1,
        )
        low, high = flat < self.num_tokens[0], flat > self.num_tokens[-1]
        if low.any() or high.any():
            roof = self._roofline.group_times_s(flat)
            inside = np.where(low[:, None], roof * self._edge_scale[0], inside)
            inside = np.where(high[:, None], roof * self._edge_scale[1], inside)
        inside = np.where(flat[:, None] > 0, inside, 0.0)
        return inside.reshape(n.shape + (len(LAYER_GROUPS),))

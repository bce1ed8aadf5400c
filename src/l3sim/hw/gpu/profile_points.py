"""Measured points of a Vidur MLP profile, matched kernel by kernel to the model's operators.

Used by validation (model / measured - 1) and by the calibration fit. The
model shape is taken from the file itself (so the comparison is of the same
matrices), as a one-layer ModelSpec.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pandas as pd

from l3sim.errors import ConfigError
from l3sim.hw.gpu.measured import measured_kernel_times
from l3sim.hw.profiles import load_vidur_mlp_csv
from l3sim.spec.model import ModelSpec

# Vidur kernel -> our operator (operators.py); the first five are the FC work, the rest "other".
VIDUR_TO_OPERATOR = {
    "attn_pre_proj": "qkv_proj",
    "attn_post_proj": "out_proj",
    "mlp_up_proj": "ffn_up",
    "mlp_act": "ffn_act",
    "mlp_down_proj": "ffn_down",
    "input_layernorm": "input_norm",
    "post_attention_layernorm": "post_norm",
    "attn_rope": "rotary",
    "add": "residual_add",
}
FC_KERNELS = ("attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_act", "mlp_down_proj")
# Vidur's own tree holds one profile per model folder: data/profiling/compute/<gpu>/<org>/<model>/mlp.csv
VIDUR_PROFILE_FILE = "mlp.csv"


def profile_name(path: Path) -> str:
    """A profile's name: its file name, or for a file of Vidur's own tree (``<model>/mlp.csv``) the name a copy
    of it carries in a flat folder, ``<model>_mlp.csv``."""
    return f"{path.parent.name}_mlp.csv" if path.name == VIDUR_PROFILE_FILE else path.name


def find_profiles(folder: Path, pattern: str) -> list[Path]:
    """The MLP profiles under ``folder`` whose name (:func:`profile_name`) matches the glob ``pattern``, by name:
    files directly in the folder (``Llama-2-70b-hf_mlp.csv``) and Vidur's own tree below it
    (``meta-llama/Llama-2-70b-hf/mlp.csv``), so a Vidur checkout's ``data/profiling/compute/<gpu>`` folder can
    be given as it is. Two files of one name are an error (which would be meant is not known)."""
    found: dict[str, Path] = {}
    for path in [*folder.glob(pattern), *folder.rglob(VIDUR_PROFILE_FILE)]:
        name = profile_name(path)
        if not path.is_file() or not fnmatch(name, pattern) or found.get(name) == path:
            continue
        if name in found:
            raise ConfigError(f"{folder}: two profiles named {name}: {found[name]} and {path}; keep one")
        found[name] = path
    return [found[name] for name in sorted(found)]


def profile_model(table: pd.DataFrame, name: str) -> ModelSpec:
    """A one-layer ModelSpec with the shape a profile was measured on (one shape per file expected)."""
    shapes = table[["n_head", "n_kv_head", "n_embd", "n_expanded_embd", "vocab_size", "use_gated_mlp"]].drop_duplicates()
    if len(shapes) != 1:
        raise ConfigError(f"{name}: expected one model shape, found {len(shapes)}")
    s = shapes.iloc[0]
    return ModelSpec.parse(
        {"name": name, "num_layers": 1, "hidden_size": int(s.n_embd), "num_heads": int(s.n_head),
         "num_kv_heads": int(s.n_kv_head), "head_dim": int(s.n_embd) // int(s.n_head),
         "ffn_hidden_size": int(s.n_expanded_embd), "gated_ffn": bool(s.use_gated_mlp),
         "vocab_size": int(s.vocab_size)},
        source=f"model shape of {name}",
    )


@dataclass(frozen=True)
class ProfilePoints:
    """One profile file: its model shape and, per TP degree, token counts and per-kernel median times (s)."""

    file: str
    model: ModelSpec
    by_tp: dict[int, tuple[np.ndarray, pd.DataFrame]]  # tp -> (num_tokens, kernel times; columns = kernels)

    @property
    def kernels(self) -> tuple[str, ...]:
        """The Vidur kernels this file measures (FC kernels first)."""
        first = next(iter(self.by_tp.values()))[1]
        return tuple(first.columns)


def load_profile_points(path: str | Path) -> ProfilePoints:
    """Read ``path`` (errors name file, line and column) and pivot it per TP degree; repeated points averaged."""
    path = Path(path)
    table = load_vidur_mlp_csv(path)
    name = profile_name(path)
    model = profile_model(table, Path(name).stem)
    present = set(table["operator"])
    kernels = FC_KERNELS + tuple(k for k in VIDUR_TO_OPERATOR if k not in FC_KERNELS and k in present)
    try:
        times = measured_kernel_times(table, kernels)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    by_tp = {}
    for tp in sorted(times.index.get_level_values("tp").unique()):
        at_tp = times.loc[tp]
        by_tp[int(tp)] = (at_tp.index.to_numpy(dtype=float), at_tp)
    return ProfilePoints(name, model, by_tp)

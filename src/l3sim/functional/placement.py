"""KV placement into rank / chip / bank / row / column arrays (element-level mismatch, L3 paper section IV).

Mapping (names map to the paper's symbols):

- ``chips_per_head`` (N_hc): a KV head's ``head_dim`` elements are split into
  N_hc equal slices, one per chip; ``chips / N_hc`` heads share one burst.
- K cache: token ``t`` of a head goes to bank ``t % banks`` of every chip of
  its chip group (the same bank in each chip), so every bank PU holds whole
  head-dimension slices of the tokens it owns (adder-tree mode, rank PU sums
  the chips' partial dot products).
- V cache: the chip's slice of one V vector spans ``cols`` bursts; burst ``j``
  goes to bank ``j % v_banks_per_vector`` of the token's bank group
  (``t % (banks / v_banks_per_vector)``), so each bank PU owns a slice of the
  output (accumulator mode, no cross-chip sum).
- Layers: layer ``l`` lives in burst domain ``l % domains`` (domains =
  ranksets x subchannels): layers are interleaved across ranksets so every
  rankset holds the same amount.

Inside a burst, element slot ``s`` of chip ``c`` is host element ``s * chips + c``
(what the re-layout of :mod:`l3sim.functional.burst` produces), so a host-order
burst of a K or V vector is assembled with that order and written through the
re-layout unit. One store holds one request (sequence) placed on one channel.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from l3sim.errors import CapacityError, ConfigError
from l3sim.functional.burst import DDR4_X8, BurstSpec, chip_bytes, read_bursts, write_bursts
from l3sim.functional.numerics import ELEMENT_BYTES, ElementFormat, from_bytes, to_bytes
from l3sim.spec.base import Spec


class KVLayoutSpec(Spec):
    """DIMM organisation and KV mapping knobs; defaults are the paper's DDR4-3200 host."""

    burst: BurstSpec = Field(DDR4_X8, description="byte-lane geometry of a rank (or DDR5 subchannel)")
    element_format: ElementFormat = Field("fp16", description="KV element format (the paper: FP16)")
    relayout: bool = Field(True, description="L3's in-flight re-layout on the write path (off: standard lanes)")
    chips_per_head: int = Field(8, ge=1, description="N_hc: 8 for MHA, 1 for GQA-8 in the paper")
    v_banks_per_vector: int = Field(4, ge=1, description="banks one V vector is spread over (first version: 4)")
    banks_per_chip: int = Field(16, ge=1, description="4 bank groups x 4 banks (DDR4 x8, paper s.2)")
    row_bytes_per_chip: int = Field(1024, ge=1, description="page size per chip: 1 KB for DDR4 x8 (JESD79-4)")
    rows_per_bank: int = Field(65536, ge=1, description="rows per bank: 64K for an 8 Gb DDR4 x8 die")
    ranksets: int = Field(4, ge=1, description="one rank from every channel; 4 on the paper's host")

    @property
    def element_bytes(self) -> int:
        return ELEMENT_BYTES[self.element_format]

    @property
    def columns_per_row(self) -> int:
        """Burst-sized columns in one row of one chip."""
        return self.row_bytes_per_chip // self.burst.chip_burst_bytes

    @property
    def domains(self) -> int:
        """Burst domains one request's layers are spread over (ranksets x subchannels)."""
        return self.ranksets * self.burst.subchannels


class KVGeometry:
    """Derived sizes of one model's KV vectors on a layout; raises ConfigError where shapes do not divide."""

    def __init__(self, layout: KVLayoutSpec, num_kv_heads: int, head_dim: int) -> None:
        chips, n_hc = layout.burst.chips_per_subchannel, layout.chips_per_head
        shape = f"(kv_heads={num_kv_heads}, head_dim={head_dim})"
        mapping = (
            f"N_hc={n_hc} chips per head, {chips} chips per burst, {layout.banks_per_chip} banks, "
            f"V over {layout.v_banks_per_vector} banks, {layout.element_format}"
        )

        def require(ok: bool, what: str) -> None:
            if not ok:
                raise ConfigError(f"KV shape {shape} does not fit the mapping [{mapping}]: {what}")

        require(chips % n_hc == 0, f"N_hc={n_hc} must divide the {chips} chips of a burst")
        require(head_dim % n_hc == 0, f"head_dim {head_dim} must split into {n_hc} equal chip slices")
        self.heads_per_group = chips // n_hc
        require(num_kv_heads % self.heads_per_group == 0,
                f"{num_kv_heads} KV heads must fill groups of {self.heads_per_group} heads sharing a burst")
        self.slice_elems = head_dim // n_hc
        self.elems_per_column = layout.burst.chip_burst_bytes // layout.element_bytes
        require(layout.burst.chip_burst_bytes % layout.element_bytes == 0,
                f"a chip's {layout.burst.chip_burst_bytes}-byte burst must hold whole elements")
        require(self.slice_elems % self.elems_per_column == 0,
                f"a chip slice of {self.slice_elems} elements must fill whole bursts of {self.elems_per_column}")
        self.columns_per_vector = self.slice_elems // self.elems_per_column
        require(self.columns_per_vector % layout.v_banks_per_vector == 0,
                f"{self.columns_per_vector} bursts per chip slice must spread evenly over "
                f"{layout.v_banks_per_vector} V banks")
        require(layout.banks_per_chip % layout.v_banks_per_vector == 0,
                f"{layout.v_banks_per_vector} V banks per vector must divide {layout.banks_per_chip} banks")
        self.head_groups = num_kv_heads // self.heads_per_group
        self.v_bank_groups = layout.banks_per_chip // layout.v_banks_per_vector
        self.num_kv_heads, self.head_dim, self.chips_per_head = num_kv_heads, head_dim, n_hc


class KVCacheStore:
    """The KV cache of one request kept as bytes in DIMM cells, in L3's layout.

    ``cells`` has shape (domains, banks, rows, columns, burst_length, chips, lane_bytes).
    """

    def __init__(self, layout: KVLayoutSpec, num_layers: int, num_kv_heads: int, head_dim: int,
                 max_tokens: int) -> None:
        if max_tokens < 1 or num_layers < 1:
            raise ConfigError(f"max_tokens ({max_tokens}) and num_layers ({num_layers}) must be >= 1")
        self.layout, self.num_layers, self.max_tokens = layout, num_layers, max_tokens
        self.geo = geo = KVGeometry(layout, num_kv_heads, head_dim)
        self.layers_per_domain = math.ceil(num_layers / layout.domains)
        self.k_tokens_per_bank = math.ceil(max_tokens / layout.banks_per_chip)
        self.v_tokens_per_group = math.ceil(max_tokens / geo.v_bank_groups)
        slots = self.layers_per_domain * geo.head_groups
        self.k_columns = slots * self.k_tokens_per_bank * geo.columns_per_vector
        v_columns = slots * self.v_tokens_per_group * (geo.columns_per_vector // layout.v_banks_per_vector)
        rows = math.ceil((self.k_columns + v_columns) / layout.columns_per_row)
        if rows > layout.rows_per_bank:
            raise CapacityError(
                f"KV cache of {max_tokens} tokens x {num_layers} layers needs {rows} rows per bank; "
                f"a bank has {layout.rows_per_bank}"
            )
        b = layout.burst
        self.cells = np.zeros(
            (layout.domains, layout.banks_per_chip, rows, layout.columns_per_row,
             b.burst_length, b.chips_per_subchannel, b.lane_bytes), dtype=np.uint8)
        self.layer_tokens = np.zeros(num_layers, dtype=np.int64)

    @property
    def tokens(self) -> int:
        """Tokens stored in every layer."""
        return int(self.layer_tokens.min())

    # ---- addresses --------------------------------------------------------
    def _split(self, linear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.divmod(linear, self.layout.columns_per_row)

    def _addresses(self, layers: np.ndarray, tokens: np.ndarray, which: str) -> tuple[np.ndarray, ...]:
        """(domain, bank, row, column) of the bursts of ``tokens`` of ``layers``: each (L, groups, T, cols)."""
        geo, lay = self.geo, self.layout
        layer = np.asarray(layers)[:, None, None, None]
        group = np.arange(geo.head_groups)[None, :, None, None]
        token = np.asarray(tokens)[None, None, :, None]
        col = np.arange(geo.columns_per_vector)[None, None, None, :]
        domain, local_layer = layer % lay.domains, layer // lay.domains
        slot = local_layer * geo.head_groups + group
        if which == "k":
            bank, within = token % lay.banks_per_chip, token // lay.banks_per_chip
            linear = (slot * self.k_tokens_per_bank + within) * geo.columns_per_vector + col
        else:
            per_bank = geo.columns_per_vector // lay.v_banks_per_vector
            bank = (token % geo.v_bank_groups) * lay.v_banks_per_vector + col % lay.v_banks_per_vector
            within = token // geo.v_bank_groups
            linear = self.k_columns + (slot * self.v_tokens_per_group + within) * per_bank + col // lay.v_banks_per_vector
        row, column = self._split(linear)
        return tuple(np.broadcast_arrays(domain, bank, row, column))

    # ---- host order <-> bursts -------------------------------------------
    def _to_host_bursts(self, x: np.ndarray) -> np.ndarray:
        """(L, heads, T, head_dim) -> host-order burst elements (L, groups, T, cols, burst elements)."""
        g = self.geo
        L, _, T, _ = x.shape
        y = x.reshape(L, g.head_groups, g.heads_per_group, T, g.chips_per_head, g.columns_per_vector,
                      g.elems_per_column)
        return y.transpose(0, 1, 3, 5, 6, 2, 4).reshape(L, g.head_groups, T, g.columns_per_vector, -1)

    def _from_chip_order(self, y: np.ndarray) -> np.ndarray:
        """(L, groups, T, cols, slot, chip) -> (L, heads, T, head_dim)."""
        g = self.geo
        L, _, T = y.shape[:3]
        y = y.reshape(L, g.head_groups, T, g.columns_per_vector, g.elems_per_column, g.heads_per_group,
                      g.chips_per_head)
        return y.transpose(0, 1, 5, 2, 6, 3, 4).reshape(L, g.num_kv_heads, T, g.head_dim)

    # ---- public API -------------------------------------------------------
    def append(self, k: np.ndarray, v: np.ndarray, layer: int | None = None) -> None:
        """Store K and V of new tokens, each shaped (layers, kv_heads, new_tokens, head_dim).

        With ``layer`` given, K and V are (kv_heads, new_tokens, head_dim) of that
        layer only (a forward pass produces them layer by layer).
        """
        layers = np.arange(self.num_layers) if layer is None else np.array([layer])
        if layer is not None:
            if not 0 <= layer < self.num_layers:
                raise ConfigError(f"layer {layer} out of range 0..{self.num_layers - 1}")
            k, v = np.asarray(k)[None], np.asarray(v)[None]
        expected = (len(layers), self.geo.num_kv_heads, None, self.geo.head_dim)
        for name, x in (("k", k), ("v", v)):
            if x.ndim != 4 or any(e is not None and e != s for e, s in zip(expected, x.shape)):
                raise ConfigError(f"{name} must have shape (layers, kv_heads, tokens, head_dim) = "
                                  f"({expected[0]}, {expected[1]}, T, {expected[3]}); got {x.shape}")
        new = k.shape[2]
        if v.shape[2] != new:
            raise ConfigError(f"k has {new} tokens but v has {v.shape[2]}")
        start = self.layer_tokens[layers]
        if np.any(start != start[0]):
            raise ConfigError(f"layers hold different token counts {sorted(set(start.tolist()))}; append per layer")
        if start[0] + new > self.max_tokens:
            raise CapacityError(f"KV store is full: {start[0]} + {new} tokens > capacity {self.max_tokens}")
        tokens = np.arange(start[0], start[0] + new)
        fmt, elem = self.layout.element_format, (self.layout.element_bytes if self.layout.relayout else None)
        for which, x in (("k", k), ("v", v)):
            host = to_bytes(self._to_host_bursts(x), fmt)
            self.cells[self._addresses(layers, tokens, which)] = write_bursts(host, self.layout.burst, elem)
        self.layer_tokens[layers] += new

    def gather(self, layer: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The host's view through the inverse re-layout: K, V shaped (layers, kv_heads, tokens, head_dim).

        With ``layer`` given, one layer (kv_heads, tokens, head_dim).
        """
        elem = self.layout.element_bytes if self.layout.relayout else None
        layers = np.arange(self.num_layers) if layer is None else np.array([layer])
        count = int(self.layer_tokens[layers].min())
        out = []
        for which in ("k", "v"):
            phys = self.cells[self._addresses(layers, np.arange(count), which)]
            host = from_bytes(read_bursts(phys, self.layout.burst, elem), self.layout.element_format)
            g = self.geo
            y = self._from_chip_order(host.reshape(*host.shape[:-1], g.elems_per_column, -1))
            out.append(y if layer is None else y[0])
        return out[0], out[1]

    def chip_operands(self, layer: int, which: str) -> np.ndarray:
        """What the bank PUs read for ``layer``, decoded chip by chip without any inverse permutation.

        Shape (kv_heads, tokens, N_hc, slice): ``[h, t, c]`` is the slice of head ``h``'s
        vector for token ``t`` held by chip ``c`` of the head's chip group. Only with
        re-layout on does each chip hold whole elements, so only then is this K or V.
        """
        count = int(self.layer_tokens[layer])
        dom, bank, row, col = (a[0] for a in self._addresses(np.array([layer]), np.arange(count), which))
        per_chip = chip_bytes(self.cells[dom, bank, row, col])  # (groups, T, cols, chips, chip bytes)
        elems = from_bytes(per_chip, self.layout.element_format)  # (groups, T, cols, chips, slot)
        y = self._from_chip_order(np.swapaxes(elems, -1, -2)[None])[0]
        g = self.geo
        return y.reshape(g.num_kv_heads, count, g.chips_per_head, g.slice_elems)

"""A tiny builder of command sequences as numpy arrays, before they become the engine's CommandStream.

Programs are long and regular (the same row-round repeated thousands of
times), so segments are built once as small templates and tiled, never
appended command by command in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Command names, as the DRAM area's ``Cmd`` enum spells them (hw/dram/commands.py).
CMD_NAMES = ("ACT", "PRE", "PREA", "RD", "WR", "PIM_WR_SB", "PIM_LD_SB", "PIM_MAC", "PIM_RD_RB")
CODE = {name: i for i, name in enumerate(CMD_NAMES)}


@dataclass
class Segment:
    """Commands as parallel arrays: command code, flat bank index (bank group = bank mod groups), row, column."""

    cmd: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    bank: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    row: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    col: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.cmd)


def seg(name: str, bank=0, row=0, col=0, count: int | None = None) -> Segment:
    """``count`` commands of one kind (bank, row and col broadcast, or given as arrays)."""
    arrays = [np.asarray(x) for x in (bank, row, col)]
    n = count if count is not None else max(max(a.size for a in arrays), 1)
    b, r, c = (np.broadcast_to(a, (n,)) for a in arrays)
    return Segment(np.full(n, CODE[name], np.int8), b.astype(np.int32), r.astype(np.int64), c.astype(np.int32))


def concat(parts: list[Segment]) -> Segment:
    parts = [p for p in parts if len(p)]
    if not parts:
        return Segment()
    return Segment(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("cmd", "bank", "row", "col")))


def interleave(first: Segment, second: Segment, after: np.ndarray) -> Segment:
    """Merge two segments keeping each one's order; ``second[j]`` goes right after ``first[after[j]]``.

    ``after[j] = -1`` puts it before everything; ``after`` must be non-decreasing.
    """
    slot_first = np.arange(len(first), dtype=np.float64)
    slot_second = np.asarray(after, dtype=np.float64) + 0.5
    order = np.argsort(np.concatenate([slot_first, slot_second]), kind="stable")
    merged = concat([first, second])
    return Segment(merged.cmd[order], merged.bank[order], merged.row[order], merged.col[order])


def tile(template: Segment, times: int, row_step: int) -> Segment:
    """``times`` copies of ``template``, the k-th with its rows shifted by k x ``row_step``."""
    if times <= 0 or not len(template):
        return Segment()
    n = len(template)
    shift = np.repeat(np.arange(times, dtype=np.int64) * row_step, n)
    return Segment(
        np.tile(template.cmd, times), np.tile(template.bank, times), np.tile(template.row, times) + shift,
        np.tile(template.col, times),
    )

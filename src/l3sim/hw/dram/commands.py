"""The DRAM command set (standard and PIM) and the command stream: a struct of numpy arrays.

A stream is what a controller is asked to issue, in order. Programs are long
(millions of PIM_MACs) and regular, so a stream is built from whole arrays
(``CommandStream.of``, ``StreamBuilder.add``, ``concatenate``), never one
Python object per command.

Addressing: ``channel`` is a bus channel (a DDR5 sub-channel counts as one),
``rank`` is the rank within that channel, ``bank_group`` and ``bank`` (bank
within its group) pick a bank of every chip of the rank, ``row`` a row, and
``col`` a column *access* (a burst index, 0 .. columns / burst_length - 1).
Commands that act on a whole rank (PREA, REF and the all-bank PIM commands)
ignore bank_group, bank, row and col.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

FIELDS = ("cmd", "channel", "rank", "bank_group", "bank", "row", "col")
DTYPES = {"cmd": np.int8, "channel": np.int32, "rank": np.int32, "bank_group": np.int32, "bank": np.int32,
          "row": np.int64, "col": np.int32}


class Cmd(IntEnum):
    """Commands the engine times; docs/dram.md gives every rule between them."""

    ACT = 0  # open a row in one bank (every chip of the rank)
    PRE = 1  # close one bank
    PREA = 2  # close every bank of the rank
    RD = 3  # host read: one burst from one bank, over the rank bus and the channel bus
    WR = 4  # host write: one burst into one bank, over the channel bus and the rank bus
    REF = 5  # all-bank refresh of the rank
    PIM_WR_R = 6  # rank PU -> configuration registers of the bank PUs (one burst on the rank bus)
    PIM_LD_SB = 7  # one bank -> the chip's shared buffer (a column read inside each chip, no bus)
    PIM_WR_SB = 8  # rank PU -> shared buffers of the rank's chips (one burst on the rank bus)
    PIM_MAC = 9  # every bank of the rank reads one column into its bank PU (bank-internal buses only)
    PIM_RD_RB = 10  # result buffers -> rank PU (one burst on the rank bus)


NUM_CMDS = len(Cmd)

# Commands that address one bank; the others act on the whole rank.
BANK_COMMANDS = frozenset({Cmd.ACT, Cmd.PRE, Cmd.RD, Cmd.WR, Cmd.PIM_LD_SB})
IS_BANK_COMMAND = np.array([Cmd(c) in BANK_COMMANDS for c in range(NUM_CMDS)], dtype=np.bool_)


def _column(name: str, value, n: int) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim > 1:
        raise ValueError(f"CommandStream.{name} must be one-dimensional, got shape {array.shape}")
    return np.ascontiguousarray(np.broadcast_to(array, (n,)), dtype=DTYPES[name])


@dataclass(frozen=True)
class CommandStream:
    """Commands as parallel arrays: ``cmd`` (Cmd codes) and the address fields, one entry per command.

    Every field but ``cmd`` may be given as a scalar or left out (0); it is broadcast to ``len(cmd)``.
    """

    cmd: np.ndarray
    channel: np.ndarray | int = 0
    rank: np.ndarray | int = 0
    bank_group: np.ndarray | int = 0
    bank: np.ndarray | int = 0
    row: np.ndarray | int = 0
    col: np.ndarray | int = 0

    def __post_init__(self) -> None:
        cmd = np.asarray(self.cmd)
        if cmd.ndim != 1:
            cmd = cmd.reshape(-1)
        n = len(cmd)
        for name in FIELDS:
            object.__setattr__(self, name, _column(name, cmd if name == "cmd" else getattr(self, name), n))

    @classmethod
    def of(cls, cmd, channel=0, rank=0, bank_group=0, bank=0, row=0, col=0, count: int | None = None):
        """``count`` commands (or as many as the longest array given), every field broadcast."""
        values = [np.asarray(v) for v in (cmd, channel, rank, bank_group, bank, row, col)]
        n = count if count is not None else max(v.size for v in values)
        return cls(*(np.broadcast_to(v, (n,)) for v in values))

    @classmethod
    def empty(cls) -> "CommandStream":
        return cls(np.zeros(0, np.int8))

    def __len__(self) -> int:
        return len(self.cmd)

    def take(self, index) -> "CommandStream":
        """The commands at ``index`` (an integer array, a boolean mask or a slice)."""
        return CommandStream(*(getattr(self, name)[index] for name in FIELDS))


def concatenate(streams) -> CommandStream:
    """One stream holding ``streams`` one after the other (one numpy concatenation per field)."""
    streams = [s for s in streams if len(s)]
    if not streams:
        return CommandStream.empty()
    return CommandStream(*(np.concatenate([getattr(s, name) for s in streams]) for name in FIELDS))


class StreamBuilder:
    """Collects blocks of commands and concatenates them once in ``build``."""

    def __init__(self) -> None:
        self._parts: list[CommandStream] = []

    def add(self, cmd, channel=0, rank=0, bank_group=0, bank=0, row=0, col=0, count: int | None = None):
        """Append ``count`` commands (arrays broadcast, as in ``CommandStream.of``); returns self."""
        self._parts.append(CommandStream.of(cmd, channel, rank, bank_group, bank, row, col, count=count))
        return self

    def extend(self, stream: CommandStream) -> "StreamBuilder":
        self._parts.append(stream)
        return self

    def build(self) -> CommandStream:
        return concatenate(self._parts)

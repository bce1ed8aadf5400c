"""Request traces for the host-traffic controller: readers (streamed) and the standard test patterns.

Two line formats, one request per line (blank lines and lines starting with ``#`` are skipped):

- DRAMsim3: ``0xADDR READ|WRITE CYCLE`` (its trace CPU's format; CYCLE is the arrival cycle, non-decreasing);
- Ramulator: ``LD|ST 0xADDR`` (Ramulator 2's load/store trace; no cycle: every request is ready at
  cycle 0 and enters as the queues make room, the back-to-back mode).

The format is taken from the first request line; every other line must match it. Addresses are hexadecimal
with ``0x`` or decimal, byte addresses decoded by an ``AddressMapping``. Files are read in chunks of
``CHUNK`` lines, so memory stays bounded whatever the length of the trace.

Patterns (``pattern_addresses``), N requests of T = one burst's bytes (64 B: DDR4 x64 BL8, DDR5 x32 BL16):

- ``seq-read`` / ``seq-write``: address i x T for i = 0 .. N-1;
- ``rand-read``: address U_i x T, U = ``numpy.random.default_rng([seed, 0]).integers(0, capacity // T, N)``
  (capacity of the mapped memory: channels x ranks x banks x rows x row bytes);
- ``mix``: the ``rand-read`` addresses, WRITE where ``numpy.random.default_rng([seed, 1]).random(N) < 1/3``
  (two reads per write), READ elsewhere;
- ``row-conflict``: reads of channel 0, rank 0, bank group 0, bank 0, column 0, row i mod rows: every
  request needs its own ACT and PRE in one bank.

All arrive at cycle 0 (back-to-back). ``l3sim dram pattern`` prints them in either format, so the same
stream can be replayed in DRAMsim3 or Ramulator 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Iterator

import numpy as np

from l3sim.errors import ConfigError, TraceFormatError
from l3sim.hw.dram.controller import Requests
from l3sim.hw.dram.mapping import AddressMapping

CHUNK = 1 << 16
PATTERNS = ("seq-read", "rand-read", "seq-write", "mix", "row-conflict")
FORMATS = ("dramsim3", "ramulator")
WRITE_SHARE = 1 / 3  # mix: one write per two reads


def requests_from(address: np.ndarray, is_write: np.ndarray, arrival: np.ndarray, first_index: int,
                  mapping: AddressMapping) -> Requests:
    """A chunk of requests from byte addresses, write flags and arrival cycles."""
    fields = mapping.decode(address)
    return Requests(is_write=is_write.astype(np.int64), arrival=arrival.astype(np.int64),
                    index=np.arange(first_index, first_index + len(address), dtype=np.int64), **fields)


def _format_of(tokens: list[str]) -> str | None:
    if len(tokens) == 3 and tokens[1].upper() in ("READ", "WRITE"):
        return "dramsim3"
    if len(tokens) == 2 and tokens[0].upper() in ("LD", "ST"):
        return "ramulator"
    return None


def _number(text: str, where: str, field: str) -> int:
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise TraceFormatError(f"{where}: field {field}: {text!r} is not a number (hex with 0x, or decimal)") from None
    if not 0 <= value < 1 << 63:
        raise TraceFormatError(f"{where}: field {field}: {value} is out of range (0 .. 2**63 - 1)")
    return value


def _is_request(tokens: list[str]) -> bool:
    """Whether a trace line, split into ``tokens``, is a request: blank lines and ``#`` comments are not."""
    return bool(tokens) and not tokens[0].startswith("#")


def _open(path: Path, errors: str = "strict") -> IO[str]:
    try:
        return path.open("r", encoding="utf-8", errors=errors)
    except OSError as exc:
        raise ConfigError(f"trace {path}: cannot open: {exc.strerror or exc}") from None


def count_requests(path: str | Path) -> int:
    """How many request lines the trace file at ``path`` has (a progress bar's total: one quick pass that
    checks nothing else; :func:`read_trace` reports what is wrong with a line, undecodable bytes included)."""
    with _open(Path(path), errors="replace") as handle:
        return sum(_is_request(line.split()) for line in handle)


def read_trace(path: str | Path, mapping: AddressMapping, chunk: int = CHUNK) -> Iterator[Requests]:
    """The requests of a DRAMsim3- or Ramulator-style trace file, ``chunk`` at a time."""
    path = Path(path)
    handle = _open(path)
    fmt = None
    address, write, arrival = [], [], []
    first, last_cycle = 0, 0
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                tokens = line.split()
                if not _is_request(tokens):
                    continue
                where = f"{path}, line {number}"
                kind = _format_of(tokens)
                fmt = fmt or kind
                if kind is None or kind != fmt:
                    expected = {"dramsim3": "'0xADDR READ|WRITE CYCLE' (DRAMsim3, as the first request line)",
                                "ramulator": "'LD|ST 0xADDR' (Ramulator, as the first request line)",
                                None: "'0xADDR READ|WRITE CYCLE' (DRAMsim3) or 'LD|ST 0xADDR' (Ramulator)"}[fmt]
                    raise TraceFormatError(f"{where}: expected {expected}, got {line.strip()[:80]!r}")
                if fmt == "dramsim3":
                    address.append(_number(tokens[0], where, "address"))
                    write.append(tokens[1].upper() == "WRITE")
                    cycle = _number(tokens[2], where, "cycle")
                    if cycle < last_cycle:
                        raise TraceFormatError(f"{where}: field cycle: {cycle} is before the previous request's "
                                               f"{last_cycle} (cycles must not decrease)")
                    last_cycle = cycle
                    arrival.append(cycle)
                else:
                    address.append(_number(tokens[1], where, "address"))
                    write.append(tokens[0].upper() == "ST")
                    arrival.append(0)
                if len(address) == chunk:
                    yield requests_from(np.array(address, np.int64), np.array(write), np.array(arrival, np.int64),
                                        first, mapping)
                    first += len(address)
                    address, write, arrival = [], [], []
        except UnicodeDecodeError as exc:
            raise TraceFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if address:
        yield requests_from(np.array(address, np.int64), np.array(write), np.array(arrival, np.int64), first,
                            mapping)


def pattern_addresses(kind: str, count: int, mapping: AddressMapping, seed: int = 0,
                      chunk: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(byte addresses, write flags) of a standard pattern, ``chunk`` at a time (module docstring)."""
    if kind not in PATTERNS:
        raise ConfigError(f"pattern {kind!r}: expected one of {', '.join(PATTERNS)}")
    if count < 0:
        raise ConfigError(f"pattern count {count}: expected >= 0")
    burst = 1 << mapping.offset_bits
    units = mapping.capacity_bytes // burst
    addresses = np.random.default_rng([seed, 0])
    ops = np.random.default_rng([seed, 1])
    for start in range(0, count, chunk):
        i = np.arange(start, min(count, start + chunk), dtype=np.int64)
        write = np.zeros(len(i), bool)
        if kind in ("seq-read", "seq-write"):
            address = (i % units) * burst
            write[:] = kind == "seq-write"
        elif kind == "row-conflict":
            address = mapping.encode(row=i % (1 << mapping.width["row"]))
        else:
            address = addresses.integers(0, units, size=len(i)) * burst
            if kind == "mix":
                write = ops.random(len(i)) < WRITE_SHARE
        yield address, write


def pattern_requests(kind: str, count: int, mapping: AddressMapping, seed: int = 0) -> Iterator[Requests]:
    """The pattern as request chunks, all arriving at cycle 0."""
    first = 0
    for address, write in pattern_addresses(kind, count, mapping, seed):
        yield requests_from(address, write, np.zeros(len(address), np.int64), first, mapping)
        first += len(address)


def write_trace(kind: str, count: int, mapping: AddressMapping, seed: int, fmt: str, out: IO[str]) -> None:
    """Print a pattern as a trace in ``fmt`` ("dramsim3": ``0xADDR READ|WRITE 0``; "ramulator": ``LD|ST 0xADDR``)."""
    if fmt not in FORMATS:
        raise ConfigError(f"trace format {fmt!r}: expected one of {', '.join(FORMATS)}")
    for address, write in pattern_addresses(kind, count, mapping, seed):
        if fmt == "dramsim3":
            lines = [f"0x{a:x} {'WRITE' if w else 'READ'} 0" for a, w in zip(address.tolist(), write.tolist())]
        else:
            lines = [f"{'ST' if w else 'LD'} 0x{a:x}" for a, w in zip(address.tolist(), write.tolist())]
        out.write("\n".join(lines) + "\n")

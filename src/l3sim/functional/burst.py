"""DDR burst byte lanes and L3's in-flight re-layout (bit-level mismatch, L3 paper section IV).

A burst moves ``burst_length`` beats; in each beat every chip of the (sub)channel
drives ``device_width_bits`` data pins. With the standard mapping host byte ``b``
of a burst travels in beat ``b // beat_bytes`` on chip ``(b % beat_bytes) // lane_bytes``,
so the two bytes of an FP16 element land on two neighbouring chips.

L3's re-layout unit (on the DIMM's buffer chip) permutes bytes within a window
of ``G = element_bytes / lane_bytes`` consecutive beats (a beat pair for FP16 on
x8 chips): element ``j`` of the window goes to chip ``j``, its byte ``k`` to beat
``k // lane_bytes`` of the window. Every chip then holds whole elements in
consecutive beats of one burst. Reads apply the inverse permutation.

Physical burst arrays have shape ``(..., burst_length, chips, lane_bytes)``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from l3sim.errors import ConfigError
from l3sim.spec.base import Spec


class BurstSpec(Spec):
    """Byte-lane geometry of one burst domain: a DDR4 rank or one DDR5 subchannel.

    Defaults: DDR4-3200 x8 rank of the paper (8 chips on a 64-bit bus, BL8; JEDEC
    JESD79-4). ECC chips carry no data and are not modelled.
    """

    standard: Literal["ddr4", "ddr5"] = Field("ddr4", description="DDR generation (informational)")
    chips_per_subchannel: int = Field(8, ge=1, description="data chips sharing one burst (x8 DDR4 rank: 8)")
    device_width_bits: int = Field(8, ge=8, description="data pins per chip (x8)")
    burst_length: int = Field(8, ge=1, description="beats per burst (DDR4 BL8, DDR5 BL16)")
    subchannels: int = Field(
        1, ge=1, description="independent subchannels per rank (DDR4 1; DDR5 2 x 32 bits, JESD79-5)"
    )

    @model_validator(mode="after")
    def _check_width(self) -> "BurstSpec":
        if self.device_width_bits % 8:
            raise ValueError(f"device_width_bits must be a multiple of 8, got {self.device_width_bits}")
        return self

    @property
    def lane_bytes(self) -> int:
        """Bytes one chip drives in one beat."""
        return self.device_width_bits // 8

    @property
    def beat_bytes(self) -> int:
        return self.chips_per_subchannel * self.lane_bytes

    @property
    def burst_bytes(self) -> int:
        return self.beat_bytes * self.burst_length

    @property
    def chip_burst_bytes(self) -> int:
        """Bytes one chip stores per burst (one column access)."""
        return self.lane_bytes * self.burst_length


DDR4_X8 = BurstSpec()
"""DDR4 x8 rank: 8 chips x 1 byte per beat, BL8 -> 64-byte bursts."""

DDR5_X8 = BurstSpec(standard="ddr5", chips_per_subchannel=4, burst_length=16, subchannels=2)
"""DDR5 x8 rank: two 32-bit subchannels of 4 chips each, BL16 -> 64-byte bursts per subchannel."""


def window_beats(spec: BurstSpec, element_bytes: int) -> int:
    """Beats one element occupies on one chip after re-layout (G; 2 for FP16 on x8 chips).

    Raises ConfigError if an element does not fill whole beats on one chip or the
    burst does not hold a whole number of windows.
    """
    if element_bytes % spec.lane_bytes or spec.burst_length % (element_bytes // spec.lane_bytes):
        raise ConfigError(
            f"re-layout of {element_bytes}-byte elements is impossible on x{spec.device_width_bits} chips "
            f"with BL{spec.burst_length}: an element must fill whole beats of one chip and a burst "
            "must hold a whole number of element windows"
        )
    return element_bytes // spec.lane_bytes


def relayout_permutation(spec: BurstSpec, element_bytes: int | None) -> np.ndarray:
    """Physical slot (``beat * beat_bytes + chip * lane_bytes + lane``) of each host byte of a burst.

    ``element_bytes=None`` gives the standard mapping (the identity).
    """
    host = np.arange(spec.burst_bytes)
    if element_bytes is None:
        return host
    group = window_beats(spec, element_bytes)
    element, byte = np.divmod(host, element_bytes)
    window, chip = np.divmod(element, spec.chips_per_subchannel)
    beat = window * group + byte // spec.lane_bytes
    return beat * spec.beat_bytes + chip * spec.lane_bytes + byte % spec.lane_bytes


def write_bursts(host: np.ndarray, spec: BurstSpec, element_bytes: int | None) -> np.ndarray:
    """Host-order bursts ``(..., burst_bytes)`` -> physical beats ``(..., BL, chips, lane_bytes)``."""
    host = np.asarray(host, dtype=np.uint8)
    if host.shape[-1] != spec.burst_bytes:
        raise ConfigError(f"a burst holds {spec.burst_bytes} bytes; got a last axis of {host.shape[-1]}")
    phys = np.empty_like(host)
    phys[..., relayout_permutation(spec, element_bytes)] = host
    return phys.reshape(*host.shape[:-1], spec.burst_length, spec.chips_per_subchannel, spec.lane_bytes)


def read_bursts(phys: np.ndarray, spec: BurstSpec, element_bytes: int | None) -> np.ndarray:
    """Inverse of :func:`write_bursts`: physical beats -> host-order bytes ``(..., burst_bytes)``."""
    flat = np.asarray(phys, dtype=np.uint8).reshape(*phys.shape[:-3], spec.burst_bytes)
    return flat[..., relayout_permutation(spec, element_bytes)]


def chip_bytes(phys: np.ndarray) -> np.ndarray:
    """What each chip stores of each burst, in beat order: ``(..., chips, BL * lane_bytes)``."""
    moved = np.moveaxis(phys, -2, -3)
    return moved.reshape(*moved.shape[:-2], -1)


def byte_placement(spec: BurstSpec, element_bytes: int, relayout: bool) -> tuple[np.ndarray, np.ndarray]:
    """(chip, beat) of every byte of every element of a burst, each shaped (elements, element_bytes)."""
    if spec.burst_bytes % element_bytes:
        raise ConfigError(f"a {spec.burst_bytes}-byte burst does not hold whole {element_bytes}-byte elements")
    slot = relayout_permutation(spec, element_bytes if relayout else None).reshape(-1, element_bytes)
    beat, rest = np.divmod(slot, spec.beat_bytes)
    return rest // spec.lane_bytes, beat


def relayout_schedule(spec: BurstSpec, element_bytes: int) -> dict[str, int]:
    """Streaming behaviour of the re-layout unit fed one beat per slot.

    Returns ``window_beats`` (G), ``latency_beats`` (the least constant delay
    between a beat arriving and the re-laid beat leaving, such that every byte
    it carries has arrived) and ``max_buffered_beats`` (bytes held at once, in
    beats). Latency G and at most 2G buffered beats is double buffering over
    G-beat windows at full rate: no added transfer time, only G beats of
    latency (one tCK for FP16 on x8 DDR: the paper's write latency shortened by
    one cycle).
    """
    group = window_beats(spec, element_bytes)
    arrival_beat = np.arange(spec.burst_bytes) // spec.beat_bytes
    out_beat = relayout_permutation(spec, element_bytes) // spec.beat_bytes
    latest_source = np.zeros(spec.burst_length, dtype=int)
    np.maximum.at(latest_source, out_beat, arrival_beat)
    latency = int(np.max(latest_source + 1 - np.arange(spec.burst_length)))
    cycles = np.arange(spec.burst_length + latency + 1)
    arrived = (arrival_beat[None, :] < cycles[:, None]).sum(axis=1)
    left = ((out_beat[None, :] + latency) < cycles[:, None]).sum(axis=1)
    buffered = int(np.max(arrived - left)) // spec.beat_bytes
    return {"window_beats": group, "latency_beats": latency, "max_buffered_beats": buffered}

"""EnergySpec: the energy of every event the energy model counts, each a documented parameter with its source.

The L3 paper (arXiv 2504.17584) reports energy but states none of these
numbers, so each default below comes from a public source named in its
description (docs/energy.md lists them with the arithmetic). Units: currents
in amperes, voltages in volts, energies in joules unless the name says pJ,
powers in watts.

DRAM (DDR4 DIMMs, the L3 host) follows Micron TN-40-07 "Calculating Memory
Power for DDR4 SDRAM": per-chip IDD/IPP currents turn into an energy per
activation, per read or write burst and a background power (see
``l3sim.hw.energy.ddr4_event_energies``). The defaults are the x8 column,
DDR4-3200 speed bin, of Micron's 8 Gb DDR4 data sheet (MT40A1G8); the L3
host's 32 Gb chips are not in any JEDEC or vendor table (docs/dram.md), so
the 8 Gb currents stand in for them, a choice to revisit with a 16/32 Gb
data sheet.
"""

from __future__ import annotations

from pydantic import Field

from l3sim.spec.base import Spec

PJ = 1e-12

# Micron 8Gb DDR4 SDRAM data sheet (MT40A1G8, x8, DDR4-3200 column of the IDD/IPP limits table).
_MICRON_8GB_X8 = "Micron 8Gb DDR4 data sheet, x8, DDR4-3200 (IDD/IPP current limits)"


class DDR4CurrentSpec(Spec):
    """Per-chip supply currents of one DDR4 device (Micron TN-40-07's inputs)."""

    vdd_v: float = Field(1.2, gt=0, description="core supply VDD, V (JESD79-4)")
    vpp_v: float = Field(2.5, gt=0, description="word-line pump supply VPP, V (JESD79-4)")
    idd0_a: float = Field(0.058, gt=0, description=f"IDD0, one-bank ACT-PRE current, A ({_MICRON_8GB_X8})")
    ipp0_a: float = Field(0.003, ge=0, description=f"IPP0, VPP current during IDD0, A ({_MICRON_8GB_X8})")
    idd2n_a: float = Field(0.039, gt=0, description=f"IDD2N, precharge standby current, A ({_MICRON_8GB_X8})")
    idd3n_a: float = Field(0.052, gt=0, description=f"IDD3N, active standby current, A ({_MICRON_8GB_X8})")
    ipp3n_a: float = Field(0.003, ge=0, description=f"IPP3N, VPP standby current, A ({_MICRON_8GB_X8})")
    idd4r_a: float = Field(0.168, gt=0, description=f"IDD4R, burst read current (IOUT = 0), A ({_MICRON_8GB_X8})")
    idd4w_a: float = Field(0.150, gt=0, description=f"IDD4W, burst write current, A ({_MICRON_8GB_X8})")
    idd5b_a: float = Field(0.250, gt=0, description=f"IDD5B, burst refresh current, A ({_MICRON_8GB_X8})")


class EnergySpec(Spec):
    """Per-event energies and static powers of the GPUs, their HBM, the DIMMs and the PIM units."""

    # ---- GPU ------------------------------------------------------------------------------------------
    gpu_static_w: float = Field(
        60.0,
        ge=0,
        description="power of one GPU whether busy or not (static + idle), W. An A100-SXM4-80GB idles at "
        "about 50-90 W in nvidia-smi; not a vendor figure; 60 W is taken",
    )
    gpu_pj_per_flop: float = Field(
        1.09,
        ge=0,
        description="dynamic energy of one dense FP16 tensor-core FLOP, pJ: (400 W A100-SXM4 TDP - 60 W "
        "static) / 312 TFLOPS (NVIDIA A100 datasheet), an upper bound since TDP also pays for SRAM and "
        "register traffic",
    )
    hbm_pj_per_bit: float = Field(
        3.9,
        ge=0,
        description="energy of one bit read from HBM2 to the GPU (activation, on-die data movement and "
        "I/O), pJ/bit: O'Connor et al., 'Fine-Grained DRAM', MICRO 2017, HBM2 ~3.9 pJ/bit",
    )
    # ---- HBM-PIM ----------------------------------------------------------------------------------------
    hbm_pim_inbank_pj_per_bit: float = Field(
        1.2,
        ge=0,
        description="energy of one bit an HBM-PIM bank unit reads from its own bank, pJ/bit. Not stated by "
        "the L3 paper; in-bank PIM skips the global data bus, TSVs and PHY, which O'Connor et al. (MICRO "
        "2017) put at about two thirds of HBM2's 3.9 pJ/bit, leaving ~1.2 pJ/bit for activation and the "
        "bank-local column path",
    )
    # ---- host CPU (cpu-offload) ----------------------------------------------------------------------------
    cpu_pj_per_flop: float = Field(
        48.8,
        ge=0,
        description="dynamic energy of one FP32 FLOP of decode attention on the host CPU, pJ: 225 W TDP / "
        "4.61 TFLOPS peak FP32 of one AMD EPYC 7742 (the DGX-A100 host CPU; 64 cores x 2.25 GHz base x "
        "32 FLOP/cycle: two 256-bit FMA pipes, AMD EPYC 7742 product page), an upper bound since TDP also "
        "pays for idle power, caches and uncore; the FP16 KV cache is computed in FP32 (Zen 2 has no FP16 "
        "arithmetic)",
    )
    # ---- DIMMs (DDR4) -----------------------------------------------------------------------------------
    ddr4: DDR4CurrentSpec = Field(default_factory=DDR4CurrentSpec, description="per-chip DDR4 currents")
    ddr4_io_pj_per_bit: float = Field(
        4.0,
        ge=0,
        description="energy to move one bit over a DDR4 channel between the DIMM and the host (drivers and "
        "on-die termination), pJ/bit; CACTI-IO (Jouppi et al., IEEE TVLSI 2015) DDR4 server bus, 4-5 pJ/bit",
    )
    rank_bus_io_pj_per_bit: float = Field(
        4.0,
        ge=0,
        description="energy to move one bit between a DRAM chip and the rank PU on the DIMM's buffer chip, "
        "pJ/bit. Not stated; the chip drives the same DQ pins with on-die termination as towards the host, "
        "so the channel figure is taken",
    )
    pim_inbank_read_fraction: float = Field(
        1.0,
        ge=0,
        le=1,
        description="share of the IDD4R-derived read energy that a bank PU's in-bank column read costs. IDD4R "
        "pays for the whole column path from the array to the chip's pads (global data bus, read pipeline); "
        "a bank PU uses only the bank-local part. Not stated by the paper or a data sheet; 1.0 (the whole "
        "IDD4R figure) is the conservative upper bound; the HBM2 breakdown of O'Connor et al. (MICRO 2017) "
        "suggests about 0.3-0.5",
    )
    pim_mac_pj: float = Field(
        2.0,
        ge=0,
        description="one FP16 multiply with FP32 accumulation in a PIM unit, pJ: Horowitz, ISSCC 2014, 45 nm: "
        "FP16 multiply 1.1 pJ + FP32 add 0.9 pJ. The L3 paper's bank PU is synthesised in 28 nm and "
        "quoted at about twice the area in a DRAM process, so 45 nm logic stands in for the DRAM process",
    )
    rank_pu_static_w: float = Field(
        0.0,
        ge=0,
        description="static power of one rank PU (buffer-chip logic), W. Not stated by the paper; 0 counts "
        "it as free; set it for a sensitivity study",
    )

    @property
    def hbm_j_per_byte(self) -> float:
        return self.hbm_pj_per_bit * 8 * PJ

    @property
    def hbm_pim_inbank_j_per_byte(self) -> float:
        return self.hbm_pim_inbank_pj_per_bit * 8 * PJ

    @property
    def gpu_j_per_flop(self) -> float:
        return self.gpu_pj_per_flop * PJ

    @property
    def cpu_j_per_flop(self) -> float:
        return self.cpu_pj_per_flop * PJ

    @property
    def pim_mac_j(self) -> float:
        return self.pim_mac_pj * PJ

    @property
    def ddr4_io_j_per_byte(self) -> float:
        return self.ddr4_io_pj_per_bit * 8 * PJ

    @property
    def rank_bus_io_j_per_byte(self) -> float:
        return self.rank_bus_io_pj_per_bit * 8 * PJ

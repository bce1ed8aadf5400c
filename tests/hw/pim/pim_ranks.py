"""Rank geometries written out from the paper and JEDEC, for the PIM tests and benchmarks."""

from __future__ import annotations

from l3sim.hw.pim.geometry import RankGeometry

# The paper's DDR4-3200 timing in tCK (L3 paper, section VI). Not stated: tFAW (JEDEC DDR4-3200, 1 KB page:
# 21 ns = 34 tCK), refresh (tREFI 7.8 us; tRFC 550 ns, JEDEC 16 Gb) and rows (256 Ki per bank, so that 64
# ranks of 8 chips hold the paper's 2 TB: 64 x 8 x 16 banks x 2^18 rows x 1 KiB = 2 TiB).
PAPER_DDR4 = RankGeometry(
    tck_s=0.625e-9, chips_per_rank=8, banks_per_chip=16, bank_groups=4, burst_bytes_per_chip=8, row_bursts=128,
    rows_per_bank=262144, channels=16, ranks_per_channel=4, burst_cycles=4, tccd_s=4, tccd_l=8, trcd=22, trp=22,
    tras=52, trc=74, trtp=12, twr=24, cwl=16, cl=22, trrd_s=4, trrd_l=8, tfaw=34, trfc=880, trefi=12480,
)

# A DDR5-4800 sub-channel rank for genericity (JEDEC JESD79-5, 16 Gb x8, tCK 0.416 ns): 4 chips on the
# 32-bit sub-channel, 8 bank groups x 4 banks, BL16 (16 B per chip per burst), 1 KiB page = 64 bursts;
# tCCD_L = tRRD_L = 5 ns, tRCD = tRP = 16.67 ns, tRAS 32 ns, tRTP 7.5 ns, tWR 30 ns, tRFC 295 ns, tREFI 3.9 us.
DDR5_4800 = RankGeometry(
    tck_s=1 / 2.4e9, chips_per_rank=4, banks_per_chip=32, bank_groups=8, burst_bytes_per_chip=16, row_bursts=64,
    rows_per_bank=65536, channels=16, ranks_per_channel=2, burst_cycles=8, tccd_s=8, tccd_l=12, trcd=40, trp=40,
    tras=77, trc=117, trtp=18, twr=72, cwl=38, cl=40, trrd_s=8, trrd_l=12, tfaw=32, trfc=708, trefi=9360,
)

"""GPU cost model: roofline (or measured-profile) times of one replica's FC work and attention, and its HBM budget.

Modules: ``operators`` (per-GPU FLOPs/bytes of each kernel under TP),
``roofline`` (the capped roofline), ``collectives`` (ring all-reduce),
``attention`` (prefill and decode attention), ``memory`` (weights, reserve,
KV capacity), ``measured`` (interpolation in a Vidur profile),
``cost_model`` (GPUCostModel, the API the serving layer calls) and
``validation`` (the roofline's error against measured timings).
"""

from l3sim.hw.gpu.cost_model import BREAKDOWN_KEYS, GPUCostModel

__all__ = ["BREAKDOWN_KEYS", "GPUCostModel"]

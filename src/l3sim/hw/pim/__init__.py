"""DIMM-PIM: the attention kernels' command programs, their fast closed-form latency, event counts, reports.

Public API (``spec`` is a :class:`PIMSystem`: a host memory spec plus a PIMSpec):

- ``attention_latency(context_tokens, heads, gqa, variant, spec, *, ranks=1)`` -> seconds (ndarray)
- ``attention_cost_coefficients(heads, gqa, variant, spec, *, ranks=1)`` -> (fixed_s, per_token_s)
- ``kv_capacity_tokens_per_rank(kv_bytes_per_token_per_layer, layers_on_rank, spec)`` -> int
- ``rankset_of_layers(num_layers, spec)``, ``max_layers_per_rank(num_layers, spec)``: layer-interleaved placement
- ``event_counts(context_tokens, heads, gqa, variant, spec)`` -> dict of ndarrays
- ``memory_report(memory, pim)`` -> dict (``l3sim hw``)
- ``build_program(context_tokens, heads, gqa, variant, memory, pim)`` -> the DRAM engine's CommandStream
- ``reference_latency(context_tokens, heads, gqa, variant, spec)`` -> seconds from the engine
"""

from l3sim.hw.pim.events import event_counts
from l3sim.hw.pim.latency import attention_cost_coefficients, attention_latency, kv_capacity_tokens_per_rank
from l3sim.hw.pim.memory_report import memory_report
from l3sim.hw.pim.placement import max_layers_per_rank, rankset_of_layers
from l3sim.hw.pim.reference import build_program, reference_latency
from l3sim.hw.pim.system import PIMSystem, load_pim_system

__all__ = [
    "PIMSystem",
    "attention_cost_coefficients",
    "attention_latency",
    "build_program",
    "event_counts",
    "kv_capacity_tokens_per_rank",
    "load_pim_system",
    "max_layers_per_rank",
    "memory_report",
    "rankset_of_layers",
    "reference_latency",
]

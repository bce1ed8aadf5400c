"""Where a request's KV cache lives: layer by layer, layers interleaved over the ranksets (paper section V).

A rankset is one rank of every channel, so a host has ``ranks_per_channel``
of them. Layer l of a request goes to rankset l mod ranksets, whole, on one
rank of it (chosen by the serving simulator's load balancing); every rankset
then carries the same share of every request's layers, give or take one.
"""

from __future__ import annotations

import numpy as np


def ranksets(spec) -> int:
    """Ranksets of a PIMSystem's host: one rank of every bus channel each."""
    return spec.geometry.ranks_per_channel


def rankset_of_layers(num_layers: int, spec) -> np.ndarray:
    """The rankset each layer of a request is stored on."""
    return np.arange(num_layers) % ranksets(spec)


def max_layers_per_rank(num_layers: int, spec) -> int:
    """Layers of one request on the busiest rankset (hence on one of its ranks): ceil(layers / ranksets)."""
    return -(-num_layers // ranksets(spec))

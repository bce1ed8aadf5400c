"""load_requests: the one entry point that turns a WorkloadSpec into Requests."""

from __future__ import annotations

import numpy as np

from l3sim.errors import ConfigError
from l3sim.spec.numbers import MAX_ARRIVAL_S
from l3sim.spec.workload import WorkloadSpec
from l3sim.workload.arrival import arrival_times, parse_arrival
from l3sim.workload.request import Request, requests_from_arrays
from l3sim.workload.synthetic import sample_lengths
from l3sim.workload.trace import read_trace


def load_requests(workload: WorkloadSpec, count: int | None, seed: int, arrival: str = "offline") -> list[Request]:
    """``count`` requests of ``workload`` with arrivals from ``arrival``, sorted by (arrival_s, id), ids 0..n-1.

    Synthetic: ``count`` length pairs are sampled. Trace: ``count`` rows are
    drawn at random without replacement (None: every row), kept in trace order
    (by arrival, then id column or row). Every random number comes from
    ``numpy.random.default_rng(seed)``: lengths or row choice first, then
    arrival gaps, so the same arguments give the same requests.
    """
    process = parse_arrival(arrival)
    if count is not None and count < 1:
        raise ConfigError(f"request count must be >= 1, got {count}")
    rng = np.random.default_rng(seed)
    if workload.kind == "synthetic":
        if count is None:
            raise ConfigError(f"workload {workload.name!r} is synthetic: give a request count")
        if process.needs_trace:
            raise ConfigError(f"arrival {arrival!r} needs a trace; workload {workload.name!r} is synthetic")
        prompt, output = sample_lengths(workload, count, rng)
        order_key = np.arange(count)
        trace_arrival_s = None
    else:
        table = read_trace(workload.path, workload.format)
        if count is not None and count > len(table):
            raise ConfigError(
                f"{table.source}: asked for {count} requests, the trace has {len(table)} "
                "(--requests 0 serves the whole trace)"
            )
        rows = np.arange(len(table)) if count is None else rng.choice(len(table), count, replace=False)
        rows = rows[np.lexsort((table.order_key[rows], table.arrival_s[rows]))]
        prompt, output, order_key = table.prompt_tokens[rows], table.output_tokens[rows], table.order_key[rows]
        trace_arrival_s = table.arrival_s[rows]
    with np.errstate(over="ignore", invalid="ignore"):
        arrival_s = arrival_times(process, len(prompt), rng, trace_arrival_s)
    if arrival_s.size and not np.all(arrival_s <= MAX_ARRIVAL_S):
        raise ConfigError(f"arrival {arrival!r}: the last of {len(arrival_s)} requests arrives after "
                          f"{MAX_ARRIVAL_S:g} s; use a higher rate, a smaller trace scale or fewer requests")
    return requests_from_arrays(arrival_s, prompt, output, order_key)

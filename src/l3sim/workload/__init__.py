"""Workloads: requests, trace loaders, synthetic length generators and arrival processes.

Entry points: :func:`load_requests` (a WorkloadSpec to sorted Requests),
:func:`workload_from_trace_path`, :func:`read_trace` / :func:`parse_trace`
(a trace to arrays), :func:`parse_arrival`.
"""

from l3sim.workload.arrival import ArrivalProcess, arrival_times, parse_arrival
from l3sim.workload.formats import TRACE_FORMATS, TraceFormat, infer_format
from l3sim.workload.loader import load_requests
from l3sim.workload.request import Request
from l3sim.workload.synthetic import LENGTH_SAMPLERS, lognormal_params, sample_lengths
from l3sim.workload.trace import TraceTable, parse_trace, read_trace, workload_from_trace_path

__all__ = [
    "ArrivalProcess",
    "LENGTH_SAMPLERS",
    "Request",
    "TRACE_FORMATS",
    "TraceFormat",
    "TraceTable",
    "arrival_times",
    "infer_format",
    "load_requests",
    "lognormal_params",
    "parse_arrival",
    "parse_trace",
    "read_trace",
    "sample_lengths",
    "workload_from_trace_path",
]

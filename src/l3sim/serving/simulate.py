"""One run end to end: build the system, draw the requests, split them over replicas, serve, summarise.

Data parallelism: each of the ``dp`` model replicas serves a disjoint share of
the requests, assigned round-robin in arrival order (ties by request id), so
shares differ by at most one request and arrive at the same rate; replicas do
not exchange work afterwards. The run's makespan ends when the last replica
finishes.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np

from l3sim.errors import ConfigError
from l3sim.serving.arrivals import arrival_source
from l3sim.serving.checks import check_result
from l3sim.serving.engine import Engine
from l3sim.serving.kvstore import KVStore
from l3sim.serving.metrics import summarise
from l3sim.serving.result import RunResult
from l3sim.serving.schedulers import build_scheduler
from l3sim.serving.state import RequestTable
from l3sim.serving.systems import build_system
from l3sim.serving.systems.base import System
from l3sim.spec.run import RunSpec

ProgressCallback = Callable[[int, int], None]


class RequestLike(Protocol):
    """What the engine needs of a request (``l3sim.workload.Request`` has it)."""

    id: int
    arrival_s: float
    prompt_tokens: int
    output_tokens: int


def simulate(
    spec: RunSpec, progress: ProgressCallback | None = None, measure: tuple[float, float] | None = None,
    account: bool = True, timeline: bool = True,
) -> RunResult:
    """Run ``spec``: ``progress(done, total)`` is called as requests finish. Every metric of the result is
    finite and in its physical range, else NumericalError (``checks.py``). ``measure``: see :func:`serve`.
    ``account=False`` skips the bound-and-loss account (``bound_s``, ``losses_s`` stay unset; every other
    metric is the same), about a tenth of the run's time, for runs that will not be explained.
    ``timeline=False`` builds no timeline (``RunResult.timeline`` stays empty; every metric is the same), a
    few per cent of a sub-batch system's run, for runs whose timeline no one will draw or write."""
    from l3sim.workload import load_requests

    system = build_system(spec)
    if not account:
        system.without_account()
    if not timeline:
        system.without_timeline()
    requests = load_requests(spec.workload, spec.requests, spec.seed, spec.arrival)
    result = serve(system, requests, spec, progress, measure)
    if not timeline:
        result.timeline = []
    return check_result(result)


def _labels(spec: RunSpec, system: System, scheduler: str, count: int) -> dict[str, Any]:
    return {
        "system": system.name,
        "scheduler": scheduler,
        "model": spec.model.name,
        "workload": spec.workload.name,
        "tp": spec.deployment.tp,
        "dp": spec.deployment.dp,
        "requests": count,
        "assumptions": spec.assumptions,
    }


def _request_arrays(requests: Sequence[RequestLike]) -> dict[str, np.ndarray]:
    arrays = {
        "ids": np.array([r.id for r in requests], dtype=np.int64),
        "arrival_s": np.array([r.arrival_s for r in requests], dtype=np.float64),
        "prompt_tokens": np.array([r.prompt_tokens for r in requests], dtype=np.int64),
        "output_tokens": np.array([r.output_tokens for r in requests], dtype=np.int64),
    }
    for name in ("prompt_tokens", "output_tokens"):
        bad = np.flatnonzero(arrays[name] < 1)
        if bad.size:
            raise ConfigError(f"request id {arrays['ids'][bad[0]]}: {name} must be at least 1")
    bad = np.flatnonzero(~np.isfinite(arrays["arrival_s"]) | (arrays["arrival_s"] < 0))
    if bad.size:
        raise ConfigError(f"request id {arrays['ids'][bad[0]]}: arrival_s must be a finite time >= 0")
    return arrays


def serve(
    system: System,
    requests: Sequence[RequestLike],
    spec: RunSpec,
    progress: ProgressCallback | None = None,
    measure: tuple[float, float] | None = None,
) -> RunResult:
    """Serve ``requests`` on ``system`` under ``spec``'s serving knobs, scheduler and DP degree.

    ``measure = (start_s, end_s)``: only requests arriving in [start_s, end_s) feed
    ``RunResult.tbt_samples`` (the warm-up window of a capacity probe, ``serving/slo.py``); None: all."""
    scheduler_name = spec.scheduler or system.default_scheduler
    build_scheduler(scheduler_name, spec.serving, system, spec.schedulers)  # an unknown name fails before any work
    labels = _labels(spec, system, scheduler_name, len(requests))
    if not system.fits:
        return RunResult(**labels, oom=True, oom_reason=system.does_not_fit_reason or "weights do not fit")
    serving = spec.serving
    kv = KVStore.from_bytes(
        system.kv_capacity_bytes * serving.kv_capacity_fraction,  # the share of its capacity the run may use
        system.kv_bytes_per_token,
        serving.kv_block_tokens,
        serving.admission_watermark_fraction,
        serving.kv_reservation,
    )
    arrays = _request_arrays(requests)
    never_fits = kv.never_fits(arrays["prompt_tokens"], arrays["output_tokens"])
    served = np.flatnonzero(~never_fits)
    served = served[np.lexsort((arrays["ids"][served], arrays["arrival_s"][served]))]
    dp = spec.deployment.dp
    total = served.size
    done = 0

    def report(finished: int) -> None:
        nonlocal done
        done += finished
        if progress is not None:
            progress(done, total)

    tables, recorders = [], []
    with _heap_frozen():
        for replica in range(dp):
            share = served[replica::dp]
            table = RequestTable(**{name: values[share] for name, values in arrays.items()})
            if measure is not None:
                table.measured = (table.arrival_s >= measure[0]) & (table.arrival_s < measure[1])
            engine = Engine(
                system,
                build_scheduler(scheduler_name, serving, system, spec.schedulers),
                kv,
                closed_form=serving.stepping == "closed-form",
                replica=replica,
            )
            recorders.append(engine.run(table, report, arrival_source(spec.arrival, table, replica, dp)))
            tables.append(table)
    basis = getattr(system, "account_basis", None)  # systems that report the terms of the run's account
    return summarise(labels, kv, arrays, never_fits, tables, recorders, basis() if basis is not None else None)


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """Keep every object that exists before the engines start out of the garbage collector's scans.

    An engine allocates many small, short-lived records; each of CPython's full collections would
    rescan the whole heap, most of it the imported libraries' long-lived objects (scikit-learn, scipy,
    pandas): about 7 % of an L3-scheduler run. ``gc.freeze`` sets them aside for the run and
    ``gc.unfreeze`` hands them back (nothing is lost: garbage among them is collected later).
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()

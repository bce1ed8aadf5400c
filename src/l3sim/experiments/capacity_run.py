"""Running capacity probes: one seed of one rate (``probe_point``, a store-able run function), the
saturation estimate that starts the search, and a whole search for ``l3sim capacity``.

The search itself and its settings are in :mod:`l3sim.experiments.capacity`; the SLO verdicts in
:mod:`l3sim.serving.slo`.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from l3sim.errors import ConfigError
from l3sim.experiments.capacity import (
    DIMM_SYSTEMS,
    FOUND,
    NO_RATE,
    UNSATURATED,
    ArrivalKind,
    SearchSettings,
    combine_seeds,
    measurement_window,
    search,
)
from l3sim.serving.slo import SLOTarget, evaluate_slo, format_slo, measured_requests, parse_slo, run_percentile
from l3sim.spec.run import RunSpec

#: Progress of a search: called with each finished probe.
ProbeProgress = Callable[[dict[str, Any]], None]


def probe_spec(base: RunSpec, arrival: str, seed: int, targets: tuple[SLOTarget, ...],
               settings: SearchSettings) -> dict[str, Any]:
    """The store-able description of one probe seed: the resolved RunSpec, the SLOs and the window shares."""
    spec = base.model_copy(update={"arrival": arrival, "seed": seed, "requests": settings.requests})
    return {
        "run": spec.model_dump(mode="json"),
        "slo": format_slo(targets),
        "warmup_fraction": settings.warmup_fraction,
        "cooldown_fraction": settings.cooldown_fraction,
    }


def probe_point(point: dict[str, Any]) -> dict[str, Any]:
    """Run one probe seed (``probe_spec``): serve, judge the SLOs on the measurement window, and return
    the SLO fields plus ``binding_ratio``, ``steady`` and p50/p99 TTFT and TBT of the measured requests."""
    from l3sim.serving.checks import check_result
    from l3sim.serving.simulate import serve
    from l3sim.serving.systems import build_system
    from l3sim.workload import load_requests

    spec = RunSpec.parse(point["run"], source="capacity probe")
    targets = parse_slo(point["slo"])
    system = build_system(spec)
    system.without_account()  # a probe reports SLO figures only
    system.without_timeline()
    requests = load_requests(spec.workload, spec.requests, spec.seed, spec.arrival)
    window = measurement_window(np.array([r.arrival_s for r in requests]), point["warmup_fraction"],
                                point["cooldown_fraction"])
    result = check_result(serve(system, requests, spec, measure=window))
    if result.oom:
        raise ConfigError(f"{spec.system} / {spec.model.name}: does not fit: {result.oom_reason}")
    report = evaluate_slo(result, targets, window)
    rows = measured_requests(result, window)
    served = rows[rows["status"] == "served"]
    row = report.to_dict()
    row["binding_ratio"] = report.values[report.binding] / report.targets[report.binding]
    row["steady"] = bool(served.empty or report.duration_s >= float(served["e2e_s"].mean()))
    for metric in ("ttft", "tbt"):
        for pct in ("p50", "p99"):
            row[f"{metric}_{pct}_s"] = run_percentile(result, served, metric, pct)
    return row


def saturation_rate(base: RunSpec, settings: SearchSettings) -> float:
    """r_sat = steady output tokens/s of an offline run of the probe's requests / their mean output tokens."""
    from l3sim.serving import simulate

    result = simulate(base.model_copy(update={"arrival": "offline", "seed": 0, "requests": settings.requests}),
                      account=False, timeline=False)
    if result.oom:
        raise ConfigError(f"{base.system} / {base.model.name}: does not fit: {result.oom_reason}")
    return saturation_from(result.to_dict())


def saturation_from(metrics: dict[str, Any]) -> float:
    """r_sat from an offline run's flat metrics (steady throughput, else makespan throughput, / mean output)."""
    rate = metrics["steady_throughput_tok_s"]
    if rate is None or not math.isfinite(rate) or rate <= 0:
        rate = metrics["throughput_tok_s"]
    return rate / (metrics["output_tokens"] / metrics["requests_served"])


def trace_rate(base: RunSpec, settings: SearchSettings) -> float | None:
    """The mean arrival rate of the trace's drawn requests (None for a synthetic workload)."""
    if base.workload.kind != "trace":
        return None
    from l3sim.workload import load_requests

    times = np.array([r.arrival_s for r in load_requests(base.workload, settings.requests, 0, "trace")])
    span = float(times.max() - times.min())
    if span <= 0:
        raise ConfigError(f"workload {base.workload.name!r}: the drawn requests all arrive at once; no trace rate")
    return (times.size - 1) / span


def cost_figures(base: RunSpec, throughput_tok_s: float) -> dict[str, Any]:
    """GPU count (TP x DP), DIMMs (host-memory systems), tokens/s per GPU."""
    gpus = base.deployment.tp * base.deployment.dp
    dimms = base.memory.channels * base.memory.dimms_per_channel if base.system in DIMM_SYSTEMS else 0
    return {"gpus": gpus, "dimms": dimms, "tok_s_per_gpu": throughput_tok_s / gpus}


def find_capacity(
    base: RunSpec,
    targets: tuple[SLOTarget, ...],
    kind: ArrivalKind,
    settings: SearchSettings,
    progress: ProbeProgress | None = None,
) -> dict[str, Any]:
    """The capacity of ``base`` under ``targets`` (module docstring of ``capacity``), as the ``--json``
    object of ``l3sim capacity``."""
    if kind.kind == "trace" and base.workload.kind != "trace":
        raise ConfigError(f"--arrival trace needs a trace workload; {base.workload.name!r} is synthetic")
    natural = trace_rate(base, settings)
    start = saturation_rate(base, settings)
    probes: dict[float, dict[str, Any]] = {}

    def probe(rate: float) -> tuple[bool, bool]:
        arrival = kind.arrival(rate, natural)
        rows = [probe_point(probe_spec(base, arrival, seed, targets, settings)) for seed in range(settings.seeds)]
        probes[rate] = combine_seeds(rate, rows)
        if progress is not None:
            progress(probes[rate])
        return probes[rate]["met"], probes[rate]["steady"]

    state = search(start, settings, probe)
    return capacity_summary(base, targets, settings, start, state.outcome, state.lo, state.hi, probes)


def capacity_summary(
    base: RunSpec,
    targets: tuple[SLOTarget, ...],
    settings: SearchSettings,
    start: float,
    outcome: str | None,
    lo: float | None,
    hi: float | None,
    probes: dict[float, dict[str, Any]],
) -> dict[str, Any]:
    """The result object of a finished search: the capacity probe's figures, the message, every probe."""
    at = probes.get(lo) if lo is not None else None
    lowest = probes[min(probes)] if probes else None
    shown = at or lowest  # where no rate meets: the lowest probe's binding SLO and share
    out: dict[str, Any] = {
        "system": base.system,
        "scheduler": base.scheduler,
        "model": base.model.name,
        "workload": base.workload.name,
        "slo": {t.name: t.target_s for t in targets},
        "outcome": outcome,
        "message": _message(outcome, lo, hi, settings, at),
        "rate_req_s": lo if outcome in (FOUND, UNSATURATED) else 0.0,
        "violating_rate_req_s": hi,
        "saturation_estimate_req_s": start,
        "goodput_tok_s": at["goodput_tok_s"] if at else 0.0,
        "throughput_tok_s": at["throughput_tok_s"] if at else 0.0,
        "binding_slo": shown["binding_slo"] if shown else None,
        "slo_met_fraction": shown["slo_met_fraction"] if shown else math.nan,
        "seed_spread": {"goodput_tok_s": at["goodput_spread_tok_s"], "binding_ratio": at["binding_ratio_spread"]}
        if at else {},
        "steady": at["steady"] if at else None,
        **cost_figures(base, at["throughput_tok_s"] if at else 0.0),
        "settings": {"requests": settings.requests, "seeds": settings.seeds, "rel_tol": settings.rel_tol,
                     "warmup_fraction": settings.warmup_fraction, "cooldown_fraction": settings.cooldown_fraction},
        "probes": [probes[r] for r in sorted(probes)],
    }
    return out


def _message(outcome: str | None, lo: float | None, hi: float | None, settings: SearchSettings,
             at: dict[str, Any] | None) -> str:
    if outcome == NO_RATE:
        return (f"no rate meets the SLO: the lowest probe ({hi:.4g} req/s, {settings.max_halvings} halvings below "
                "the saturation estimate) already violates it")
    if outcome == UNSATURATED:
        why = ("the requests arrive faster than they complete" if at is not None and not at["steady"]
               else f"the last of {settings.max_doublings} doublings")
        return (f"the search cannot saturate the system within the request budget ({settings.requests} requests): "
                f"the SLOs still hold at {lo:.4g} req/s ({why}); the capacity is at least that (raise --requests)")
    text = f"capacity {lo:.4g} req/s (the next probe, {hi:.4g} req/s, violates)"
    if at is not None and not at["steady"]:
        text += ("; the capacity probe did not reach steady state (window shorter than the mean latency): "
                 "raise --requests")
    return text


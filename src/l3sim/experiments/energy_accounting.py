"""Energy of a finished run, from its metrics: the post-run side of the energy model (docs/energy.md).

``l3sim.hw.energy`` prices work (``energy_breakdown(spec, work, model)``); this module finds that work in a
run's metrics (``RunResult.to_dict()`` or a results-store row), drawing the served requests again from the
spec when the caller has not kept their lengths, and takes the energy model from the system's registry
entry. Redrawing requests is workload business and a system's entry is serving business, so this sits above
both, in ``experiments``.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np

from l3sim.errors import ConfigError
from l3sim.hw.energy import EnergyBreakdown, RunWork, decode_histogram, energy_breakdown
from l3sim.serving.systems import system_entries, system_entry
from l3sim.spec.energy import EnergySpec
from l3sim.spec.run import RunSpec
from l3sim.workload import load_requests


def _get(metrics: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """``metrics[key]``, also when nested (``aggregates`` dict) or flattened (``aggregates.fc_flops``)."""
    if key in metrics:
        return metrics[key]
    head, _, rest = key.partition(".")
    inner = metrics.get(head)
    if rest and isinstance(inner, Mapping):
        return inner.get(rest, default)
    return default


def served_lengths(spec: RunSpec, metrics: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Prompt and output lengths of the requests the run served: ``spec``'s draw (same seed) less
    ``never_fit_ids``."""
    never = _get(metrics, "never_fit_ids", []) or []
    if isinstance(never, str):
        never = json.loads(never)
    skip = set(int(i) for i in never)
    requests = [r for r in load_requests(spec.workload, spec.requests, spec.seed, spec.arrival) if r.id not in skip]
    return (np.array([r.prompt_tokens for r in requests], dtype=np.int64),
            np.array([r.output_tokens for r in requests], dtype=np.int64))


def run_work(spec: RunSpec, metrics: Mapping[str, Any], prompt_tokens=None, output_tokens=None) -> RunWork:
    """The work of a finished run from its metrics and the served requests' lengths.

    ``prompt_tokens``/``output_tokens``: the served requests' lengths; without them the requests are drawn
    again from ``spec`` (``served_lengths``).
    """
    if _get(metrics, "oom"):
        raise ConfigError(f"run of {spec.system!r} did not fit (OOM): it has no energy")
    makespan = float(_get(metrics, "makespan_s", float("nan")))
    if not np.isfinite(makespan) or makespan <= 0:
        raise ConfigError(f"run of {spec.system!r}: makespan_s must be a positive number, got {makespan}")
    if prompt_tokens is None or output_tokens is None:
        prompt_tokens, output_tokens = served_lengths(spec, metrics)
    prompt = np.asarray(prompt_tokens, dtype=np.int64)
    contexts, counts = decode_histogram(prompt, output_tokens)
    output = int(np.sum(output_tokens))
    recorded = _get(metrics, "output_tokens")
    if recorded is not None and int(recorded) != output:
        raise ConfigError(f"run of {spec.system!r}: output_tokens {recorded} differs from the served requests' "
                          f"{output}: metrics and request lengths are from different runs")
    prefill = _get(metrics, "aggregates.prefill_tokens")
    passes = _get(metrics, "aggregates.fc_passes", _get(metrics, "iterations"))
    if passes is None:
        raise ConfigError(f"run of {spec.system!r}: metrics lack 'iterations' (needed for weight reads)")
    pairs = float(np.sum(prompt * (prompt + 1.0) / 2.0))
    return RunWork(contexts, counts, int(prefill if prefill is not None else prompt.sum()), pairs, output,
                   int(passes), makespan)


def run_energy(spec: RunSpec, metrics: Mapping[str, Any], energy: EnergySpec | None = None, *,
               prompt_tokens=None, output_tokens=None) -> EnergyBreakdown:
    """Energy of the finished run of ``spec`` whose metrics are ``metrics`` (``RunResult.to_dict()``).

    ``prompt_tokens``/``output_tokens``: the served requests' lengths (drawn again from ``spec`` if omitted).
    FC FLOPs come from the run's ``aggregates.fc_flops`` when present, else from the model and token counts.
    """
    model = system_entry(spec.system).energy
    if model is None:
        known = [e.name for e in system_entries() if e.energy is not None]
        raise ConfigError(f"no energy model for system {spec.system!r}; known: {', '.join(known)}")
    work = run_work(spec, metrics, prompt_tokens, output_tokens)
    return energy_breakdown(spec, work, model, energy, _get(metrics, "aggregates.fc_flops"))


def result_energy(spec: RunSpec, result, energy: EnergySpec | None = None) -> EnergyBreakdown:
    """Energy of a ``RunResult`` of ``spec``, from its served requests' lengths."""
    table = result.requests_table
    served = table[table["status"] == "served"]
    return run_energy(spec, result.to_dict(), energy, prompt_tokens=served["prompt_tokens"].to_numpy(),
                      output_tokens=served["output_tokens"].to_numpy())

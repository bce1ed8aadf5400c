"""Many capacity searches at once, every probe through the study's results store (resumable).

Each configuration (a RunSpec without its arrival) gets a saturation estimate from an offline run
(``run_grid``, so it is stored like any study point), a set of fixed curve probes at fractions of it,
and a :class:`~l3sim.experiments.capacity.CapacitySearch` started there. The searches advance in
lockstep: each round collects every search's next rate, runs the probes not yet known (one store
point per seed, run function :func:`~l3sim.experiments.capacity_run.probe_point`) through the
executor together, and records the verdicts. A rerun finds every probe in the store and replays the
same decisions without simulating.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from l3sim.experiments.capacity import CapacitySearch, SearchSettings, combine_seeds
from l3sim.experiments.capacity_run import capacity_summary, probe_point, probe_spec, saturation_from
from l3sim.experiments.runner import run_fn_name, run_missing
from l3sim.experiments.store import STATUS_COL, spec_hash
from l3sim.experiments.studies.base import StudyOptions
from l3sim.serving.slo import SLOTarget
from l3sim.spec.run import RunSpec, build_run_spec


@dataclass
class Config:
    """One searched configuration: its labels, base spec and what the search found."""

    labels: dict[str, Any]
    base: RunSpec
    saturation: float = math.nan
    error: str = ""
    probes: dict[float, dict[str, Any]] = field(default_factory=dict)
    search: CapacitySearch | None = None


def saturation_estimates(options: StudyOptions, configs: list[Config], requests: int) -> None:
    """Each config's r_sat from a stored offline run of ``requests`` requests (seed 0); errors noted."""
    from l3sim.experiments.studies.points import Grid, run_grid

    base = {"platform": configs[0].base.platform.name, "arrival": "offline", "seed": 0, "requests": requests}
    zipped = {key: [c.labels[key] for c in configs] for key in ("system", "scheduler", "model", "workload")}
    table = run_grid("serving", options, Grid(base, {}, (zipped,)))
    for config, (_, row) in zip(configs, table.iterrows()):
        if row[STATUS_COL] != "ok":
            config.error = str(row.get("error", "")) or row[STATUS_COL]
        elif bool(row.get("oom", False)):
            config.error = f"does not fit: {row.get('oom_reason', '')}"
        else:
            config.saturation = saturation_from(row.to_dict())


def run_probes(options: StudyOptions, wanted: list[tuple[Config, float]], targets: tuple[SLOTarget, ...],
               settings: SearchSettings) -> None:
    """Run (or read back) every seed of each (config, rate) probe; store the combined probe in the config."""
    name = run_fn_name(probe_point)
    specs: dict[str, dict[str, Any]] = {}
    keys: list[tuple[Config, float, list[str]]] = []
    for config, rate in wanted:
        seed_keys = []
        for seed in range(settings.seeds):
            spec = probe_spec(config.base, _arrival(rate), seed, targets, settings)
            key = spec_hash(spec, name)
            specs[key] = spec
            seed_keys.append(key)
        keys.append((config, rate, seed_keys))
    if not specs:
        return
    store, _, crashed = run_missing(specs, options.store_dir, probe_point, backend=options.backend,
                                    address=options.address, jobs=options.jobs, progress=options.progress)
    table = store.read(specs)
    for config, rate, seed_keys in keys:
        missing = [k for k in seed_keys if k not in table.index]
        bad = [k for k in seed_keys if k in table.index and table.loc[k, STATUS_COL] != "ok"]
        if missing or bad:
            config.error = crashed.get(missing[0], "not run") if missing else str(table.loc[bad[0], "error"])
            continue
        config.probes[rate] = combine_seeds(rate, [table.loc[k].to_dict() for k in seed_keys])


def _arrival(rate: float) -> str:
    return f"poisson:{rate!r}"


def run_searches(options: StudyOptions, configs: list[Config], targets: tuple[SLOTarget, ...],
                 settings: SearchSettings, curve_fractions: tuple[float, ...]) -> None:
    """Curve probes at ``curve_fractions`` of each config's r_sat, then every search to its outcome."""
    live = [c for c in configs if not c.error]
    run_probes(options, [(c, c.saturation * f) for c in live for f in curve_fractions], targets, settings)
    for config in live:
        if not config.error:
            config.search = CapacitySearch(config.saturation, settings)
    while True:
        wanted = []
        for config in configs:
            if config.error or config.search is None:
                continue
            while (rate := config.search.next_rate()) is not None and rate in config.probes:
                config.search.record(rate, config.probes[rate]["met"], config.probes[rate]["steady"])
            if rate is not None:
                wanted.append((config, rate))
        if not wanted:
            return
        run_probes(options, wanted, targets, settings)


def summaries(configs: list[Config], targets: tuple[SLOTarget, ...], settings: SearchSettings) -> pd.DataFrame:
    """One capacity row per config that searched (``capacity_summary`` without the probe list)."""
    rows = []
    for config in configs:
        if config.search is None or config.error:
            continue
        s = config.search
        summary = capacity_summary(config.base, targets, settings, config.saturation, s.outcome, s.lo, s.hi,
                                   config.probes)
        summary.pop("probes")
        rows.append({**config.labels, **{k: v for k, v in summary.items() if k not in config.labels}})
    return pd.DataFrame(rows)


def base_spec(options: StudyOptions, labels: dict[str, Any], platform: str, requests: int) -> RunSpec:
    """The RunSpec of one configuration (arrival and seed are the probes')."""
    fields = {**options.spec_fields, "requests": requests, "platform": platform}
    return build_run_spec([], **fields, **{k: labels[k] for k in ("system", "scheduler", "model", "workload")})

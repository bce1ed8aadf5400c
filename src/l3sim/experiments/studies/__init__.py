"""The paper's evaluation as named studies: ``l3sim reproduce STUDY``.

Each entry of :data:`STUDIES` maps a name to a one-line help and the
``"module:function"`` of a study function ``(StudyOptions) -> StudyResult``
(see :mod:`l3sim.experiments.studies.base`); the module is imported only when
the study runs, so a study whose module is absent (being written) fails alone,
with a clear error, and ``all`` reports it and goes on.
"""

from __future__ import annotations

import importlib

from l3sim.errors import ConfigError, MissingDependencyError
from l3sim.experiments.studies.base import StudyOptions, StudyResult

STUDIES: dict[str, tuple[str, str]] = {
    "e2e": (
        "Throughput of every system, model and long-output trace, normalised to GPU-only (paper Fig. 10).",
        "l3sim.experiments.studies.e2e:e2e_study",
    ),
    "breakdown": (
        "Batch size, throughput and latency per batch at 20-100 % of each system's KV capacity (OpenR1).",
        "l3sim.experiments.studies.breakdown:breakdown_study",
    ),
    "scalability": (
        "L3 from 1 rankset (512 GiB) to 8x: bandwidth only, capacity only, both (OpenR1).",
        "l3sim.experiments.studies.scalability:scalability_study",
    ),
    "scheduler": (
        "Capacity-first versus the L3 scheduler at 1x, 1.5x, 2x DIMM capacity: throughput and TBT.",
        "l3sim.experiments.studies.scheduler:scheduler_study",
    ),
    "pcie": (
        "PCIe overhead of fixed batches with and without rankset overlap.",
        "l3sim.experiments.studies.pcie:pcie_study",
    ),
    "hw-ablation": (
        "Attention latency of each PIM hardware variant, normalised to cpu-relayout (paper section VI).",
        "l3sim.experiments.studies.hw_ablation:hw_ablation_reproduce",
    ),
    "energy": (
        "Energy per output token split into GPU FC, attention and background (GPT-175B, OpenR1).",
        "l3sim.experiments.studies.energy:energy_study",
    ),
    "account": (
        "Where the time goes: each system's bound and losses on GPT-175B / OpenR1 (the compare --explain account).",
        "l3sim.experiments.studies.account:account_study",
    ),
    "reconcile": (
        "From our realistic assumptions to the paper's, one group at a time: L3 and HBM-PIM over GPU-only.",
        "l3sim.experiments.studies.reconcile:reconcile_study",
    ),
    "serving": (
        "Beyond the paper: p50/p99 TTFT and TBT against request rate, capacity under an SLO pair (OpenR1, LongBench).",
        "l3sim.experiments.studies.serving:serving_study",
    ),
}

#: The pseudo-study that runs every study of the paper in :data:`STUDIES` order.
ALL = "all"
#: Studies beyond the paper: in the report when run, but run by name only (not part of ``all``).
BEYOND_PAPER = ("serving",)


def study_names() -> list[str]:
    """Names ``l3sim reproduce`` accepts, in report order, then ``all``."""
    return [*STUDIES, ALL]


def expand(name: str) -> list[str]:
    """The studies ``name`` stands for (``all``: every one); ConfigError naming the known ones otherwise."""
    if name == ALL:
        return [study for study in STUDIES if study not in BEYOND_PAPER]
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; known: {', '.join(study_names())}")
    return [name]


def _module(name: str):
    """The module of a registered study; MissingDependencyError when it is not in this build."""
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; known: {', '.join(study_names())}")
    module_name = STUDIES[name][1].split(":")[0]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise MissingDependencyError(f"study {name!r}: its module {module_name} is not in this build") from None


def run_study(name: str, options: StudyOptions) -> StudyResult:
    """Run one registered study; MissingDependencyError when its module is not in this build."""
    return getattr(_module(name), STUDIES[name][1].split(":")[1])(options)


def prefetch_studies(names: list[str], options: StudyOptions) -> None:
    """Run the serving runs of every study of ``names`` whose module lists them (a ``grids(options)`` function,
    see ``points.Grid``) in one pass (``points.prefetch``), before the studies themselves read them back. A study
    whose module is missing is left to ``run_study`` to report."""
    from l3sim.experiments.studies.points import prefetch

    grids = []
    for name in names:
        try:
            module = _module(name)
        except MissingDependencyError:
            continue
        if hasattr(module, "grids"):
            grids.extend((name, grid) for grid in module.grids(options))
    prefetch(grids, options)


__all__ = ["ALL", "STUDIES", "StudyOptions", "StudyResult", "expand", "prefetch_studies", "run_study",
           "study_names"]

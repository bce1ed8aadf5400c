"""The serving study's lockstep capacity searches (issue 15 item 3): probes through the store, resumable."""

from __future__ import annotations

from l3sim.experiments.capacity import SearchSettings
from l3sim.experiments.studies.base import StudyOptions
from l3sim.experiments.studies.serving_search import Config, base_spec, run_searches, saturation_estimates, summaries
from l3sim.serving.slo import parse_slo

SETTINGS = SearchSettings(requests=20, seeds=1, rel_tol=0.3, max_doublings=2, max_halvings=2)
TARGETS = parse_slo("ttft_p99=1s,tbt_p99=40ms")
LABELS = {"label": "gpu-only", "system": "gpu-only", "scheduler": "continuous", "model": "qwen-72b",
          "workload": "dolphin-short"}


def _search(options: StudyOptions) -> Config:
    config = Config(dict(LABELS), base_spec(options, LABELS, "dgx-a100", SETTINGS.requests))
    saturation_estimates(options, [config], SETTINGS.requests)
    run_searches(options, [config], TARGETS, SETTINGS, (1.0,))
    return config


def test_a_rerun_replays_every_probe_from_the_store(tmp_path):
    options = StudyOptions(tmp_path, backend="serial", progress=False, requests=SETTINGS.requests)
    first = _search(options)
    parts = sorted(p.name for p in (tmp_path / "store" / "parts").iterdir())
    assert not first.error and first.search.outcome is not None
    assert first.saturation in first.probes  # the search starts at the saturation estimate, a curve point
    assert len(parts) == len(first.probes) + 1  # one part per probe seed, plus the offline run
    again = _search(options)
    assert sorted(p.name for p in (tmp_path / "store" / "parts").iterdir()) == parts  # nothing ran again
    assert again.probes == first.probes
    [row] = summaries([again], TARGETS, SETTINGS).to_dict(orient="records")
    assert row["label"] == "gpu-only" and row["outcome"] == again.search.outcome
    assert row["gpus"] == 8 and row["dimms"] == 0
    met = [rate for rate, probe in again.probes.items() if probe["met"]]
    assert row["rate_req_s"] == (max(met) if met else 0.0)

"""Each scheduler's own settings section (RunSpec.schedulers): every L3 knob reaches the L3 scheduler from
--set, the old ``serving.l3_regroup`` still reads, and schedulers without settings are built as before."""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.errors import ConfigError
from l3sim.serving.engine import Engine
from l3sim.serving.kvstore import KVStore
from l3sim.serving.schedulers import build_scheduler
from l3sim.serving.state import RequestTable
from l3sim.serving.systems import build_system
from l3sim.spec.run import build_run_spec

SETTINGS = {"regroup": "never", "min_chunk_tokens": 32, "training_samples": 60, "training_seed": 3,
            "forest_trees": 3, "gpu_refit_every": 7, "pim_refit_every": 11}


def _spec(*overrides: str):
    return build_run_spec(["serving.kv_capacity_fraction=0.02", *overrides], platform="dgx-a100",
                          model="gpt-175b", workload="openr1", system="l3", requests=12)


def test_every_l3_setting_reaches_the_scheduler_from_set():
    spec = _spec(*(f"schedulers.l3.{k}={v}" for k, v in SETTINGS.items()))
    scheduler = build_scheduler("l3", spec.serving, build_system(spec), spec.schedulers)
    assert {k: getattr(scheduler.config, k) for k in SETTINGS} == SETTINGS
    assert scheduler.regroup == "never" and scheduler.min_chunk_tokens == 32


def test_training_settings_shape_the_trained_predictors(monkeypatch):
    """The predictors the scheduler trains at its first plan use the section's sample count, seed, forest
    size and refit cadences (the train call is spied on; the run itself goes on with what it returns)."""
    import l3sim.serving.predictors.training as training

    calls = []
    real = training.train

    def spy(times, ranges, count, seed, **kwargs):
        calls.append((count, seed, kwargs))
        return real(times, ranges, count, seed, **kwargs)

    monkeypatch.setattr(training, "train", spy)
    spec = _spec(*(f"schedulers.l3.{k}={v}" for k, v in SETTINGS.items()))
    system = build_system(spec)
    kv = KVStore.from_bytes(system.kv_capacity_bytes * 0.02, system.kv_bytes_per_token, 16, 0.01, "prompt")
    engine = Engine(system, build_scheduler("l3", spec.serving, system, spec.schedulers), kv)
    rng = np.random.default_rng(0)
    table = RequestTable(ids=np.arange(6), arrival_s=np.zeros(6), prompt_tokens=rng.integers(50, 400, 6),
                         output_tokens=rng.integers(20, 200, 6))
    engine.run(table)
    assert calls == [(60, 3, {"gpu_refit_every": 7, "pim_refit_every": 11, "gpu_trees": 3})]
    gpu = engine.scheduler.predictor.gpu
    assert gpu.n_estimators == 3 and gpu.refit_every == 7 and engine.scheduler.predictor.pim.refit_every == 11


def test_defaults_are_the_documented_ones():
    l3 = build_run_spec(platform="dgx-a100", model="gpt-175b", workload="openr1").schedulers.l3
    assert (l3.regroup, l3.min_chunk_tokens, l3.training_samples, l3.training_seed, l3.forest_trees,
            l3.gpu_refit_every, l3.pim_refit_every) == ("decision", 16, 1000, 0, 20, 4000, 1000)


def test_the_old_serving_l3_regroup_reads_as_the_new_field():
    """An older result file's resolved spec (serving.l3_regroup, no schedulers section) and --set with the
    old name both set schedulers.l3.regroup; the serving section keeps no such field."""
    spec = _spec('serving.l3_regroup="never"')
    assert spec.schedulers.l3.regroup == "never" and "l3_regroup" not in spec.serving.model_dump()
    old = spec.model_dump(mode="json")
    del old["schedulers"]
    old["serving"]["l3_regroup"] = "never"
    assert type(spec).parse(old).schedulers.l3.regroup == "never"


@pytest.mark.parametrize("field, value", [("min_chunk_tokens", 0), ("training_samples", 0), ("forest_trees", 0),
                                          ("regroup", '"sometimes"')])
def test_bad_settings_are_config_errors_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=f"schedulers.l3.{field}"):
        _spec(f"schedulers.l3.{field}={value}")


@pytest.mark.parametrize("name", ["continuous", "subbatch", "capacity-first"])
def test_schedulers_without_settings_ignore_the_section(name):
    spec = _spec("schedulers.l3.regroup=never")
    scheduler = build_scheduler(name, spec.serving, build_system(spec), spec.schedulers)
    assert scheduler.name == name and not hasattr(scheduler, "config")

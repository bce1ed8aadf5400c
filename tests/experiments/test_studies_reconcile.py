"""The reconcile study: its steps lead from the realistic profile to the paper profile, one group at a time."""

from __future__ import annotations

import math

import pytest

from l3sim.experiments.studies import StudyOptions, run_study
from l3sim.experiments.studies import reconcile
from l3sim.spec.assumptions import flatten_settings
from l3sim.spec.run import build_run_spec

FIELDS = {"platform": "dgx-a100", "model": "qwen-72b", "workload": "openr1"}


def _flat(spec) -> dict:
    return flatten_settings(spec.model_dump(mode="json"))


def test_the_last_step_is_the_paper_profile() -> None:
    changes = reconcile.profile_changes()
    final = build_run_spec(reconcile.step_overrides(changes, len(reconcile.STEPS), set()), **FIELDS,
                           assumptions="realistic")
    paper = build_run_spec(**FIELDS, assumptions="paper")
    differ = {k for k, v in _flat(final).items() if _flat(paper)[k] != v}
    assert differ == {"assumptions"}  # only the label: every setting of the paper profile is reached


def test_each_step_switches_only_its_own_group() -> None:
    changes = reconcile.profile_changes()
    assert changes[0] == {"platform.host_link.bw_bytes_per_s": 32e9}  # Table I's 32 GB/s
    assert changes[3] == {"serving.kv_reservation": "full"}
    for (label, prefixes), group in zip(reconcile.STEPS, changes):
        for key in group:
            assert reconcile._group(key) == reconcile.STEPS.index((label, prefixes))
    assert reconcile.step_overrides(changes, 1, set()) == ["platform.host_link.bw_bytes_per_s=32000000000.0"]


def test_a_setting_outside_every_group_is_an_error() -> None:
    with pytest.raises(ValueError, match="model.layers"):
        reconcile._group("model.layers")


def test_reconcile_table(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(reconcile, "MODELS", ["opt-66b"])
    table = run_study("reconcile", StudyOptions(tmp_path, backend="serial", progress=False, requests=2)).table
    assert list(table["step"]) == list(range(len(reconcile.STEPS) + 1))
    row = table.iloc[0]
    assert row["l3_over_gpu"] == pytest.approx(row["l3_tok_s"] / row["gpu-only_tok_s"])
    # A step whose group the profiles agree on runs the previous step's points again: same ratios.
    for step, group in enumerate(reconcile.profile_changes(), start=1):
        if not group:
            assert table.iloc[step]["changed"] == "(no change)"
            before, now = table.iloc[step - 1]["l3_over_gpu"], table.iloc[step]["l3_over_gpu"]
            assert before == now or (math.isnan(before) and math.isnan(now))

"""Speed of the workload layer: the whole Azure conv trace to Requests, and 1000 synthetic requests.

Run: .venv/bin/pytest benchmarks/bench_workload.py --benchmark-enable
Targets: the Azure conv trace (19,366 rows) must load well inside the 10 s
budget of a whole-trace simulation (aim: < 0.2 s); 1000 openr1 requests < 10 ms.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from l3sim.spec.presets import load_preset_data
from l3sim.spec.workload import WorkloadSpec
from l3sim.workload import load_requests, workload_from_trace_path

AZURE_CONV = Path(__file__).resolve().parents[2] / "shared" / "traces" / "AzureLLMInferenceTrace_conv.csv"


def test_bench_load_azure_conv_trace(benchmark) -> None:
    if not AZURE_CONV.is_file():
        pytest.skip("../shared/traces is absent")
    workload = workload_from_trace_path(str(AZURE_CONV))
    requests = benchmark(load_requests, workload, None, 0, "trace")
    assert len(requests) == 19_366


def test_bench_sample_1000_openr1(benchmark) -> None:
    workload = WorkloadSpec.parse(load_preset_data("workloads", "openr1")[0])
    requests = benchmark(load_requests, workload, 1000, 0, "offline")
    assert len(requests) == 1000

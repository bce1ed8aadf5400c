"""docs/extending.md's worked examples, run exactly as the page prints them.

Each block after an ``<!-- example: NAME -->`` marker is executed as a module; the system and scheduler are
registered the way the page tells code outside the package to (``register_system``, ``register_scheduler``),
with the registries restored afterwards, and then served; the trace format reads a BurstGPT-shaped file.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from l3sim.errors import ConfigError
from l3sim.hw.roofline import roofline
from l3sim.serving import simulate
from l3sim.serving.schedulers import SCHEDULERS, register_scheduler
from l3sim.serving.systems import SYSTEMS, register_system, roofline_devices, system_names
from l3sim.spec.run import build_run_spec
from l3sim.workload import load_requests, workload_from_trace_path
from l3sim.workload.formats import TRACE_FORMATS

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def example(name: str, monkeypatch) -> types.ModuleType:
    """The code block after ``<!-- example: name -->`` in docs/extending.md, executed as a fresh module."""
    match = re.search(rf"<!-- example: {re.escape(name)} -->\s*```python\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"docs/extending.md has no '{name}' example"
    module = types.ModuleType(f"extending_example_{name.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # dataclasses look their module up
    exec(compile(match.group(1), f"{DOC}:{name}", "exec"), module.__dict__)
    return module


@pytest.fixture
def registries():
    """The registries as they are now, restored after the test (so an example never leaks into another)."""
    saved = [(registry, dict(registry)) for registry in (SYSTEMS, SCHEDULERS, TRACE_FORMATS)]
    yield
    for registry, items in saved:
        registry.clear()
        registry.update(items)


def test_the_example_system_registers_and_serves(registries, monkeypatch):
    module = example("system", monkeypatch)
    for entry in module.ENTRIES:
        register_system(entry)
    assert "cxl-offload" in system_names()
    spec = build_run_spec(platform="dgx-a100", model="gpt-175b", workload="openr1", system="cxl-offload",
                          requests=12)
    result = simulate(spec)
    assert result.system == "cxl-offload" and result.scheduler == "subbatch"
    assert result.requests_served == 12 and result.throughput_tok_s > 0
    # its roofline device: 4 x 64 GB/s streamed once per step over the KV bytes of the context
    context = 8192
    curves = roofline(spec, context, roofline_devices(["cxl"]))
    summary = curves.summary(curves.devices[0])
    assert summary["attention_roof_tok_s"] == pytest.approx(4 * 64e9 / (spec.model.kv_bytes_per_token * context))
    assert summary["max_batch"] == int(4 * 256e9 // (spec.model.kv_bytes_per_token * context))
    with pytest.raises(ConfigError, match="already registered"):
        register_system(module.ENTRIES[0])


def test_the_example_scheduler_halves_the_budget_and_observes(registries, monkeypatch):
    module = example("scheduler", monkeypatch)
    register_scheduler(module.HalfBudget)
    spec = build_run_spec(platform="dgx-a100", model="llama-2-7b", workload="dolphin-short", requests=8,
                          scheduler="half-budget", parallel={"tp": 1, "dp": 1})
    scheduler = module.HalfBudget(spec.serving)
    assert scheduler.max_batch_tokens == spec.serving.max_batch_tokens // 2
    result = simulate(spec)
    assert result.scheduler == "half-budget" and result.requests_served == 8
    with pytest.raises(ConfigError, match="already registered"):
        register_scheduler(module.HalfBudget)


def test_the_example_trace_format_reads_a_burstgpt_file(registries, monkeypatch, tmp_path):
    example("trace-format", monkeypatch)
    trace = tmp_path / "burstgpt.csv"
    trace.write_text("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                     "5,ChatGPT,472,18,490,Conversation log\n"
                     "45,GPT-4,1087,230,1317,API log\n"
                     "118,ChatGPT,417,276,693,Conversation log\n")
    workload = workload_from_trace_path(str(trace))
    assert workload.kind == "trace"
    requests = load_requests(workload, None, 0, "trace")
    assert [(r.prompt_tokens, r.output_tokens) for r in requests] == [(472, 18), (1087, 230), (417, 276)]
    arrivals = [r.arrival_s for r in requests]
    assert np.allclose(np.diff(arrivals), [40.0, 73.0])  # the Timestamp column, in seconds

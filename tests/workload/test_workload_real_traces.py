"""The loaders on the real traces in ../shared/traces: row counts and figures from its README."""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.workload import load_requests, read_trace, workload_from_trace_path

pytestmark = pytest.mark.shared

# file -> (format the loader should infer, rows), from ../shared/traces/README.md
TRACES = {
    "AzureLLMInferenceTrace_conv.csv": ("azure", 19_366),
    "AzureLLMInferenceTrace_code.csv": ("azure", 8_819),
    "mooncake_conversation_trace.jsonl": ("mooncake", 12_031),
    "mooncake_synthetic_trace.jsonl": ("mooncake", 3_993),
}


@pytest.mark.parametrize("name", sorted(TRACES))
def test_row_count_and_inferred_format(shared_dir, name: str) -> None:
    path = shared_dir / "traces" / name
    fmt, rows = TRACES[name]
    workload = workload_from_trace_path(str(path))
    assert workload.kind == "trace" and workload.format == fmt and workload.name == path.stem
    requests = load_requests(workload, None, seed=0, arrival="trace")
    assert len(requests) == rows
    assert [r.id for r in requests] == list(range(rows))
    arrivals = np.array([r.arrival_s for r in requests])
    assert arrivals[0] == 0.0 and np.all(np.diff(arrivals) >= 0)
    # every README trace spans "about an hour" or less (mooncake synthetic: about 17 minutes)
    assert 600 < arrivals[-1] < 4000


@pytest.mark.parametrize(
    ("name", "median", "maximum"),
    [("AzureLLMInferenceTrace_conv.csv", 1020, 14050), ("AzureLLMInferenceTrace_code.csv", 1469, 7437)],
)
def test_azure_prompt_statistics_match_readme(shared_dir, name: str, median: int, maximum: int) -> None:
    table = read_trace(shared_dir / "traces" / name)
    assert np.median(table.prompt_tokens) == pytest.approx(median, abs=1)
    assert table.prompt_tokens.max() == maximum


def test_azure_timestamps_against_the_file_text(shared_dir) -> None:
    # first two rows: 18:15:46.6805900 and 18:15:50.9951690 -> 4.314579 s apart
    table = read_trace(shared_dir / "traces" / "AzureLLMInferenceTrace_conv.csv")
    assert table.arrival_s[1] - table.arrival_s[0] == pytest.approx(4.314579, abs=1e-6)
    assert (table.prompt_tokens[0], table.output_tokens[0]) == (374, 44)


def test_mooncake_conversation_prompt_mean(shared_dir) -> None:
    table = read_trace(shared_dir / "traces" / "mooncake_conversation_trace.jsonl")
    # README: prompt mean about 12K tokens; timestamps are milliseconds
    assert 10_000 < table.prompt_tokens.mean() < 14_000
    assert table.arrival_s.max() == pytest.approx(3536.999)


def test_sampling_a_trace_draws_distinct_rows(shared_dir) -> None:
    workload = workload_from_trace_path(str(shared_dir / "traces" / "AzureLLMInferenceTrace_code.csv"))
    table = read_trace(workload.path)
    requests = load_requests(workload, 500, seed=3, arrival="trace")
    full = {(p, o) for p, o in zip(table.prompt_tokens.tolist(), table.output_tokens.tolist())}
    assert len(requests) == 500
    assert all((r.prompt_tokens, r.output_tokens) in full for r in requests)
    assert requests == load_requests(workload, 500, seed=3, arrival="trace")
    assert requests != load_requests(workload, 500, seed=4, arrival="trace")

"""A public trace the docs use but l3sim does not ship: when it is missing, the error says where to get it."""

from __future__ import annotations

import pytest

from l3sim.errors import ConfigError
from l3sim.workload.trace import read_trace, workload_from_trace_path


@pytest.mark.parametrize(("name", "address"), [
    ("AzureLLMInferenceTrace_conv.csv", "github.com/Azure/AzurePublicDataset/raw/master/data/AzureLLMInferenceTrace_conv.csv"),
    ("mooncake_synthetic_trace.jsonl", "github.com/kvcache-ai/Mooncake/raw/main/FAST25-release/traces/synthetic_trace.jsonl"),
])
def test_a_missing_public_trace_names_its_download_address(tmp_path, name, address):
    for load in (workload_from_trace_path, read_trace):
        with pytest.raises(ConfigError) as caught:
            load(str(tmp_path / name))
        message = str(caught.value)
        assert f"trace file not found: {tmp_path / name}" in message and address in message
        assert "--trace FILE" in message


def test_another_missing_file_gets_the_plain_error(tmp_path):
    with pytest.raises(ConfigError) as caught:
        workload_from_trace_path(str(tmp_path / "mine.csv"))
    assert str(caught.value) == f"trace file not found: {tmp_path / 'mine.csv'}"


def test_a_public_trace_that_exists_but_cannot_be_read_is_not_sent_to_download(tmp_path):
    folder = tmp_path / "AzureLLMInferenceTrace_code.csv"
    folder.mkdir()
    with pytest.raises(ConfigError) as caught:
        workload_from_trace_path(str(folder))
    assert "download" not in str(caught.value)

"""Every command's output: tables that fit 80 columns, CSV that reads back as the JSON, Markdown pipe
tables, quiet progress (issue 13 items 1 and 4), and ``l3sim presets show`` (item 3)."""

from __future__ import annotations

import io
import json
import math
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

import l3sim.cli.output as output_module
from l3sim.cli import app
from l3sim.cli.output import Output
from l3sim.spec.assumptions import flatten_settings

WIDTH = 80
RUNNER = CliRunner()

#: Fast invocations of every command that prints a table (validate gpu needs ../shared, below).
TABLE_COMMANDS = [
    ["presets"],
    ["presets", "show", "dgx-a100"],
    ["presets", "show", "paper"],
    ["gpu", "step", "--batch", "8", "--context", "1024"],
    ["roofline", "--context", "8192"],
    ["hw"],
    ["verify", "layout"],
    ["run", "--requests", "20"],
    ["run", "--requests", "20", "--explain", "--slo", "ttft_p99=10s"],
    ["compare", "--systems", "gpu-only,hbm-pim-ext,cpu-offload,l3", "--requests", "10", "--slo", "tbt_p99=1s"],
    ["capacity", "--system", "gpu-only", "--slo", "ttft_p99=10s", "--requests", "10", "--seeds", "1"],
]


def invoke(args: list[str], **env: str):
    result = RUNNER.invoke(app, args, env={"COLUMNS": str(WIDTH), **env})
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result


def assert_fits(text: str, what: str) -> None:
    """No line wider than WIDTH, no cell cut short with an ellipsis."""
    assert text.strip(), f"{what}: nothing printed"
    too_wide = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not too_wide, f"{what}: {len(too_wide)} line(s) wider than {WIDTH}: {too_wide[0]!r}"
    assert "…" not in text, f"{what}: a cell was cut short"


@pytest.mark.parametrize("args", TABLE_COMMANDS, ids=" ".join)
def test_every_table_fits_80_columns_by_default(args):
    assert_fits(invoke(args).stdout, " ".join(args))


def test_validate_gpu_fits_80_columns(shared_dir):
    assert_fits(invoke(["validate", "gpu", "--profiles", str(shared_dir / "profiles/vidur-a100")]).stdout,
                "validate gpu")


def _wide_rows() -> list[dict]:
    """Fourteen columns of long numbers: about 170 characters wide."""
    return [{f"col{c:02}": 1.0 / (7 + r + c) for c in range(14)} | {"name": f"row-{r}"} for r in range(5)]


def _render(output_of, **options) -> str:
    buffer = io.StringIO()
    output_of(Output(console=Console(file=buffer, width=WIDTH), **options))
    return buffer.getvalue()


def test_a_wide_table_keeps_its_leading_columns_and_names_the_rest():
    rows = _wide_rows()
    columns = ["name", *(f"col{c:02}" for c in range(14))]
    text = _render(lambda out: out.rows("t", rows, columns))
    assert_fits(text, "wide table")
    header = text.splitlines()[1].split()
    assert header == columns[: len(header)] and 1 < len(header) < len(columns)
    assert ", ".join(columns[len(header):]) in " ".join(text.split()), "the hidden columns are named"
    [last_row] = [line for line in text.splitlines() if line.startswith("row-4")]
    assert last_row.split()[-1] == f"{rows[4][header[-1]]:.4g}"
    wide = _render(lambda out: out.rows("t", rows, columns), wide=True)
    assert wide.splitlines()[1].split() == columns and "…" not in wide
    assert f"{rows[4]['col13']:.4g}" in wide


def test_rich_markup_in_values_is_printed_as_is():
    text = _render(lambda out: out.mapping("t", {"section": "[base]", "[red]x[/red]": 1}))
    assert "[base]" in text and "[red]x[/red]" in text


def test_format_json_and_json_flag_print_the_same():
    args = ["gpu", "step", "--batch", "8", "--context", "1024"]
    assert json.loads(invoke(args + ["--json"]).stdout) == json.loads(invoke(args + ["--format", "json"]).stdout)


def test_an_unknown_format_and_a_clash_with_json_are_errors():
    unknown = RUNNER.invoke(app, ["hw", "--format", "xml"])
    assert unknown.exit_code != 0 and "table | csv | json | markdown" in str(unknown.exception)
    clash = RUNNER.invoke(app, ["hw", "--json", "--format", "csv"])
    assert clash.exit_code != 0 and "--json and --format csv" in str(clash.exception)


def _lookup(obj, dotted: str):
    for part in dotted.split("."):
        obj = obj[part]
    return obj


def assert_same_value(cell, expected, where: str) -> None:
    """A CSV cell (as pandas read it) holds the JSON value: lists as JSON text, null (and "") as an empty cell."""
    if expected is None or expected == "":
        assert cell is None or (isinstance(cell, float) and math.isnan(cell)), where
    elif isinstance(expected, list):
        assert json.loads(cell) == expected, where
    elif isinstance(expected, bool):
        assert cell in (expected, str(expected)), where
    elif isinstance(expected, (int, float)):
        assert float(cell) == pytest.approx(expected, rel=1e-12, abs=0), where
    else:
        assert str(cell) == str(expected), where


CSV_COMMANDS = [
    ["gpu", "step", "--batch", "8", "--context", "1024"],
    ["run", "--requests", "20", "--slo", "ttft_p99=10s"],
    ["compare", "--systems", "gpu-only,l3", "--requests", "10"],
    ["roofline", "--context", "8192"],
    ["capacity", "--system", "gpu-only", "--slo", "ttft_p99=10s", "--requests", "10", "--seeds", "1"],
]


@pytest.mark.parametrize("args", CSV_COMMANDS, ids=" ".join)
def test_csv_reads_back_with_the_values_of_the_json(args):
    data = json.loads(invoke(args + ["--format", "json"]).stdout)
    table = pd.read_csv(io.StringIO(invoke(args + ["--format", "csv"]).stdout), keep_default_na=False,
                        na_values=[""])
    records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    if isinstance(data, list):
        expected_rows = [(row, None) for row in data]
    elif "section" in table.columns:
        counters: dict[str, int] = {}
        expected_rows = []
        for record in records:
            section = record["section"]
            index = counters[section] = counters.get(section, -1) + 1
            expected_rows.append((data if section == "summary" else data[section][index], section))
    else:
        expected_rows = [(data, None)]
    assert len(records) == len(expected_rows)
    checked = 0
    for record, (expected, section) in zip(records, expected_rows):
        for column, cell in record.items():
            if column == "section":
                continue
            try:
                value = _lookup(expected, column)
            except (KeyError, TypeError):  # a column of another section
                assert cell is None, f"{section}.{column}: {cell!r} where the JSON has nothing"
                continue
            if section == "summary" and isinstance(value, list) and value and isinstance(value[0], dict):
                continue
            assert_same_value(cell, value, f"{' '.join(args)}: {section}.{column}")
            checked += 1
    assert checked >= len(records)


def assert_pipe_tables(text: str) -> int:
    """Every block of lines starting with '|' is a pipe table: header, ---| separator, rows of as many cells."""
    blocks, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    for block in blocks:
        assert all(line.endswith("|") for line in block), block[0]
        cells = [len(line.replace(r"\|", "").split("|")) - 2 for line in block]
        assert len(set(cells)) == 1 and cells[0] >= 1, block
        assert set(block[1].replace("|", "")) == {"-"}, f"separator row: {block[1]}"
        assert len(block) >= 3, "a header, the separator and at least one row"
    return len(blocks)


def test_markdown_is_valid_pipe_tables():
    compare = invoke(["compare", "--systems", "gpu-only,l3", "--requests", "10", "--explain", "--format",
                      "markdown"]).stdout
    assert assert_pipe_tables(compare) == 2
    assert "| system |" in compare and "tbt p99 ms" in compare.splitlines()[2]
    assert assert_pipe_tables(invoke(["presets", "show", "gpt-175b", "--format", "markdown"]).stdout) == 1
    assert assert_pipe_tables(_render(lambda out: out.rows("t", [{"a": "x|y", "b": 1}]), fmt="markdown")) == 0


def test_markdown_escapes_a_pipe_in_a_cell(capsys):
    Output("markdown").rows("t", [{"a": "x|y", "b": 1}])
    text = capsys.readouterr().out
    assert assert_pipe_tables(text) == 1 and r"x\|y" in text


def test_compare_out_writes_the_table_as_csv_and_markdown(tmp_path):
    args = ["compare", "--systems", "gpu-only,l3", "--requests", "10"]
    printed = json.loads(invoke(args + ["--json", "--out", str(tmp_path / "cmp")]).stdout)
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv")
    assert list(table["system"]) == [row["system"] for row in printed]
    assert list(table["throughput_tok_s"]) == pytest.approx([row["throughput_tok_s"] for row in printed], rel=1e-12)
    assert assert_pipe_tables((tmp_path / "cmp" / "compare.md").read_text()) == 1
    assert not list((tmp_path / "cmp").glob(".tmp-*"))


# --- progress ------------------------------------------------------------------------------------------

PROGRESS_RUN = ["run", "--requests", "300"]


def test_progress_is_silent_when_stdout_is_not_a_terminal():
    result = invoke(PROGRESS_RUN, TTY_COMPATIBLE="1")
    assert "serving requests" not in result.stderr and "ETA" not in result.stderr


def test_progress_shows_an_eta_on_a_terminal_and_is_silent_with_json(monkeypatch):
    monkeypatch.setattr(output_module, "_stdout_is_tty", lambda: True)
    shown = invoke(PROGRESS_RUN, TTY_COMPATIBLE="1", FORCE_COLOR="1")
    assert "serving requests" in shown.stderr and "ETA" in shown.stderr
    for quiet in (["--json"], ["--format", "json"], ["--format", "csv"]):
        result = invoke(PROGRESS_RUN + quiet, TTY_COMPATIBLE="1", FORCE_COLOR="1")
        assert "serving requests" not in result.stderr and "ETA" not in result.stderr, quiet


def test_dram_replay_counts_requests_with_an_eta_on_a_terminal_and_is_silent_with_json(monkeypatch, tmp_path):
    # more requests than one chunk the reader hands the controller (65,536), a comment and blank lines
    count = 70_000
    trace = tmp_path / "reads.trc"
    trace.write_text("# sequential reads\n\n" + "".join(f"0x{i * 64:x} READ 0\n" for i in range(count)) + "\n")
    monkeypatch.setattr(output_module, "_stdout_is_tty", lambda: True)
    shown = invoke(["dram", "replay", str(trace)], TTY_COMPATIBLE="1", FORCE_COLOR="1")
    assert "requests replayed" in shown.stderr and "ETA" in shown.stderr
    assert f"{count}/{count}" in shown.stderr  # request lines only, every one of them served
    quiet = invoke(["dram", "replay", str(trace), "--json"], TTY_COMPATIBLE="1", FORCE_COLOR="1")
    assert "requests replayed" not in quiet.stderr and "ETA" not in quiet.stderr
    assert json.loads(quiet.stdout)["reads"] == count


# --- presets show --------------------------------------------------------------------------------------

def test_presets_show_prints_every_field_of_a_preset():
    from l3sim.spec.model import ModelSpec

    path = Path(__file__).resolve().parents[1] / "src/l3sim/presets/models/gpt-175b.toml"
    written = flatten_settings(tomllib.loads(path.read_text()))
    shown = json.loads(invoke(["presets", "show", "gpt-175b", "--json"]).stdout)
    fields = {row["field"]: row["value"] for row in shown["fields"]}
    assert {key: fields[key] for key in written} == written, "every value the file sets, as it sets it"
    assert {name.split(".")[0] for name in fields} == set(ModelSpec.model_fields), "and every field, defaults too"
    assert Path(shown["source"]) == path and shown["kind"] == "models"
    table = invoke(["presets", "show", "gpt-175b"]).stdout
    assert all(name in table for name in fields)


def test_presets_show_gives_the_field_descriptions():
    from l3sim.spec.platform import GPUSpec

    shown = json.loads(invoke(["presets", "show", "dgx-a100", "--format", "json"]).stdout)
    by_field = {row["field"]: row for row in shown["fields"]}
    assert by_field["gpu.peak_flops"]["description"] == GPUSpec.model_fields["peak_flops"].description
    assert by_field["num_gpus"]["value"] == 8


def test_presets_show_of_an_unknown_name_lists_the_known_ones():
    result = RUNNER.invoke(app, ["presets", "show", "gpt-4"])
    message = str(result.exception)
    assert result.exit_code != 0 and "unknown preset 'gpt-4'" in message
    assert "gpt-175b" in message and "dgx-a100" in message and "paper" in message
    wrong_kind = RUNNER.invoke(app, ["presets", "show", "gpt-175b", "--kind", "gpus"])
    assert wrong_kind.exit_code != 0 and "a100-80gb" in str(wrong_kind.exception)


def test_a_record_of_short_keys_keeps_its_header_whole():
    """The field column is at least as wide as its header: keys like 'RD' must not fold 'field' to 'fiel/d'."""
    buffer = io.StringIO()
    out = Output()
    out._console = lambda: Console(file=buffer, width=WIDTH)  # type: ignore[method-assign]
    out.mapping("commands", {"RD": 2000, "ACT": 2004})
    lines = buffer.getvalue().splitlines()
    assert lines[1].split() == ["field", "value"], lines

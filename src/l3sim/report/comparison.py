"""The demo's comparison report: a Markdown table of every system, a bar chart of normalised throughput,
and an excerpt of L3's timeline (iterations from the middle of its run as a PNG; the run's first events
as a Chrome trace JSON)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from l3sim.outputs import save_figure, write_text
from l3sim.report.account import account_rows, plot_waterfall
from l3sim.report.run_outputs import prepare_out_dir
from l3sim.report.timeline import write_timeline
from l3sim.serving.compare import TABLE_COLUMNS, table_row
from l3sim.serving.result import RunResult

TIMELINE_EXCERPT_EVENTS = 400  # the excerpt's Chrome trace keeps the run's first events


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The comparison rows as a Markdown table (TABLE_COLUMNS)."""
    flat = [table_row(row) for row in rows]
    head = "| " + " | ".join(TABLE_COLUMNS) + " |\n|" + "---|" * len(TABLE_COLUMNS) + "\n"
    return head + "".join("| " + " | ".join(_cell(r[c]) for c in TABLE_COLUMNS) + " |\n" for r in flat)


def _account_markdown(results: Sequence[RunResult]) -> str:
    """The runs' accounts (``report.account.account_rows``) as a Markdown table; docs/validation.md explains
    the categories."""
    rows = account_rows(results)
    columns = list(rows[0])
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(str(row[c]) for c in columns) + " |\n" for row in rows)


def plot_normalised(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Bar chart of normalised throughput per system (OOM systems shown as 0 and labelled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [row["system"] for row in rows]
    values = [0.0 if row["oom"] or not math.isfinite(row["normalized_throughput"]) else row["normalized_throughput"]
              for row in rows]
    fig, ax = plt.subplots(figsize=(8, 4))
    bars = ax.bar(names, values, color="tab:blue")
    for bar, row in zip(bars, rows):
        label = "OOM" if row["oom"] else f"{bar.get_height():.2f}"
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom")
    base = rows[0].get("normalized_to") or "-"
    ax.set_ylabel(f"throughput / {base}")
    ax.set_title("normalised throughput")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def excerpt_segments(result: RunResult, iterations: int = 3) -> list[tuple]:
    """``iterations`` consecutive recorded segments from the middle of the run (the first one starting at or
    after half the makespan), where the batch is in its steady interleaving rather than in its first
    prefills; the run's start if it has fewer segments."""
    timeline = result.timeline
    middle = next((i for i, seg in enumerate(timeline) if seg[1] >= result.makespan_s / 2), 0)
    first = max(0, min(middle, len(timeline) - iterations))
    return timeline[first: first + iterations]


def plot_timeline_excerpt(result: RunResult, path: Path, iterations: int = 3) -> Path:
    """The first iteration of ``iterations`` consecutive mid-run segments (``excerpt_segments``), drawn back
    to back, one row per track (gpu, pcie, ranksets)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    segments = excerpt_segments(result, iterations)
    tracks: dict[str, list[tuple[float, float]]] = {}
    offset = 0.0
    for _replica, _start, _end, _k, phases in segments:
        for phase in phases:
            tracks.setdefault(phase.track, []).append((offset + phase.start_s, phase.duration_s))
        offset += max((phase.start_s + phase.duration_s for phase in phases), default=0.0)
    fig, ax = plt.subplots(figsize=(9, 0.5 + 0.45 * max(len(tracks), 1)))
    for row, (track, spans) in enumerate(tracks.items()):
        ax.broken_barh(spans, (row - 0.4, 0.8))
    ax.set_yticks(range(len(tracks)), list(tracks))
    ax.invert_yaxis()
    ax.set_xlabel("time within the iterations shown (s)")
    at = f" from t = {segments[0][1]:.4g} s" if segments else ""
    ax.set_title(f"{result.system}: {len(segments)} iterations{at} (of {result.makespan_s:.4g} s)")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def write_comparison_report(
    results: Sequence[RunResult], rows: Sequence[dict[str, Any]], out_dir: Path, command: str
) -> list[Path]:
    """Write report.md, throughput.png, account.png (the runs' bound-and-loss waterfalls) and (for the l3
    run) timeline.png + timeline.json into ``out_dir``."""
    out_dir = prepare_out_dir(out_dir)
    first = results[0]
    paths = [out_dir / "report.md", plot_normalised(rows, out_dir / "throughput.png")]
    text = f"# l3sim demo: {first.model} (TP{first.tp} x DP{first.dp}) on {first.workload}, {first.requests} requests\n\n"
    text += f"Reproduce with `{command}`.\n\n" + markdown_table(rows)
    text += "\nColumns: docs/systems.md (normalised to " + str(rows[0].get("normalized_to")) + ").\n"
    text += "\n![normalised throughput](throughput.png)\n"
    if any(r.losses_s for r in results):
        paths.append(plot_waterfall(results, out_dir / "account.png"))
        text += "\n## Where the time goes\n\n" + _account_markdown(results)
        text += "\n![bound, losses and makespan per system](account.png)\n"
    l3 = next((r for r in results if r.system == "l3" and not r.oom), None)
    if l3 is not None:
        paths.append(plot_timeline_excerpt(l3, out_dir / "timeline.png"))
        paths.append(write_timeline(l3, out_dir / "timeline.json", TIMELINE_EXCERPT_EVENTS))
        text += "\n## Timeline excerpt (l3)\n\n![iterations from the middle of the l3 run](timeline.png)\n\n"
        text += "`timeline.json` (Chrome trace, opens in Perfetto) holds the start of the l3 run.\n"
    for result in results:
        text += "".join(f"\n> warning ({result.system}): {w}\n" for w in result.warnings)
    write_text(paths[0], text)
    return paths

"""The comparison report of ``demo`` and ``compare --out``: a table of every system, a bar chart of
normalised throughput, the runs' bound-and-loss account, an excerpt of L3's timeline (iterations from the
middle of its run as a PNG; the run's first events as a Chrome trace JSON) and, in report.html, every run's
resolved spec. report.md and report.html hold the same tables and figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from l3sim.markdown import pipe_table
from l3sim.outputs import save_figure, write_text
from l3sim.report.account import account_rows, plot_waterfall
from l3sim.report.html import REPORT_HTML, HtmlPage
from l3sim.report.run_outputs import prepare_out_dir
from l3sim.report.timeline import write_timeline
from l3sim.serving.compare import TABLE_COLUMNS, table_row
from l3sim.serving.result import RunResult
from l3sim.spec.run import RunSpec

TIMELINE_EXCERPT_EVENTS = 400  # the excerpt's Chrome trace keeps the run's first events


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def comparison_cells(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The comparison rows as text cells: the columns (TABLE_COLUMNS) and one list of cells per row."""
    flat = [table_row(row) for row in rows]
    return list(TABLE_COLUMNS), [[_cell(r[c]) for c in TABLE_COLUMNS] for r in flat]


def subject(results: Sequence[RunResult], specs: Sequence[RunSpec]) -> str:
    """What the runs share, for titles: model (TP x DP), workload, request count and platform."""
    first = results[0]
    return (f"{first.model} (TP{first.tp} x DP{first.dp}) on {first.workload}, {first.requests} requests, "
            f"{specs[0].platform.name}")


def plot_normalised(rows: Sequence[dict[str, Any]], path: Path, subject: str) -> Path:
    """Bar chart of normalised throughput per system (OOM systems shown as 0 and labelled); ``subject``
    (:func:`subject`) names model, workload and platform in the title."""
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
    ax.margins(y=0.12)  # room for the value above the tallest bar
    base = rows[0].get("normalized_to") or "-"
    ax.set_ylabel(f"throughput / {base}")
    ax.set_xlabel("system")
    ax.set_title(f"normalised throughput: {subject}", fontsize="medium")
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


def phase_kind(label: str) -> str:
    """The kind of a timeline interval (a key of :data:`PHASE_KINDS`), from the words systems label it with:
    '... prefill attention' and '... FC' on the GPU, '... transfers' on the link, '... decode attention' on
    the attention device; an unlabelled GPU iteration (gpu-only) counts as FC."""
    for kind, words in (("prefill", "prefill"), ("transfer", "transfer"), ("attention", "attention")):
        if words in label:
            return kind
    return "FC"


#: Legend text and colour of each kind of timeline interval (:func:`phase_kind`).
PHASE_KINDS = {
    "FC": ("FC (dense layers, GPU)", "tab:blue"),
    "prefill": ("prefill attention (GPU)", "tab:orange"),
    "attention": ("decode attention", "tab:green"),
    "transfer": ("transfer (PCIe / DDR)", "tab:purple"),
}


def plot_timeline_excerpt(result: RunResult, path: Path, iterations: int = 3, subject: str = "") -> Path:
    """The first iteration of ``iterations`` consecutive mid-run segments (``excerpt_segments``), drawn back
    to back, one row per track (gpu, pcie, ranksets), one colour per kind of interval (:data:`PHASE_KINDS`)
    with a legend; ``subject`` (model, workload, platform) joins the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    segments = excerpt_segments(result, iterations)
    tracks: dict[str, list[tuple[float, float, str]]] = {}
    offset = 0.0
    for _replica, _start, _end, _k, phases in segments:
        for phase in phases:
            tracks.setdefault(phase.track, []).append((offset + phase.start_s, phase.duration_s,
                                                       phase_kind(phase.label)))
        offset += max((phase.start_s + phase.duration_s for phase in phases), default=0.0)
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.45 * max(len(tracks), 1)))
    for row, spans in enumerate(tracks.values()):
        ax.broken_barh([(s, d) for s, d, _ in spans], (row - 0.4, 0.8),
                       facecolors=[PHASE_KINDS[kind][1] for _, _, kind in spans])
    shown = [kind for kind in PHASE_KINDS if any(k == kind for spans in tracks.values() for _, _, k in spans)]
    ax.legend(handles=[Patch(color=PHASE_KINDS[k][1], label=PHASE_KINDS[k][0]) for k in shown],
              loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small", title="interval")
    ax.set_yticks(range(len(tracks)), list(tracks))
    ax.invert_yaxis()
    ax.set_xlabel("time within the iterations shown (s)")
    at = f" from t = {segments[0][1]:.4g} s" if segments else ""
    about = f", {subject}" if subject else ""
    ax.set_title(f"{result.system}{about}:\n{len(segments)} iterations{at} (of {result.makespan_s:.4g} s)",
                 fontsize="medium")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


RESULTS_DIR = "results"


def write_result_files(
    results: Sequence[RunResult], specs: Sequence[RunSpec], out_dir: Path, command: str, overrides: Sequence[str]
) -> list[Path]:
    """One ``results/<system>.json`` per run (``<system>-2.json`` ... for a system named again), each laid out
    as ``l3sim run --out``'s result.json: the metrics and the provenance record (resolved spec, ``overrides``
    as given, seed, version, ``command``), so ``l3sim run --spec results/l3.json`` reruns that system."""
    from l3sim.report.run_outputs import result_record
    from l3sim.spec.provenance import provenance

    seen: dict[str, int] = {}
    paths = []
    for result, spec in zip(results, specs):
        seen[spec.system] = seen.get(spec.system, 0) + 1
        suffix = "" if seen[spec.system] == 1 else f"-{seen[spec.system]}"
        path = out_dir / RESULTS_DIR / f"{spec.system}{suffix}.json"
        paths.append(write_text(path, result_record(result, provenance(spec, overrides, command))))
    return paths


def write_comparison_report(
    results: Sequence[RunResult], rows: Sequence[dict[str, Any]], out_dir: Path, command: str,
    specs: Sequence[RunSpec], overrides: Sequence[str] = (),
) -> list[Path]:
    """Write report.md and report.html (the same content, the page self-contained: ``l3sim.report.html``),
    throughput.png, account.png (the runs' bound-and-loss waterfalls), (for the l3 run) timeline.png +
    timeline.json, and each run's result file (:func:`write_result_files`; ``command`` and ``overrides``
    go into their provenance) into ``out_dir``. ``specs`` are the runs' resolved specs, in the order of
    ``results``: the page shows each in full."""
    out_dir = prepare_out_dir(out_dir)
    about = subject(results, specs)
    paths = [out_dir / "report.md", out_dir / REPORT_HTML, plot_normalised(rows, out_dir / "throughput.png", about)]
    title = f"l3sim comparison: {about}"
    page = HtmlPage(title).command(command)
    columns, cells = comparison_cells(rows)
    normalised_to = str(rows[0].get("normalized_to"))
    text = f"# {title}\n\nReproduce with `{command}`.\n\n" + pipe_table(columns, cells)
    text += f"\nColumns: docs/systems.md (normalised to {normalised_to}).\n"
    text += "\n![normalised throughput](throughput.png)\n"
    page.table(columns, cells).paragraph(f"Columns: docs/systems.md (normalised to {normalised_to}).")
    page.figure(paths[2], "normalised throughput")
    if any(r.losses_s for r in results):
        paths.append(plot_waterfall(results, out_dir / "account.png", f"where the time goes: {about}"))
        account = account_rows(results)
        account_columns = list(account[0])
        account_cells = [[str(row[c]) for c in account_columns] for row in account]
        text += "\n## Where the time goes\n\n" + pipe_table(account_columns, account_cells)
        text += "\n![bound, losses and makespan per system](account.png)\n"
        page.heading("Where the time goes").paragraph(
            "Each run's bound (GPU and attention device at nominal peak), its losses and the makespan they add up "
            "to (docs/validation.md; l3sim compare --explain).")
        page.table(account_columns, account_cells).figure(paths[-1], "bound, losses and makespan per system")
    l3 = next((r for r in results if r.system == "l3" and not r.oom), None)
    if l3 is not None:
        paths.append(plot_timeline_excerpt(l3, out_dir / "timeline.png", subject=about))
        paths.append(write_timeline(l3, out_dir / "timeline.json", TIMELINE_EXCERPT_EVENTS))
        text += "\n## Timeline excerpt (l3)\n\n![iterations from the middle of the l3 run](timeline.png)\n\n"
        text += "`timeline.json` (Chrome trace, opens in Perfetto) holds the start of the l3 run.\n"
        page.heading("Timeline excerpt (l3)").figure(paths[-2], "iterations from the middle of the l3 run")
        page.paragraph("timeline.json (Chrome trace, opens in Perfetto) holds the start of the l3 run.")
    page.heading("Configuration")
    page.paragraph("Every run's resolved spec: the presets it names, expanded, with every default and override.")
    for result, spec in zip(results, specs):
        page.data(f"{result.system}: resolved spec", spec.model_dump(mode="json"))
    for result in results:
        text += "".join(f"\n> warning ({result.system}): {w}\n" for w in result.warnings)
        for warning in result.warnings:
            page.note(f"warning ({result.system}): {warning}")
    text += f"\nEach run's metrics and resolved configuration: `{RESULTS_DIR}/<system>.json` " \
            f"(rerun one with `l3sim run --spec {RESULTS_DIR}/<system>.json`).\n"
    page.paragraph(f"Each run's metrics and resolved configuration: {RESULTS_DIR}/<system>.json "
                   f"(rerun one with l3sim run --spec {RESULTS_DIR}/<system>.json).")
    write_text(paths[0], text)
    page.write(paths[1])
    return paths + write_result_files(results, specs, out_dir, command, overrides)

"""The demo's report: a short Markdown page with the headline metrics and the run's plot."""

from __future__ import annotations

from pathlib import Path

from l3sim.report.run_outputs import write_run_outputs
from l3sim.serving.result import RunResult


def _ms(summary: dict[str, float]) -> str:
    return " / ".join(f"{summary[k] * 1e3:.1f}" for k in ("mean", "p50", "p99"))


def _s(summary: dict[str, float]) -> str:
    return " / ".join(f"{summary[k]:.1f}" for k in ("mean", "p50", "p99"))


def render_markdown(result: RunResult, command: str) -> str:
    """The report text for one run."""
    head = f"# l3sim demo: {result.system}, {result.model} (TP{result.tp} x DP{result.dp}), {result.workload}\n\n"
    head += f"Reproduce with `{command}`.\n\n"
    if result.oom:
        return head + f"**Does not fit (OOM):** {result.oom_reason}\n"
    rows = [
        ("requests served / drawn", f"{result.requests_served} / {result.requests}"),
        ("output tokens", f"{result.output_tokens:,}"),
        ("makespan", f"{result.makespan_s:,.1f} s"),
        ("throughput", f"{result.throughput_tok_s:,.1f} tokens/s"),
        ("average batch size", f"{result.avg_batch_size:.2f} requests"),
        ("iteration latency mean / p50 / p99", f"{_ms(result.iteration_latency_s)} ms"),
        ("time between tokens mean / p50 / p99", f"{_ms(result.tbt_s)} ms"),
        ("time to first token mean / p50 / p99", f"{_s(result.ttft_s)} s"),
        ("end-to-end latency mean / p50 / p99", f"{_s(result.e2e_s)} s"),
        ("KV capacity", f"{result.kv_capacity_tokens:,} tokens per replica"),
        ("KV use mean / peak", f"{result.kv_util_mean:.1%} / {result.kv_util_peak:.1%}"),
        ("pre-emptions (recompute)", f"{result.preemptions}"),
    ]
    table = "| metric | value |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
    notes = "".join(f"\n> warning: {w}\n" for w in result.warnings)
    plot = "\n![batch size and iteration latency over time](run.png)\n"
    return head + table + notes + plot + "\nPer-request data: `requests.csv`; all metrics: `result.json`.\n"


def write_demo_report(result: RunResult, out_dir: Path, command: str) -> list[Path]:
    """Write report.md beside the run's outputs (result.json, requests.csv, run.png)."""
    paths = write_run_outputs(result, out_dir)
    report = Path(out_dir) / "report.md"
    report.write_text(render_markdown(result, command))
    return [report, *paths]

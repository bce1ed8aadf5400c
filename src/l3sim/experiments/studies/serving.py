"""``serving`` (beyond the paper): latency against load and capacity under an SLO pair, every system.

For gpu-only, hbm-pim, hbm-pim-ext, r-pim, cpu-offload and l3 (with the L3 scheduler and with
capacity-first), GPT-175B and QWEN-72B, on OpenR1 (reasoning: short prompts, long outputs) and LongBench
(long prompts, short outputs): p50/p99 TTFT and TBT of Poisson arrivals at fractions of each system's
saturation rate, and each system's capacity under :data:`SLO` found by ``l3sim capacity``'s search
(docs/serving.md). The two L3 variants share the curve rates (those of the L3 scheduler's saturation
estimate), so their TBT tails compare at equal load: the test of the paper's "up to 70.9 % lower TBT"
under arrivals (docs/validation.md).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from l3sim.experiments.capacity import SearchSettings
from l3sim.outputs import save_figure
from l3sim.experiments.studies.base import StudyOptions, StudyResult
from l3sim.experiments.studies.serving_search import (
    Config,
    base_spec,
    run_searches,
    saturation_estimates,
    summaries,
)
from l3sim.experiments.studies.tables import markdown_table
from l3sim.serving.slo import parse_slo

PLATFORM = "dgx-a100"
#: (label, system, scheduler): the systems' default schedulers, and L3 with both of its schedulers.
SYSTEMS = (
    ("gpu-only", "gpu-only", "continuous"),
    ("hbm-pim", "hbm-pim", "subbatch"),
    ("hbm-pim-ext", "hbm-pim-ext", "subbatch"),
    ("r-pim", "r-pim", "subbatch"),
    ("cpu-offload", "cpu-offload", "subbatch"),
    ("l3", "l3", "l3"),
    ("l3 capacity-first", "l3", "capacity-first"),
)
MODELS = ("gpt-175b", "qwen-72b")
WORKLOADS = ("openr1", "longbench")
#: The SLO pair: first token within 10 s for 99 % of requests (a long LongBench prompt takes seconds to
#: prefill on GPT-175B), and 99 % of token gaps under 300 ms (about 3.3 tokens/s, near reading speed).
SLO = "ttft_p99=10s,tbt_p99=300ms"
#: Probe settings: 200 requests and 2 seeds per probe (1,000 per run, as the other studies, would take
#: hours over 28 searches); --quick: 40 requests, 1 seed, a coarser tolerance and shorter bracketing
#: (a fast look: with 40 OpenR1 requests most probes cannot reach steady state).
FULL = SearchSettings(requests=200, seeds=2, rel_tol=0.1)
QUICK = SearchSettings(requests=40, seeds=1, rel_tol=0.25, max_doublings=2, max_halvings=3)
#: Curve rates as fractions of the saturation estimate (the load axis of the figure); the search's
#: probes add more rates, densest near the capacity.
CURVE = (0.25, 0.5, 0.75, 1.0, 1.5)
QUICK_CURVE = (0.5, 1.0)
PROBE_COLUMNS = ["rate_req_s", "met", "ttft_p50_s", "ttft_p99_s", "tbt_p50_s", "tbt_p99_s", "goodput_tok_s",
                 "throughput_tok_s", "slo_met_fraction", "binding_slo", "steady"]
CAPACITY_COLUMNS = ["label", "model", "workload", "outcome", "rate_req_s", "goodput_tok_s", "binding_slo",
                    "gpus", "dimms", "tok_s_per_gpu", "saturation_estimate_req_s", "steady"]


def _settings(options: StudyOptions) -> SearchSettings:
    settings = QUICK if options.quick else FULL
    if options.requests is not None:
        settings = SearchSettings(**{**settings.__dict__, "requests": max(options.requests, 10)})
    return settings


def _configs(options: StudyOptions, requests: int) -> list[Config]:
    configs = []
    for model in MODELS:
        for workload in WORKLOADS:
            for label, system, scheduler in SYSTEMS:
                labels = {"label": label, "system": system, "scheduler": scheduler, "model": model,
                          "workload": workload}
                configs.append(Config(labels, base_spec(options, labels, PLATFORM, requests)))
    return configs


def _share_curve_rates(configs: list[Config]) -> None:
    """The L3 variants probe the same curve rates: both take the L3 scheduler's saturation estimate."""
    by = {(c.labels["label"], c.labels["model"], c.labels["workload"]): c for c in configs}
    for c in configs:
        if c.labels["label"] == "l3 capacity-first":
            lead = by[("l3", c.labels["model"], c.labels["workload"])]
            if not lead.error and not c.error:
                c.saturation = lead.saturation


def probe_table(configs: list[Config]) -> pd.DataFrame:
    """One row per probe: the config's labels, the load (rate / saturation estimate) and the probe figures."""
    rows = []
    for c in configs:
        for rate in sorted(c.probes):
            probe = c.probes[rate]
            rows.append({**c.labels, "load": rate / c.saturation, **{k: probe[k] for k in PROBE_COLUMNS}})
    return pd.DataFrame(rows)


def tbt_tails(table: pd.DataFrame) -> pd.DataFrame:
    """Per (model, workload, rate) probed by both L3 variants: p99 and p50 TBT, L3 scheduler vs capacity-first."""
    l3 = table[table["label"] == "l3"]
    cf = table[table["label"] == "l3 capacity-first"]
    keys = ["model", "workload", "rate_req_s"]
    both = l3.merge(cf, on=keys, suffixes=("_l3", "_cf"))
    if both.empty:
        return both
    both["tbt_p99_change"] = both["tbt_p99_s_l3"] / both["tbt_p99_s_cf"] - 1
    both["tbt_p50_change"] = both["tbt_p50_s_l3"] / both["tbt_p50_s_cf"] - 1
    return both[keys + ["load_l3", "tbt_p50_s_l3", "tbt_p50_s_cf", "tbt_p99_s_l3", "tbt_p99_s_cf",
                        "tbt_p50_change", "tbt_p99_change"]]


def findings(capacity: pd.DataFrame, tails: pd.DataFrame) -> str:
    parts = []
    if not capacity.empty:
        parts.append(f"Capacity under {SLO} (Poisson arrivals):\n\n" + markdown_table(capacity, CAPACITY_COLUMNS))
    if not tails.empty:
        worst = tails["tbt_p99_change"].min()
        parts.append(
            "L3 scheduler vs capacity-first at equal request rates (change of the L3 scheduler's TBT; negative: "
            f"lower): p99 {tails['tbt_p99_change'].min():+.1%} to {tails['tbt_p99_change'].max():+.1%}, p50 "
            f"{tails['tbt_p50_change'].min():+.1%} to {tails['tbt_p50_change'].max():+.1%}. The paper's 'up to "
            f"70.9 % lower TBT' {'holds' if worst <= -0.709 else 'is not reached'} here (largest reduction of "
            f"the p99: {-worst:.1%}).\n\n" + markdown_table(tails))
    return "\n\n".join(parts) or "No configuration finished (see the notes)."


#: The figure's rows: metric column and axis label; the SLO target of each is drawn as a dashed line.
PLOT_ROWS = (("ttft_p99_s", "p99 TTFT (s)", "ttft_p99"), ("tbt_p99_s", "p99 TBT (s)", "tbt_p99"))


def plot(table: pd.DataFrame, path: Path) -> None:
    """p99 TTFT (top row) and p99 TBT (bottom row) against the request rate, one column per model and
    workload, both axes logarithmic; the SLO targets dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    targets = {t.name: t.target_s for t in parse_slo(SLO)}
    cases = list(dict.fromkeys(zip(table["model"], table["workload"])))
    fig, axes = plt.subplots(len(PLOT_ROWS), len(cases), figsize=(4.2 * len(cases), 6.8), squeeze=False)
    for col, (model, workload) in enumerate(cases):
        mine = table[(table["model"] == model) & (table["workload"] == workload)]
        for row, (column, label, target) in enumerate(PLOT_ROWS):
            ax = axes[row][col]
            for name in dict.fromkeys(mine["label"]):
                part = mine[mine["label"] == name].sort_values("rate_req_s")
                ax.plot(part["rate_req_s"], part[column], marker="o", markersize=3, label=name)
            ax.axhline(targets[target], linestyle="--", color="grey", linewidth=1)
            ax.set_xscale("log")
            ax.set_yscale("log")
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_minor_formatter(NullFormatter())  # decade labels only: no overlapping minor labels
            ax.set_title(f"{model} / {workload}", fontsize="medium")
            ax.set_xlabel("request rate (req/s)")
            ax.set_ylabel(label)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle(f"p99 latency against request rate on {PLATFORM} (dashed: the SLO {SLO})", fontsize="medium",
                 y=0.99)
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize="small", bbox_to_anchor=(0.5, 0.95))
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def serving_study(options: StudyOptions) -> StudyResult:
    settings = _settings(options)
    targets = parse_slo(SLO)
    configs = _configs(options, settings.requests)
    saturation_estimates(options, configs, settings.requests)
    _share_curve_rates(configs)
    run_searches(options, configs, targets, settings, QUICK_CURVE if options.quick else CURVE)
    table = probe_table(configs)
    capacity = summaries(configs, targets, settings)
    notes = [f"{c.labels['label']} / {c.labels['model']} / {c.labels['workload']}: {c.error}"
             for c in configs if c.error]
    notes += [f"{row['label']} / {row['model']} / {row['workload']}: {row['message']}"
              for _, row in capacity.iterrows() if row["outcome"] != "found" or not row["steady"]]
    curve = QUICK_CURVE if options.quick else CURVE
    return StudyResult(
        name="serving",
        title="serving under latency SLOs (beyond the paper)",
        table=table,
        method=(f"{', '.join(label for label, _, _ in SYSTEMS)} on {', '.join(MODELS)} x {', '.join(WORKLOADS)} "
                f"({PLATFORM}); Poisson arrivals at {', '.join(f'{f:g}' for f in curve)} x each system's saturation "
                f"estimate (offline steady throughput / mean output tokens; l3 capacity-first takes the L3 "
                f"scheduler's, so the two compare at equal load), then the capacity search of "
                f"`l3sim capacity` under {SLO}: {settings.requests} requests and {settings.seeds} seed(s) per "
                f"probe, the first {settings.warmup_fraction:.0%} and last {settings.cooldown_fraction:.0%} of "
                f"the arrival span not measured, bisection to {settings.rel_tol:.0%} (docs/serving.md)."),
        paper=("Not in the paper, which measures offline throughput only; its only latency claim is the L3 "
               "scheduler's 'up to 70.9 % lower TBT' than capacity-first (Fig. 14), tested here under arrivals."),
        findings=findings(capacity, tbt_tails(table)),
        plot=plot,
        notes=notes,
    )

"""The figures explain themselves (issue 13 item 5), checked on the matplotlib objects, not on pixels.

Each plot function saves through ``save_figure``; the tests catch the figure there and read its title,
axis labels, legend and lines. Expected texts come from the issue (meaningful legend labels, an x label on
every panel, titles naming the system, model and workload) and from the tables the tests build.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from l3sim.serving.plan import Phase


@pytest.fixture
def figures(monkeypatch):
    """Every figure the plot modules save, kept open for inspection (nothing is written)."""
    caught = []

    def keep(figure, path, **options):
        caught.append(figure)
        return path

    import matplotlib.pyplot as plt

    for module in ("l3sim.experiments.studies.plots", "l3sim.report.comparison", "l3sim.report.run_outputs"):
        monkeypatch.setattr(f"{module}.save_figure", keep)
    monkeypatch.setattr(plt, "close", lambda figure=None: None)
    yield caught
    plt.close("all")


def _title(figure) -> str:
    return figure._suptitle.get_text() if figure._suptitle else figure.axes[0].get_title()


def _legend_texts(figure) -> list[str]:
    legends = figure.legends or [ax.get_legend() for ax in figure.axes if ax.get_legend()]
    return [text.get_text() for legend in legends for text in legend.get_texts()]


def test_pcie_legend_says_what_the_bars_are(figures, tmp_path) -> None:
    from l3sim.experiments.studies import pcie

    table = pd.DataFrame([{"model": model, "batch": batch, "rankset_overlap": overlap, "pcie_overhead": share}
                          for model, batch in (("gpt-175b", "4x192 + 64x8K"), ("qwen-72b", "2x96 + 64x10K"))
                          for overlap, share in ((False, 0.05), (True, 0.02))])
    pcie.plot(table, tmp_path / "pcie.png")
    (figure,) = figures
    assert _legend_texts(figure) == ["rankset overlap off", "rankset overlap on"]
    assert all(ax.get_xlabel() for ax in figure.axes)
    assert "l3" in _title(figure) and "dgx-a100" in _title(figure)


def test_scheduler_panels_have_an_x_label_and_a_title(figures, tmp_path) -> None:
    from l3sim.experiments.studies import scheduler

    table = pd.DataFrame([{"model": model, "capacity_factor": factor, "scheduler": name,
                           "throughput_tok_s": 10.0, "tbt_s.mean": 0.1}
                          for model in ("gpt-175b", "qwen-72b") for factor in (1, 1.5, 2)
                          for name in ("capacity-first", "l3")])
    scheduler.plot(table, tmp_path / "scheduler.png")
    (figure,) = figures
    assert len(figure.axes) == 4 and all("capacity" in ax.get_xlabel() for ax in figure.axes)
    for name in ("l3", "gpt-175b", "qwen-72b", "openr1", "dgx-a100"):
        assert name in _title(figure)


def test_e2e_panels_share_one_log_scale_with_the_base_drawn_at_1(figures, tmp_path) -> None:
    from l3sim.experiments.studies import e2e

    rng = np.random.default_rng(0)
    table = pd.DataFrame([{"model": model, "workload": workload, "system": system,
                           "normalized_throughput_tok_s": 1.0 if system == "gpu-only" else float(rng.uniform(0.1, 3))}
                          for workload in ("openr1", "dolphin") for model in ("gpt-175b", "opt-66b")
                          for system in ("gpu-only", "hbm-pim", "l3")])
    e2e.plot(table, tmp_path / "e2e.png")
    (figure,) = figures
    first, *others = figure.axes
    for ax in figure.axes:
        assert ax.get_yscale() == "log"
        assert ax.get_ylim() == first.get_ylim()
        assert any(list(line.get_ydata()) == [1.0, 1.0] for line in ax.get_lines())  # the y = 1 reference
    assert all(first.get_shared_y_axes().joined(first, ax) for ax in others)
    assert "= GPU-only (or L3)" in _legend_texts(figure)
    assert "dgx-a100" in _title(figure)


def test_hw_ablation_legend_covers_no_bar(figures, tmp_path) -> None:
    from l3sim.experiments.studies.hw_ablation import hw_ablation_reproduce
    from l3sim.experiments.studies.base import StudyOptions

    result = hw_ablation_reproduce(StudyOptions(tmp_path))
    result.plot(result.table, tmp_path / "hw-ablation.png")
    (figure,) = figures
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    (legend,) = figure.legends
    box = legend.get_window_extent(renderer)
    for ax in figure.axes:
        assert ax.get_legend() is None
        for bar in ax.patches:
            assert not box.overlaps(bar.get_window_extent(renderer))
    assert "dgx-a100-l3" in _title(figure)


def _timeline_run(labels):
    phases = tuple(Phase(track, start, 0.1, label) for track, start, label in labels)
    return SimpleNamespace(system="l3", makespan_s=1.0, timeline=[(0, 0.0, 1.0, 1, phases)])


def test_timeline_excerpt_has_one_colour_per_kind_and_a_legend(figures, tmp_path) -> None:
    from l3sim.report.comparison import plot_timeline_excerpt

    run = _timeline_run([("gpu", 0.0, "sub-batch 0 FC"), ("gpu", 0.1, "sub-batch 0 prefill attention"),
                         ("pcie", 0.0, "sub-batch 1 transfers"), ("pim rankset 0", 0.1, "sub-batch 1 decode attention"),
                         ("pim rankset 1", 0.1, "sub-batch 1 decode attention")])
    plot_timeline_excerpt(run, tmp_path / "t.png", subject="gpt-175b on openr1")
    (figure,) = figures
    (ax,) = figure.axes
    colours = [tuple(colour) for bars in ax.collections for colour in bars.get_facecolors()]
    # gpu: FC then prefill; pcie: transfer; two ranksets: the same attention colour
    assert len(colours) == 5 and len(set(colours)) == 4 and colours[3] == colours[4]
    assert len(_legend_texts(figure)) == 4
    assert "l3" in ax.get_title() and "gpt-175b on openr1" in ax.get_title()


def test_a_real_l3_run_labels_its_gpu_stage_as_fc_then_prefill_attention() -> None:
    """The L3 system splits each GPU stage into its dense layers and its prefill attention, back to back."""
    from l3sim.report.comparison import phase_kind
    from l3sim.serving.compare import compare
    from l3sim.spec.run import build_run_spec

    (result,) = compare([build_run_spec(system="l3", platform="dgx-a100", model="gpt-175b", workload="openr1",
                                        requests=6)])
    kinds = set()
    for _replica, _start, _end, _k, phases in result.timeline:
        gpu = [p for p in phases if p.track == "gpu"]
        for before, after in zip(gpu, gpu[1:]):
            if phase_kind(after.label) == "prefill":
                assert phase_kind(before.label) == "FC"
                assert after.start_s == pytest.approx(before.start_s + before.duration_s)
        kinds |= {phase_kind(p.label) for p in phases}
    assert kinds == {"FC", "prefill", "attention", "transfer"}


def test_run_plot_bins_by_hand() -> None:
    """Two segments: 10 iterations of 1 s at batch 2 on [0, 10), 5 of 2 s at batch 4 on [10, 20); a gap to 30."""
    from l3sim.report.run_outputs import binned_segments

    segments = pd.DataFrame({"start_s": [0.0, 10.0], "end_s": [10.0, 20.0], "iterations": [10, 5],
                             "batch_size": [2, 4], "first_latency_s": [1.0, 2.0], "latency_increment_s": [0.0, 0.0]})
    out = binned_segments(segments, np.array([0.0, 5.0, 15.0, 20.0, 30.0]))
    # [5, 15): 5 s at batch 2 (5 iterations) and 5 s at batch 4 (2.5 iterations)
    assert out["batch"][:3].tolist() == pytest.approx([2.0, 3.0, 4.0])
    assert out["latency_s"][:3].tolist() == pytest.approx([1.0, 10 / 7.5, 2.0])
    assert out["low_s"][:3].tolist() == [1.0, 1.0, 2.0] and out["high_s"][:3].tolist() == [1.0, 2.0, 2.0]
    assert all(math.isnan(out[key][3]) for key in out)  # nothing ran in [20, 30)


def test_run_plot_title_names_system_model_and_workload(figures, tmp_path) -> None:
    from l3sim.report.run_outputs import plot_run

    segments = pd.DataFrame({"replica": [0, 0], "start_s": [0.0, 10.0], "end_s": [10.0, 20.0], "iterations": [10, 5],
                             "batch_size": [2, 4], "first_latency_s": [1.0, 2.0], "latency_increment_s": [0.0, 0.1]})
    result = SimpleNamespace(system="hbm-pim", scheduler="subbatch", model="qwen-72b", workload="dolphin", tp=4,
                             dp=1, requests=7, segments=segments)
    plot_run(result, tmp_path / "run.png")
    (figure,) = figures
    title = figure.axes[0].get_title()
    for text in ("hbm-pim", "qwen-72b", "dolphin", "7 requests"):
        assert text in title
    assert all(ax.get_ylabel() for ax in figure.axes) and figure.axes[1].get_xlabel().startswith("time (s")

"""The demo report's timeline excerpt: iterations from the middle of the run, drawn back to back."""

from __future__ import annotations

from types import SimpleNamespace

from l3sim.report.comparison import excerpt_segments, plot_timeline_excerpt
from l3sim.serving.plan import Phase


def _run(starts: list[float], makespan: float):
    phases = (Phase("gpu", 0.0, 0.4, "sub-batch 0 FC + prefill"), Phase("pim rankset 0", 0.1, 0.5, "attention"))
    return SimpleNamespace(system="l3", makespan_s=makespan,
                           timeline=[(0, start, start + 1.0, 1, phases) for start in starts])


def test_excerpt_starts_at_the_first_segment_of_the_second_half():
    run = _run([0.0, 2.0, 4.0, 6.0, 8.0, 10.0], makespan=11.0)
    assert [segment[1] for segment in excerpt_segments(run, 3)] == [6.0, 8.0, 10.0]
    # near the end there are not enough segments left: the window moves back, keeping three
    assert [segment[1] for segment in excerpt_segments(_run([0.0, 1.0, 2.0, 9.0], 10.0), 3)] == [1.0, 2.0, 9.0]
    # a run shorter than the window shows what it has
    assert [segment[1] for segment in excerpt_segments(_run([0.0, 1.0], 2.0), 3)] == [0.0, 1.0]


def test_excerpt_plot_is_written(tmp_path):
    path = plot_timeline_excerpt(_run([0.0, 2.0, 4.0, 6.0], 8.0), tmp_path / "timeline.png")
    assert path.is_file() and path.stat().st_size > 0

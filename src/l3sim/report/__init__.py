"""Files a run leaves behind: result JSON, per-request CSV, plots, timelines, and the comparison report
(report.md and the self-contained report.html)."""

from l3sim.report.run_outputs import write_run_outputs
from l3sim.report.timeline import trace_events, write_timeline

__all__ = ["trace_events", "write_run_outputs", "write_timeline"]

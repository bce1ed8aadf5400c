"""Files a run leaves behind: result JSON, per-request CSV, plots and the demo's Markdown report."""

from l3sim.report.demo import write_demo_report
from l3sim.report.run_outputs import write_run_outputs
from l3sim.report.timeline import trace_events, write_timeline

__all__ = ["trace_events", "write_demo_report", "write_run_outputs", "write_timeline"]

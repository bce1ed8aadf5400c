"""Files a run leaves behind: result JSON, per-request CSV, plots and the demo's Markdown report."""

from l3sim.report.demo import write_demo_report
from l3sim.report.run_outputs import write_run_outputs

__all__ = ["write_demo_report", "write_run_outputs"]

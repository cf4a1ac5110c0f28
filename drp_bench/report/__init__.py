"""``drp-bench report``: finished run folders -> tables (CSV, Markdown, LaTeX) and plots."""

from drp_bench.report.collect import RunTable, collect_runs
from drp_bench.report.tables import build_table, write_tables

__all__ = ["RunTable", "build_table", "collect_runs", "write_tables"]

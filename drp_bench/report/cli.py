"""``drp-bench report SWEEP_DIR [SWEEP_DIR ...]``: tables and plots from finished runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from drp_bench.report.collect import Run, RunTable, collect_runs
from drp_bench.report.fits import scaling_fits
from drp_bench.report.frontier import (
    DEFAULT_MATCH_TOLERANCE,
    best_under_budget,
    budget_markdown,
    compute_matched,
    compute_section,
    cost_points,
    write_compute,
)
from drp_bench.report.plan_compare import NOTE, compare, find_plans
from drp_bench.report.plan_compare import to_markdown as plan_markdown
from drp_bench.report.tables import (
    DEFAULT_PAPER_TABLE,
    footnotes,
    load_paper_table,
    ranked_rows,
    to_markdown,
    write_tables,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="drp-bench report",
        description="Aggregate finished runs (Hydra run folders) into tables and plots.",
    )
    p.add_argument(
        "sweep_dirs",
        nargs="+",
        type=Path,
        metavar="SWEEP_DIR",
        help="folders searched recursively for run folders (.hydra/config.yaml)",
    )
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default: FIRST_SWEEP_DIR/report)"
    )
    p.add_argument("--no-plots", action="store_true", help="write tables only")
    p.add_argument(
        "--plan",
        type=Path,
        action="append",
        default=None,
        metavar="PLAN_JSON",
        help="a `drp-bench plan` output to put beside what happened (default: plan.json in "
        "the given folders, when there)",
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap resamples for CIs and significance; 0 disables (default 1000)",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--include-degraded",
        action="store_true",
        help="rank and test runs with failed calls like complete ones (default: shown, marked "
        "[DEGRADED], left out of best/second marks, significance and plots)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="B",
        help="also answer: the best run costing at most B tokens per sample (prompt + "
        "completion, all stages), per dataset and metric (budget.csv, results.md)",
    )
    p.add_argument(
        "--match-tolerance",
        type=float,
        default=DEFAULT_MATCH_TOLERANCE,
        metavar="T",
        help="compute-matched pairs: runs whose tokens per sample differ by at most T "
        "relative to the larger (default %(default)s)",
    )
    p.add_argument(
        "--paper-table",
        type=Path,
        default=DEFAULT_PAPER_TABLE,
        help="the paper's reported numbers (long CSV); default: %(default)s",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the report; returns 0 when at least one complete run was found, else 1."""
    args = build_parser().parse_args(argv)
    if args.bootstrap < 0:
        print(f"--bootstrap: expected N >= 0, found {args.bootstrap}", file=sys.stderr)
        return 2
    bad = _bad_compute_args(args)
    if bad:
        print(bad, file=sys.stderr)
        return 2
    out = args.out or args.sweep_dirs[0] / "report"
    table = collect_runs(args.sweep_dirs, n_bootstrap=args.bootstrap, seed=args.seed)
    compute = _compute(table, args)
    written: list[Path] = []
    if not args.no_plots:
        from drp_bench.report.plots import make_plots

        plotted = ranked_rows(table.frame, args.include_degraded)
        written, plot_notes = make_plots(
            plotted, out / "plots", points=compute.points, fits=compute.fits,
            paper=load_paper_table(args.paper_table),
        )  # fmt: skip
        table.notes.extend(plot_notes)
    table_paths, results = write_tables(
        table,
        out,
        n_resamples=args.bootstrap,
        seed=args.seed,
        paper_table=args.paper_table,
        include_degraded=args.include_degraded,
    )
    written = table_paths + written
    written += _write_compute(compute, out, args.match_tolerance)
    written += _plan_beside_actuals(args.plan or find_plans(args.sweep_dirs), table.runs, out)
    _human_studies(args.sweep_dirs, out)

    if results.rows:
        print(to_markdown(results))
        print()
        for f in footnotes(results):
            print(f"- {f}")
    else:
        print("No complete runs found.")
    print(f"\n{len(table.complete)} complete run(s); wrote:")
    for path in written:
        print(f"  {path}")
    if table.degraded:
        verdict = "ranked with the others" if args.include_degraded else "shown, not ranked"
        print(f"\n{len(table.degraded)} degraded run(s) ({verdict}):")
        for r in table.degraded:
            overrides = f" ({' '.join(r.overrides)})" if r.overrides else ""
            print(f"  [degraded] {r.run_dir}{overrides}: {r.reason}")
    if table.problems:
        print(f"\n{len(table.problems)} run(s) not included:")
        for r in table.problems:
            overrides = f" ({' '.join(r.overrides)})" if r.overrides else ""
            print(f"  [{r.status}] {r.run_dir}{overrides}: {r.reason}")
    warned = [r for r in table.complete if r.reason]
    if warned:
        print(f"\n{len(warned)} complete run(s) with warnings:")
        for r in warned:
            print(f"  {r.run_dir}: {r.reason}")
    for n in table.notes:
        print(f"note: {n}")
    return 0 if table.complete else 1


@dataclass
class ComputeResults:
    """The frontier's points, the compute-matched pairs, the scaling fits, the budget's
    answer (None without --budget)."""

    points: pd.DataFrame
    matched: pd.DataFrame
    fits: pd.DataFrame
    best: pd.DataFrame | None


def _bad_compute_args(args: argparse.Namespace) -> str:
    if args.budget is not None and not args.budget > 0:
        return f"--budget: expected tokens per sample > 0, found {args.budget}"
    if not 0 <= args.match_tolerance < 1:
        return f"--match-tolerance: expected 0 <= T < 1, found {args.match_tolerance}"
    return ""


def _compute(table: RunTable, args: argparse.Namespace) -> ComputeResults:
    """Quality against compute (report.frontier, report.fits); notes go to the table's."""
    points, notes = cost_points(table.frame, args.include_degraded)
    matched, match_notes = compute_matched(
        table, points, args.match_tolerance, args.bootstrap, args.seed
    )
    fits = scaling_fits(table, table.frame, args.bootstrap, args.seed, args.include_degraded)
    best = None if args.budget is None else best_under_budget(points, args.budget)
    table.notes.extend([*notes, *match_notes])
    return ComputeResults(points, matched, fits, best)


def _write_compute(compute: ComputeResults, out: Path, tolerance: float) -> list[Path]:
    """The compute files, results.md's section, and the budget's answer printed."""
    written = write_compute(out, compute.points, compute.matched, compute.fits, compute.best)
    section = compute_section(
        compute.points, compute.matched, compute.fits, tolerance, compute.best
    )
    with (out / "results.md").open("a", encoding="utf-8") as fh:
        fh.write("\n" + section)
    if compute.best is not None:
        print("\nBest under the budget:\n" + budget_markdown(compute.best) + "\n")
    return written


def _plan_beside_actuals(plans: Sequence[Path], runs: Sequence[Run], out: Path) -> list[Path]:
    """plan_vs_actual.csv and a section of results.md per plan; printed too."""
    from drp_bench.plan.plan_file import read_plan

    written: list[Path] = []
    for n, path in enumerate(plans):
        frame = compare(read_plan(path), runs)
        csv = out / ("plan_vs_actual.csv" if n == 0 else f"plan_vs_actual_{n}.csv")
        frame.to_csv(csv, index=False)
        section = f"## Plan beside what happened ({path})\n\n{plan_markdown(frame)}\n\n{NOTE}\n"
        results_md = out / "results.md"
        with results_md.open("a", encoding="utf-8") as fh:
            fh.write("\n" + section)
        print("\n" + section)
        written.append(csv)
    return written


def _human_studies(dirs: Sequence[Path], out: Path) -> None:
    """A "Human study" section of results.md (printed too) per scored study in or beside the
    given folders (``drp-bench annotate score``'s study_report.json)."""
    from drp_bench.annotate.report_file import (
        StudyReportError,
        find_studies,
        headline_markdown,
        read_study_report,
    )

    for study in find_studies(dirs):
        try:
            section = headline_markdown(study, read_study_report(study))
        except StudyReportError as e:
            print(f"note: human study left out: {e}")
            continue
        with (out / "results.md").open("a", encoding="utf-8") as fh:
            fh.write("\n" + section)
        print("\n" + section)


if __name__ == "__main__":
    raise SystemExit(main())

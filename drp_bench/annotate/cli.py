"""``drp-bench annotate build|score``: build a human study of runs; score its annotations."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from drp_bench.annotate.formats import StudyFormatError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="drp-bench annotate", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    score = sub.add_parser(
        "score",
        help="score a study's annotations (STUDY/annotations/*.json) into STUDY/score/",
        description="Agreement, the LLM validator against people, preferences and quality "
        "control from every annotator file in STUDY/annotations/ (ours or Label Studio's "
        "JSON export); writes STUDY/score/study_report.{json,md} and plots.",
    )
    score.add_argument("study", type=Path, metavar="STUDY", help="the study folder")
    score.add_argument(
        "--bootstrap", type=int, default=1000, metavar="N",
        help="bootstrap resamples of every CI; 0 disables (default %(default)s)",
    )  # fmt: skip
    score.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    score.add_argument(
        "--min-gold-accuracy", type=float, default=0.7, metavar="X",
        help="flag annotators whose gold accuracy is below X (default %(default)s)",
    )  # fmt: skip
    score.add_argument(
        "--min-self-consistency", type=float, default=0.6, metavar="X",
        help="flag annotators whose self-consistency is below X (default %(default)s)",
    )  # fmt: skip
    score.add_argument("--no-plots", action="store_true", help="write no plots")
    return p


def score_main(args: argparse.Namespace) -> int:
    """Score a study; 0 on success, 2 on bad input (the error names file and field)."""
    from drp_bench.annotate.report_file import Thresholds
    from drp_bench.annotate.score import score_study, write_report

    if args.bootstrap < 0:
        print(f"--bootstrap: expected N >= 0, found {args.bootstrap}", file=sys.stderr)
        return 2
    thresholds = Thresholds(
        gold_accuracy=args.min_gold_accuracy, self_consistency=args.min_self_consistency
    )
    try:
        report = score_study(args.study, args.bootstrap, args.seed, thresholds)
    except StudyFormatError as e:
        print(f"drp-bench annotate score: {e}", file=sys.stderr)
        return 2
    for path in write_report(args.study, report, plots=not args.no_plots):
        print(f"wrote {path}")
    flagged = [q.annotator for q in report.qc if q.flagged]
    if flagged:
        print(f"flagged (reported apart): {', '.join(flagged)}")
    for note in report.notes:
        print(f"note: {note}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "score":
        return score_main(args)
    return 2

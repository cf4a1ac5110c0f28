"""``drp-bench annotate build|score``: build a human study of runs; score its annotations."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from drp_bench.annotate.formats import StudyFormatError


def score_parser() -> argparse.ArgumentParser:
    """``annotate score``'s arguments."""
    from drp_bench.annotate.score import DEFAULT_MIN_CONSISTENCY, DEFAULT_MIN_GOLD

    score = argparse.ArgumentParser(
        prog="drp-bench annotate score",
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
        "--min-gold-accuracy", type=float, default=DEFAULT_MIN_GOLD, metavar="X",
        help="flag annotators whose gold accuracy is below X (default %(default)s)",
    )  # fmt: skip
    score.add_argument(
        "--min-self-consistency", type=float, default=DEFAULT_MIN_CONSISTENCY, metavar="X",
        help="flag annotators whose self-consistency is below X (default %(default)s)",
    )  # fmt: skip
    score.add_argument("--no-plots", action="store_true", help="write no plots")
    return score


def score_main(argv: Sequence[str]) -> int:
    """Score a study; 0 on success, 2 on bad input (the error names file and field)."""
    from drp_bench.annotate.report_file import Thresholds
    from drp_bench.annotate.score import score_study, write_report

    args = score_parser().parse_args(argv)
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
    """``drp-bench annotate COMMAND ...`` (a minimal dispatcher: ``build`` is on its own
    branch; integration merges the two)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["score"]:
        return score_main(argv[1:])
    print("usage: drp-bench annotate score STUDY [options]", file=sys.stderr)
    return 2

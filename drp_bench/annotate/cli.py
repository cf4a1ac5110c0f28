"""``drp-bench annotate build|score``: a human study of finished runs (docs/annotate.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from drp_bench.annotate.formats import TASK_TYPES, StudyFormatError
from drp_bench.annotate.label_studio import write_label_studio

USAGE = """\
drp-bench annotate build RUN_DIR [RUN_DIR ...] --out STUDY   a blinded study of the runs
drp-bench annotate score STUDY                               the annotators' labels -> report
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="drp-bench annotate build",
        description="Build a human study (annotation page, tasks, hidden key) from finished "
        "run folders.",
    )
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run folders")
    p.add_argument("--out", type=Path, required=True, metavar="STUDY", help="the study folder")
    p.add_argument(
        "--force", action="store_true", help="write into an existing non-empty --out folder"
    )
    p.add_argument(
        "--tasks",
        type=_task_types,
        default=list(TASK_TYPES),
        help=f"task types, comma-separated (default: {','.join(TASK_TYPES)})",
    )
    p.add_argument("--feature-items", type=int, default=20, help="feature-validity tasks")
    p.add_argument("--preference-pairs", type=int, default=30, help="preference tasks")
    p.add_argument(
        "--gold-rate", type=float, default=0.15, help="gold pairs as a share of preference pairs"
    )
    p.add_argument("--repeat-rate", type=float, default=0.1, help="share of tasks shown twice")
    p.add_argument(
        "--history", type=int, default=3, help="the user's past reviews in preference tasks"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every choice (default: 0)")
    p.add_argument(
        "--format",
        choices=("page", "label-studio"),
        default="page",
        help="page: index.html only; label-studio: also label-studio/ (the page is always written)",
    )
    p.add_argument("--title", default=None, help="the study's title on the page")
    return p


def _task_types(text: str) -> list[str]:
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in TASK_TYPES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"expected one or more of {','.join(TASK_TYPES)}, found {text!r}"
        )
    return chosen


def build_main(argv: Sequence[str]) -> int:
    """``annotate build``; 0 on success, 2 on bad input (the message on stderr)."""
    from drp_bench.annotate.build import DEFAULT_TITLE, build_study
    from drp_bench.annotate.sources import StudyBuildError

    args = build_parser().parse_args(argv)
    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.force:
        print(
            f"drp-bench annotate build: {out} exists and is not empty; pass --force to write "
            "into it (annotations/ is kept)",
            file=sys.stderr,
        )
        return 2
    try:
        manifest = build_study(
            args.run_dirs, out, tasks=args.tasks, feature_items=args.feature_items,
            preference_pairs=args.preference_pairs, gold_rate=args.gold_rate,
            repeat_rate=args.repeat_rate, history=args.history, seed=args.seed,
            title=args.title or DEFAULT_TITLE,
        )  # fmt: skip
    except (StudyBuildError, ValueError) as e:
        print(f"drp-bench annotate build: {e}", file=sys.stderr)
        return 2
    if args.format == "label-studio":
        write_label_studio(out)
    from drp_bench.annotate.formats import TASKS_FILE, read_tasks

    tasks = read_tasks(out / TASKS_FILE)
    counts = {t: sum(1 for task in tasks if task.type == t) for t in TASK_TYPES}
    repeats = sum(1 for task in tasks if task.repeat_of is not None)
    print(
        f"study {manifest.study_id}: {counts['feature_validity']} feature-validity and "
        f"{counts['preference']} preference tasks ({repeats} of them repeats) from "
        f"{len(manifest.runs)} runs in {out} "
        f"(open {out / 'index.html'}; exported files go to {out / 'annotations'})"
    )
    return 0


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
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(USAGE.strip())
        return 0
    command, rest = argv[0], argv[1:]
    if command == "build":
        return build_main(rest)
    if command == "score":
        return score_main(rest)
    print(f"drp-bench annotate: unknown command {command!r}\n\n{USAGE.strip()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

"""``drp-bench submit`` and ``drp-bench leaderboard verify|register-split|reproduce|build``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from drp_bench.leaderboard.view import BOARD_METRICS

if TYPE_CHECKING:
    from drp_bench.leaderboard.reproduce import Reproduction

DEFAULT_BOARD = Path("results/leaderboard")


def _data_arg(value: str) -> tuple[str, Path]:
    split_id, sep, path = value.partition("=")
    if not sep or not split_id or not path:
        raise argparse.ArgumentTypeError(f"expected SPLIT_ID=PATH, found {value!r}")
    return split_id, Path(path)


def _board_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--board", type=Path, default=DEFAULT_BOARD, help="leaderboard folder (%(default)s)"
    )


def _data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=_data_arg,
        action="append",
        default=[],
        metavar="SPLIT_ID=PATH",
        help="where a registered split's data is (splits not bundled with drp-bench)",
    )


def _scores(values: dict[str, float]) -> str:
    return ", ".join(f"{BOARD_METRICS[m]} {values[m]:.4f}" for m in BOARD_METRICS if m in values)


# ---------------------------------------------------------------- submit


def submit_main(argv: list[str] | None = None) -> int:
    from drp_bench.leaderboard.submit import SubmitError, submit_run
    from drp_bench.run.folder import RunFolderError

    parser = argparse.ArgumentParser(
        prog="drp-bench submit",
        description="Check a complete run folder, recompute its scores and add it to the "
        "leaderboard as entries/<id>/ (submission.json, predictions.jsonl.gz).",
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--submitter", default=None, help="your name or handle")
    parser.add_argument("--notes", default=None, help="a short note shown with the entry")
    parser.add_argument(
        "--with-stages", action="store_true", help="also store every stage's output"
    )
    _board_arg(parser)
    _data_option(parser)
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(message)s")  # a suspect entry's flags
    try:
        entry = submit_run(
            args.run_dir,
            args.board,
            args.submitter,
            args.notes,
            with_stages=args.with_stages,
            data_paths=dict(args.data),
        )
    except SubmitError as e:
        print(f"error: {e}", file=sys.stderr)
        for problem in e.problems if e.problems != [str(e)] else []:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    except (RunFolderError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"entry {entry.name}: {entry}")
    print("verified: every score recomputed from the predictions. Next: open a pull request")
    print(f"adding {entry} (CI runs `drp-bench leaderboard verify` on it).")
    return 0


# ---------------------------------------------------------------- leaderboard subcommands


def _entry_paths(board: Path, names: list[str]) -> list[Path]:
    from drp_bench.leaderboard.entry import ENTRIES
    from drp_bench.leaderboard.verify import entry_folders

    if not names:
        return entry_folders(board)
    out = []
    for name in names:
        path = Path(name)
        out.append(path if path.exists() or path.is_symlink() else board / ENTRIES / name)
    return out


def _verify(args: argparse.Namespace) -> int:
    from drp_bench.leaderboard.records import VERIFICATIONS, content_hashes, save_record
    from drp_bench.leaderboard.verify import verify_board

    entries = _entry_paths(args.board, args.entries)
    if not entries:
        print(f"no entries in {args.board / 'entries'}")
        return 0
    rejected = suspect = 0
    for result in verify_board(args.board, entries, dict(args.data)):
        if result.problems:
            rejected += 1
            print(f"REJECTED {result.entry_id}: {len(result.problems)} problem(s)")
            for problem in result.problems:
                print(f"  - {problem}")
            continue
        n = len(result.predictions or {})
        print(
            f"verified {result.entry_id}: {_scores(result.recomputed)} "
            f"(recomputed from {n} predictions)"
        )
        suspect += bool(result.suspect)
        for flag in result.suspect:
            print(f"SUSPECT {result.entry_id}: {flag} (not ranked until reproduced)")
        if args.record:
            save_record(
                args.board,
                VERIFICATIONS,
                result.entry_id,
                {
                    **content_hashes(result.raw or {}),
                    "recomputed": result.recomputed,
                    "suspect": result.suspect,
                },
            )
    note = f" ({suspect} suspect: not ranked until reproduced)" if suspect else ""
    print(f"{len(entries) - rejected} of {len(entries)} entries verified{note}")
    return 1 if rejected else 0


def _register(args: argparse.Namespace) -> int:
    from drp_bench.leaderboard.splits import SplitError, register_split

    try:
        record = register_split(
            args.board,
            args.split_id,
            args.data_path,
            args.split,
            args.limit,
            title=args.title,
            description=args.description,
            how_to_get=args.how_to_get,
            public=args.public,
        )
    except (SplitError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(
        f"split {record.id}: {record.num_samples} samples, references {record.references_sha256}"
        f" ({'public' if record.public else 'references stay local'}) "
        f"in {args.board / 'splits.json'}"
    )
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from drp_bench.leaderboard.reproduce import ReproduceError, reproduce_entry

    settings = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"error: --set {item!r}: expected KEY=VALUE", file=sys.stderr)
            return 2
        settings[key] = yaml.safe_load(value)  # as on Hydra's command line: 1 is an int
    import logging

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s")  # progress
    (entry,) = _entry_paths(args.board, [args.entry])
    try:
        outcome = reproduce_entry(
            entry,
            args.board,
            data_paths=dict(args.data),
            settings=settings,
            work_dir=args.work_dir,
            use_cache=args.cache,
            record=args.record,
            here=args.here,
        )
    except (ReproduceError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    _print_reproduction(outcome)
    return 0 if outcome.identical else 1


def _print_reproduction(outcome: Reproduction) -> None:
    where = (
        f"re-ran at the entry's commit {outcome.ran_at} ({outcome.why})"
        if outcome.at_entry_commit
        else f"re-ran with this checkout's code ({outcome.why})"
    )
    compared = (
        "contexts and predictions"
        if outcome.contexts_compared
        else "predictions only (the entry has no recorded contexts)"
    )
    if outcome.identical:
        print(
            f"REPRODUCED {outcome.entry_id}: {outcome.samples} of {outcome.samples} predictions "
            f"identical, same models ({outcome.wall_time_s} s; run folder {outcome.run_dir})"
        )
        print(f"  {where}; compared {compared}")
        return
    print(f"NOT REPRODUCED {outcome.entry_id} (run folder {outcome.run_dir}):")
    print(f"  {where}; compared {compared}")
    for line in outcome.model_mismatches:
        print(f"  - model differs: {line}")
    for line in outcome.score_mismatches:
        print(f"  - {line}")
    if outcome.differing:
        shown = ", ".join(outcome.differing[:10])
        more = f" (and {len(outcome.differing) - 10} more)" if len(outcome.differing) > 10 else ""
        print(f"  - {len(outcome.differing)} of {outcome.samples} samples differ: {shown}{more}")
        for sid in outcome.differing[:10]:
            print(f"    {sid}: at {outcome.divergences[sid]}")
    if outcome.other_code:
        print(
            f"  - the entry was made with drp-bench at commit {outcome.entry_commit}, this ran "
            f"at {outcome.ran_at}: code may have changed since (git log "
            f"{outcome.entry_commit}..{outcome.ran_at})"
        )


def _build(args: argparse.Namespace) -> int:
    from drp_bench.leaderboard.board import collect_board
    from drp_bench.leaderboard.build import render_html, render_readme, write_site

    board, excluded = collect_board(args.board, dict(args.data))
    for item in excluded:  # one line each, then the other problems
        more = len(item.problems) - 1
        extra = f" (and {more} more problem(s), below)" if more > 0 else ""
        print(f"left out {item.entry_id}: {item.problems[0]}{extra}", file=sys.stderr)
        for problem in item.problems[1:]:
            print(f"  - {problem}", file=sys.stderr)
    out = args.out or args.board
    if args.check:
        stale = [
            name
            for name, text in (
                ("README.md", render_readme(board)),
                ("index.html", render_html(board)),
            )
            if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text
        ]
        for name in stale:
            print(f"{out / name}: out of date (run `drp-bench leaderboard build`)", file=sys.stderr)
        return 1 if stale or excluded else 0
    for path in write_site(board, out):
        print(path)
    trust = {
        t: sum(r["trust"] == t for r in board["rows"])
        for t in ("reproduced", "verified", "reported")
    }
    suspect = sum(bool(r["flags"]) and r["rank"] is None for r in board["rows"])
    print(
        ", ".join(f"{n} {t}" for t, n in trust.items())
        + f" rows ({suspect} suspect, not ranked); {len(excluded)} entries left out"
    )
    return 1 if excluded else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="drp-bench leaderboard",
        description="Verify, reproduce and publish leaderboard entries.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("verify", help="check entries; list every problem of each")
    p.add_argument("entries", nargs="*", help="entry ids or folders (default: all)")
    p.add_argument(
        "--record", action="store_true",
        help="record the verified entries in verifications.json (for splits whose data is "
        "not in the repository)",
    )  # fmt: skip
    _board_arg(p)
    _data_option(p)
    p.set_defaults(func=_verify)

    p = sub.add_parser("register-split", help="register a split from its data")
    p.add_argument("split_id", help="<dataset>/<name>, e.g. books/test")
    p.add_argument("--data", dest="data_path", required=True, help="data folder or bundled:NAME")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=None, help="only the first N samples")
    p.add_argument("--title", default=None)
    p.add_argument("--description", default="")
    p.add_argument("--how-to-get", default=None, help="how others obtain this data")
    p.add_argument("--public", action=argparse.BooleanOptionalAction, default=None)
    _board_arg(p)
    p.set_defaults(func=_register)

    p = sub.add_parser(
        "reproduce", help="re-run an entry's config; compare contexts, then predictions"
    )
    p.add_argument("entry", help="entry id or folder")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--work-dir", type=Path, default=None)
    p.add_argument(
        "--cache", type=Path, default=None,
        help="answer from this call cache (default: an empty one, so every call is made again)",
    )  # fmt: skip
    p.add_argument("--record", action="store_true", help="record the outcome")
    p.add_argument(
        "--here", action="store_true",
        help="re-run with this checkout's code even when the entry was made with other "
        "prompts (default: at the entry's own commit, in a temporary git worktree)",
    )  # fmt: skip
    _board_arg(p)
    _data_option(p)
    p.set_defaults(func=_reproduce)

    p = sub.add_parser("build", help="render README.md and index.html")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the board)")
    p.add_argument("--check", action="store_true", help="only check the files are current")
    _board_arg(p)
    _data_option(p)
    p.set_defaults(func=_build)

    args = parser.parse_args(argv)
    return int(args.func(args))

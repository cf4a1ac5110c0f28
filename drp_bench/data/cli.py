"""``drp-bench data``: build DPL-style splits from raw Amazon files, or check a built dataset.

drp-bench data build --reviews PATH --meta PATH --out DIR [--on-bad-line error|skip]
                     [--min-review-chars N ...]
drp-bench data check PATH [--meta PATH] [--split S|all]

Any failure (bad data, a build stage that leaves nothing, an empty or duplicated split) prints
one ``error: ...`` line and returns 1.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import statistics
import sys
from dataclasses import fields
from pathlib import Path

from drp_bench.data.builder import BuildConfig, BuildReport, build
from drp_bench.data.loader import DataValidationError, available_splits, load_dataset
from drp_bench.data.raw import ON_BAD_LINE, RawDataError


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drp-bench data", description="Build or check DPL-style review data."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build train/validation/test + meta from raw Amazon files")
    b.add_argument("--reviews", required=True, type=Path, help="raw review file (.jsonl[.gz])")
    b.add_argument("--meta", required=True, type=Path, help="raw metadata file (JSON/literal)")
    b.add_argument("--out", required=True, type=Path, help="output directory")
    b.add_argument("--gzip", action="store_true", help="write .jsonl.gz instead of .jsonl")
    b.add_argument("-q", "--quiet", action="store_true", help="only print the summary")
    b.add_argument(
        "--on-bad-line",
        choices=ON_BAD_LINE,
        default="error",
        help="an unparsable raw review/metadata line: abort naming file and line (error, the "
        "default), or skip it and count it in build_info.json (skip)",
    )
    defaults = BuildConfig()
    for f in fields(BuildConfig):
        default = getattr(defaults, f.name)
        help_text = f"{f.metadata.get('help', '')} (default: {default})"
        if f.type == "bool":
            b.add_argument(
                _flag(f.name),
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=help_text,
            )
        else:
            b.add_argument(
                _flag(f.name), dest=f.name, type=int, default=default, metavar="N", help=help_text
            )

    c = sub.add_parser("check", help="load and validate a built dataset, print counts")
    c.add_argument("path", type=Path, help="data file or folder (JSONL, Parquet, save_to_disk)")
    c.add_argument("--meta", type=Path, default=None, help="metadata (default: meta.* beside)")
    c.add_argument("--split", default="test", help="split to check, or 'all' (default: test)")
    return parser


def _run_build(args: argparse.Namespace, argv: list[str]) -> int:
    config = BuildConfig(**{f.name: getattr(args, f.name) for f in fields(BuildConfig)})
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    command = shlex.join(["drp-bench", "data", *argv])
    try:
        report = build(
            args.reviews,
            args.meta,
            args.out,
            config,
            command=command,
            compress=args.gzip,
            on_bad_line=args.on_bad_line,
        )
    except RawDataError as err:
        if err.whole_file or args.on_bad_line != "error":
            raise
        raise RawDataError(
            err.path,
            err.line,
            f"{err.message} (--on-bad-line skip skips and counts such lines)",
            err.field,
        ) from None
    _print_build_summary(report)
    return 0


def _print_build_summary(report: BuildReport) -> None:
    for stage, numbers in report.counts.items():
        print(f"{stage}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))
    if report.on_bad_line == "skip":
        parts = []
        for name, count in report.bad_lines.items():
            lines = report.bad_line_numbers.get(name, [])
            shown = ", ".join(map(str, lines)) + (", ..." if count > len(lines) else "")
            parts.append(f"{name}={count}" + (f" (lines {shown})" if count else ""))
        print("bad lines skipped: " + ", ".join(parts))
    print(f"wrote {', '.join(report.outputs)} and build_info.json to {report.out_dir}")


def _run_check(args: argparse.Namespace) -> int:
    splits = [args.split]
    if args.split == "all":
        splits = available_splits(args.path) or ["test"]
    for split in splits:
        ds = load_dataset(args.path, args.meta, split=split)
        lengths = [len(s.profile) for s in ds.samples]
        users = {s.user_id for s in ds.samples}
        print(
            f"{ds.name} [{split}]: {len(ds.samples)} samples, {len(users)} users, "
            f"{len(ds.items)} items"
        )
        if lengths:
            print(
                f"  profile length: min {min(lengths)}, median {statistics.median(lengths)}, "
                f"max {max(lengths)}"
            )
        for file, digest in ds.fingerprint.items():
            print(f"  {file}: {digest}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``drp-bench data ...``; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help or a usage error
        return int(exit_.code or 0)
    try:
        if args.command == "build":
            return _run_build(args, argv)
        return _run_check(args)
    except (DataValidationError, RawDataError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

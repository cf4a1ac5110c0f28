"""``drp-bench plan [-m] [--out FILE] [--json] OVERRIDES``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

DESCRIPTION = """\
What `drp-bench run [-m] OVERRIDES` will cost, before anything runs: per job and stage the
calls, the calls already in the call cache, prompt tokens (counted with the model's own
tokenizer where it is on this machine), expected completion tokens (the call cache's records
for that model and stage, else max_tokens as an upper bound), and the hours and GPU-hours at
each model's `throughput` (conf/model/*.yaml; override e.g.
extractor.throughput.decode_tokens_per_s=3000). Writes plan.json (default: into the run's or
sweep's folder, hydra.run.dir / hydra.sweep.dir; `drp-bench report` on that folder puts the
plan beside what happened)."""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="drp-bench plan", description=DESCRIPTION)
    parser.add_argument("-m", "--multirun", action="store_true", help="plan a sweep")
    parser.add_argument("--out", type=Path, help="where to write plan.json")
    parser.add_argument("--json", action="store_true", help="print plan.json, not the table")
    parser.add_argument(
        "--completion-tokens",
        type=int,
        metavar="N",
        help="completion tokens expected per call where the call cache has no record of the "
        "model and stage (default: its max_tokens, an upper bound)",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for drp-bench run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # a plan downloads nothing: models and tokenizers are looked up on this machine only
    os.environ["HF_HUB_OFFLINE"] = "1"
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)  # no retry lines, ever
    from drp_bench.pipeline.representatives import EmbedderMissing
    from drp_bench.plan.plan_file import PLAN_FILE, write_plan
    from drp_bench.plan.sweep import plan
    from drp_bench.plan.table import format_plan

    try:
        expected = args.completion_tokens
        if expected is not None and expected < 1:
            raise ValueError(f"--completion-tokens: expected N >= 1, found {expected}")
        body = plan(args.overrides, multirun=args.multirun, completion_tokens=expected)
    except Exception as exc:  # bad config or data: one line, as drp-bench run
        kind = "" if isinstance(exc, EmbedderMissing) else f"{type(exc).__name__}: "
        print(f"drp-bench plan: {kind}{exc}", file=sys.stderr)
        return 1
    out = args.out or Path(body["folder"] or ".") / PLAN_FILE
    write_plan(body, out)
    print(json.dumps(body, indent=1) if args.json else format_plan(body))
    print(f"plan: {out}", file=sys.stderr)
    return 0

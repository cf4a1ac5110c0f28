"""Cache effectiveness: a re-run of a finished sweep makes no model call and costs little.

Runs a two-job sweep (Non-P and RAG on 3 users of the bundled sample, embedded model) twice
with ``drp-bench run -m`` in a fresh process each time, against one fresh call cache. The
first pass makes every call; the second finds every call in the cache. Prints each pass's
wall time (process start to exit), the time inside its runs (metrics.json ``wall_time_s``: data,
contexts, calls or cache reads, metrics, writing) and the rest (interpreter start, imports,
Hydra composing the sweep and each job), the calls sent to the model, and the ratio of the
second pass's wall time to the first's (target: under 0.05).

The first pass is dominated by model calls, so the ratio depends on the model's speed:
``--threads 1`` (needed on a shared CPU) makes calls slower and the ratio smaller; the figures
say which threads were used.
Usage: python benchmarks/cache_effectiveness.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import drp_bench_run, run_metrics, uptime

SWEEP = ["-m", "method=nonp,rag", "generator.sampling.max_tokens=128"]
TARGET_RATIO = 0.05
ROLES = ("extractor", "generator")


def run_pass(name: str, root: Path, overrides: list[str]) -> tuple[float, list[dict]]:
    """One pass of the sweep into ``root/name``: its wall time and its runs' metrics."""
    wall = drp_bench_run(*SWEEP, *overrides, f"hydra.sweep.dir={root / name}")
    runs = run_metrics(root / name)
    made = sum(r["calls"]["total"] - r["calls"]["cached"] for r in runs)
    total = sum(r["calls"]["total"] for r in runs)
    inside = sum(r["wall_time_s"] for r in runs)
    print(
        f"{name} pass: {len(runs)} runs, {made} of {total} calls sent to the model, "
        f"{wall:.2f} s wall = {inside:.2f} s in runs + {wall - inside:.2f} s process start, "
        "imports and Hydra"
    )
    return wall, runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 user instead of 3")
    parser.add_argument("--threads", type=int, help="llama.cpp n_threads for every role")
    args = parser.parse_args()
    overrides = [f"dataset.limit={1 if args.quick else 3}"]
    if args.threads:
        overrides += [f"{r}.backend.options.n_threads={args.threads}" for r in ROLES]
    print(f"load at start: {uptime()}")
    print(f"sweep: {' '.join(SWEEP + overrides)}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        overrides.append(f"cache.path={root / 'calls.sqlite'}")
        first_wall, first_runs = run_pass("first", root, overrides)
        second_wall, second_runs = run_pass("second", root, overrides)
    print(f"load at end: {uptime()}")
    ratio = second_wall / first_wall
    print(f"second/first wall time ratio: {ratio:.3f}")
    made = sum(r["calls"]["total"] - r["calls"]["cached"] for r in second_runs)
    print(f"model calls in the second pass: {made}")
    same = [r["metrics"] for r in first_runs] == [r["metrics"] for r in second_runs]
    print(f"identical scores in both passes: {'yes' if same else 'NO'}")
    print(f"target (ratio under {TARGET_RATIO}): {'met' if ratio < TARGET_RATIO else 'NOT met'}")
    return 0 if same and made == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Cache effectiveness: a second run of the same small sweep makes zero model calls.

Runs a two-job sweep (Non-P and RAG on 3 users of the bundled sample, embedded model) twice
against a fresh call cache and prints the calls made and the wall time of each pass, and the
ratio of the second to the first. Usage: python benchmarks/cache_effectiveness.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import drp_bench_run, run_metrics

SWEEP = ["-m", "method=nonp,rag", "dataset.limit=3", "generator.sampling.max_tokens=128"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cache = f"cache.path={root / 'calls.sqlite'}"
        passes = []
        for name in ("first", "second"):
            wall = drp_bench_run(*SWEEP, cache, f"hydra.sweep.dir={root / name}")
            runs = run_metrics(root / name)
            made = sum(r["calls"]["total"] - r["calls"]["cached"] for r in runs)
            total = sum(r["calls"]["total"] for r in runs)
            passes.append((name, wall, made, total, len(runs)))
            print(
                f"{name} pass: {len(runs)} runs, {made} of {total} calls sent to the model, "
                f"{wall:.1f} s wall"
            )
        (_, first_wall, *_), (_, second_wall, second_made, *_) = passes
        print(f"second/first wall time ratio: {second_wall / first_wall:.3f}")
        print(f"model calls in the second pass: {second_made}")


if __name__ == "__main__":
    main()

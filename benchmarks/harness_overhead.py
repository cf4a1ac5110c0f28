"""Harness overhead: the share of a run's wall time spent outside model calls.

Runs the demo configuration (DRP, 4 users of the bundled sample, embedded model) once with a
fresh call cache, in-process, and compares the summed latency of its model calls with the
run's wall time (data loading, BM25, embeddings and K-means, prompt rendering, parsing, cache,
metrics, writing). Process start-up and imports are reported separately.
Usage: python benchmarks/harness_overhead.py [HYDRA OVERRIDES]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

START = time.perf_counter()

from drp_bench import evaluate  # noqa: E402
from drp_bench.summary import stage_calls  # noqa: E402


def main(overrides: list[str]) -> None:
    imports_s = time.perf_counter() - START
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result = evaluate(
            ["+experiment=demo", f"cache.path={root / 'calls.sqlite'}", *overrides],
            out_dir=root / "run",
        )
        metrics, records = result.metrics, result.records
    model_s = sum(call["latency_s"] for r in records for _, call in stage_calls(r))
    wall = metrics["wall_time_s"]
    print(f"imports before the run: {imports_s:.1f} s (not counted below)")
    print(
        f"run wall time: {wall:.1f} s, in model calls: {model_s:.1f} s "
        f"({metrics['calls']['total']} calls)"
    )
    print(f"context building (data, BM25, embeddings, K-means): {metrics['context_time_s']:.1f} s")
    print(f"harness overhead: {100 * (wall - model_s) / wall:.1f}% of the run's wall time")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Metric throughput: score N real review pairs with one process and with a worker pool.

Pairs come from the Amazon 2014 Digital Music 5-core reviews: each review (prediction) is paired
with the next review of the same item (reference), items taken in file order. Prints seconds and
pairs/s for ``score_all(workers=1)`` and ``score_all(workers=W)``, their ratio, and checks that
both give identical results (exit status 1 otherwise).

    python benchmarks/metric_throughput.py [--n 5000] [--workers 2] [--reviews PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

from drp_bench.metrics.nltk_data import verify_nltk_data
from drp_bench.metrics.text import score_all

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REVIEWS = (
    REPO.parent / "shared/data/amazon2014-digital-music/reviews_Digital_Music_5.jsonl.gz"
)


def load_pairs(path: Path, n: int) -> tuple[list[str], list[str]]:
    """``n`` (prediction, reference) pairs: review i vs review i+1 (cyclically) of one item."""
    by_item: dict[str, list[str]] = defaultdict(list)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            row = json.loads(line)
            text = row.get("reviewText", row.get("text"))
            item = row.get("asin", row.get("parent_asin"))
            if not isinstance(text, str) or item is None:
                raise ValueError(f"{path}:{line_no}: expected reviewText/text and asin fields")
            if text.strip():
                by_item[item].append(text)
    preds: list[str] = []
    refs: list[str] = []
    for offset in range(1, max((len(v) for v in by_item.values()), default=1)):
        for texts in by_item.values():
            if len(texts) <= offset:
                continue
            for i, text in enumerate(texts):
                preds.append(text)
                refs.append(texts[(i + offset) % len(texts)])
                if len(preds) == n:
                    return preds, refs
    raise ValueError(f"{path}: only {len(preds)} review pairs available, {n} requested")


def _cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the pool's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="number of pairs (default 5000)")
    parser.add_argument("--workers", type=int, default=2, help="pool size to compare (default 2)")
    parser.add_argument("--reviews", type=Path, default=DEFAULT_REVIEWS, help="reviews jsonl(.gz)")
    args = parser.parse_args(argv)
    if args.workers < 2 or args.n < 1:
        parser.error("--workers must be >= 2 and --n >= 1")
    if not args.reviews.is_file():
        print(
            f"error: reviews file not found: {args.reviews} (pass --reviews PATH)", file=sys.stderr
        )
        return 2

    preds, refs = load_pairs(args.reviews, args.n)
    words = sum(len(t.split()) for t in preds + refs) / (2 * len(preds))
    print(f"{len(preds)} pairs from {args.reviews.name} (mean {words:.0f} words per text)")
    start = time.perf_counter()
    verify_nltk_data()  # loads WordNet once, before timing (forked workers inherit it)
    print(f"NLTK data check + WordNet load: {time.perf_counter() - start:.1f} s")

    results, seconds = {}, {}
    for workers in (1, args.workers):
        cpu0, start = _cpu_seconds(), time.perf_counter()
        results[workers] = score_all(preds, refs, workers=workers)
        seconds[workers] = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu0
        print(
            f"workers={workers}: {seconds[workers]:7.1f} s  "
            f"({len(preds) / seconds[workers]:6.1f} pairs/s, CPU {cpu:.1f} s "
            f"= {cpu / seconds[workers]:.2f} cores busy)"
        )
    print(f"speed-up workers={args.workers} vs 1: {seconds[1] / seconds[args.workers]:.2f}x")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (1 min)")
    print("scores:", json.dumps(results[1], sort_keys=True))
    if results[1] != results[args.workers]:
        print(f"MISMATCH: workers={args.workers} gave {results[args.workers]}", file=sys.stderr)
        return 1
    print(f"workers=1 and workers={args.workers} agree exactly")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Rewrite this folder's subset from the full raw files (not run by the tests).

    python tests/data/amazon2014_digital_music_subset/make_subset.py \
        tests/data/amazon2014_digital_music

Keeps, verbatim and in file order: every review of the DPL-style core (760 reviews) and, of
the other reviews that pass the review filter, as few as keep the same core in the same
number of rounds (each one dropped, longest first, unless that changes the core or its
rounds; two passes); every 50th review the short-text filter rejects; the metadata line of
every item those reviews name. Deterministic gzip (mtime 0).
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import sys
from pathlib import Path

import numpy as np

from drp_bench.data.builder import BuildConfig, ReviewTable, core_filter, scan_meta, scan_reviews

REVIEWS = "reviews_Digital_Music_5.jsonl.gz"
META = "meta_Digital_Music.pyjson.gz"
CONFIG = BuildConfig(min_user_reviews=8, min_item_users=5, require_description=False)
SHORT_EVERY = 50


def core_of(table: ReviewTable, mask: np.ndarray) -> tuple[set[int], int]:
    """Line numbers of the core of the rows in ``mask``, and its number of rounds."""
    result = core_filter(
        table.user[mask],
        table.item[mask],
        table.timestamp[mask],
        table.text_key[mask],
        min_item_users=CONFIG.min_item_users,
        min_user_reviews=CONFIG.min_user_reviews,
        max_user_reviews=CONFIG.max_user_reviews,
    )
    return set(table.line[mask][result.rows].tolist()), result.iterations


def kept_lines(table: ReviewTable, lines: list[str]) -> set[int]:
    """Lines of the core plus the fewest other rows (greedy) that keep its rounds."""
    keep = np.ones(len(table), dtype=bool)
    core, rounds = core_of(table, keep)
    is_core = np.isin(table.line, sorted(core))
    for _ in range(2):
        others = np.flatnonzero(keep & ~is_core).tolist()
        for row in sorted(others, key=lambda r: -len(lines[table.line[r] - 1])):
            keep[row] = False
            if core_of(table, keep) != (core, rounds):
                keep[row] = True
    return set(table.line[keep].tolist())


def read_lines(path: Path) -> list[str]:
    return gzip.decompress(path.read_bytes()).decode("utf-8").splitlines(keepends=True)


def write_gzip(path: Path, lines: list[str]) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as out:
        out.write("".join(lines).encode("utf-8"))
    path.write_bytes(buf.getvalue())


def main(shared: Path, out: Path) -> None:
    lines = read_lines(shared / REVIEWS)
    meta_lines = read_lines(shared / META)
    meta = scan_meta(shared / META, CONFIG)
    table = scan_reviews(shared / REVIEWS, meta.lines, CONFIG)
    short = [
        n
        for n, line in enumerate(lines, start=1)
        if len(json.loads(line).get("reviewText") or "") < CONFIG.min_review_chars
    ]
    chosen = sorted(kept_lines(table, lines) | set(short[::SHORT_EVERY]))
    asins = {json.loads(lines[n - 1])["asin"] for n in chosen}
    write_gzip(out / REVIEWS, [lines[n - 1] for n in chosen])
    write_gzip(out / META, [m for m in meta_lines if ast.literal_eval(m)["asin"] in asins])


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parent)

"""A DPL-layout dataset of N test users, replicated from the bundled sample in shards.

Shard ``s`` is a copy of the sample's test users in which every user id and every item id
(asin, with its metadata row) gets the suffix ``~sNNNNN``. Each item therefore keeps the
reviewers it has in the real sample, whatever N: per-item work (representatives' K-means,
the eligible comparison items) stays as in real data, instead of growing with N as it would if
only users were copied. Every review text of shard ``s > 0`` gets a small, seeded, deterministic
perturbation (two adjacent words swapped), so its embedding really has to be computed.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from drp_bench.data.locate import SAMPLE_DATA

SOURCE = SAMPLE_DATA / "music_sample"
SEED = 20251119


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _perturb(text: str, rng: random.Random) -> str:
    """Swap two adjacent words (a text of fewer than two words gets a trailing space)."""
    words = text.split(" ")
    if len(words) < 2:
        return text + " "
    i = rng.randrange(len(words) - 1)
    words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def _review(review: dict[str, Any], suffix: str, rng: random.Random | None) -> dict[str, Any]:
    text = review["text"] if rng is None else _perturb(review["text"], rng)
    return {**review, "asin": review["asin"] + suffix, "text": text}


def _shard_rows(rows: list[dict[str, Any]], shard: int, seed: int) -> Iterator[dict[str, Any]]:
    suffix = f"~s{shard:05d}"
    rng = random.Random(seed * 1_000_003 + shard) if shard else None
    for row in rows:
        yield {
            **row,
            "user_id": row["user_id"] + suffix,
            "profile": [_review(r, suffix, rng) for r in row["profile"]],
            "data": _review(row["data"], suffix, rng),
        }


@contextlib.contextmanager
def _gzip_text(path: Path) -> Iterator[TextIO]:
    """A gzip text writer with fixed header fields (no time, no name): same data, same bytes.
    Level 1: writing the data is set-up, not the harness; keep it quick."""
    with (
        path.open("wb") as raw,
        gzip.GzipFile("", "wb", 1, raw, mtime=0) as gz,
        io.TextIOWrapper(gz, encoding="utf-8") as fh,
    ):
        yield fh


def build_scaled_dataset(out_dir: Path, users: int, seed: int = SEED) -> Path:
    """Write ``test.jsonl.gz`` (``users`` samples) and ``meta.jsonl.gz`` to ``out_dir``."""
    if users < 1:
        raise ValueError(f"users must be >= 1, found {users}")
    rows = _read_jsonl(SOURCE / "test.jsonl.gz")
    meta = _read_jsonl(SOURCE / "meta.jsonl.gz")
    out_dir.mkdir(parents=True, exist_ok=True)
    shards = -(-users // len(rows))
    written = 0
    with _gzip_text(out_dir / "test.jsonl.gz") as fh:
        for shard in range(shards):
            for row in _shard_rows(rows, shard, seed):
                if written == users:
                    break
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
    with _gzip_text(out_dir / "meta.jsonl.gz") as fh:
        for shard in range(shards):
            suffix = f"~s{shard:05d}"
            for item in meta:
                fh.write(json.dumps({**item, "asin": item["asin"] + suffix}) + "\n")
    return out_dir


def data_size_mb(folder: Path) -> float:
    """Uncompressed size of the dataset's files, in MB (what the loader reads)."""
    total = 0
    for path in folder.glob("*.jsonl.gz"):
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                total += len(chunk)
    return total / 1e6

"""DRP end to end on one bundled sample with the embedded model (SmolLM2-135M), the same run
without and with ``extractor.sampling.grammar=features`` (the validator follows the
extractor): held to the grammar, every comparison item's extraction and validation parse."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TINY
from tests.test_end_to_end import drp_bench

pytestmark = pytest.mark.slow

# TINY, but with room for a whole feature block (a block the grammar admits needs up to about
# 100-300 tokens of this model; TINY's 48 would cut every one)
# One sample keeps the two runs to a few minutes in CI.
_REPLACED = ("extractor.sampling.max_tokens", "dataset.limit")
SETTINGS = [*(o for o in TINY if not o.startswith(_REPLACED)),
            "extractor.sampling.max_tokens=256", "dataset.limit=1"]  # fmt: skip


def _run(root: Path, name: str, *extra: str) -> tuple[dict[str, Any], list[dict], float]:
    run_dir = root / name
    start = time.perf_counter()
    proc = drp_bench(
        "run", *SETTINGS, f"cache.path={root / name}.sqlite", f"hydra.run.dir={run_dir}", *extra,
        timeout=3600,
    )  # fmt: skip
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    return metrics, rows, wall


def _items(rows: list[dict], stage: str) -> list[dict]:
    return [item for row in rows for item in row["stages"].get(stage) or []]


def _line(label: str, metrics: dict[str, Any], wall: float) -> str:
    parts = [f"{label:>8}: wall {wall:6.1f} s"]
    for key in ("extracted_features", "features"):
        f = metrics[key]
        parts.append(
            f"{f['stage']:>8} parsed {f['parsed']}/{f['items']} malformed {f['malformed']}"
            f" failed {f['failed']} per-item mean {f['per_item_mean']:.2f}"
        )
    return " | ".join(parts)


@pytest.mark.timeout(3600)  # two runs of the embedded model on a shared 2-core CPU
def test_the_grammar_makes_every_comparison_item_parse(tmp_path: Path) -> None:
    held, held_rows, held_wall = _run(tmp_path, "grammar", "extractor.sampling.grammar=features")
    print("\n" + _line("grammar", held, held_wall), flush=True)
    plain, plain_rows, plain_wall = _run(tmp_path, "plain")
    print(_line("no grammar", plain, plain_wall), flush=True)
    for stage in ("extract", "validate"):
        items = _items(held_rows, stage)
        assert items and len(items) == len(_items(plain_rows, stage))
        for item in items:
            assert item["error"] is None and item["parse_ok"] and item["features"], item["output"]
    assert held["features"]["parsed"] == held["features"]["items"] > 0
    assert held["extracted_features"]["malformed"] == held["features"]["malformed"] == 0
    assert held["run"]["num_samples"] == plain["run"]["num_samples"] == 1

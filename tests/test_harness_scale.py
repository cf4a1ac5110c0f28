"""The scale benchmark's machinery at 100 users, and its replicated data (no timing asserted)."""

from __future__ import annotations

import csv
import gzip
import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from drp_bench.data.loader import load_dataset

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _module(name: str) -> ModuleType:
    """A benchmark script as a module (the scripts are not a package)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


scaled_data = _module("scaled_data")
harness_scale = _module("harness_scale")


def _rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_replicated_data_loads_with_distinct_users_and_items_per_shard(tmp_path: Path) -> None:
    source = _rows(scaled_data.SOURCE / "test.jsonl.gz")
    users = len(source) + 13  # a full shard and part of a second
    folder = scaled_data.build_scaled_dataset(tmp_path / "a", users)
    dataset = load_dataset(folder, None)  # the validating loader: every item has metadata
    assert len(dataset.samples) == users
    assert len({s.user_id for s in dataset.samples}) == users
    first, second = dataset.samples[0], dataset.samples[len(source)]
    assert first.user_id.split("~")[0] == second.user_id.split("~")[0]
    # the copy reviews its own copies of the items, in other words
    assert {r.asin for r in first.profile}.isdisjoint(r.asin for r in second.profile)
    assert [r.text for r in first.profile] != [r.text for r in second.profile]
    assert sorted(first.profile[0].text.split()) == sorted(second.profile[0].text.split())
    # fixed seed: the same bytes again
    again = scaled_data.build_scaled_dataset(tmp_path / "b", users)
    for name in ("test.jsonl.gz", "meta.jsonl.gz"):
        assert (folder / name).read_bytes() == (again / name).read_bytes()


@pytest.mark.slow  # a subprocess run of 100 users then the report: 30-60 s on 2 busy cores
def test_scale_benchmark_runs_every_phase_at_100_users(tmp_path: Path) -> None:
    fig = harness_scale.run_size(100, tmp_path, "scripted")
    assert fig["predictions"] == 100
    assert fig["status"] == "complete"
    assert fig["report_exit"] == 0
    report = tmp_path / "u100" / "report"
    with (report / "runs.csv").open() as fh:
        (run,) = list(csv.DictReader(fh))
    assert (run["status"], run["done"]) == ("complete", "100")
    with (report / "results.csv").open() as fh:
        meteor = [r for r in csv.DictReader(fh) if r["metric"] == "meteor"]
    assert len(meteor) == 1 and float(meteor[0]["ci_low"]) <= float(meteor[0]["value"])
    assert set(fig["seconds"]) == set(harness_scale.PHASES_ALL)
    assert all(fig["seconds"][p] > 0 for p in harness_scale.PHASES_ALL)
    assert set(fig["peak_mb"]) >= {"load", "pipeline", "score", "write", "report"}
    assert all(mb > 0 for mb in fig["peak_mb"].values())
    assert harness_scale.harness_seconds(fig) / fig["users"] > 0
    assert fig["calls"] > 100 and fig["prompt_chars"] > 0 and fig["texts_embedded"] > 0
    assert Path(fig["drp_bench"]).parent == Path(harness_scale.REPO) / "drp_bench"
    table = harness_scale.format_table([fig])
    assert all(p[:16] in table for p in harness_scale.PHASES_ALL)
    # the model time compared with is drp-bench plan's, for the same calls with the 7B model
    plan = fig["plan"]
    assert plan["calls"] == fig["calls"]
    assert plan["hours"]["max_tokens"] > plan["hours"]["400/call"] > 0
    estimate = harness_scale.format_model_estimate(fig, rate=10.0)
    assert "% of it" in estimate and "texts/s" in estimate and "drp-bench plan" in estimate

"""``leaderboard reproduce`` on a real embedded-model entry: re-run with an empty call cache,
identical predictions; and an entry whose predictions were edited (scores re-claimed, id
re-derived, so it still verifies) fails, naming the samples that differ."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drp_bench import evaluate
from drp_bench.leaderboard import cli
from drp_bench.leaderboard.records import REPRODUCTIONS, load_records
from drp_bench.leaderboard.scoring import score_entry
from drp_bench.leaderboard.splits import load_registry, register_split, split_references
from drp_bench.leaderboard.submit import submit_run
from drp_bench.leaderboard.verify import verify_entry
from tests.test_leaderboard import SPLIT, read_rows, read_sub, reseal, write_rows, write_sub

pytestmark = pytest.mark.slow
DEMO = ["+experiment=demo", "method=nonp", "dataset.limit=3", "generator.sampling.max_tokens=48"]


@pytest.fixture(scope="module")
def entry_board(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("reproduce")
    board = root / "board"
    register_split(board, SPLIT, "bundled:music_sample", limit=3)
    run = evaluate([*DEMO, f"cache.path={root / 'calls.sqlite'}"], out_dir=root / "run")
    assert run.status == "complete"
    return board, submit_run(run.run_dir, board, submitter="ci")


def test_reproduce_passes_on_a_real_embedded_model_entry(entry_board, capsys) -> None:
    board, entry = entry_board
    work = board.parent / "reproduction"
    code = cli.main(
        ["reproduce", entry.name, "--board", str(board), "--work-dir", str(work), "--record"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"REPRODUCED {entry.name}: 3 of 3 predictions identical, same models" in out
    metrics = json.loads((work / "run" / "metrics.json").read_text())
    assert metrics["calls"]["cached"] == 0, "a fresh cache: every call made again"
    assert metrics["calls"]["total"] == 3
    record = load_records(board, REPRODUCTIONS)[entry.name]
    assert record["identical"] is True and record["predictions_sha256"].startswith("sha256:")


def test_reproduce_fails_on_edited_predictions_naming_the_samples(
    entry_board, tmp_path, capsys
) -> None:
    board, original = entry_board
    forged = board / "entries" / "forged"
    import shutil

    shutil.copytree(original, forged)
    rows = read_rows(forged)
    rows[1]["prediction"] = "A fine album, I listen to it every day."
    write_rows(forged, rows)
    split = load_registry(board).get(SPLIT)
    claims = score_entry(
        split.sample_ids,
        {r["sample_id"]: r["prediction"] for r in rows},
        split_references(split),
        42,
    )
    sub = read_sub(forged)
    sub["metrics"], sub["submitter"] = claims, "forger"
    write_sub(forged, sub)
    forged = reseal(forged)
    assert verify_entry(forged, board).problems == [], "a consistent forgery verifies"
    # the first test's reproduction cache holds the model's real answers for these prompts
    cache = board.parent / "reproduction" / "calls.sqlite"
    assert cache.is_file()
    code = cli.main(
        ["reproduce", forged.name, "--board", str(board), "--work-dir", str(tmp_path),
         "--cache", str(cache)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert f"NOT REPRODUCED {forged.name}" in out
    assert f"1 of 3 predictions differ: {rows[1]['sample_id']}" in out

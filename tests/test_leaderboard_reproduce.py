"""``leaderboard reproduce`` on a real embedded-model entry: re-run with an empty call cache,
identical contexts and predictions; an entry whose predictions were edited (scores
re-claimed, id re-derived, so it still verifies) fails, naming the samples that differ and the
step; a DRP entry with one representative id altered fails at that sample's context, naming
the item and both lists; an entry without contexts is compared on its predictions only."""

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
    assert "re-ran with this checkout's code (its prompts are this checkout's)" in out
    assert "compared contexts and predictions" in out
    metrics = json.loads((work / "run" / "metrics.json").read_text())
    assert metrics["calls"]["cached"] == 0, "a fresh cache: every call made again"
    assert metrics["calls"]["total"] == 3
    record = load_records(board, REPRODUCTIONS)[entry.name]
    assert record["identical"] is True and record["predictions_sha256"].startswith("sha256:")
    assert record["ran_at_commit"] == record["git_commit"] and not record["at_entry_commit"]


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
    assert f"1 of 3 samples differ: {rows[1]['sample_id']}" in out
    assert f"{rows[1]['sample_id']}: at prediction (same context)" in out


# ---------------------------------------------------------------- a DRP entry's contexts

DRP_SPLIT = "music_sample/test-2"
DRP = [
    "method=drp", "method.validate=false", "dataset.limit=2", "num_retrieved=1", "num_users=2",
    "extractor.sampling.max_tokens=8", "generator.sampling.max_tokens=8",
]  # fmt: skip


@pytest.fixture(scope="module")
def drp_board(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(board, the DRP entry, the call cache of the run that made it)."""
    root = tmp_path_factory.mktemp("reproduce-drp")
    board, cache = root / "board", root / "calls.sqlite"
    register_split(board, DRP_SPLIT, "bundled:music_sample", limit=2)
    run = evaluate([*DRP, f"cache.path={cache}"], out_dir=root / "run")
    assert run.status == "complete"
    return board, submit_run(run.run_dir, board, submitter="ci"), cache


def _forge(entry: Path, edit) -> Path:
    """A copy of ``entry`` with its rows edited by ``edit``, re-sealed (still verifies)."""
    import shutil

    forged = entry.parent / "forged"
    shutil.rmtree(forged, ignore_errors=True)
    shutil.copytree(entry, forged)
    rows = read_rows(forged)
    edit(rows)
    write_rows(forged, rows)
    return reseal(forged)


def test_an_altered_representative_is_named_at_the_context_step(drp_board, capsys) -> None:
    board, entry, cache = drp_board
    rows = read_rows(entry)
    target = next(r for r in rows if r["context"]["comparisons"])
    item = target["context"]["comparisons"][0]
    real = list(item["representatives"])
    fake = [*real[:-1], "SOMEONE-ELSE"]

    def alter(rows: list[dict]) -> None:
        for row in rows:
            if row["sample_id"] == target["sample_id"]:
                row["context"]["comparisons"][0]["representatives"] = fake

    forged = _forge(entry, alter)
    assert verify_entry(forged, board).problems == []
    work = board.parent / "forged-run"
    code = cli.main(
        ["reproduce", forged.name, "--board", str(board), "--work-dir", str(work),
         "--cache", str(cache), "--record"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1, out
    assert f"NOT REPRODUCED {forged.name}" in out
    assert "1 of 2 samples differ" in out
    expected = (
        f"context (representatives of item {item['asin']}: [{', '.join(fake)}] vs "
        f"[{', '.join(real)}])"
    )
    assert f"{target['sample_id']}: at {expected}" in out
    record = load_records(board, REPRODUCTIONS)[forged.name]
    assert record["divergences"] == {target["sample_id"]: expected}
    assert record["identical"] is False and record["contexts_compared"] is True


def test_an_entry_without_contexts_is_compared_on_predictions_only(drp_board, capsys) -> None:
    board, entry, cache = drp_board

    def strip(rows: list[dict]) -> None:
        for row in rows:
            del row["context"]

    old = _forge(entry, strip)
    code = cli.main(
        ["reproduce", old.name, "--board", str(board), "--work-dir",
         str(board.parent / "old-run"), "--cache", str(cache)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"REPRODUCED {old.name}: 2 of 2 predictions identical" in out
    assert "compared predictions only (the entry has no recorded contexts)" in out

"""The leaderboard's rules: each verification check broken by a crafted entry, submit's
all-or-nothing write, trust levels, and the CLI's messages.

The entries are made by ``submit`` from a real run folder whose generator is a scripted model
(the code around the model is under test here; nothing of it is reported). Each test copies a
valid board and breaks one thing; ``reseal`` re-derives the entry id after an edit, so a test
sees the rule it breaks and not only "the content changed after submit".
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest

from drp_bench import evaluate
from drp_bench.leaderboard import cli
from drp_bench.leaderboard.board import collect_board
from drp_bench.leaderboard.build import render_html, render_readme
from drp_bench.leaderboard.entry import (
    PREDICTIONS,
    SUBMISSION,
    canonical_json,
    derive_entry_id,
    sha256_text,
)
from drp_bench.leaderboard.records import REPRODUCTIONS, content_hashes, save_record
from drp_bench.leaderboard.reproduce import stored_score_problems
from drp_bench.leaderboard.scoring import score_entry
from drp_bench.leaderboard.splits import load_registry, register_split
from drp_bench.leaderboard.submit import SubmitError, submit_run
from drp_bench.leaderboard.verify import verify_board, verify_entry
from drp_bench.run.folder import PREDICTIONS as PRED_RUN
from tests.test_api import EchoModel

SPLIT = "music_sample/test-3"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a board with one valid entry, the run folder it came from)."""
    root = tmp_path_factory.mktemp("leaderboard")
    board = root / "board"
    register_split(board, SPLIT, "bundled:music_sample", limit=3)
    run = evaluate(
        ["method=rag", "dataset.limit=3", f"cache.path={root / 'calls.sqlite'}"],
        out_dir=root / "run",
        backends={"generator": EchoModel()},
    )
    assert run.status == "complete"
    submit_run(run.run_dir, board, submitter="tester", notes="fixture", date="2026-11-26")
    return board, run.run_dir


@pytest.fixture
def board(made: tuple[Path, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "board"
    shutil.copytree(made[0], copy, symlinks=True)
    return copy


def the_entry(board: Path) -> Path:
    (entry,) = sorted((board / "entries").iterdir())
    return entry


def read_sub(entry: Path) -> dict:
    return json.loads((entry / SUBMISSION).read_text())


def read_rows(entry: Path) -> list[dict]:
    return [json.loads(x) for x in gzip.decompress((entry / PREDICTIONS).read_bytes()).splitlines()]


def write_rows(entry: Path, rows: list[dict], update: bool = True) -> None:
    text = "".join(canonical_json(r) + "\n" for r in rows)
    (entry / PREDICTIONS).write_bytes(gzip.compress(text.encode()))
    if update:
        sub = read_sub(entry)
        sub["predictions"].update(sha256=sha256_text(text), rows=len(rows))
        write_sub(entry, sub)


def write_sub(entry: Path, sub: dict) -> None:
    (entry / SUBMISSION).write_text(json.dumps(sub, indent=1))


def reseal(entry: Path) -> Path:
    """Re-derive the id after an edit and rename the folder to it (a careful tamperer)."""
    sub = read_sub(entry)
    sub["entry_id"] = derive_entry_id(sub)
    write_sub(entry, sub)
    target = entry.parent / sub["entry_id"]
    entry.rename(target)
    return target


def problems(board: Path, entry: Path | None = None) -> list[str]:
    return verify_entry(entry or the_entry(board), board).problems


# ---------------------------------------------------------------- a valid entry


def test_a_submitted_run_verifies_with_scores_recomputed_equal_to_its_claims(board: Path) -> None:
    result = verify_entry(the_entry(board), board)
    assert result.problems == []
    assert set(result.recomputed) == {"bleu", "meteor", "rouge1", "rougeL"}
    assert result.recomputed == result.claimed
    sub = read_sub(the_entry(board))
    assert sub["split"]["id"] == SPLIT and sub["predictions"]["rows"] == 3
    assert sub["models"]["generator"]["sha256"].startswith("sha256:")
    assert the_entry(board).name == sub["entry_id"] == derive_entry_id(sub)
    assert sorted(os.listdir(the_entry(board))) == [PREDICTIONS, SUBMISSION]


def test_the_entry_matches_the_runs_metrics(made: tuple[Path, Path]) -> None:
    board, run_dir = made
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    sub = read_sub(the_entry(board))
    for metric in ("bleu", "meteor", "rouge1", "rougeL"):
        assert sub["metrics"][metric]["value"] == pytest.approx(metrics[metric], abs=1e-12)
        assert sub["metrics"][metric]["ci_low"] <= sub["metrics"][metric]["ci_high"]


# ---------------------------------------------------------------- each rule broken


def test_a_tampered_metric_is_rejected_showing_both_numbers(board: Path) -> None:
    entry = the_entry(board)
    sub = read_sub(entry)
    true_value = sub["metrics"]["rougeL"]["value"]
    sub["metrics"]["rougeL"]["value"] = 0.5
    write_sub(entry, sub)
    found = problems(board, reseal(entry))
    assert len(found) == 1, found
    assert f"rougeL: claimed 0.5, recomputed {true_value!r}" in found[0]


def test_editing_after_submit_breaks_the_content_derived_id(board: Path) -> None:
    entry = the_entry(board)
    sub = read_sub(entry)
    sub["notes"] = "changed"
    write_sub(entry, sub)
    assert any("not derived from the content" in p for p in problems(board))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda rows: rows[:-1], "1 of 3 sample(s) of split 'music_sample/test-3' missing"),
        (lambda rows: [*rows, rows[0]], "1 sample id(s) more than once"),
        (
            lambda rows: [*rows, {"sample_id": "SOMEONE:B000", "prediction": "x"}],
            "1 sample id(s) not in split 'music_sample/test-3': SOMEONE:B000",
        ),
    ],
    ids=["missing", "duplicated", "extra"],
)
def test_predictions_must_cover_every_sample_exactly_once(board: Path, edit, expected) -> None:
    entry = the_entry(board)
    write_rows(entry, edit(read_rows(entry)))
    found = problems(board, reseal(entry))
    assert any(expected in p for p in found), found


def test_predictions_edited_without_updating_the_submission_are_caught(board: Path) -> None:
    entry = the_entry(board)
    rows = read_rows(entry)
    rows[0]["prediction"] = "something else entirely"
    write_rows(entry, rows, update=False)
    found = problems(board)
    assert any("the predictions changed after submit" in p for p in found), found


def test_an_unknown_split_is_rejected(board: Path) -> None:
    entry = the_entry(board)
    sub = read_sub(entry)
    sub["split"]["id"] = "music_sample/other"
    write_sub(entry, sub)
    found = problems(board, reseal(entry))
    assert any("split 'music_sample/other': not registered" in p for p in found), found


def test_oversized_fields_and_files_are_rejected(board: Path, monkeypatch) -> None:
    entry = the_entry(board)
    sub = read_sub(entry)
    sub["notes"] = "n" * 3000
    sub["config"]["method"]["name"] = "m" * 20_000
    write_sub(entry, sub)
    rows = read_rows(entry)
    rows[1]["prediction"] = "p" * 25_000
    write_rows(entry, rows)
    entry = reseal(entry)
    found = problems(board, entry)
    assert any("field 'notes'" in p for p in found), found
    assert any("config.method.name': 20000 characters" in p for p in found), found
    assert any(f"{PREDICTIONS}:2: field 'prediction'" in p for p in found), found
    import drp_bench.leaderboard.verify as verify

    monkeypatch.setattr(verify, "MAX_SUBMISSION_BYTES", 1000)
    monkeypatch.setattr(verify, "MAX_PREDICTIONS_BYTES", 100)
    found = problems(board, entry)
    assert any(p.startswith(f"{SUBMISSION}: ") and "bytes (limit 1000)" in p for p in found)
    assert any("bytes decompressed (limit)" in p for p in found), found


def test_path_like_values_are_rejected(board: Path) -> None:
    entry = the_entry(board)
    sub = read_sub(entry)
    sub["config"]["dataset"]["path"] = "../../../etc"
    sub["config"]["generator"]["backend"]["options"]["model_path"] = "/home/me/model.gguf"
    sub["hyperparameters"]["embedding"]["model"] = "~/models/minilm"
    write_sub(entry, sub)
    found = problems(board, reseal(entry))
    for field in ("config.dataset.path", "options.model_path", "hyperparameters.embedding.model"):
        assert any(field in p and "path-like value" in p for p in found), (field, found)


def test_an_entry_id_that_is_a_path_is_rejected(board: Path) -> None:
    entry = the_entry(board)
    sub = read_sub(entry)
    sub["entry_id"] = "../../outside"
    write_sub(entry, sub)
    found = problems(board)
    assert any("field 'entry_id'" in p for p in found), found
    assert any("differs from the folder name" in p for p in found), found


def test_symlinked_entry_folders_and_files_are_rejected(board: Path, tmp_path: Path) -> None:
    entry = the_entry(board)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(entry, elsewhere)
    link = board / "entries" / "music-sample-test-3.rag.linked.000000000000"
    link.symlink_to(elsewhere, target_is_directory=True)
    found = problems(board, link)
    assert found and "a symlink, not an entry folder" in found[0]
    (entry / PREDICTIONS).unlink()
    (entry / PREDICTIONS).symlink_to(elsewhere / PREDICTIONS)
    found = problems(board, entry)
    assert any(f"{PREDICTIONS}: a symlink" in p for p in found), found
    (entry / "run.py").write_text("print('never executed')")
    assert any("run.py: unexpected file" in p for p in problems(board, entry))


def test_malformed_json_is_rejected_with_its_line(board: Path) -> None:
    entry = the_entry(board)
    (entry / SUBMISSION).write_text('{"schema_version": "1",\n  "entry_id": oops}')
    found = problems(board, entry)
    assert any(f"{SUBMISSION}:2: malformed JSON" in p for p in found), found
    rows = gzip.decompress((entry / PREDICTIONS).read_bytes()).decode().splitlines()
    rows[1] = rows[1][:-5]
    (entry / PREDICTIONS).write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    assert any(f"{PREDICTIONS}:2: malformed JSON" in p for p in problems(board, entry))


def test_wrong_types_and_unknown_fields_are_each_listed(board: Path) -> None:
    entry = the_entry(board)
    sub = read_sub(entry)
    sub["split"]["num_samples"] = "3"
    sub["metrics"]["bleu"]["value"] = True
    sub["uploaded_by_bot"] = True
    write_sub(entry, sub)
    rows = read_rows(entry)
    rows[0]["score"] = 1.0
    write_rows(entry, rows)
    found = problems(board, reseal(entry))
    assert any("field 'split.num_samples'" in p for p in found), found
    assert any("field 'metrics.bleu.value'" in p for p in found), found
    assert any("field 'uploaded_by_bot': unknown field" in p for p in found), found
    assert any(f"{PREDICTIONS}:1: field 'score': unknown field" in p for p in found), found


def test_a_rejection_lists_every_problem_not_only_the_first(board: Path) -> None:
    entry = the_entry(board)
    sub = read_sub(entry)
    sub["metrics"]["bleu"]["value"] = 99.0
    sub["notes"] = "x" * 5000
    sub["config"]["dataset"]["path"] = "/data/books"
    write_sub(entry, sub)
    write_rows(entry, read_rows(entry)[:2])
    found = problems(board, reseal(entry))
    assert len(found) >= 3, found
    assert any("field 'notes'" in p for p in found)
    assert any("path-like value" in p for p in found)
    assert any("missing" in p for p in found)


def test_a_duplicate_entry_is_refused(made: tuple[Path, Path], board: Path) -> None:
    entry = the_entry(board)
    twin = board / "entries" / "twin"
    shutil.copytree(entry, twin)
    sub = read_sub(twin)
    sub["submitter"], sub["date"] = "someone else", "2026-12-01"
    write_sub(twin, sub)
    twin = reseal(twin)
    results = {r.entry_id: r.problems for r in verify_board(board)}
    assert results[entry.name] == []
    assert any(f"duplicate of entry {entry.name}" in p for p in results[twin.name])
    shutil.rmtree(twin)
    with pytest.raises(SubmitError, match="duplicate of entry"):
        submit_run(made[1], board, submitter="again")


# ---------------------------------------------------------------- per-sample scores


def stored_scores(run_dir: Path) -> dict[str, dict[str, float]]:
    rows = [json.loads(x) for x in (run_dir / PRED_RUN).read_text().splitlines()]
    return {r["sample_id"]: r["scores"] for r in rows}


def test_verify_recomputes_the_per_sample_scores_the_run_stored_and_the_entry_holds_none(
    made: tuple[Path, Path], board: Path
) -> None:
    result = verify_entry(the_entry(board), board)
    stored = stored_scores(made[1])
    assert all(v is not None for v in stored.values())
    assert result.sample_scores == stored  # recomputed from the entry's predictions
    assert all("scores" not in row for row in read_rows(the_entry(board)))


def test_an_entry_row_with_scores_is_refused(board: Path) -> None:
    entry = the_entry(board)
    rows = read_rows(entry)
    rows[0]["scores"] = {"meteor": 1.0}
    write_rows(entry, rows)
    assert f"{PREDICTIONS}:1: field 'scores': unknown field" in problems(board, reseal(entry))


def test_submit_refuses_a_run_whose_stored_per_sample_scores_differ(
    made: tuple[Path, Path], board: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(made[1], run)
    lines = (run / PRED_RUN).read_text().splitlines()
    row = json.loads(lines[1])
    row["scores"]["rougeL"] += 0.01
    lines[1] = json.dumps(row, ensure_ascii=False)
    (run / PRED_RUN).write_text("\n".join(lines) + "\n")
    with pytest.raises(SubmitError, match="per-sample scores differ") as err:
        submit_run(run, board, submitter="x")
    (problem,) = err.value.problems
    assert "stored per-sample rougeL differs" in problem and row["sample_id"] in problem
    assert "1 sample(s)" in problem


def test_reproduce_checks_the_reruns_stored_scores_against_the_recomputed_ones(
    made: tuple[Path, Path], board: Path
) -> None:
    result = verify_entry(the_entry(board), board)
    assert result.predictions is not None
    run_dir = made[1]
    stored = stored_scores(run_dir)
    preds = dict(result.predictions)
    assert stored_score_problems(run_dir, stored, preds, preds, result.sample_scores) == []
    first = next(iter(stored))
    wrong = {**stored, first: {**stored[first], "meteor": stored[first]["meteor"] + 0.5}}
    (problem,) = stored_score_problems(run_dir, wrong, preds, preds, result.sample_scores)
    assert "stored per-sample meteor differs" in problem and first in problem
    # a sample whose prediction differs is a divergence already: its scores are not compared
    other = {**preds, first: preds[first] + " more"}
    assert stored_score_problems(run_dir, wrong, other, preds, result.sample_scores) == []
    # a re-run made before scores were stored has none to check
    unrecorded = dict.fromkeys(stored)
    assert stored_score_problems(run_dir, unrecorded, preds, preds, result.sample_scores) == []


def test_a_refused_submission_leaves_the_board_untouched(
    made: tuple[Path, Path], board: Path, tmp_path: Path
) -> None:
    before = sorted(str(p.relative_to(board)) for p in board.rglob("*"))
    run = tmp_path / "run"
    shutil.copytree(made[1], run)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["metrics"]["bleu"] += 1.0
    (run / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(SubmitError, match="scores differ") as err:
        submit_run(run, board, submitter="x")
    assert any(p.startswith("bleu: metrics.json") for p in err.value.problems)
    metrics["status"] = "degraded"
    metrics["failures"] = {
        "reason": "1 of 3 calls failed", "calls_by_stage": {}, "samples": [],
        "sample_status": {},
    }  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(SubmitError, match="status 'degraded'"):
        submit_run(run, board)
    assert sorted(str(p.relative_to(board)) for p in board.rglob("*")) == before


def test_a_run_on_an_unregistered_sample_set_is_refused(board: Path, tmp_path: Path) -> None:
    run = evaluate(
        ["method=nonp", "dataset.limit=2", f"cache.path={tmp_path / 'c.sqlite'}"],
        out_dir=tmp_path / "run",
        backends={"generator": EchoModel()},
    )
    with pytest.raises(SubmitError, match=r"match no registered split .*music_sample/test-3"):
        submit_run(run.run_dir, board)


def test_verification_says_which_data_it_needs_when_it_is_absent(board: Path) -> None:
    registry = load_registry(board)
    record = registry.splits[0]
    registry.splits[0] = record.model_copy(
        update={"data": "local", "how_to_get": "the DPL-main export of Books"}
    )
    (board / "splits.json").write_text(json.dumps(registry.model_dump()))
    found = problems(board)
    assert len(found) == 1 and "cannot recompute the scores" in found[0]
    assert "the DPL-main export of Books" in found[0] and f"--data {SPLIT}=PATH" in found[0]
    ok = verify_entry(the_entry(board), board, {SPLIT: Path("bundled:music_sample")})
    assert ok.problems == []


# ---------------------------------------------------------------- trust and the board


def test_board_rows_carry_trust_levels_and_the_papers_reported_numbers(board: Path) -> None:
    view, excluded = collect_board(board)
    assert excluded == []
    ours = [r for r in view["rows"] if r["trust"] != "reported"]
    assert [r["trust"] for r in ours] == ["verified"]
    assert ours[0]["samples"][0]["reference"], "the bundled split's references are public"
    reported = [r for r in view["rows"] if r["trust"] == "reported"]
    assert {r["split"] for r in reported} == {"books/test", "cds_and_vinyl/test"}
    drp_books = [r for r in reported if r["method"] == "drp" and r["split"] == "books/test"]
    assert len(drp_books) == 8 and all(r["metrics"]["bleu"]["ci_low"] is None for r in drp_books)

    entry = the_entry(board)
    save_record(
        board, REPRODUCTIONS, entry.name, {**content_hashes(read_sub(entry)), "identical": True}
    )
    view, _ = collect_board(board)
    assert [r["trust"] for r in view["rows"] if r["id"] == entry.name] == ["reproduced"]


def test_an_entry_that_fails_verification_is_left_off_the_board(board: Path) -> None:
    entry = the_entry(board)
    sub = read_sub(entry)
    sub["metrics"]["meteor"]["value"] = 0.9
    write_sub(entry, sub)
    entry = reseal(entry)
    view, excluded = collect_board(board)
    assert [e.entry_id for e in excluded] == [entry.name]
    assert all(r["id"] != entry.name for r in view["rows"])


# ---------------------------------------------------------------- CLI


def test_cli_verify_prints_every_problem_and_exits_1(board: Path, capsys) -> None:
    entry = the_entry(board)
    sub = read_sub(entry)
    sub["metrics"]["rouge1"]["value"] = 0.75
    write_sub(entry, sub)
    write_rows(entry, read_rows(entry)[:2])
    entry = reseal(entry)
    code = cli.main(["verify", "--board", str(board)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"REJECTED {entry.name}: " in out and "missing" in out
    assert "0 of 1 entries verified" in out


def test_cli_verify_accepts_a_valid_board(board: Path, capsys) -> None:
    assert cli.main(["verify", "--board", str(board)]) == 0
    out = capsys.readouterr().out
    assert "verified music-sample-test-3.rag." in out and "1 of 1 entries verified" in out


def test_recomputed_scores_come_from_one_code_path(board: Path) -> None:
    entry = the_entry(board)
    rows = {r["sample_id"]: r["prediction"] for r in read_rows(entry)}
    split = load_registry(board).get(SPLIT)
    from drp_bench.leaderboard.splits import split_references

    refs = split_references(split)
    scores = score_entry(split.sample_ids, rows, refs, 42)
    sub = read_sub(entry)
    assert {m: v["value"] for m, v in scores.items()} == {
        m: c["value"] for m, c in sub["metrics"].items()
    }


def test_register_split_of_local_data_keeps_only_the_fingerprint(tmp_path: Path) -> None:
    from drp_bench.data.locate import resolve_data_path
    from drp_bench.leaderboard.splits import SplitError

    local = tmp_path / "dpl_main_books"
    shutil.copytree(resolve_data_path("bundled:music_sample"), local)
    board = tmp_path / "board"
    with pytest.raises(SplitError, match="how_to_get"):
        register_split(board, "books/test", local, limit=4)
    record = register_split(
        board, "books/test", local, limit=4, how_to_get="drp-bench data build ... (DPL-main)"
    )
    assert (record.data, record.public, record.num_samples) == ("local", False, 4)
    text = (board / "splits.json").read_text()
    assert str(local) not in text, "the local path is not recorded"
    first_reference = json.loads(
        gzip.decompress((local / "test.jsonl.gz").read_bytes()).split(b"\n")[0]
    )
    assert first_reference["data"]["text"] not in text, "references stay local"
    how = record.how_to_get
    assert register_split(board, "books/test", local, limit=4, how_to_get=how) == record
    with pytest.raises(SplitError, match="already registered with other content"):
        register_split(board, "books/test", local, limit=5, how_to_get=how)


def test_cli_submit_reports_a_duplicate_in_one_line_and_exits_1(
    made: tuple[Path, Path], board: Path, capsys
) -> None:
    code = cli.submit_main([str(made[1]), "--board", str(board), "--submitter", "again"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: duplicate of entry music-sample-test-3.rag.")


def test_reproduce_fills_config_keys_added_since_the_entry_and_asks_for_local_files(
    board: Path,
) -> None:
    from drp_bench.leaderboard.rerun_config import ReproduceError, rerun_config

    config = read_sub(the_entry(board))["config"]
    older = {k: v for k, v in config.items() if k not in ("answer_prefix", "sweep_exit")}
    cfg = rerun_config(older, Path("/data/split"), Path("/tmp/calls.sqlite"))
    assert cfg["answer_prefix"] == "lenient" and cfg["sweep_exit"] == "strict"
    assert cfg["dataset"]["path"] == "/data/split" and cfg["dataset"]["meta_path"] is None
    assert cfg["cache"] == {"enabled": True, "path": "/tmp/calls.sqlite"}
    assert {k: v for k, v in cfg.items() if k in config and k not in ("dataset", "cache")} == {
        k: v for k, v in config.items() if k not in ("dataset", "cache")
    }
    config["generator"]["backend"]["options"]["model_path"] = "local:model.gguf"
    with pytest.raises(ReproduceError, match=r"generator\.backend\.options\.model_path"):
        rerun_config(config, Path("/data/split"), None)
    cfg = rerun_config(
        config, Path("/d"), None, {"generator.backend.options.model_path": "/m/model.gguf"}
    )
    assert cfg["generator"]["backend"]["options"]["model_path"] == "/m/model.gguf"


def test_a_run_with_excluded_samples_is_refused(
    made: tuple[Path, Path], board: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(made[1], run)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["excluded_samples"] = 1  # what method=peer reports for an item nobody else reviewed
    (run / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(SubmitError, match="1 sample\\(s\\) excluded from its scores"):
        submit_run(run, board)


def test_a_reproduction_says_when_other_code_re_ran_the_entry() -> None:
    from drp_bench.leaderboard.reproduce import Reproduction

    same = Reproduction("e", Path("r"), 3, entry_commit="abc", commit_here="abc")
    other = Reproduction("e", Path("r"), 3, ["s1"], entry_commit="abc", commit_here="def")
    unknown = Reproduction("e", Path("r"), 3, entry_commit=None, commit_here="def")
    assert not same.other_code and other.other_code and not unknown.other_code
    assert not other.identical


# ---------------------------------------------------------------- contexts and prompts


def test_an_entry_carries_the_runs_contexts_and_prompt_fingerprint(made, board: Path) -> None:
    from drp_bench.run.folder import read_metrics, read_predictions

    entry, run = the_entry(board), made[1]
    sub, rows = read_sub(entry), read_rows(entry)
    assert sub["prompts_sha256"] == read_metrics(run / "metrics.json").prompts_sha256
    assert sub["prompts_sha256"].startswith("sha256:")
    contexts = {r.sample_id: r.context.to_json_dict() for r in read_predictions(run / PRED_RUN)}
    assert {r["sample_id"]: r["context"] for r in rows} == contexts
    assert all(r["context"]["past_reviews"] for r in rows), "RAG retrieves past reviews"
    rows[0]["context"]["past_reviews"].append("x" * 401)
    write_rows(entry, rows)
    assert any("context.past_reviews[" in p for p in problems(board, entry)), "ids are bounded"


def test_the_board_marks_an_entry_made_with_other_prompts(board: Path) -> None:
    def row_of(entry: Path) -> dict:
        view, excluded = collect_board(board)
        assert excluded == []
        (row,) = [r for r in view["rows"] if r["id"] == entry.name]
        return row

    entry = the_entry(board)
    today = row_of(entry)
    assert today["other_prompts"] is False and today["prompts_label"] is None
    sub = read_sub(entry)
    sub["prompts_sha256"], sub["git_commit"] = "sha256:" + "0" * 64, "1a2b3c4d5e6f7a8b9c0d"
    write_sub(entry, sub)
    entry = reseal(entry)
    other = row_of(entry)
    assert other["other_prompts"] is True
    assert other["prompts_label"] == "made with other prompts (commit 1a2b3c4d5e6f)"
    view, _ = collect_board(board)
    readme = render_readme(view)
    assert "made with other prompts (commit 1a2b3c4d5e6f)" in readme
    assert '"other_prompts":true' in render_html(view)
    sub = read_sub(entry)
    del sub["prompts_sha256"]  # an entry made before the fingerprint was recorded
    write_sub(entry, sub)
    entry = reseal(entry)
    assert row_of(entry)["prompts_label"] == "prompts not recorded (commit 1a2b3c4d5e6f)"


def test_where_a_reproduction_runs() -> None:
    from drp_bench.leaderboard.reproduce import ReproduceError, where_to_run

    fp, other = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert where_to_run(fp, "c1", "c2", fp)[0] is None, "same prompts: this checkout"
    assert where_to_run(fp, "c1", "c2", other) == (
        "c1",
        "it was made with other prompts than this checkout's",
    )
    assert where_to_run(None, "c1", "c1", other)[0] is None, "unknown prompts, same commit"
    assert where_to_run(None, "c1", "c2", other)[0] == "c1", "unknown prompts, other commit"
    with pytest.raises(ReproduceError, match=r"names no drp-bench commit.*--here"):
        where_to_run(fp, None, "c2", other)
    with pytest.raises(ReproduceError, match="uncommitted changes"):
        where_to_run(fp, "c1+dirty", "c2", other)


def test_a_commit_missing_from_the_history_says_to_fetch_it(tmp_path: Path) -> None:
    from drp_bench.leaderboard.reproduce import ReproduceError, code_repository, worktree_at

    repo = code_repository()
    missing = pytest.raises(ReproduceError, match=r"not in the history of .*git .*fetch")
    with missing, worktree_at(repo, "0" * 40, tmp_path):
        pass
    assert list(tmp_path.iterdir()) == []


def test_divergence_is_named_at_the_step_it_happens() -> None:
    from drp_bench.leaderboard.reproduce import divergences

    def ctx(past=("A", "B"), reps=("u1", "u2"), peer=None) -> dict:
        return {
            "past_reviews": list(past),
            "comparisons": [{"asin": "X", "representatives": ["u9"]},
                            {"asin": "Y", "representatives": list(reps)}],
            "neighbours": [],
            "peer": peer,
        }  # fmt: skip

    ids = ["s1", "s2", "s3", "s4", "s5"]
    entry = {s: "same" for s in ids}
    here = {**entry, "s3": "other", "s5": "other"}
    mine = {s: ctx() for s in ids}
    theirs = {
        **mine,
        "s1": ctx(reps=("u1", "u3")),
        "s2": ctx(past=("A", "C")),
        "s4": ctx(peer={"user_id": "u7", "asin": "T"}),
    }
    assert divergences(ids, entry, mine, here, theirs) == {
        "s1": "context (representatives of item Y: [u1, u2] vs [u1, u3])",
        "s2": "context (retrieved past reviews: [A, B] vs [A, C])",
        "s3": "prediction (same context)",
        "s4": "context (peer: None vs u7)",
        "s5": "prediction (same context)",
    }
    assert divergences(ids, entry, None, here, theirs) == {"s3": "prediction", "s5": "prediction"}

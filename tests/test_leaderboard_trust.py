"""Numbers that are numbers, and a top row that can be trusted.

- NaN and infinity anywhere in a submission are refused by ``verify`` and by ``submit``,
  naming the field; a NaN never matches a recomputed score.
- ``build`` leaves a broken entry out, names it, exits 1, and still writes the page with the
  other entries.
- An entry whose predictions copy the split's references (scores honestly recomputed, id
  re-derived, so its numbers are right) verifies but is *suspect*: shown, not ranked, until a
  reproduction record lifts it.

The boards are copies of the committed leaderboard (four reproduced SmolLM2 entries on the
bundled ``music_sample/test-10`` split) or the small board of tests/test_leaderboard.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from drp_bench.leaderboard import cli
from drp_bench.leaderboard.board import collect_board, rank_rows
from drp_bench.leaderboard.build import render_readme
from drp_bench.leaderboard.entry import PREDICTIONS, SUBMISSION, scores_match
from drp_bench.leaderboard.records import REPRODUCTIONS, content_hashes, save_record
from drp_bench.leaderboard.scoring import score_entry
from drp_bench.leaderboard.splits import load_registry, split_references
from drp_bench.leaderboard.submit import SubmitError, submit_run
from drp_bench.leaderboard.trust import COPY_SIMILARITY, copied_samples, copy_similarity
from drp_bench.leaderboard.verify import verify_entry
from tests import test_leaderboard
from tests.conftest import REPO
from tests.test_leaderboard import read_rows, read_sub, reseal, the_entry, write_rows, write_sub

made = test_leaderboard.made  # fixtures: a board with one submitted entry, and its run folder
board = test_leaderboard.board

SEEDED = REPO / "results" / "leaderboard"
SEEDED_SPLIT = "music_sample/test-10"
FINITE = "(every number in an entry must be finite)"


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A copy of the committed leaderboard (its README/index.html removed)."""
    copy = tmp_path / "seeded"
    shutil.copytree(SEEDED, copy)
    for name in ("README.md", "index.html"):
        (copy / name).unlink()
    return copy


def entries(board: Path) -> list[Path]:
    return sorted(p for p in (board / "entries").iterdir())


def edit_text(entry: Path, old: str, new: str) -> Path:
    """Replace text in submission.json as written (a token json.dumps would not write) and
    re-derive the id."""
    text = (entry / SUBMISSION).read_text()
    assert old in text
    (entry / SUBMISSION).write_text(text.replace(old, new, 1))
    return reseal(entry)


# ---------------------------------------------------------------- numbers that are numbers


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("metrics.meteor.value", float("nan"), "NaN"),
        ("metrics.bleu.ci_high", float("inf"), "Infinity"),
        ("uvq", {"mean": float("-inf"), "n": 3}, "-Infinity"),
        ("compute.wall_time_s", float("nan"), "NaN"),
        ("compute.stages.generate.latency_s", float("inf"), "Infinity"),
        ("uvq", {"mean": "NaN"}, "the string 'NaN'"),
    ],
    ids=["metric-nan", "ci-inf", "uvq-minus-inf", "compute-nan", "stage-inf", "uvq-string"],
)
def test_verify_refuses_non_finite_numbers_naming_the_field(board, field, value, shown) -> None:
    entry = the_entry(board)
    sub = read_sub(entry)
    *path, last = field.split(".")
    target = sub
    for key in path:
        target = target[key]
    target[last] = value
    write_sub(entry, sub)  # json.dumps writes NaN / Infinity / -Infinity tokens
    entry = reseal(entry)
    found = verify_entry(entry, board).problems
    where = f"{field}.mean" if field == "uvq" else field
    assert f"{SUBMISSION}: field '{where}' is {shown} {FINITE}" in found, found


def test_a_nan_claim_never_matches_its_recomputed_score(board) -> None:
    entry = the_entry(board)
    sub = read_sub(entry)
    true_meteor = sub["metrics"]["meteor"]["value"]
    sub["metrics"]["meteor"]["value"] = float("nan")
    write_sub(entry, sub)
    found = verify_entry(reseal(entry), board).problems
    assert f"meteor: claimed nan, recomputed {true_meteor!r} from the predictions" in " ".join(
        found
    )
    assert not scores_match(float("nan"), float("nan"))
    assert not scores_match(float("inf"), float("inf"))
    assert scores_match(0.25, 0.25 + 1e-10) and not scores_match(0.25, 0.25 + 1e-8)


def test_a_nan_written_as_a_string_or_an_overflowing_number_is_refused(board) -> None:
    entry = the_entry(board)
    value = read_sub(entry)["metrics"]["meteor"]["value"]
    entry = edit_text(entry, f'"value": {value!r}', '"value": "NaN"')
    found = verify_entry(entry, board).problems
    assert any(
        "field 'metrics.meteor.value': Value error, expected a number" in p for p in found
    ), found
    assert f"{SUBMISSION}: field 'metrics.meteor.value' is the string 'NaN' {FINITE}" in found
    entry = edit_text(entry, '"value": "NaN"', '"value": 1e999')  # json reads it as inf
    found = verify_entry(entry, board).problems
    assert f"{SUBMISSION}: field 'metrics.meteor.value' is Infinity {FINITE}" in found


def test_cli_verify_rejects_a_nan_entry_and_exits_1(board, capsys) -> None:
    entry = the_entry(board)
    sub = read_sub(entry)
    sub["metrics"]["meteor"]["value"] = float("nan")
    write_sub(entry, sub)
    entry = reseal(entry)
    assert cli.main(["verify", "--board", str(board)]) == 1
    out = capsys.readouterr().out
    assert f"REJECTED {entry.name}: " in out
    assert f"  - {SUBMISSION}: field 'metrics.meteor.value' is NaN {FINITE}\n" in out
    assert "0 of 1 entries verified" in out


def test_submit_refuses_a_run_whose_numbers_are_not_finite(made, board, tmp_path) -> None:
    run = tmp_path / "run"
    shutil.copytree(made[1], run)
    metrics = json.loads((run / "metrics.json").read_text())
    before = sorted(str(p.relative_to(board)) for p in board.rglob("*"))

    metrics["uvq"] = {"mean": float("nan"), "n": 3}
    (run / "metrics.json").write_text(json.dumps(metrics))  # the token NaN
    with pytest.raises(SubmitError, match="numbers that are not finite") as err:
        submit_run(run, board, submitter="x")
    assert err.value.problems == [f"{SUBMISSION}: field 'uvq.mean' is NaN {FINITE}"]

    metrics["uvq"] = None
    metrics["metrics"]["meteor"] = float("nan")
    (run / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(SubmitError, match="scores differ") as err:
        submit_run(run, board, submitter="x")
    assert any(p.startswith("meteor: metrics.json nan, recomputed ") for p in err.value.problems)
    assert sorted(str(p.relative_to(board)) for p in board.rglob("*")) == before


# ---------------------------------------------------------------- build never stops


def build(board: Path, out: Path, capsys) -> tuple[int, str, str]:
    code = cli.main(["build", "--board", str(board), "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_page_without(out: Path, broken: str, others: list[str]) -> None:
    readme = (out / "README.md").read_text()
    page = (out / "index.html").read_text()
    assert broken not in readme and broken not in page
    for entry in others:
        assert entry in page, entry
    # the README names no entry ids, but every other entry's row is there
    assert readme.count("| SmolLM2-135M-Instruct |") == len(others)


def test_build_leaves_out_a_nan_entry_names_it_and_still_writes_the_page(
    seeded, tmp_path, capsys
) -> None:
    first, *others = entries(seeded)
    sub = read_sub(first)
    sub["metrics"]["meteor"]["value"] = float("nan")
    write_sub(first, sub)
    broken = reseal(first)
    code, out, err = build(seeded, tmp_path / "site", capsys)
    assert code == 1
    assert err.startswith(
        f"left out {broken.name}: {SUBMISSION}: field 'metrics.meteor.value' is NaN {FINITE} "
        "(and 1 more problem(s), below)\n"
    ), err
    assert "Traceback" not in err and "3 reproduced" in out and "1 entries left out" in out
    assert_page_without(tmp_path / "site", broken.name, [p.name for p in others])


def test_build_leaves_out_corrupt_and_mistyped_entries(seeded, tmp_path, capsys) -> None:
    first, second, *others = entries(seeded)
    (first / PREDICTIONS).write_bytes(b"\x1f\x8b not really gzip")
    sub = read_sub(second)
    sub["models"] = ["not", "an", "object"]  # once crashed the id and duplicate checks
    sub["split"] = "music_sample/test-10"
    write_sub(second, sub)
    second = reseal(second)
    code, _, err = build(seeded, tmp_path / "site", capsys)
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("left out ")]
    assert len(lines) == 2, err
    assert lines[0].startswith(f"left out {first.name}: {PREDICTIONS}: not a readable gzip")
    assert lines[1].startswith(f"left out {second.name}: {SUBMISSION}: field 'split': ")
    site = tmp_path / "site"
    assert_page_without(site, first.name, [p.name for p in others])
    assert second.name not in (site / "index.html").read_text()


# ---------------------------------------------------------------- copied references


def copy_references(board: Path, entry: Path, share: int | None = None) -> Path:
    """The entry with its first ``share`` (default: every) predictions replaced by their
    references, the scores honestly recomputed and the id re-derived."""
    split = load_registry(board).get(SEEDED_SPLIT)
    refs = split_references(split)
    rows = read_rows(entry)
    for row in rows[:share]:
        row["prediction"] = refs[row["sample_id"]]
    write_rows(entry, rows)
    sub = read_sub(entry)
    predictions = {r["sample_id"]: r["prediction"] for r in rows}
    sub["metrics"] = score_entry(split.sample_ids, predictions, refs, sub["metric_seed"])
    sub["submitter"] = "copycat"
    write_sub(entry, sub)
    return reseal(entry)


def test_honest_predictions_are_far_from_the_copy_threshold(seeded) -> None:
    split = load_registry(seeded).get(SEEDED_SPLIT)
    refs = split_references(split)
    highest = max(
        copy_similarity(row["prediction"], refs[row["sample_id"]])
        for entry in entries(seeded)
        for row in read_rows(entry)
    )
    assert highest < 0.2 < COPY_SIMILARITY  # 0.168 measured (DPL and RAG)
    for entry in entries(seeded):
        assert verify_entry(entry, seeded).suspect == []


def test_a_copy_of_the_references_verifies_but_is_suspect_and_unranked(seeded, capsys) -> None:
    copy = copy_references(seeded, entries(seeded)[0])
    result = verify_entry(copy, seeded)
    assert result.problems == [], "its numbers are right"
    assert result.recomputed["bleu"] == pytest.approx(100.0)
    assert result.suspect[0].startswith(
        f"{PREDICTIONS}: 10 of 10 predictions copy their reference (word similarity >= 0.9; "
        "suspect above 5% of samples and 1 sample): A2EENLV6OQ3DYM:B00000064G, "
    )
    ceiling = "metrics.bleu.value: 100 is above the plausible ceiling 25 for review generation"
    assert f"{ceiling} (BLEU)" in result.suspect

    assert cli.main(["verify", copy.name, "--board", str(seeded)]) == 0
    out = capsys.readouterr().out
    assert f"SUSPECT {copy.name}: {PREDICTIONS}: 10 of 10 predictions copy" in out
    assert "1 of 1 entries verified (1 suspect: not ranked until reproduced)" in out

    view, excluded = collect_board(seeded)
    assert excluded == []
    rows = {r["id"]: r for r in view["rows"] if r["split"] == SEEDED_SPLIT}
    assert rows[copy.name]["rank"] is None and rows[copy.name]["trust"] == "verified"
    assert rows[copy.name]["flags"] == result.suspect
    assert sorted(r["rank"] for r in rows.values() if r["id"] != copy.name) == [1, 2, 3]
    readme = render_readme(view)
    table = readme.split("## Bundled music sample, first 10 test users")[1].split("\n## ")[0]
    lines = [line for line in table.splitlines() if line.startswith("| ")][2:]
    assert [line.split(" | ")[0] for line in lines] == ["| 1", "| 2", "| 3", "| —"]
    assert "| 100.0000 [100.000, 100.000] |" in lines[3] and "| suspect (verified) |" in lines[3]
    assert f"- {copy.name}: {PREDICTIONS}: 10 of 10 predictions copy" in table

    save_record(
        seeded, REPRODUCTIONS, copy.name, {**content_hashes(read_sub(copy)), "identical": True}
    )
    view, _ = collect_board(seeded)
    row = next(r for r in view["rows"] if r["id"] == copy.name)
    assert (row["trust"], row["rank"]) == ("reproduced", 1), "a reproduction lifts it"
    assert row["flags"], "the flags stay visible"
    assert f"Flagged, ranked because reproduced:\n\n- {copy.name}: " in render_readme(view)


def test_a_near_verbatim_copy_counts_and_one_copied_sample_does_not(seeded) -> None:
    split = load_registry(seeded).get(SEEDED_SPLIT)
    refs = split_references(split)
    ids = split.sample_ids
    edited = {}
    for sid in ids:  # every 15th word changed: still a copy
        words = refs[sid].split()
        edited[sid] = " ".join("CHANGED" if i % 15 == 7 else w for i, w in enumerate(words))
    assert copied_samples(ids, edited, refs) == ids
    one = copy_references(seeded, entries(seeded)[1], share=1)
    assert verify_entry(one, seeded).suspect == [], "1 of 10 samples: not suspect"
    two = copy_references(seeded, entries(seeded)[2], share=2)
    (flag,) = verify_entry(two, seeded).suspect
    assert flag.startswith(f"{PREDICTIONS}: 2 of 10 predictions copy their reference")


# ---------------------------------------------------------------- ranks


def test_reproduced_entries_rank_before_verified_ones_and_suspects_are_unranked() -> None:
    def row(id: str, trust: str, rouge_l: float, flags: list[str] | None = None) -> dict:
        metric = {"value": rouge_l, "ci_low": None, "ci_high": None}
        return {"id": id, "split": "s", "trust": trust, "metrics": {"rougeL": metric},
                "flags": flags or [], "rank": 0}  # fmt: skip

    rows = rank_rows(
        [
            row("verified-best", "verified", 0.30),
            row("reproduced-low", "reproduced", 0.10),
            row("reproduced-high", "reproduced", 0.20),
            row("suspect", "verified", 0.99, ["copied"]),
            row("suspect-reproduced", "reproduced", 0.05, ["copied"]),
            row("paper", "reported", 0.50),
        ]  # type: ignore[list-item]
    )
    ranks = {r["id"]: r["rank"] for r in rows}
    assert ranks == {
        "reproduced-high": 1,
        "reproduced-low": 2,
        "suspect-reproduced": 3,
        "verified-best": 4,
        "suspect": None,
        "paper": None,
    }


def test_the_committed_entries_are_ranked_and_none_is_suspect(seeded) -> None:
    view, excluded = collect_board(seeded)
    assert excluded == []
    ours = [r for r in view["rows"] if r["split"] == SEEDED_SPLIT]
    assert sorted(r["rank"] for r in ours) == [1, 2, 3, 4]
    assert all(r["flags"] == [] and r["trust"] == "reproduced" for r in ours)
    assert all(r["rank"] is None for r in view["rows"] if r["trust"] == "reported")

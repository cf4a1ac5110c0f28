"""`drp-bench data check` / `build` (and a run's loading) refuse bad data with one clear line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from drp_bench.data.cli import main as data_main
from drp_bench.run.inputs import load_run_dataset
from tests.test_data_builder import (
    BAD_META_LINE,
    BAD_REVIEW_LINES,
    _lines_2023,
    _write_2023,
    with_lines,
)
from tests.test_data_loader import meta_rows, review, rows, write_jsonl

# SMALL_CONFIG of test_data_builder as flags.
SMALL_FLAGS = [
    "--min-review-chars", "20",
    "--min-description-chars", "10",
    "--min-item-users", "3",
    "--min-user-reviews", "4",
    "--num-inputs", "2",
    "--profile-min-item-users", "3",
    "--profile-min-user-reviews", "2",
    "-q",
]  # fmt: skip


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = data_main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def dataset(tmp_path: Path, samples: list[dict]) -> Path:
    write_jsonl(tmp_path / "test.jsonl", samples)
    write_jsonl(tmp_path / "meta.jsonl", meta_rows())
    return tmp_path


# --- check and run: empty and duplicated splits --------------------------------------------


def test_check_refuses_an_empty_split(tmp_path, capsys):
    path = dataset(tmp_path, [])
    code, out, err = run_cli(["check", str(path)], capsys)
    assert code == 1 and out == ""
    assert err == (
        f"error: {path / 'test.jsonl'}: expected at least one sample in split 'test', "
        "found 0 (empty split)\n"
    )


def test_check_refuses_a_duplicated_sample_naming_both_lines(tmp_path, capsys):
    path = dataset(tmp_path, [*rows(), rows()[0]])
    code, _, err = run_cli(["check", str(path)], capsys)
    assert code == 1
    assert err == (
        f"error: {path / 'test.jsonl'}: line 4: expected unique sample ids (user_id:data.asin) "
        "in split 'test', found 'u1:T' again (first at line 1)\n"
    )


def test_check_refuses_a_user_twice_in_the_test_split(tmp_path, capsys):
    path = dataset(tmp_path, [*rows(), {**rows()[1], "data": review("T", 9)}])
    code, _, err = run_cli(["check", str(path)], capsys)
    assert code == 1
    assert err == (
        f"error: {path / 'test.jsonl'}: line 4: field 'user_id': expected one sample per user "
        "in split 'test', found user 'u2' again (first at line 2); it would be scored twice\n"
    )


def test_check_all_fails_on_the_first_bad_split(tmp_path, capsys):
    path = dataset(tmp_path, rows())
    (tmp_path / "validation.jsonl").write_text("")
    code, out, err = run_cli(["check", str(path), "--split", "all"], capsys)
    assert code == 1
    assert "[test]: 3 samples, 3 users" in out
    assert "validation.jsonl: expected at least one sample in split 'validation'" in err


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        ([], "found 0 (empty split)"),
        ([*rows(), rows()[2]], "line 4: expected unique sample ids"),
    ],
)
def test_a_run_refuses_what_check_refuses(tmp_path, samples, message):
    path = dataset(tmp_path, samples)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_run_dataset({"path": str(path), "meta_path": None, "split": "test", "limit": 1})


def test_check_still_accepts_the_bundled_sample(capsys):
    sample = Path(__file__).resolve().parents[1] / "drp_bench" / "sample_data" / "music_sample"
    code, out, _ = run_cli(["check", str(sample), "--split", "all"], capsys)
    assert code == 0
    for split in ("test", "train", "validation"):
        assert f"music_sample [{split}]: 57 samples, 57 users" in out


# --- build ---------------------------------------------------------------------------------


def build_argv(reviews: Path, meta: Path, out: Path, *extra: str) -> list[str]:
    return ["build", "--reviews", str(reviews), "--meta", str(meta), "--out", str(out), *extra]


def test_build_filtered_to_nothing_exits_1_naming_the_threshold(tmp_path, capsys):
    reviews, meta = _write_2023(tmp_path)
    out = tmp_path / "out"
    argv = build_argv(reviews, meta, out, *SMALL_FLAGS, "--min-review-chars", "200")
    code, stdout, err = run_cli(argv, capsys)
    assert code == 1 and stdout == ""
    assert err == (
        "error: build stopped: the review filter kept 0 of 32 reviews; min_review_chars=200 "
        "removed 32 of 32 reviews, the most (relax with --min-review-chars); nothing was "
        "written\n"
    )
    assert not out.exists()


def test_build_with_empty_core_exits_1(tmp_path, capsys):
    reviews, meta = _write_2023(tmp_path)
    argv = build_argv(reviews, meta, tmp_path / "out", *SMALL_FLAGS, "--min-item-users", "6")
    code, _, err = run_cli(argv, capsys)
    assert code == 1
    assert err.startswith("error: build stopped: the core filter kept 0 of 26 reviews; ")
    assert "min_item_users=6 removed 26 of 26 reviews, the most" in err


def test_build_skip_counts_bad_lines_in_build_info_and_summary(tmp_path, capsys):
    reviews, meta = _lines_2023()
    reviews_path, meta_path = _write_2023(
        tmp_path, with_lines(reviews, BAD_REVIEW_LINES), with_lines(meta, BAD_META_LINE)
    )
    out = tmp_path / "out"
    argv = build_argv(reviews_path, meta_path, out, *SMALL_FLAGS, "--on-bad-line", "skip")
    code, stdout, _ = run_cli(argv, capsys)
    assert code == 0
    assert "bad lines skipped: reviews=2 (lines 3, 8), meta=1 (lines 2)" in stdout
    info = json.loads((out / "build_info.json").read_text())
    assert info["bad_lines"] == {"reviews": 2, "meta": 1}
    assert info["command"].endswith("--on-bad-line skip")


def test_build_aborts_on_a_bad_line_by_default_naming_file_and_line(tmp_path, capsys):
    reviews, _ = _lines_2023()
    reviews_path, meta_path = _write_2023(tmp_path, with_lines(reviews, BAD_REVIEW_LINES))
    out = tmp_path / "out"
    code, stdout, err = run_cli(build_argv(reviews_path, meta_path, out, *SMALL_FLAGS), capsys)
    assert code == 1 and "bad lines" not in stdout
    assert err.startswith(f"error: {reviews_path}: line 3: expected a JSON object or a Python")
    assert err.endswith("(--on-bad-line skip skips and counts such lines)\n")
    assert not out.exists()


def test_build_rejects_an_unknown_bad_line_policy(tmp_path, capsys):
    reviews, meta = _write_2023(tmp_path)
    argv = build_argv(reviews, meta, tmp_path / "out", "--on-bad-line", "ignore")
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert "invalid choice: 'ignore'" in err

"""An entry made at an older commit whose generate instruction differed from today's:
``leaderboard build`` labels it "made with other prompts (commit X)", and ``leaderboard
reproduce`` re-runs it at that commit in a temporary git worktree (removed afterwards),
identically, recording where it ran.

The commits are made in a temporary clone of this checkout's HEAD (so the code under test is
the committed code): the older one adds a line to generate.system.j2, the newer one reverts
it. Every command runs as users run it, with the clone's code (``PYTHONPATH``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow
NONP = ["method=nonp", "dataset.limit=2", "generator.sampling.max_tokens=12"]
SPLIT = "music_sample/test-2"
AUTHOR = ["-c", "user.name=drp-bench test", "-c", "user.email=test@example.invalid"]


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def _cli(code: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``drp-bench ARGS`` with the code of the checkout ``code``."""
    return subprocess.run(
        [sys.executable, "-m", "drp_bench.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_an_entry_made_with_other_prompts_is_labelled_and_re_run_at_its_commit(
    tmp_path: Path,
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    _git(clone, "checkout", "--quiet", "--detach", _git(REPO, "rev-parse", "HEAD"))
    instruction = clone / "drp_bench" / "prompts" / "generate.system.j2"
    instruction.write_text(instruction.read_text() + "\nKeep it short.\n")
    _git(clone, *AUTHOR, "commit", "--quiet", "-am", "test: another generate instruction")
    older = _git(clone, "rev-parse", "HEAD")

    board = tmp_path / "board"
    steps = [
        ["leaderboard", "register-split", SPLIT, "--data", "bundled:music_sample",
         "--limit", "2", "--board", str(board)],
        ["run", *NONP, f"cache.path={tmp_path / 'calls.sqlite'}",
         f"hydra.run.dir={tmp_path / 'run'}"],
        ["submit", str(tmp_path / "run"), "--board", str(board)],
    ]  # fmt: skip
    for step in steps:
        done = _cli(clone, tmp_path, *step)
        assert done.returncode == 0, (step, done.stderr[-3000:])
    (entry,) = (board / "entries").iterdir()
    submission = json.loads((entry / "submission.json").read_text())
    assert submission["git_commit"] == older and submission["prompts_sha256"]

    _git(clone, *AUTHOR, "revert", "--quiet", "--no-edit", "HEAD")  # today's instruction
    newer = _git(clone, "rev-parse", "HEAD")
    done = _cli(clone, tmp_path, "leaderboard", "build", "--board", str(board))
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"made with other prompts (commit {older[:12]})" in (board / "README.md").read_text()

    again = tmp_path / "again"
    done = _cli(
        clone, tmp_path, "leaderboard", "reproduce", entry.name, "--board", str(board),
        "--work-dir", str(again), "--record",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert f"REPRODUCED {entry.name}: 2 of 2 predictions identical, same models" in done.stdout
    assert (
        f"re-ran at the entry's commit {older} (it was made with other prompts than this "
        "checkout's); compared contexts and predictions"
    ) in done.stdout
    assert len(_git(clone, "worktree", "list").splitlines()) == 1, "the worktree is removed"
    assert [p.name for p in again.iterdir() if p.name.startswith("drp-worktree-")] == []
    metrics = json.loads((again / "run" / "metrics.json").read_text())
    assert metrics["git_commit"] == older and metrics["calls"]["cached"] == 0
    record = json.loads((board / "reproductions.json").read_text())["records"][entry.name]
    assert record["identical"] is True and record["at_entry_commit"] is True
    assert record["ran_at_commit"] == older and record["git_commit"] == newer

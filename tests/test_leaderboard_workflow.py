"""The leaderboard workflow runs exactly the commands tested here, on the repository's own
leaderboard: ``verify`` accepts every committed entry, ``build`` renders the page, and the
committed README.md / index.html are what ``build`` renders now."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "leaderboard.yml"
BOARD = REPO / "results" / "leaderboard"


def workflow_commands() -> list[list[str]]:
    """Every ``drp-bench`` command line of the workflow's steps."""
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    lines = [
        line.strip()
        for job in jobs.values()
        for step in job["steps"]
        for line in str(step.get("run", "")).splitlines()
        if "drp-bench" in line
    ]
    return [shlex.split(line) for line in lines]


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    assert cmd[0].endswith("bin/drp-bench"), cmd
    return subprocess.run(
        [sys.executable, "-m", "drp_bench.cli", *cmd[1:]],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_workflow_calls_only_verify_and_build() -> None:
    commands = workflow_commands()
    assert [c[1:3] for c in commands] == [["leaderboard", "verify"], ["leaderboard", "build"]]


def test_the_workflow_commands_accept_the_committed_leaderboard(tmp_path: Path) -> None:
    shutil.copytree(BOARD, tmp_path / "results" / "leaderboard")
    verify, build = workflow_commands()
    done = run(verify, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    entries = sorted(p.name for p in (BOARD / "entries").iterdir())
    assert entries, "the leaderboard is seeded"
    for name in entries:
        assert f"verified {name}: " in done.stdout
    done = run(build, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    site = tmp_path / build[build.index("--out") + 1]
    assert (site / "index.html").read_text() == (BOARD / "index.html").read_text(), (
        "results/leaderboard/index.html is stale: run `drp-bench leaderboard build`"
    )
    assert (site / "README.md").read_text() == (BOARD / "README.md").read_text()

"""Every seeded leaderboard entry reproduces at this checkout: re-run with an empty call cache
by ``drp-bench leaderboard reproduce``, with this checkout's code (its prompts are today's),
identical contexts and predictions. A prompt change that breaks this must re-make the seeded
entries (docs/leaderboard.md)."""

from __future__ import annotations

import pytest

from drp_bench.leaderboard import cli
from tests.conftest import REPO

BOARD = REPO / "results" / "leaderboard"
SEEDED = sorted(p.name for p in (BOARD / "entries").iterdir() if p.is_dir())


def test_there_are_seeded_entries_of_every_baseline():
    assert {name.split(".")[1] for name in SEEDED} >= {"nonp", "rag", "dpl", "drp"}


@pytest.mark.slow
@pytest.mark.timeout(2400)  # DRP on 10 users with the embedded model, on 2 shared cores
@pytest.mark.parametrize("entry", SEEDED)
def test_seeded_entry_reproduces_at_this_checkout(entry, tmp_path, capsys):
    code = cli.main(["reproduce", entry, "--board", str(BOARD), "--work-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "re-ran with this checkout's code" in out, out
    assert "compared contexts and predictions" in out, out
    assert f"REPRODUCED {entry}: 10 of 10 predictions identical, same models" in out, out

"""One run-folder status: ``run.folder.classify``'s rule, and the sweep summary, ``report`` and
``submit`` agreeing on real run folders (the library's runs, a scripted generator)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from drp_bench import evaluate
from drp_bench.backends.base import ChatResult
from drp_bench.leaderboard.splits import register_split
from drp_bench.leaderboard.submit import SubmitError, build_submission
from drp_bench.report.collect import collect_runs
from drp_bench.run import sweep_status
from drp_bench.run.folder import FOLDER_STATUSES, classify
from tests.run_folders import write_error, write_metrics
from tests.test_api import EchoModel

SPLIT = "music_sample/test-3"


class FailsSecondCall(EchoModel):
    """The echo model, whose second call fails (the run ends degraded)."""

    def chat(self, requests, on_result=None):
        results = []
        for i in range(len(requests)):
            self.calls += 1
            result = ChatResult(text="[Review]: fine", prompt_tokens=9)
            if self.calls == 2:
                result = ChatResult(text="", error="HTTP 500 after 3 attempts")
            if on_result:
                on_result(i, result)
            results.append(result)
        return results


class StoppedByCtrlC(EchoModel):
    """Ctrl-C while the model answers."""

    def chat(self, requests, on_result=None):
        raise KeyboardInterrupt


def _run(out_dir: Path, cache: Path, model: EchoModel, *extra: str):
    overrides = ["method=rag", "dataset.limit=3", f"cache.path={cache}", *extra]
    return evaluate(overrides, out_dir=out_dir, backends={"generator": model})


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a sweep folder with one job of each kind, a board whose split its jobs ran on)."""
    root = tmp_path_factory.mktemp("status")
    board, sweep = root / "board", root / "sweep"
    register_split(board, SPLIT, "bundled:music_sample", limit=3)
    assert _run(sweep / "0_complete", root / "a.sqlite", EchoModel()).status == "complete"
    assert _run(sweep / "1_degraded", root / "b.sqlite", FailsSecondCall()).status == "degraded"
    with pytest.raises(ValueError, match="/nonexistent"):  # bad data: error.json alone
        _run(sweep / "2_failed", root / "c.sqlite", EchoModel(), "dataset.path=/nonexistent")
    with pytest.raises(KeyboardInterrupt):  # error.json with "interrupted": true
        _run(sweep / "3_stopped", root / "d.sqlite", StoppedByCtrlC())
    # a complete run re-run with a config its run refuses: the old metrics.json stays, older
    shutil.copytree(sweep / "0_complete", sweep / "4_rerun_failed")
    time.sleep(0.01)
    with pytest.raises(ValueError, match=r"dataset\.limit"):
        _run(sweep / "4_rerun_failed", root / "a.sqlite", EchoModel(), "dataset.limit=0")
    # killed (SIGKILL) after Hydra wrote its folder: no metrics.json, no error.json
    shutil.copytree(sweep / "0_complete" / ".hydra", sweep / "5_killed" / ".hydra")
    return sweep, board


EXPECTED = {
    "0_complete": "complete",
    "1_degraded": "degraded",
    "2_failed": "failed",
    "3_stopped": "interrupted",
    "4_rerun_failed": "failed",
    "5_killed": "interrupted",
}


def _submit_status(run_dir: Path, board: Path) -> tuple[str, str]:
    """``submit``'s verdict: (status, its message)."""
    try:
        build_submission(run_dir, board, submitter="tester", date="2026-12-03")
    except SubmitError as e:
        return next(s for s in FOLDER_STATUSES if f"status {s!r}" in str(e)), str(e)
    return "complete", ""


def test_sweep_summary_report_and_submit_agree_on_each_runs_status(sweep):
    root, board = sweep
    summary = {j.folder: (j.status, j.reason) for j in sweep_status.collect(root).jobs}
    report = {Path(r.run_dir).name: r for r in collect_runs([root], n_bootstrap=0).runs}
    submit = {name: _submit_status(root / name, board) for name in EXPECTED}
    assert {k: v[0] for k, v in summary.items()} == EXPECTED
    assert {k: r.status for k, r in report.items()} == EXPECTED
    assert {k: v[0] for k, v in submit.items()} == EXPECTED
    for name, status in EXPECTED.items():
        reason = classify(root / name).reason
        assert summary[name][1] == reason  # the same one-line reason everywhere
        assert report[name].reason.startswith(reason)
        if status != "complete":
            assert reason and f"status {status!r} ({reason})" in submit[name][1]
    assert [r.status for r in report.values() if r.record] == ["complete", "degraded"]


def test_each_folder_is_classified_by_the_file_that_decides(sweep):
    root, _ = sweep
    states = {name: classify(root / name) for name in EXPECTED}
    assert states["0_complete"].read == ("metrics.json",) and states["0_complete"].reason == ""
    assert states["0_complete"].metrics is not None and states["0_complete"].finished
    assert states["1_degraded"].reason.startswith("1 of 3 calls failed")
    assert states["2_failed"].reason.startswith("DataValidationError: /nonexistent")
    assert states["2_failed"].read == ("error.json",) and states["2_failed"].error is not None
    assert states["3_stopped"].reason == "interrupted by SIGINT"
    rerun = states["4_rerun_failed"]
    assert rerun.read == ("error.json",) and rerun.metrics is None
    assert rerun.reason.startswith("ValueError: dataset.limit")
    assert rerun.reason.endswith(
        "(error.json is newer than metrics.json: the last attempt did not finish)"
    )
    assert (root / "4_rerun_failed" / "metrics.json").is_file()  # still there, stale
    assert states["5_killed"].read == () and states["5_killed"].reason.startswith(
        "no metrics.json or error.json (killed before"
    )


def test_an_older_error_json_beside_metrics_json_is_stale(tmp_path):
    write_error(tmp_path, "RuntimeError: the server died")
    metrics = write_metrics(tmp_path, "degraded", "2 of 8 calls failed (generate 2/8)")
    old = time.time() - 60
    os.utime(tmp_path / "error.json", (old, old))
    state = classify(tmp_path)
    assert state.status == "degraded" and state.read == ("metrics.json",)
    assert state.reason == (
        "2 of 8 calls failed (generate 2/8); an older error.json is stale (ignored)"
    )
    os.utime(metrics, (old - 60, old - 60))  # now the error is the last word
    assert classify(tmp_path).status == "failed"


def test_predictions_without_metrics_are_an_interrupted_run_and_no_files_not_a_run(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "predictions.jsonl").write_text("")
    state = classify(tmp_path / "run")
    assert state.status == "interrupted" and "predictions.jsonl written" in state.reason
    empty = classify(tmp_path / "nothing")
    assert empty.status == "failed" and "not a run folder" in empty.reason


def test_an_unreadable_error_json_is_failed_naming_the_file(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / "error.json").write_text('{"error": "x", "interrupted": "yes"}')
    state = classify(tmp_path)
    assert state.status == "failed" and state.read == ("error.json",)
    assert state.reason.startswith(f"{tmp_path / 'error.json'}: field ")

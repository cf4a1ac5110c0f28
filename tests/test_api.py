"""``drp_bench.evaluate``: the library entry point, and the CLI giving the same run folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from drp_bench import RunResult, compose_run_config, evaluate
from drp_bench.backends.base import ChatResult
from drp_bench.report.collect import collect_runs
from tests.conftest import TINY


class EchoModel:
    """Answers every prompt with its first words (tests the code around the model only)."""

    def __init__(self) -> None:
        self.identity = {"backend": "echo", "model": "echo-1"}
        self.calls = 0

    def chat(self, requests, on_result=None):
        results = []
        for i, request in enumerate(requests):
            self.calls += 1
            words = request.messages[-1]["content"].split()[:5]
            result = ChatResult(text="[Review]: " + " ".join(words), prompt_tokens=9)
            if on_result:
                on_result(i, result)
            results.append(result)
        return results

    def close(self) -> None:
        pass


def test_compose_run_config_gives_the_clis_defaults() -> None:
    cfg = compose_run_config(["method=rag", "num_users=2"])
    assert cfg.method.name == "rag" and cfg.num_users == 2
    assert cfg.dataset.name == "music_sample"
    assert str(cfg.hydra.run.dir).startswith("outputs/runs/music_sample/rag/")


def test_evaluate_serves_a_role_with_the_callers_backend(tmp_path: Path) -> None:
    model = EchoModel()
    result = evaluate(
        ["method=rag", "dataset.limit=2", f"cache.path={tmp_path / 'calls.sqlite'}"],
        out_dir=tmp_path / "run",
        backends={"generator": model},
    )
    assert isinstance(result, RunResult) and result.status == "complete"
    assert model.calls == 2 and len(result.predictions) == 2
    assert all(p and not p.startswith("[Review]") for p in result.predictions)
    assert result.run_dir == tmp_path / "run"
    assert (tmp_path / "run" / ".hydra" / "config.yaml").is_file()
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == result.metrics
    again = evaluate(
        ["method=rag", "dataset.limit=2", f"cache.path={tmp_path / 'calls.sqlite'}"],
        out_dir=tmp_path / "run2",
        backends={"generator": model},
    )
    assert model.calls == 2, "the caller's backend goes through the call cache too"
    assert again.metrics["calls"]["cached"] == 2
    assert "status: complete" in again.summary()


def test_evaluate_refuses_a_backend_for_an_unknown_role(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown role"):
        evaluate(["method=nonp", "dataset.limit=1"], out_dir=tmp_path, backends={"critic": None})


@pytest.mark.slow
def test_evaluate_and_the_cli_write_the_same_run_folder(tmp_path: Path) -> None:
    cache = tmp_path / "calls.sqlite"
    result = evaluate([*TINY, f"cache.path={cache}"], out_dir=tmp_path / "lib")
    assert result.status == "complete" and len(result.records) == 2
    assert result.metrics["compute"]["extract"]["calls"] > 0
    assert 0.0 <= result.scores["meteor"] <= 1.0

    cli_dir = tmp_path / "cli"
    proc = subprocess.run(
        [sys.executable, "-m", "drp_bench.cli", "run", *TINY, f"cache.path={cache}",
         f"hydra.run.dir={cli_dir}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    cli_metrics = json.loads((cli_dir / "metrics.json").read_text())
    assert cli_metrics["metrics"] == result.metrics["metrics"]
    assert cli_metrics["calls"]["cached"] == cli_metrics["calls"]["total"]  # same prompts
    cli_rows = [json.loads(x) for x in (cli_dir / "predictions.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in cli_rows] == result.predictions
    assert [r["stages"]["generate"]["messages"] for r in cli_rows] == [
        r["stages"]["generate"]["messages"] for r in result.records
    ]
    table = collect_runs([tmp_path], n_bootstrap=0)
    assert {r.status for r in table.runs} == {"complete"} and len(table.runs) == 2

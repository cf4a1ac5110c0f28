"""The `drp-bench` command line: dispatch, Hydra's own flags, cache statistics."""

from __future__ import annotations

import subprocess
import sys

from drp_bench.backends.base import ChatRequest, ChatResult
from drp_bench.backends.cache import CallCache
from drp_bench.cli import main


def drp_bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "drp_bench.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_top_level_help_lists_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("run", "data", "report", "cache"):
        assert f"drp-bench {command}" in out


def test_unknown_command_is_an_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_run_cfg_job_prints_the_composed_config_without_running():
    proc = drp_bench("run", "method=dpl", "num_users=2", "--cfg", "job")
    assert proc.returncode == 0, proc.stderr
    assert "name: dpl" in proc.stdout
    assert "num_users: 2" in proc.stdout
    assert "hub_id: HuggingFaceTB/SmolLM2-135M-Instruct" in proc.stdout


def test_run_help_shows_the_config_groups():
    proc = drp_bench("run", "--help")
    assert proc.returncode == 0, proc.stderr
    for group in ("method:", "dataset:", "experiment:", "model:"):
        assert group in proc.stdout


def test_cache_stats_reports_entries_hits_and_misses(tmp_path, capsys):
    path = tmp_path / "calls.sqlite"
    cache = CallCache(path)
    request = ChatRequest(({"role": "user", "content": "hello"},))
    key = cache.key({"backend": "x", "model": "m"}, request)
    cache.put(key, ChatResult(text="hi", completion_tokens=1), model="m")
    assert cache.get(key) is not None
    cache.close()
    assert main(["cache", "stats", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "entries: 1" in out and "hits: 1" in out
    assert main(["cache", "clear", "--path", str(path)]) == 0
    assert CallCache(path).stats()["entries"] == 0


def test_run_on_a_missing_dataset_says_so_in_one_line_and_keeps_error_json(tmp_path):
    run_dir = tmp_path / "run"
    proc = drp_bench("run", "dataset.path=/nonexistent/data", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 1
    assert "drp-bench run: error: /nonexistent/data" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "DataValidationError" in (run_dir / "error.json").read_text()


def test_run_with_a_mandatory_value_missing_names_it(tmp_path):
    proc = drp_bench("run", "dataset=books", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 1
    assert "dataset.path" in proc.stderr


def test_export_lmeval_on_a_folder_without_a_run_is_a_one_line_error(tmp_path, capsys):
    assert main(["export-lmeval", str(tmp_path / "no-run"), "--out", str(tmp_path / "o")]) == 1
    assert "no-run" in capsys.readouterr().err


def test_cache_command_default_path_is_the_run_configs_default(monkeypatch):
    from drp_bench.backends.cache_cli import default_cache_path
    from tests.test_config import _compose

    monkeypatch.delenv("DRP_BENCH_CACHE", raising=False)
    assert _compose()["cache"]["path"] == str(default_cache_path())
    monkeypatch.setenv("DRP_BENCH_CACHE", "/tmp/elsewhere.sqlite")
    assert _compose()["cache"]["path"] == str(default_cache_path()) == "/tmp/elsewhere.sqlite"

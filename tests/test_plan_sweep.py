"""``drp-bench plan -m`` against the sweep it plans, with the embedded model (slow).

The plan's call counts must equal the calls the sweep then makes, and its prompt-token counts
the prompt tokens llama.cpp reports for the same prompts: before the sweep for the prompts
that read no earlier answer, and for every prompt once the sweep's answers are in the cache.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import TINY

pytestmark = pytest.mark.slow
# llama.cpp threads spin: one thread per model keeps the run steady on a shared 2-core machine
# (the thread count is not part of the model's identity, so the cache keys are the same)
ONE_THREAD = ["extractor.backend.options.n_threads=1", "generator.backend.options.n_threads=1"]


def _cli(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drp_bench.cli", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def _actuals(sweep: Path) -> dict[frozenset[str], dict]:
    """Per job (its overrides): metrics.json's compute block."""
    out = {}
    for metrics in sweep.rglob("metrics.json"):
        overrides = (metrics.parent / ".hydra" / "overrides.yaml").read_text()
        job = frozenset(line[2:].strip() for line in overrides.splitlines() if line.strip())
        out[job] = json.loads(metrics.read_text())["compute"]
    return out


@pytest.mark.timeout(1200)  # two planned sweeps and one real one
def test_plan_of_a_sweep_equals_the_sweeps_calls_and_reported_prompt_tokens(tmp_path: Path):
    sweep = tmp_path / "sweep"
    args = ["-m", "method=nonp,drp", *TINY, *ONE_THREAD, f"cache.path={tmp_path / 'calls.sqlite'}"]
    planned = _cli("plan", *args, f"hydra.sweep.dir={sweep}")
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert "total (2 jobs)" in planned.stdout
    before = json.loads((sweep / "plan.json").read_text())
    assert before["totals"]["cached"] == 0 and before["totals"]["hours"] > 0

    ran = _cli("run", *args, f"hydra.sweep.dir={sweep}")
    assert ran.returncode == 0, ran.stderr[-3000:]
    actual = _actuals(sweep)
    assert len(actual) == 2
    exact_before = 0
    for job in before["jobs"]:
        compute = actual[frozenset(job["overrides"])]
        assert {s["stage"] for s in job["stages"]} == set(compute) - {"per_sample"}
        for stage in job["stages"]:
            assert stage["calls"] == compute[stage["stage"]]["calls"], stage
            if stage["prompt_tokens_exact"]:
                exact_before += 1
                assert stage["prompt_tokens"] == compute[stage["stage"]]["prompt_tokens"]
    assert exact_before == 2  # nonp's generate and drp's extract read no earlier answer

    replanned = _cli("plan", *args, f"hydra.sweep.dir={sweep}", "--out", str(tmp_path / "p.json"))
    assert replanned.returncode == 0, replanned.stderr[-3000:]
    after = json.loads((tmp_path / "p.json").read_text())
    assert after["totals"]["cached"] == after["totals"]["calls"] == before["totals"]["calls"]
    assert after["totals"]["hours"] == 0
    for job in after["jobs"]:
        compute = actual[frozenset(job["overrides"])]
        for stage in job["stages"]:
            assert stage["prompt_tokens_exact"], stage
            assert stage["prompt_tokens"] == compute[stage["stage"]]["prompt_tokens"], stage
            assert stage["completion_tokens_cached"] == compute[stage["stage"]]["completion_tokens"]

    report = _cli("report", str(sweep), "--no-plots", "--bootstrap", "0", timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    frame = pd.read_csv(sweep / "report" / "plan_vs_actual.csv")
    stages = frame[frame["stage"] != "(job)"]
    assert len(stages) == sum(len(j["stages"]) for j in before["jobs"])
    assert (stages["calls_planned"] == stages["calls_actual"]).all()
    assert frame["run_dir"].notna().all()

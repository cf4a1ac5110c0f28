"""A real Hydra multirun with the embedded model (joblib launcher), then `drp-bench report`."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def test_sweep_of_two_methods_then_report_has_both_runs_numbers(tmp_path):
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        [
            sys.executable, "-m", "drp_bench.cli", "run", "-m",
            "method=nonp,rag",
            "dataset.limit=2",
            "num_retrieved=2",
            "prompts.max_review_chars=300",
            "generator.sampling.max_tokens=32",
            f"cache.path={tmp_path / 'calls.sqlite'}",
            f"hydra.sweep.dir={sweep}",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
        ],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = {
        m["run"]["method"]: m
        for m in (json.loads(p.read_text()) for p in sweep.rglob("metrics.json"))
    }
    assert set(metrics) == {"nonp", "rag"}

    out = tmp_path / "report"
    report = subprocess.run(
        [sys.executable, "-m", "drp_bench.cli", "report", str(sweep), "--out", str(out),
         "--bootstrap", "200"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    table = pd.read_csv(out / "results.csv")
    for method, m in metrics.items():
        rows = table[(table.method == method) & (table.metric == "bleu")]
        assert len(rows) == 1
        assert rows.value.iloc[0] == pytest.approx(m["metrics"]["bleu"])
        meteor = table[(table.method == method) & (table.metric == "meteor")].value.iloc[0]
        assert f"{meteor:.4f}" in (out / "results.md").read_text()
        assert f"{meteor:.4f}" in (out / "results.tex").read_text()
    plots = list((out / "plots").glob("*.png")) + list((out / "plots").glob("*.pdf"))
    assert plots and all(p.stat().st_size > 1000 for p in plots)

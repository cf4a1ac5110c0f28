"""Temperature as a replicate axis, for real: a sweep at 0 and 0.8 with the embedded model, then
`drp-bench report`, whose mean column is the mean of the two runs' metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def test_a_sweep_over_temperatures_reports_each_and_their_mean(tmp_path):
    sweep = tmp_path / "sweep"
    env = {**os.environ, "DRP_BENCH_CACHE": str(tmp_path / "calls.sqlite")}
    run = subprocess.run(
        [sys.executable, "-m", "drp_bench.cli", "run", "-m", "+experiment=demo", "method=rag",
         "dataset.limit=3", "generator.sampling.max_tokens=64", "temperature=0.0,0.8",
         f"hydra.sweep.dir={sweep}"],
        capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    metrics = {
        json.loads((d / "metrics.json").read_text())["run"]["temperature"]: json.loads(
            (d / "metrics.json").read_text()
        )["metrics"]
        for d in sweep.iterdir()
        if (d / "metrics.json").is_file()
    }
    assert set(metrics) == {0.0, 0.8}
    report = subprocess.run(
        [sys.executable, "-m", "drp_bench.cli", "report", str(sweep), "--no-plots",
         "--bootstrap", "200"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-2000:]
    assert "temperature=mean(0, 0.8)" in report.stdout
    frame = pd.read_csv(sweep / "report" / "results.csv")
    means = frame[frame["temperature"] == "mean(0, 0.8)"].set_index("metric")
    for metric in ("bleu", "meteor", "rouge1", "rougeL"):
        expected = (metrics[0.0][metric] + metrics[0.8][metric]) / 2
        assert means.loc[metric, "value"] == pytest.approx(expected, abs=1e-12)
        assert means.loc[metric, "ci_low"] <= means.loc[metric, "ci_high"]
    # the two temperatures really sampled differently
    preds = {
        json.loads((d / "metrics.json").read_text())["run"]["temperature"]: [
            json.loads(x)["prediction"] for x in (d / "predictions.jsonl").read_text().splitlines()
        ]
        for d in sweep.iterdir()
        if (d / "predictions.jsonl").is_file()
    }
    assert preds[0.0] != preds[0.8]

"""Quality against compute in ``drp-bench report``: the frontier, the budget, compute-matched
comparisons, GPU-seconds and the scaling fits.

The run folders are real ones: ``drp_bench.evaluate`` runs RAG and Non-P on the bundled music
sample with a scripted generator that reports token counts (the code around the model is under
test; its scores say nothing about any method).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from drp_bench import evaluate
from drp_bench.backends.base import ChatResult
from drp_bench.metrics.bootstrap import paired_bootstrap_pvalue_values
from drp_bench.report.cli import main
from drp_bench.report.collect import collect_runs, extra_run_fields, knob_fields
from drp_bench.report.cost import gpu_seconds_per_sample, role_config
from drp_bench.report.fits import ols, scaling_fits, slope_ci
from drp_bench.report.frontier import (
    best_under_budget,
    compute_matched,
    cost_points,
    non_dominated,
    relative_gap,
)

N_BOOT = 200
SAMPLES = 12  # at least tables.MIN_SHARED_SAMPLES: paired tests need 10


class TokenModel:
    """Answers with the prompt's first ``words`` words; reports the prompt's words as its
    prompt tokens, ``words`` completion tokens and, with ``think``, a reasoning text."""

    def __init__(self, words: int, think: bool = False) -> None:
        self.identity = {"backend": "scripted", "model": f"token-model-{words}"}
        self.words, self.think = words, think

    def chat(self, requests, on_result=None):
        results = []
        for i, request in enumerate(requests):
            prompt = " ".join(m["content"] for m in request.messages).split()
            result = ChatResult(
                text="[Review]: " + " ".join(prompt[-self.words :]),
                reasoning="let me think about it" if self.think else None,
                prompt_tokens=len(prompt),
                completion_tokens=self.words + (5 if self.think else 0),
            )
            if on_result:
                on_result(i, result)
            results.append(result)
        return results

    def close(self) -> None:
        pass


def run(root: Path, name: str, overrides: list[str], words: int, think: bool = False) -> Path:
    result = evaluate(
        [f"dataset.limit={SAMPLES}", f"cache.path={root / 'calls.sqlite'}", *overrides],
        out_dir=root / "sweep" / name,
        backends={"generator": TokenModel(words, think)},
    )
    assert result.status == "complete"
    return result.run_dir


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five runs of different cost: Non-P, and RAG with 1, 2 and 4 retrieved reviews."""
    root = tmp_path_factory.mktemp("frontier")
    run(root, "nonp", ["method=nonp"], words=8)
    run(root, "rag1", ["method=rag", "num_retrieved=1"], words=12, think=True)
    run(root, "rag2", ["method=rag", "num_retrieved=2"], words=12)
    run(root, "rag4", ["method=rag", "num_retrieved=4"], words=12)
    run(root, "rag4-gpu", ["method=rag", "num_retrieved=4", "generator.throughput.device=gpu",
                           "generator.tensor_parallel_size=2"], words=20)  # fmt: skip
    return root / "sweep"


# ---------------------------------------------------------------- the frontier's rule


def brute_force_front(points: list[tuple[float, float]]) -> list[bool]:
    """The definition, spelled out: no other point costs no more and scores no less, one of
    the two strictly."""
    return [
        not any(
            j != i and cj <= ci and vj >= vi and (cj < ci or vj > vi)
            for j, (cj, vj) in enumerate(points)
        )
        for i, (ci, vi) in enumerate(points)
    ]


def test_frontier_is_exactly_the_non_dominated_points_ties_included() -> None:
    points = {
        "cheap": (50, 0.30),
        "tie-a": (100, 0.50),  # the same cost and value: neither dominates the other
        "tie-b": (100, 0.50),
        "same-value-dearer": (200, 0.50),  # dominated by the ties (costs more, no better)
        "same-cost-worse": (100, 0.40),  # dominated by the ties (no cheaper, worse)
        "best": (300, 0.70),
        "dear-and-worse": (300, 0.60),
        "nowhere": (250, 0.20),
    }
    front = non_dominated([c for c, _ in points.values()], [v for _, v in points.values()])
    on = {name for name, f in zip(points, front, strict=True) if f}
    assert on == {"cheap", "tie-a", "tie-b", "best"}
    # and on many random points with many ties: the same as the definition
    rng = np.random.default_rng(0)
    for _ in range(50):
        pts = [(float(c), float(v)) for c, v in rng.integers(0, 5, size=(12, 2))]
        assert non_dominated(*zip(*pts, strict=True)) == brute_force_front(pts)


def test_frontier_rejects_lists_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        non_dominated([1.0, 2.0], [0.1])


# ---------------------------------------------------------------- on real run folders


def points_of(sweep: Path) -> pd.DataFrame:
    table = collect_runs([sweep], n_bootstrap=N_BOOT)
    points, notes = cost_points(table.frame)
    assert notes == []
    return points


def test_each_points_cost_is_the_sum_its_metrics_json_records(sweep: Path) -> None:
    points = points_of(sweep)
    assert set(points["run_dir"].map(lambda d: Path(d).name)) == {
        "nonp", "rag1", "rag2", "rag4", "rag4-gpu",
    }  # fmt: skip
    for run_dir, rows in points.groupby("run_dir"):
        record = json.loads((Path(run_dir) / "metrics.json").read_text())
        per_sample = record["compute"]["per_sample"]
        stages = {k: v for k, v in record["compute"].items() if k != "per_sample"}
        n = record["run"]["num_samples"]
        for _, p in rows.iterrows():
            assert (
                p["tokens_per_sample"]
                == per_sample["prompt_tokens"] + (per_sample["completion_tokens"])
            )
            assert p["prompt_tokens_per_sample"] == per_sample["prompt_tokens"]
            assert p["reasoning_tokens_per_sample"] == per_sample["reasoning_tokens"]
            summed = sum(s["prompt_tokens"] + s["completion_tokens"] for s in stages.values())
            assert p["tokens_per_sample"] == pytest.approx(summed / n, abs=0.01)
    by_run = points.drop_duplicates("run_dir").set_index(
        points.drop_duplicates("run_dir")["run_dir"].map(lambda d: Path(d).name)
    )
    # more retrieved reviews, longer prompts; the reasoning run's thinking is counted apart
    cost = by_run["tokens_per_sample"]
    assert cost["nonp"] < cost["rag1"] < cost["rag2"] < cost["rag4"]
    assert by_run.loc["rag1", "reasoning_tokens_per_sample"] > 0
    assert by_run.loc["rag2", "reasoning_tokens_per_sample"] == 0
    # what tells the runs apart, generic over the run block's fields and from the overrides
    assert "num_retrieved=2" in by_run.loc["rag2", "settings"]
    assert by_run.loc["rag2", "overrides"] == "method=rag num_retrieved=2"


def test_the_frontier_of_real_runs_is_exactly_their_non_dominated_runs(sweep: Path) -> None:
    points = points_of(sweep)
    for _, grp in points.groupby(["dataset", "split", "metric"]):
        pts = list(zip(grp["tokens_per_sample"], grp["value"], strict=True))
        assert list(grp["frontier"]) == brute_force_front(pts)
        assert grp["frontier"].any()


def test_gpu_seconds_follow_the_runs_own_throughput_figures(sweep: Path) -> None:
    points = points_of(sweep).drop_duplicates("run_dir")
    gpu_s = dict(zip(points["run_dir"].map(lambda d: Path(d).name), points["gpu_s_per_sample"],
                     strict=True))  # fmt: skip
    assert gpu_s["rag4"] == 0.0  # the embedded model's config: a CPU, no GPU-seconds
    run_dir = sweep / "rag4-gpu"
    record = json.loads((run_dir / "metrics.json").read_text())
    generator = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())["generator"]
    t = generator["throughput"]
    stage = record["compute"]["generate"]
    expected = 2 * (
        stage["prompt_tokens"] / t["prefill_tokens_per_s"]
        + stage["completion_tokens"] / t["decode_tokens_per_s"]
    )
    assert gpu_s["rag4-gpu"] == pytest.approx(expected / SAMPLES)


def test_gpu_seconds_are_unknown_when_a_role_has_no_throughput() -> None:
    record = {"run": {"num_samples": 2},
              "compute": {"generate": {"prompt_tokens": 100, "completion_tokens": 10}}}  # fmt: skip
    assert math.isnan(gpu_seconds_per_sample(record, {"generator": {"name": "x"}}))
    cfg = {"generator": {"throughput": {"device": "gpu", "prefill_tokens_per_s": 100,
                                        "decode_tokens_per_s": 10}}}  # fmt: skip
    assert gpu_seconds_per_sample(record, cfg) == pytest.approx((1.0 + 1.0) / 2)


def test_gpu_seconds_of_a_role_that_names_another_use_that_roles_figures() -> None:
    """``.hydra/config.yaml`` keeps ``summarizer: ${generator}`` unresolved: the summary's
    tokens are costed at the generator's throughput, not left unknown."""
    record = {"run": {"num_samples": 2},
              "compute": {"summarize": {"prompt_tokens": 100, "completion_tokens": 10},
                          "generate": {"prompt_tokens": 100, "completion_tokens": 10}}}  # fmt: skip
    gpu = {"throughput": {"device": "gpu", "prefill_tokens_per_s": 100,
                          "decode_tokens_per_s": 10}}  # fmt: skip
    cfg = {"generator": gpu, "summarizer": "${generator}"}
    assert gpu_seconds_per_sample(record, cfg) == pytest.approx((2.0 + 2.0) / 2)
    assert role_config({"a": "${b}", "b": "${a}"}, "a") is None  # a loop: unknown
    assert math.isnan(gpu_seconds_per_sample(record, {"generator": gpu, "summarizer": "${x}"}))


def test_budget_answers_the_best_run_within_it(sweep: Path, capsys) -> None:
    points = points_of(sweep)
    rag2 = points[points["run_dir"].str.endswith("rag2")]["tokens_per_sample"].iloc[0]
    best = best_under_budget(points, rag2)
    for _, answer in best.iterrows():
        grp = points[points["metric"] == answer["metric"]]
        within = grp[grp["tokens_per_sample"] <= rag2]
        assert answer["value"] == within["value"].max()
        assert answer["tokens_per_sample"] <= rag2
        assert Path(answer["run_dir"]).name in {"nonp", "rag1", "rag2"}
    cheapest = points["tokens_per_sample"].min()
    none = best_under_budget(points, cheapest / 2)
    assert none["label"].isna().all() and none["note"].str.startswith("no run within").all()
    with pytest.raises(ValueError, match="--budget"):
        best_under_budget(points, 0)

    out = sweep.parent / "report-budget"
    assert main([str(sweep), "--out", str(out), "--budget", str(rag2), "--bootstrap",
                 str(N_BOOT), "--no-plots"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    written = pd.read_csv(out / "budget.csv")
    bleu = written[written["metric"] == "bleu"].iloc[0]
    expected = best[best["metric"] == "bleu"].iloc[0]
    assert bleu["run_dir"] == expected["run_dir"]
    assert "Best under the budget" in printed and expected["label"] in printed
    assert str(expected["overrides"]) in printed  # the configuration's distinguishing overrides
    assert main([str(sweep), "--out", str(out), "--budget", "-1"]) == 2


def test_compute_matched_pairs_are_tested_on_the_same_samples(sweep: Path) -> None:
    table = collect_runs([sweep], n_bootstrap=N_BOOT)
    points, _ = cost_points(table.frame)
    costs = points.drop_duplicates("run_dir").set_index("run_dir")["tokens_per_sample"]
    matched, notes = compute_matched(table, points, 0.5, n_resamples=N_BOOT, seed=3)
    assert notes == []
    pairs = {frozenset(ab) for ab in zip(matched["run_dir_a"], matched["run_dir_b"], strict=True)}
    for a, b in itertools.combinations(costs.index, 2):
        assert (frozenset((a, b)) in pairs) == (relative_gap(costs[a], costs[b]) <= 0.5), (a, b)
    assert not matched.empty
    row = matched[matched["metric"] == "rouge1"].iloc[0]
    assert row["cost_a"] <= row["cost_b"] and row["cost_gap"] <= 0.5
    assert row["n_common"] == SAMPLES
    a, b = table.run(row["run_dir_a"]), table.run(row["run_dir_b"])
    assert row["p_value"] == paired_bootstrap_pvalue_values(
        a.sample_values("rouge1"), b.sample_values("rouge1"), "rouge1", N_BOOT, 3
    )
    assert row["difference"] == pytest.approx(row["value_b"] - row["value_a"])
    # a tolerance of 0: only equal costs match, and no two of these runs cost the same
    assert compute_matched(table, points, 0.0, n_resamples=N_BOOT)[0].empty


def test_report_cli_writes_the_frontier_matched_pairs_and_fits(sweep: Path, capsys) -> None:
    out = sweep.parent / "report"
    assert main([str(sweep), "--out", str(out), "--bootstrap", str(N_BOOT),
                 "--match-tolerance", "0.5"]) == 0  # fmt: skip
    front = pd.read_csv(out / "frontier.csv")
    points = pd.read_csv(out / "points.csv")
    assert set(front["run_dir"]) <= set(points["run_dir"]) and front["frontier"].all()
    assert len(front) == int(points["frontier"].sum())
    assert not pd.read_csv(out / "compute_matched.csv").empty
    md = (out / "results.md").read_text()
    assert "## Compute and quality" in md and "### Frontier" in md
    assert "### Compute-matched comparisons (costs within 50%)" in md
    plots = {p.name for p in (out / "plots").iterdir()}
    assert {"frontier_music_sample_test.png", "frontier_music_sample_test.pdf"} <= plots
    assert (out / "plots" / "frontier_music_sample_test.png").stat().st_size > 10_000
    fits = pd.read_csv(out / "scaling_fits.csv")
    tokens = fits[(fits["axis"] == "tokens") & (fits["method"] == "rag")]
    assert set(tokens["metric"]) == {"bleu", "meteor", "rouge1", "rougeL"}
    assert (tokens["runs"] == 4).all() and tokens["ci_low"].notna().all()
    assert (tokens["ci_low"] <= tokens["slope"]).all() and (
        tokens["slope"] <= tokens["ci_high"]
    ).all()


# ---------------------------------------------------------------- scaling fits


def test_the_slope_of_a_known_line_is_found_with_a_ci_from_paired_samples() -> None:
    sizes = np.log10([1.5, 7, 14, 32])
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.1, size=200)  # the samples' own difficulty, shared by every run
    values = [0.2 + 0.05 * x + noise for x in sizes]
    slope, intercept, low, high = slope_ci(sizes, values, "rouge1", n_resamples=300)
    assert slope == pytest.approx(0.05) and intercept == pytest.approx(0.2 + noise.mean())
    # paired across runs: the shared difficulty cancels out of the slope on every resample
    assert low == pytest.approx(0.05) and high == pytest.approx(0.05)

    # each run's own noise: the CI widens and holds the slope
    noisy = [0.2 + 0.05 * x + rng.normal(0, 0.1, size=200) for x in sizes]
    slope, _, low, high = slope_ci(sizes, noisy, "rouge1", n_resamples=300)
    assert low < 0.05 < high and high - low > 0.005 and low < slope < high
    assert ols([0, 1, 2], [1.0, 3.0, 5.0]) == (2.0, 1.0)
    with pytest.raises(ValueError, match="two distinct x"):
        ols([1, 1], [0.1, 0.2])


def test_fits_against_parameters_hold_every_other_setting_fixed(sweep: Path) -> None:
    table = collect_runs([sweep], n_bootstrap=0)
    frame = table.frame.copy()
    rag = frame["method"] == "rag"
    # the same runs as if made with a family at three sizes (num_retrieved then varies too)
    frame.loc[rag, "family"] = "fam"
    sizes = {"rag1": 1.0, "rag2": 10.0, "rag4": 100.0, "rag4-gpu": 100.0}
    frame.loc[rag, "params_b"] = frame.loc[rag, "run_dir"].map(lambda d: sizes[Path(d).name])
    fits = scaling_fits(table, frame, n_resamples=0)
    params = fits[fits["axis"] == "params"]
    assert params.empty  # each size's runs differ in num_retrieved: no size-only comparison
    frame.loc[rag, "num_retrieved"] = 4  # pretend only the size differed
    fits = scaling_fits(table, frame, n_resamples=0)
    bleu = fits[(fits["axis"] == "params") & (fits["metric"] == "bleu")]
    assert len(bleu) >= 1 and set(bleu["method"]) == {"rag"}


# ---------------------------------------------------------------- knobs other engineers add


def test_run_block_keys_the_report_does_not_know_become_distinguishing_fields() -> None:
    # extract_samples and validate_rounds have columns of their own; later knobs do not yet
    info = {"method": "drp", "num_users": 4, "extract_samples": 3, "validate_rounds": 2,
            "models": {}, "future_knob": 2, "budget": {"thinking": 512}}  # fmt: skip
    assert extra_run_fields(info) == {"future_knob": 2, "budget": '{"thinking": 512}'}
    frame = pd.DataFrame({"knobs": ["future_knob,budget", "", None]})
    fields = knob_fields(frame)
    assert fields[-2:] == ["future_knob", "budget"] and "num_users" in fields
    assert "extract_samples" in fields and "validate_rounds" in fields


def test_fits_and_the_papers_points_are_drawn_on_the_scaling_plots(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    from drp_bench.report.plots import _draw_fits, _draw_paper, paper_points
    from drp_bench.report.tables import load_paper_table

    paper = load_paper_table()
    points = paper_points(paper, {"books"})
    assert set(points["dataset"]) == {"Books"}
    qwen = points[(points["family"] == "qwen2.5-instruct") & (points["metric"] == "bleu")]
    assert dict(zip(qwen["params_b"], qwen["value"], strict=True)) == {
        1.5: 5.2209, 7.0: 6.0444, 14.0: 6.1955, 32.0: 6.4390,
    }  # fmt: skip
    # a dataset outside the paper: both of the paper's datasets, for trends
    assert set(paper_points(paper, {"music_sample"})["dataset"]) == {"Books", "CDs_and_Vinyl"}

    fits = pd.DataFrame([{"dataset": "books", "split": "test", "metric": "bleu",
                          "method": "drp", "family": "qwen2.5-instruct", "axis": "params",
                          "settings": "", "slope": 2.0, "intercept": 1.0, "ci_low": 1.5,
                          "ci_high": 2.5, "x_min": 1.5, "x_max": 32.0}])  # fmt: skip
    ax = Figure().subplots()
    ((label, line),) = _draw_fits(ax, fits, "bleu", "params", {})
    assert "+2 [+1.5, +2.5]" in label and "DRP · qwen2.5-instruct" in label
    xs, ys = line.get_data()
    assert xs[0] == pytest.approx(1.5) and xs[-1] == pytest.approx(32.0)
    assert np.allclose(ys, 1.0 + 2.0 * np.log10(xs))
    assert _draw_fits(ax, fits, "bleu", "tokens", {}) == []  # another axis: not drawn
    drawn = _draw_paper(ax, paper, "bleu", {"books"})
    assert [lab for lab, _ in drawn] == [
        "paper (reported) · DRP · qwen2.5-instruct · Books",
        "paper (reported) · DRP · r1-distill-qwen · Books",
    ]

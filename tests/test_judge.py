"""The LLM judge: its score rule, its records and metrics.json entry, its config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from drp_bench import evaluate
from drp_bench.backends.base import ChatResult
from drp_bench.config.run_config import RunConfig
from drp_bench.metrics.bootstrap import bootstrap_ci_mean
from drp_bench.pipeline.judge import parse_score, strip_reasoning
from drp_bench.report.collect import collect_runs
from drp_bench.resources import config_dir
from drp_bench.run import folder as run_folder
from drp_bench.run.metrics_file import format_summary

# ---------------------------------------------------------------- the score rule

PARSED = {
    "8": 8,
    "0": 0,
    "10": 10,
    " 6\n": 6,
    "Score: 7/10": 7,
    "Score: 7 / 10": 7,
    "7 out of 10": 7,
    "**6**": 6,
    "`4`": 4,
    "8.0": 8,
    "Rating (0-10): 9": 9,
    "The similarity score is 4.": 4,
    "<think>The real review praises the vocals; 2 points match, 3 do not.</think>\n8": 8,
    "<think>hmm 3 or 5</think>5": 5,
    "<think>a</think>\n<think>b 9</think>\n**2**": 2,
    "6 (mostly matches: 6)": 6,  # the same number twice is one number
}
UNPARSED = {
    "": "empty",
    "ten": "no digits",
    "Eight.": "no digits",
    "11": "out of range",
    "-1": "out of range",
    "7.5": "a fraction: the rubric asks an integer",
    "6 or 8": "several different numbers",
    "Score: 4. The generated review covers 2 of the points": "several different numbers",
    "<think>I would say 8": "reasoning cut off: no answer after it",
    "<think>it is 7</think>": "nothing after the reasoning",
    "7/10 or maybe 8/10": "several different numbers",
}


@pytest.mark.parametrize("text,expected", list(PARSED.items()))
def test_a_score_is_read_from_the_answer(text, expected):
    assert parse_score(text) == expected


@pytest.mark.parametrize("text,why", list(UNPARSED.items()))
def test_an_answer_without_one_clear_0_to_10_integer_is_unparsed(text, why):
    assert parse_score(text) is None, why


def test_none_is_unparsed_and_reasoning_is_stripped():
    assert parse_score(None) is None
    assert strip_reasoning("<think>x 3</think> 5") == " 5"
    assert strip_reasoning("no reasoning 4") == "no reasoning 4"
    assert strip_reasoning("<THINK>x") == ""


def test_the_mean_ci_is_a_percentile_bootstrap():
    mean, low, high = bootstrap_ci_mean([0.2, 0.4, 0.6, 0.8], n_resamples=500, seed=0)
    assert mean == pytest.approx(0.5) and 0.2 <= low < mean < high <= 0.8
    assert bootstrap_ci_mean([0.7]) == (0.7, 0.7, 0.7)
    with pytest.raises(ValueError):
        bootstrap_ci_mean([])


# ---------------------------------------------------------------- config


def _cfg(*overrides: str) -> RunConfig:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return RunConfig.from_config(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]


def test_the_judge_is_off_by_default_and_its_own_role():
    cfg = _cfg()
    assert not cfg.judge and "judge" not in cfg.used_roles
    assert cfg.roles["judge"] == cfg.roles["generator"]  # judge: ${generator}
    on = _cfg("metrics.judge=true", "metrics.judge_self=true", "temperature=0.8")
    assert on.judge and "judge" in on.used_roles
    # an analysis role: the top-level temperature is the method's, not the judge's
    assert on.roles["generator"].sampling.temperature == 0.8
    assert on.roles["judge"].sampling.temperature == 0.0
    own = _cfg("metrics.judge=true", "+model@judge=qwen2.5-7b-instruct")
    assert own.roles["judge"].name == "Qwen2.5-7B-Instruct"
    assert own.roles["generator"].name == "SmolLM2-135M-Instruct"


def test_a_config_without_the_judge_role_reads_with_the_generators_model():
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        composed = compose(config_name="config")
    old = OmegaConf.to_container(composed, resolve=True)
    del old["judge"], old["metrics"]  # type: ignore[arg-type, union-attr]
    cfg = RunConfig.from_config(old)  # type: ignore[arg-type]
    assert cfg.roles["judge"] == cfg.roles["generator"] and not cfg.judge


# ---------------------------------------------------------------- a run with the judge


class Writer:
    """Writes the same review for every sample."""

    def __init__(self):
        self.identity = {"backend": "writer"}

    def chat(self, requests, on_result=None):
        out = []
        for i, _ in enumerate(requests):
            result = ChatResult(text="[Review]: Great album, lovely vocals.", prompt_tokens=5)
            if on_result:
                on_result(i, result)
            out.append(result)
        return out

    def close(self):
        pass


class Judge:
    """Answers in turn (in the order the batch is sent): a clean score, a reasoning model's
    answer, an unparseable one, a failure; records the prompts it got (system + user turn)."""

    ANSWERS = ("8", "<think>close, but 2 points missing</think>\n**6**", "ten", None)

    def __init__(self):
        self.identity = {"backend": "judge"}
        self.prompts: list[str] = []

    def chat(self, requests, on_result=None):
        out = []
        for i, request in enumerate(requests):
            self.prompts.append("\n\n".join(m["content"] for m in request.messages))
            answer = self.ANSWERS[(len(self.prompts) - 1) % len(self.ANSWERS)]
            result = (
                ChatResult(text="", error="HTTP 500 after 3 attempts")
                if answer is None
                else ChatResult(text=answer, prompt_tokens=50, completion_tokens=2)
            )
            if on_result:
                on_result(i, result)
            out.append(result)
        return out

    def close(self):
        pass


def test_a_run_with_the_judge_records_scores_and_counts(tmp_path: Path):
    judge = Judge()
    result = evaluate(
        ["method=nonp", "dataset.limit=4", "metrics.judge=true", "metrics.judge_self=true",
         f"cache.path={tmp_path / 'calls.sqlite'}"],
        out_dir=tmp_path / "run",
        backends={"generator": Writer(), "judge": judge},
    )  # fmt: skip
    rows = run_folder.read_predictions(tmp_path / "run" / run_folder.PREDICTIONS)
    # the batch goes out in prefix order: the n-th prompt sent got the n-th answer
    sent = [next(i for i, p in enumerate(judge.prompts) if r.reference in p) for r in rows]
    assert sorted(sent) == [0, 1, 2, 3]
    by_answer = [rows[sent.index(n)] for n in range(4)]
    scores = [r.stages.judge.score if r.stages.judge else "absent" for r in by_answer]
    assert scores == [8, 6, None, None]
    assert by_answer[2].stages.judge is not None and by_answer[2].stages.judge.error is None
    assert by_answer[3].stages.judge is not None and by_answer[3].stages.judge.error is not None
    # the prompt: item title, rating and title of the real review, both reviews, the rubric
    first = judge.prompts[0]
    assert by_answer[0].reference in first and "Great album, lovely vocals." in first
    assert "Item title:" in first and "its title is" in first
    assert "10: nearly the same review" in first
    metrics = run_folder.read_metrics(tmp_path / "run" / run_folder.METRICS)
    j = metrics.judge
    assert j is not None and (j.parsed, j.unparsed, j.failed, j.n) == (2, 1, 1, 4)
    assert j.mean == pytest.approx(0.7)  # (8 + 6) / 2 / 10: the unparsed answer left out
    assert j.mean_unparsed_zero == pytest.approx(14 / 30)  # (8 + 6 + 0) / 3 / 10, DPL's way
    assert j.judge_self is True  # the opt-in that let the generator's model judge
    assert j.ci_low is not None and j.ci_high is not None and 0.6 <= j.ci_low <= j.ci_high <= 0.8
    assert j.model == "SmolLM2-135M-Instruct"
    assert metrics.run.models["judge"].name == "SmolLM2-135M-Instruct"
    assert metrics.status == "degraded"  # a judge call failed: every call counts
    assert metrics.failures is not None and metrics.failures.calls_by_stage["judge"].failed == 1
    assert metrics.compute["judge"]["calls"] == 4
    assert "LLM judge (0-1)        0.7000 [" in format_summary(result.metrics)
    assert "(2 parsed, 1 unparsed, 1 failed; SmolLM2-135M-Instruct)" in format_summary(
        result.metrics
    )

    # judge calls go through the call cache: a second run makes none
    again = Judge()
    evaluate(
        ["method=nonp", "dataset.limit=4", "metrics.judge=true", "metrics.judge_self=true",
         f"cache.path={tmp_path / 'calls.sqlite'}"],
        out_dir=tmp_path / "run2",
        backends={"generator": Writer(), "judge": again},
    )  # fmt: skip
    assert len(again.prompts) == 1  # only the failed call is retried

    # the report shows the judge as a metric with metrics.json's CI
    table = collect_runs([tmp_path / "run"], n_bootstrap=0)
    judged = table.frame[table.frame["metric"] == "judge"]
    assert len(judged) == 1 and judged["value"].iloc[0] == pytest.approx(0.7)
    assert judged["ci_low"].iloc[0] == pytest.approx(j.ci_low)
    from drp_bench.report.tables import build_table, footnotes, to_markdown

    t = build_table(table.frame)
    assert [r.metric for r in t.rows][-1] == "LLM judge (0–1)"
    assert "| LLM judge (0–1) | 0.7000 |" in to_markdown(t)
    assert f"[{j.ci_low:.4f}, {j.ci_high:.4f}]" in to_markdown(t, ci=True)
    assert any(n.startswith("LLM judge (0–1):") for n in footnotes(t))


def test_without_the_judge_nothing_is_judged(tmp_path: Path):
    result = evaluate(
        ["method=nonp", "dataset.limit=1", f"cache.path={tmp_path / 'calls.sqlite'}"],
        out_dir=tmp_path / "run",
        backends={"generator": Writer()},
    )
    written = json.loads((tmp_path / "run" / run_folder.METRICS).read_text())
    assert written["judge"] is None and "judge" not in written["run"]["models"]
    assert "judge" not in result.records[0]["stages"]


# ---------------------------------------------------------------- the embedded model


@pytest.mark.slow
@pytest.mark.timeout(900)  # the embedded model on 2 shared cores
def test_the_judge_on_the_embedded_model_end_to_end(tmp_path: Path):
    import os
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    exe = str(Path(sys.executable).with_name("drp-bench"))
    cmd = [
        exe, "run", "method=nonp", "dataset.limit=2", "metrics.judge=true",
        "metrics.judge_self=true",
        "generator.sampling.max_tokens=24", "generator.backend.options.n_threads=1",
        "prompts.max_review_chars=300", "prompts.max_description_chars=200",
        f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    env = {**os.environ, "DRP_BENCH_CACHE": str(tmp_path / "calls.sqlite")}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=840)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LLM judge (0-1)" in proc.stdout and "SmolLM2-135M-Instruct)" in proc.stdout
    rows = run_folder.read_predictions(run_dir / run_folder.PREDICTIONS)
    metrics = run_folder.read_metrics(run_dir / run_folder.METRICS)
    assert metrics.status == "complete" and len(rows) == 2
    for row in rows:  # every prediction judged: the call and what its answer parsed to
        judge = row.stages.judge
        assert judge is not None and judge.error is None and judge.messages
        assert row.prediction in judge.messages[-1].content
        assert judge.score == parse_score(judge.output)
    j = metrics.judge
    assert j is not None and j.n == 2 and j.parsed + j.unparsed == 2 and j.failed == 0
    scores = [
        r.stages.judge.score for r in rows if r.stages.judge and r.stages.judge.score is not None
    ]
    if scores:
        assert j.mean == pytest.approx(sum(scores) / len(scores) / 10)
    else:
        assert j.mean is None
    assert metrics.compute["judge"]["calls"] == 2

    report = subprocess.run(
        [exe, "report", str(tmp_path), "--out", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    markdown = (tmp_path / "report" / "results.md").read_text()
    if j.mean is not None:
        assert "LLM judge (0–1)" in markdown and f"{j.mean:.4f}" in markdown


def test_the_runner_and_the_planner_do_not_name_the_judge():
    """The judge is a stage kind (a scorer): the run and the plan treat it as any stage."""
    package = Path(__file__).resolve().parents[1] / "drp_bench"
    files = [package / "run" / "execute.py", *sorted((package / "plan").rglob("*.py"))]
    named = [str(p.relative_to(package)) for p in files if "judge" in p.read_text().lower()]
    assert named == []

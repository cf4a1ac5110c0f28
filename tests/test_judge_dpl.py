"""DPL's judge (SnowCharmQ/DPL @ 7c71663, eval-72B.py and eval-GPT.py): the presets' composed
config, the rubric in this project's words, both means of unparsed answers, and the refusal of a
judge that is the generator's model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from drp_bench import evaluate
from drp_bench.backends.base import ChatResult
from drp_bench.config.run_config import RunConfig
from drp_bench.pipeline.prompts import PromptRenderer
from drp_bench.report.collect import collect_runs
from drp_bench.resources import config_dir
from drp_bench.run import folder as run_folder
from drp_bench.run.metrics_file import format_summary
from tests.test_judge import Writer

PROMPTS = Path(__file__).resolve().parents[1] / "drp_bench" / "prompts"
#: The paper's data is not here: the sample, given on purpose.
DPL_RUN = ("+experiment=dpl_paper", "dataset=music_sample")


def _resolved(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


# ---------------------------------------------------------------- the presets


@pytest.mark.parametrize(
    ("preset", "hub_id", "backend", "max_tokens"),
    [
        # eval-72B.py:62-68: SamplingParams(max_tokens=64, temperature=0.8, top_p=0.95)
        ("dpl_72b", "Qwen/Qwen2.5-72B-Instruct-AWQ", "vllm", 64),
        # eval-GPT.py:26-29,59: temperature 0.8, top_p 0.95, max_tokens = --max_tokens (2048)
        ("dpl_gpt", "gpt-4o-mini", "openai", 2048),
    ],
)
def test_a_dpl_judge_preset_composes_dpls_model_and_sampling(preset, hub_id, backend, max_tokens):
    cfg = RunConfig.from_config(_resolved(*DPL_RUN, f"+judge_preset={preset}"))
    judge = cfg.roles["judge"]
    assert cfg.judge and "judge" in cfg.used_roles and cfg.judge_self is False
    assert (judge.hub_id, judge.backend) == (hub_id, backend)
    s = judge.sampling
    assert (s.temperature, s.top_p, s.max_tokens) == (0.8, 0.95, max_tokens)
    # the method's roles keep dpl_paper's settings: the judge's are its own
    assert cfg.roles["generator"].hub_id == "Qwen/Qwen2.5-7B-Instruct"
    assert cfg.roles["generator"].sampling.max_tokens == 2048
    # an analysis role: a top-level temperature leaves it as the preset says
    other = RunConfig.from_config(_resolved(*DPL_RUN, f"+judge_preset={preset}", "temperature=0"))
    assert other.roles["judge"].sampling.temperature == 0.8
    assert other.roles["generator"].sampling.temperature == 0.0


def test_the_gpt_judge_reads_its_key_from_the_environment_only(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    cfg = _resolved("+judge_preset=dpl_gpt", "model@generator=qwen2.5-7b-instruct")
    options = cfg["judge"]["backend"]["options"]
    assert options["base_url"] == "https://api.openai.com/v1" and options["model"] == "gpt-4o-mini"
    assert options["max_concurrency"] == 20  # eval-GPT.py:110, ThreadPoolExecutor(max_workers=20)
    assert "api_key" not in options
    entry = (config_dir() / "model" / "gpt-4o-mini.yaml").read_text()
    assert "api_key" not in entry.replace("OPENAI_API_KEY", "")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # a proxy, as DPL reads it
    proxied = _resolved("+judge_preset=dpl_gpt")
    assert proxied["judge"]["backend"]["options"]["base_url"] == "http://127.0.0.1:9/v1"


# ---------------------------------------------------------------- judge vs generator


@pytest.mark.parametrize(
    "judge",
    [
        (),  # judge: ${generator}, the default
        ("+model@judge=smollm2-135m",),  # chosen explicitly, still the generator's model
        ("+model@judge=smollm2-135m", "judge.sampling.temperature=0.8"),  # other sampling
    ],
)
def test_a_judge_that_is_the_generators_model_is_refused(judge):
    with pytest.raises(ValueError) as info:
        RunConfig.from_config(_resolved("method=nonp", "metrics.judge=true", *judge))
    message = str(info.value)
    assert "metrics.judge=true" in message and "metrics.judge_self=true" in message
    assert "judge: SmolLM2-135M-Instruct" in message
    assert "generator: SmolLM2-135M-Instruct" in message
    assert "+model@judge=NAME" in message and "+judge_preset=dpl_72b" in message


def test_the_generators_model_judges_with_the_opt_in_and_another_model_without():
    allowed = RunConfig.from_config(
        _resolved("method=nonp", "metrics.judge=true", "metrics.judge_self=true")
    )
    assert allowed.judge and allowed.judge_self is True
    assert allowed.roles["judge"] == allowed.roles["generator"]
    other = RunConfig.from_config(
        _resolved("method=nonp", "metrics.judge=true", "+model@judge=qwen2.5-7b-instruct")
    )
    assert other.roles["judge"].name == "Qwen2.5-7B-Instruct" and other.judge_self is False
    # without the judge nothing is checked: every config of before keeps composing
    assert not RunConfig.from_config(_resolved("method=nonp")).judge


def test_a_config_from_before_judge_self_reads_as_it_ran():
    """An entry's stored config has no ``metrics.judge_self`` (nor, older, a judge role): it
    judged with the generator's model then, and reproduces so (recorded as null)."""
    old = _resolved("method=nonp", "metrics.judge=true", "metrics.judge_self=true")
    del old["metrics"]["judge_self"]
    cfg = RunConfig.from_config(old)
    assert cfg.judge and cfg.judge_self is None
    del old["judge"]
    assert RunConfig.from_config(old).roles["judge"] == cfg.roles["generator"]


# ---------------------------------------------------------------- both means


class MixedJudge:
    """Answers in the order the batch is sent; None: the call fails."""

    ANSWERS = ("8", "ten", "6", "I cannot tell.", "10", "7.5", None)

    def __init__(self, answers: tuple[str | None, ...] = ANSWERS):
        self.identity = {"backend": "mixed-judge"}
        self.answers = answers
        self.sent = 0

    def chat(self, requests, on_result=None):
        out = []
        for i, _ in enumerate(requests):
            answer = self.answers[self.sent % len(self.answers)]
            self.sent += 1
            result = (
                ChatResult(text="", error="HTTP 500 after 3 attempts")
                if answer is None
                else ChatResult(text=answer, prompt_tokens=40, completion_tokens=1)
            )
            if on_result:
                on_result(i, result)
            out.append(result)
        return out

    def close(self):
        pass


def _judged_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    evaluate(
        ["method=nonp", "dataset.limit=7", "metrics.judge=true",
         "+model@judge=qwen2.5-7b-instruct", f"cache.path={tmp_path / 'calls.sqlite'}"],
        out_dir=run_dir,
        backends={"generator": Writer(), "judge": MixedJudge()},
    )  # fmt: skip
    return run_dir


def test_unparsed_answers_are_scored_both_ways(tmp_path: Path):
    run_dir = _judged_run(tmp_path)
    metrics = run_folder.read_metrics(run_dir / run_folder.METRICS)
    j = metrics.judge
    assert j is not None
    # 8, 6 and 10 parse; "ten", "I cannot tell." and "7.5" do not; one call failed
    assert (j.parsed, j.unparsed, j.failed, j.n) == (3, 3, 1, 7)
    assert j.mean == pytest.approx((8 + 6 + 10) / 3 / 10)  # 0.8: unparsed left out
    assert j.mean_unparsed_zero == pytest.approx((8 + 6 + 10 + 0 + 0 + 0) / 6 / 10)  # 0.4
    assert j.ci_low_unparsed_zero is not None and j.ci_high_unparsed_zero is not None
    assert 0.0 <= j.ci_low_unparsed_zero <= 0.4 <= j.ci_high_unparsed_zero <= 1.0
    assert j.judge_self is False and j.model == "Qwen2.5-7B-Instruct"
    written = json.loads((run_dir / run_folder.METRICS).read_text())
    assert written["schema_version"] == run_folder.SCHEMA_VERSION == "6"
    assert list(written["judge"])[:8] == [
        "mean", "ci_low", "ci_high", "parsed", "unparsed", "failed", "n", "model",
    ]  # fmt: skip
    summary = format_summary(written)
    assert "LLM judge (0-1)        0.8000 [" in summary
    assert "LLM judge, unparsed=0  0.4000" in summary


def test_a_judged_folder_of_version_4_still_reads_and_reports(tmp_path: Path):
    """A metrics.json written before version 6 (no unparsed-as-0 mean, no judge_self) reads
    with them null; the report and the terminal summary show its judge as before."""
    run_dir = _judged_run(tmp_path)
    path = run_dir / run_folder.METRICS
    old = json.loads(path.read_text())
    old["schema_version"] = "4"
    for key in ("mean_unparsed_zero", "ci_low_unparsed_zero", "ci_high_unparsed_zero"):
        del old["judge"][key]
    del old["judge"]["judge_self"]
    path.write_text(json.dumps(old, indent=1))
    metrics = run_folder.read_metrics(path)
    assert metrics.schema_version == "4" and metrics.judge is not None
    assert metrics.judge.mean == pytest.approx(0.8) and metrics.judge.mean_unparsed_zero is None
    assert metrics.judge.judge_self is None
    summary = format_summary(old)
    assert "LLM judge (0-1)        0.8000" in summary and "unparsed=0" not in summary
    table = collect_runs([run_dir], n_bootstrap=0)
    judged = table.frame[table.frame["metric"] == "judge"]
    assert len(judged) == 1 and judged["value"].iloc[0] == pytest.approx(0.8)


def test_a_judged_run_goes_on_the_leaderboard_with_both_means(tmp_path: Path):
    from drp_bench.leaderboard.splits import register_split
    from drp_bench.leaderboard.submit import submit_run
    from drp_bench.leaderboard.verify import verify_entry

    board = tmp_path / "board"
    register_split(board, "music_sample/test-3", "bundled:music_sample", limit=3)
    run = evaluate(
        ["method=nonp", "dataset.limit=3", "metrics.judge=true",
         "+model@judge=qwen2.5-7b-instruct", f"cache.path={tmp_path / 'calls.sqlite'}"],
        out_dir=tmp_path / "run",
        backends={"generator": Writer(), "judge": MixedJudge(("8", "ten", "6"))},
    )  # fmt: skip
    assert run.status == "complete"
    submit_run(run.run_dir, board, submitter="tester", notes="judged", date="2026-12-03")
    (entry,) = sorted((board / "entries").iterdir())
    judge = json.loads((entry / "submission.json").read_text())["judge"]
    assert judge["mean"] == pytest.approx(0.7) and judge["unparsed"] == 1
    assert judge["mean_unparsed_zero"] == pytest.approx(14 / 30) and judge["judge_self"] is False
    assert verify_entry(entry, board).problems == []


# ---------------------------------------------------------------- the rubric

#: Sentences of DPL's rubric (eval-72B.py:71-79): the facts carry over, these words do not.
DPL_SENTENCES = (
    "You are an impartial evaluator tasked with assessing",
    "is completely unrelated to the user's real review",
    "has a weak connection to the user's real review",
    "partially matches the user's real review",
    "mostly matches the user's real review",
    "is very similar to the user's real review",
    "is almost the same as the user's real review",
    "Output the numerical score only.",
)


def test_the_rubric_names_its_source_and_says_dpls_content_in_its_own_words():
    source = (PROMPTS / "judge.system.j2").read_text()
    header = source.split("-#}", 1)[0]
    assert header.startswith("{#-") and "SnowCharmQ/DPL @ 7c71663" in header
    assert "eval-72B.py lines 70-80" in header and "eval-GPT.py lines 93-103" in header
    assert "SnowCharmQ/DPL @ 7c71663" in (PROMPTS / "judge.j2").read_text().split("-#}", 1)[0]
    text = PromptRenderer().render("judge.system")
    assert "SnowCharmQ" not in text and "{#" not in text  # the header is a comment
    assert text.startswith("You grade, without taking sides,")
    for score in (0, 2, 4, 6, 8, 10):
        assert f"\n{score}: " in text
    for point in ("key points", "thoughts and preferences", "real review", "number"):
        assert point in text
    assert not [s for s in DPL_SENTENCES if s.lower() in text.lower()]

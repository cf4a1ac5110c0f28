"""The paper presets set what the reference code did (docs/fidelity.md), and the pipeline sends
the messages that code sent: instruction placement, inputs and their order, raw hand-offs.

The model here is scripted (it only answers by stage); the messages are the pipeline's own,
built from a real bundled sample.
"""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from drp_bench.backends.base import ChatResult
from drp_bench.backends.pool import BackendPool
from drp_bench.config.compose import compose_run_config
from drp_bench.config.run_config import RunConfig
from drp_bench.methods.contracts import ANALYSIS_ROLES
from drp_bench.pipeline.context import build_contexts
from drp_bench.pipeline.prompts import PromptRenderer
from drp_bench.pipeline.representatives import Embedder
from drp_bench.pipeline.runner import Pipeline
from drp_bench.resources import config_dir
from drp_bench.run.inputs import load_run_dataset

# The extraction answer: not in the feature format, so a re-formatting hand-off would change it.
EXTRACTION = "Free-form analysis: the user writes shorter sentences. (no feature format)"
VALIDATION = "--- [Sentence Length] Definition: length. Difference Description: shorter. ---"


def compose_cfg(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


PAPER_CPU = [
    "+experiment=paper_table",
    "dataset=music_sample",
    "embedding.model=bundled:all-MiniLM-L6-v2",
]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("method.name", "drp"),
        ("method.summary_reads", "extracted"),
        ("method.handoff", "raw"),
        ("method.templates.extract", "paper/drp_extract_auto"),
        ("method.templates.validate", "paper/drp_validate"),
        ("method.templates.summarize", "paper/drp_summarize"),
        ("method.templates.generate", "paper/drp_generate"),
        ("prompts.instructions_in", "system"),
        ("answer_prefix", "reference"),
        ("embedding.model", "Alibaba-NLP/gte-Qwen2-1.5B-instruct"),
        ("generator.hub_id", "Qwen/Qwen2.5-14B-Instruct"),
        ("summarizer.hub_id", "Qwen/Qwen2.5-14B-Instruct"),
        ("normalizer.hub_id", "Qwen/Qwen2.5-32B-Instruct"),
        ("normalizer.sampling.max_tokens", 2048),
        ("normalizer.sampling.temperature", 0.0),
        ("extractor.sampling.temperature", 0.0),
        ("extractor.sampling.top_p", 0.95),
        ("extractor.sampling.max_tokens", 4096),
        ("extractor.sampling.seed", 42),
        ("num_retrieved", 8),
        ("num_users", 4),
        ("seed", 42),
        ("uvq", True),
    ],
)
def test_paper_table_sets_every_reference_setting(key, expected):
    # one point of the sweep (the extractor is swept; the default entry is the embedded model)
    cfg = compose_cfg(
        "+experiment=paper_table", "dataset=music_sample", "model@extractor=qwen2.5-7b-instruct"
    )
    assert OmegaConf.select(OmegaConf.create(cfg), key) == expected


def test_paper_table_sweeps_extractors_datasets_and_both_temperatures():
    cfg = compose_run_config(["+experiment=paper_table"], multirun=True)  # the sweep's config
    params = cfg.hydra.sweeper.params
    assert params["temperature"] == "0.0,0.8"
    assert params["dataset"] == "books,cds_and_vinyl"
    assert len(params["model@extractor"].split(",")) == 8


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("method.name", "dpl"),
        ("method.handoff", "raw"),
        ("method.templates.extract", "paper/dpl_extract"),
        ("extractor.hub_id", "Qwen/Qwen2.5-7B-Instruct"),
        ("generator.hub_id", "Qwen/Qwen2.5-7B-Instruct"),
        ("temperature", 0.8),
        ("extractor.sampling.max_tokens", 2048),
        ("generator.sampling.max_tokens", 2048),
        ("extractor.sampling.top_p", 0.95),
        ("answer_prefix", "reference"),
    ],
)
def test_dpl_paper_sets_what_dpl_ran(key, expected):
    cfg = compose_cfg("+experiment=dpl_paper", "dataset=music_sample")
    assert OmegaConf.select(OmegaConf.create(cfg), key) == expected
    run = RunConfig.from_config(cfg)
    method_roles = {r: s for r, s in run.roles.items() if r not in ANALYSIS_ROLES}
    assert {s.sampling.temperature for s in method_roles.values()} == {0.8}


@pytest.mark.parametrize("preset", ["dpl_paper", "paper_table"])
def test_a_paper_preset_without_a_dataset_is_refused(preset):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match=r"You must specify 'dataset'"):
        compose_cfg(f"+experiment={preset}")
    # given on purpose, the bundled sample is fine
    assert compose_cfg(f"+experiment={preset}", "dataset=music_sample")["dataset"]["path"] == (
        "bundled:music_sample"
    )


BASELINES = ("nonp", "rag", "intsum", "llm-trsr", "cicl", "p-db", "dpl")


@pytest.mark.parametrize("method", BASELINES)
def test_baselines_paper_runs_every_role_on_qwen_7b_at_dpls_sampling(method):
    from drp_bench.methods.contracts import ROLES

    cfg = compose_cfg("+experiment=baselines_paper", "dataset=music_sample", f"method={method}")
    assert cfg["method"]["name"] == method
    assert cfg["embedding"]["model"] == "Alibaba-NLP/gte-Qwen2-1.5B-instruct"
    run = RunConfig.from_config(cfg)
    assert set(run.roles) == set(ROLES)
    for role, spec in run.roles.items():
        assert spec.hub_id == "Qwen/Qwen2.5-7B-Instruct", role
        assert (spec.sampling.top_p, spec.sampling.max_tokens) == (0.95, 2048), role
    method_roles = {r: s for r, s in run.roles.items() if r not in ANALYSIS_ROLES}
    assert {s.sampling.temperature for s in method_roles.values()} == {0.8}
    assert {s.role for s in run.method.stages} <= set(method_roles) | {None}  # peer: no role


def test_baselines_paper_sweeps_the_papers_baselines_on_both_datasets():
    from drp_bench.report.collect import METHOD_ORDER

    params = compose_run_config(["+experiment=baselines_paper"], multirun=True).hydra.sweeper.params
    assert params["method"].split(",") == [m for m in METHOD_ORDER if m != "drp"] == list(BASELINES)
    assert params["dataset"] == "books,cds_and_vinyl"


def test_baselines_paper_outside_a_sweep_needs_a_dataset_and_a_method():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match=r"You must specify 'dataset'"):
        compose_cfg("+experiment=baselines_paper", "method=p-db")
    with pytest.raises(ConfigCompositionException, match=r"You must specify 'method'"):
        compose_cfg("+experiment=baselines_paper", "dataset=music_sample")
    cfg = compose_cfg("+experiment=baselines_paper", "dataset=music_sample", "method=rag")
    assert cfg["dataset"]["path"] == "bundled:music_sample"  # given on purpose: fine


def test_the_cli_refuses_dpl_paper_without_a_dataset_before_running(tmp_path):
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "drp_bench.cli", "run", "+experiment=dpl_paper",
         f"hydra.run.dir={run_dir}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1
    assert "You must specify 'dataset', e.g, dataset=<OPTION>" in out.stderr
    assert "books" in out.stderr and "cds_and_vinyl" in out.stderr
    assert not run_dir.exists()  # nothing ran


class Recorder:
    """Answers by stage and keeps every request's messages."""

    def __init__(self):
        self.identity = {"backend": "recorder"}
        self.sent: list[list[dict]] = []

    def chat(self, requests, on_result=None):
        out = []
        for i, request in enumerate(requests):
            messages = [dict(m) for m in request.messages]
            self.sent.append(messages)
            text = " ".join(m["content"] for m in messages)
            if "[Summary]" in text:
                answer = "[Summary]: a terse writer"
            elif "[Review]" in text:
                answer = "[Review]: Short. Good."
            elif "Other user 1's review" in text and EXTRACTION in text:
                answer = VALIDATION
            else:
                answer = EXTRACTION
            result = ChatResult(text=answer, prompt_tokens=1, completion_tokens=1)
            if on_result:
                on_result(i, result)
            out.append(result)
        return out

    def close(self):
        pass


@pytest.fixture(scope="module")
def embedder():
    from drp_bench.config.run_config import EmbedderSpec

    return Embedder(EmbedderSpec())


def run_one_sample(embedder, *overrides: str) -> tuple[Recorder, list[dict]]:
    cfg = RunConfig.from_config(
        compose_cfg(*PAPER_CPU, "dataset.limit=1", "num_retrieved=2", "num_users=2", *overrides)
    )
    dataset = load_run_dataset({**cfg.dataset, "limit": None})
    one = type(dataset)(dataset.name, dataset.split, dataset.samples[:1], dataset.items)
    contexts = build_contexts(
        one, True, True, cfg.num_retrieved, cfg.num_users, cfg.seed, embedder,
        pool=dataset.samples,
    )  # fmt: skip
    model = Recorder()
    pool = BackendPool(None, opener=lambda spec: model)
    renderer = PromptRenderer(instructions_in=cfg.prompts["instructions_in"])
    records = Pipeline(cfg, pool.for_roles(cfg.roles), renderer).run(one, contexts)
    return model, records


def by_stage(records: list[dict], stage: str) -> list[list[dict]]:
    entry = records[0]["stages"][stage]
    return [e["messages"] for e in (entry if isinstance(entry, list) else [entry])]


def test_qwen_roles_get_the_instruction_as_system_message_and_the_material_as_user_turn(
    embedder,
):
    _, records = run_one_sample(embedder)
    for stage in ("extract", "validate", "summarize", "generate"):
        for messages in by_stage(records, stage):
            assert [m["role"] for m in messages] == ["system", "user"], stage
            assert "[Item]" not in messages[0]["content"]  # material stays in the user turn


def test_an_r1_extractor_gets_the_instruction_at_the_start_of_the_user_turn(embedder):
    _, records = run_one_sample(embedder, "model@extractor=r1-distill-qwen-7b")
    for stage in ("extract", "validate"):
        for messages in by_stage(records, stage):
            assert [m["role"] for m in messages] == ["user"], stage
    assert [m["role"] for m in by_stage(records, "summarize")[0]] == ["system", "user"]


def test_inputs_come_in_the_reference_order(embedder):
    _, records = run_one_sample(embedder)
    user = by_stage(records, "extract")[0][1]["content"]
    item, target, other = (
        user.index("[Item]:"),
        user.index("[The current user's review]:"),
        user.index("[Other user 1's review]:"),
    )
    assert item < target < other
    generation = by_stage(records, "generate")[0][1]["content"]
    reference = records[0]["reference"]
    assert reference[:80] not in generation  # the answer is never in the prompt
    past, summary = generation.index("past reviews"), generation.index("a terse writer")
    assert past < summary


def test_raw_answers_are_passed_on_and_the_summary_reads_the_extraction(embedder):
    _, records = run_one_sample(embedder)
    for messages in by_stage(records, "validate"):
        assert messages[1]["content"].endswith(EXTRACTION)  # verbatim, right after the material
    summary_user = by_stage(records, "summarize")[0][1]["content"]
    assert EXTRACTION in summary_user and VALIDATION not in summary_user
    assert records[0]["prediction"] == "Short. Good."


def test_cfg_job_of_paper_table_shows_the_reference_settings():
    import subprocess
    import sys

    import yaml

    out = subprocess.run(
        [sys.executable, "-m", "drp_bench.cli", "run", "+experiment=paper_table",
         "dataset=music_sample", "model@extractor=r1-distill-qwen-7b", "--cfg", "job"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    cfg = yaml.safe_load(out.stdout)
    assert cfg["method"]["summary_reads"] == "extracted" and cfg["method"]["handoff"] == "raw"
    assert cfg["method"]["templates"]["validate"] == "paper/drp_validate"
    assert cfg["generator"]["hub_id"] == "Qwen/Qwen2.5-14B-Instruct"
    assert cfg["normalizer"]["hub_id"] == "Qwen/Qwen2.5-32B-Instruct"
    assert cfg["normalizer"]["sampling"]["max_tokens"] == 2048
    assert cfg["extractor"]["instructions_in"] == "user"  # R1: no system message
    assert cfg["generator"]["instructions_in"] is None  # Qwen: the run's `system`
    assert cfg["prompts"]["instructions_in"] == "system"
    assert cfg["embedding"]["model"] == "Alibaba-NLP/gte-Qwen2-1.5B-instruct"
    assert cfg["answer_prefix"] == "reference" and cfg["uvq_rule"] == "both"
    assert (cfg["num_retrieved"], cfg["num_users"], cfg["seed"]) == (8, 4, 42)


def test_paper_table_in_reference_exact_sends_the_reference_strings(embedder):
    """``prompts.mode=reference_exact``: each call is the reference's own string around the
    messages, R1's for the R1-Distill extractor/validator (DRP utils/templates.py:21; the
    instruction, one newline, the material: 1_get_diff_outputs_deepseek.py:111,155), the
    no-newline ChatML for the Qwen summarizer, generator and normaliser (lines 8, 12)."""
    _, records = run_one_sample(
        embedder, "model@extractor=r1-distill-qwen-7b", "prompts.mode=reference_exact"
    )
    stages = records[0]["stages"]
    for stage in ("extract", "validate"):
        for call in stages[stage]:
            system, user = (m["content"] for m in call["messages"])  # joined by the wrapper
            assert "--- [Feature Name] Definition:" in system  # the instruction, apart
            assert call["prompt"] == f"bos_token<|User|>{system}\n{user}<|Assistant|><think>\n"
    for stage in ("summarize", "generate"):
        system, user = (m["content"] for m in stages[stage]["messages"])
        assert stages[stage]["prompt"] == (
            f"<|im_start|>system\n{system}<|im_end|><|im_start|>user\n{user}<|im_end|>\n"
            "<|im_start|>assistant\n"
        )


def test_dpl_paper_offers_reference_exact_for_its_qwen_model():
    from drp_bench.pipeline.reference_prompts import chatml_reference, role_wrappers

    cfg = compose_cfg(
        "+experiment=dpl_paper", "dataset=music_sample", "prompts.mode=reference_exact"
    )
    wrappers = role_wrappers(RunConfig.from_config(cfg))
    assert set(wrappers) == {"extractor", "summarizer", "generator"}
    assert set(wrappers.values()) == {chatml_reference}

"""The baselines of the DRP paper's table beyond its four methods (LLM-TRSR, CICL, P-DB): each
does what its paper says, with a scripted stand-in for the model (the code around the LLM)
on the first samples of the bundled sample; one slow test runs them (and IntSum) with the
real embedded model."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from drp_bench.backends.base import ChatResult
from drp_bench.pipeline.context import similar_users
from drp_bench.pipeline.kinds.steps import blocks
from drp_bench.pipeline.prompts import PromptRenderer
from drp_bench.pipeline.retrieval import latest_reviews
from drp_bench.pipeline.runner import Pipeline
from drp_bench.run.folder import write_predictions
from tests.conftest import review
from tests.test_method_prompts_pinned import (
    SAMPLES,
    HashedEmbedder,
    compose_config,
    contexts_for,
    full_dataset,
)


class Scripted:
    """Answers every call with a unique, labelled text; logs (batch, prompt, answer)."""

    def __init__(self, role: str, log: list[dict[str, Any]], fail: str | None = None):
        self.role, self.log, self.fail = role, log, fail
        self.identity = {"backend": "scripted", "role": role}
        self.batch = 0

    def chat(self, requests, on_result=None):
        batch = max((c["batch"] for c in self.log), default=-1) + 1
        results = []
        for i, request in enumerate(requests):
            prompt = "\n\n".join(m["content"] for m in request.messages)  # system + user
            label = re.findall(r"^\[(Summary|Persona|Analysis|Review)\]: <", prompt, re.M)[-1]
            answer = f"[{label}]: answer-{len(self.log)}"
            failed = self.fail is not None and self.fail in prompt
            self.log.append(
                {
                    "batch": batch,
                    "role": self.role,
                    "prompt": prompt,
                    "answer": answer,
                    "max_tokens": request.sampling.max_tokens,
                }
            )
            result = ChatResult(text="", error="ScriptedError") if failed else ChatResult(answer)
            if on_result:
                on_result(i, result)
            results.append(result)
        return results

    def close(self) -> None:
        pass


def run(*overrides: str, fail: str | None = None):
    """The records and the call log of a method on the first samples of the bundled sample."""
    cfg = compose_config(tuple(overrides))
    full = full_dataset()
    dataset = replace(full, samples=full.samples[:SAMPLES])
    contexts = contexts_for(
        cfg.method.past_reviews,
        cfg.method.differences,
        cfg.num_retrieved,
        cfg.num_users,
        cfg.seed,
        cfg.method.neighbours if "neighbours" in cfg.method.contexts else 0,
        cfg.method.recent_reviews,
    )
    log: list[dict[str, Any]] = []
    backends = {role: Scripted(role, log, fail) for role in cfg.roles}
    records = Pipeline(cfg, backends, PromptRenderer()).run(dataset, list(contexts))
    return records, log, contexts


# ---------------------------------------------------------------- LLM-TRSR


def test_blocks_are_cut_from_the_oldest_of_the_latest_reviews():
    reviews = tuple(review(f"A{i}", "t", "x", ts=10 - i) for i in range(12))  # A0 newest
    names = [[r.asin for r in b] for b in blocks(reviews, 5, None)]
    assert names == [
        ["A11", "A10", "A9", "A8", "A7"],  # the oldest block first, full
        ["A6", "A5", "A4", "A3", "A2"],
        ["A1", "A0"],
    ]
    # at most 2 blocks: the 10 latest reviews, still cut from the oldest of them
    assert [[r.asin for r in b] for b in blocks(reviews, 5, 2)] == [
        ["A9", "A8", "A7", "A6", "A5"],
        ["A4", "A3", "A2", "A1", "A0"],
    ]
    assert blocks((), 5, 5) == [[]]


def test_latest_reviews_are_the_newest_not_after_the_target_oldest_first():
    profile = [review("B", "t", "x", ts=3), review("A", "t", "x", ts=1)]
    profile += [review("C", "t", "x", ts=5), review("L", "t", "x", ts=9)]
    target = review("T", "t", "x", ts=5)
    assert [r.asin for r in latest_reviews(profile, target, 2)] == ["B", "C"]  # L is later
    assert [r.asin for r in latest_reviews(profile, target, 9)] == ["A", "B", "C"]


def _user_blocks(sample) -> list[list]:
    return blocks(sample.profile, 5, 5)


def _five_latest(sample) -> list:
    return sorted(sample.profile, key=lambda r: r.timestamp)[-5:]


def test_llm_trsr_recurrent_one_call_per_block_each_reading_the_previous_summary():
    records, log, contexts = run("method=llm-trsr")
    summaries = [c for c in log if c["role"] == "summarizer"]
    assert summaries and {c["max_tokens"] for c in summaries} == {150}  # the source's cap
    role_limit = compose_config(("method=llm-trsr",)).roles["generator"].sampling.max_tokens
    assert role_limit > 150
    assert {c["max_tokens"] for c in log if c["role"] == "generator"} == {role_limit}
    by_batch: dict[int, list] = {}
    for c in summaries:
        by_batch.setdefault(c["batch"], []).append(c)
    for ctx, record in zip(contexts, records, strict=True):
        parts = _user_blocks(ctx.sample)
        oldest = min(ctx.sample.profile, key=lambda r: r.timestamp)
        assert parts[0][0] == oldest and len(parts[0]) == 5  # the first block: the oldest
        steps = record["stages"]["summarize"]
        assert len(steps) == len(parts)  # one call per block
        for n, (step, part) in enumerate(zip(steps, parts, strict=True)):
            prompt = step["messages"][-1]["content"]
            for r in part:  # the n-th call reads the n-th block ...
                assert f"Review title: {r.title}" in prompt
            if n:  # ... and the (n-1)-th summary
                assert f"[Summary so far]\n{steps[n - 1]['summary']}\n" in prompt
            else:
                assert "[Summary so far]" not in prompt
        final = steps[-1]["summary"]
        assert f"\n{final}\n" in record["stages"]["generate"]["messages"][-1]["content"]
        assert record["status"] == "complete"
    # call k of every user in one batch (round k)
    rounds = max(len(_user_blocks(c.sample)) for c in contexts)
    assert len(by_batch) == rounds
    first = sorted(by_batch)[0]
    assert len(by_batch[first]) == len(contexts)
    generate_batches = {c["batch"] for c in log if c["role"] == "generator"}
    assert len(generate_batches) == 1


def test_llm_trsr_generates_from_the_summary_and_exactly_the_5_latest_reviews():
    records, _, contexts = run("method=llm-trsr")
    for ctx, record in zip(contexts, records, strict=True):
        latest = _five_latest(ctx.sample)
        assert len(ctx.sample.profile) > 5  # older reviews exist, and must stay out
        prompt = record["stages"]["generate"]["messages"][-1]["content"]
        shown = re.findall(r"^Review title: (.*)$", prompt, re.M)
        assert shown == [r.title for r in latest]  # the 5 latest, oldest first, nothing else
        assert record["past_reviews"] == [r.asin for r in latest]  # what generation read
        assert record["context"]["past_reviews"] == record["past_reviews"]
        summary = record["stages"]["summarize"][-1]["summary"]
        assert f"]\n{summary}\n" in prompt and "short-term" in prompt


def test_llm_trsr_hierarchical_summarises_blocks_alone_then_merges():
    records, log, contexts = run("method=llm-trsr", "method.summarization=hierarchical")
    for ctx, record in zip(contexts, records, strict=True):
        parts = _user_blocks(ctx.sample)
        steps = record["stages"]["summarize"]
        assert len(parts) > 1 and len(steps) == len(parts) + 1
        assert not any("[Summary so far]" in s["messages"][-1]["content"] for s in steps)
        merge = steps[-1]["messages"][-1]["content"]
        for i, step in enumerate(steps[:-1], start=1):
            assert f"[Summary of block {i}]\n{step['summary']}\n" in f"{merge}\n"
        generate = record["stages"]["generate"]["messages"][-1]["content"]
        assert f"\n{steps[-1]['summary']}\n" in generate  # the merged summary
    batches = sorted({c["batch"] for c in log if c["role"] == "summarizer"})
    assert len(batches) == 2  # every block of every user, then every merge
    assert {c["max_tokens"] for c in log if c["role"] == "summarizer"} == {150}


def test_llm_trsr_summary_cap_keeps_a_lower_role_limit_and_can_be_lifted():
    _, log, _ = run("method=llm-trsr", "generator.sampling.max_tokens=64")  # the summarizer too
    assert {c["max_tokens"] for c in log if c["role"] == "summarizer"} == {64}
    _, log, _ = run("method=llm-trsr", "method.stages.0.options.max_tokens=null")
    role_limit = compose_config(("method=llm-trsr",)).roles["summarizer"].sampling.max_tokens
    assert {c["max_tokens"] for c in log if c["role"] == "summarizer"} == {role_limit} != {150}


def test_llm_trsr_a_failed_block_skips_the_later_calls_and_the_generation(tmp_path):
    full = full_dataset()
    victim = blocks(full.samples[0].profile, 5, 5)[0][0].title
    records, _, _ = run("method=llm-trsr", fail=f"Review title: {victim}\n")
    steps = records[0]["stages"]["summarize"]
    assert steps[0]["error"] and all(s["skipped"] for s in steps[1:])
    assert records[0]["status"] == "failed" and records[0]["stages"]["generate"]["skipped"]
    assert records[1]["status"] == "complete"
    write_predictions(tmp_path / "predictions.jsonl", records)  # a list of summarize calls


# ---------------------------------------------------------------- IntSum


def test_intsum_defaults_summary_of_20_latest_then_2_of_8_retrieved_reviews():
    cfg = compose_config(("method=intsum",))
    summarize, generate = cfg.method.stages
    assert summarize.options["max_reviews"] == 20
    assert generate.options["max_past_reviews"] == 2 and cfg.num_retrieved == 8  # 75% less
    records, _, contexts = run("method=intsum")
    for ctx, record in zip(contexts, records, strict=True):
        summary_prompt = record["stages"]["summarize"]["messages"][-1]["content"]
        latest = sorted(ctx.sample.profile, key=lambda r: r.timestamp)[-20:]
        shown = re.findall(r"^Review title: (.*)$", summary_prompt, re.M)
        assert shown == [r.title for r in latest]
        prompt = record["stages"]["generate"]["messages"][-1]["content"]
        shown = re.findall(r"^Review title: (.*)$", prompt, re.M)
        assert shown == [r.title for r in ctx.past_reviews[:2]] and len(ctx.past_reviews) == 8
        assert record["stages"]["summarize"]["summary"] in prompt


# ---------------------------------------------------------------- CICL


def test_cicl_negatives_are_other_users_reviews_of_the_same_items():
    records, log, contexts = run("method=cicl")
    full = full_dataset()
    reviews_of = {(s.user_id, r.asin): r for s in full.samples for r in s.profile}
    seen_items = 0
    for ctx, record in zip(contexts, records, strict=True):
        prompt = record["stages"]["summarize"]["messages"][-1]["content"]
        items = f"\n{prompt}".split("\n[Item ")[1:]
        assert len(items) == len(ctx.comparisons)
        for comparison, text in zip(ctx.comparisons, items, strict=True):
            seen_items += 1
            asin = comparison.review.asin
            assert reviews_of[(ctx.sample.user_id, asin)] == comparison.review  # a positive
            assert f"Review title: {comparison.review.title}" in text
            negatives = text.split("[Another user's review of item")[1:]
            assert len(negatives) == len(comparison.representatives) > 0
            for user, other in zip(
                comparison.representative_users, comparison.representatives, strict=True
            ):
                assert user != ctx.sample.user_id
                assert reviews_of[(user, asin)] == other  # another user, the same item
                assert f"Review title: {other.title}" in text
        generate = record["stages"]["generate"]["messages"][-1]["content"]
        assert record["stages"]["summarize"]["summary"] in generate  # the analysis
        for r in ctx.past_reviews:  # the positive examples
            assert f"Review title: {r.title}" in generate
    assert seen_items > 0
    assert [c["role"] for c in log].count("generator") == len(contexts)


# ---------------------------------------------------------------- P-DB


def test_p_db_neighbours_are_the_most_similar_users_by_embedding():
    records, log, contexts = run("method=p-db")
    full = full_dataset()
    embedder = HashedEmbedder()
    profiles: dict[str, tuple] = {}
    for s in full.samples:
        profiles.setdefault(s.user_id, s.profile)

    def mean(reviews) -> np.ndarray:
        return embedder.encode([r.text for r in reviews]).astype(np.float64).mean(axis=0)

    for ctx, record in zip(contexts, records, strict=True):
        target = mean(ctx.sample.profile)
        scores = []
        for user, profile in profiles.items():
            if user == ctx.sample.user_id or not profile:
                continue
            v = mean(profile)
            scores.append((-(target @ v) / (np.linalg.norm(target) * np.linalg.norm(v)), user))
        expected = [u for _, u in sorted(scores)[:2]]
        assert [n.user_id for n in ctx.neighbours] == expected
        generate = record["stages"]["generate"]["messages"][-1]["content"]
        for n in ctx.neighbours:
            assert ctx.sample.target.asin not in {r.asin for r in n.reviews}
            for r in n.reviews[:2]:
                assert f"Review title: {r.title}" in generate
        steps = record["stages"]["summarize"]
        assert len(steps) == 2  # distilled, then induced from the distilled persona
        induce = steps[1]["messages"][-1]["content"]
        assert induce.endswith(f"[Distilled persona]\n{steps[0]['summary']}")
        assert f"[Persona of the user]\n{steps[1]['summary']}\n" in generate
    assert len({c["batch"] for c in log if c["role"] == "summarizer"}) == 2


def test_p_db_neighbour_count_is_a_setting():
    _, _, contexts = run("method=p-db", "method.neighbours=3")
    assert all(len(c.neighbours) == 3 for c in contexts)


def test_similar_users_ties_go_by_user_id():
    target = np.array([1.0, 0.0])
    others = {"b": np.array([2.0, 0.0]), "a": np.array([1.0, 0.0]), "c": np.array([0.0, 1.0])}
    assert [u for u, _ in similar_users(target, others, 2)] == ["a", "b"]


# ---------------------------------------------------------------- the real model


@pytest.mark.slow
def test_the_baselines_run_end_to_end_with_the_embedded_model(tmp_path):
    from drp_bench import evaluate

    common = [
        "dataset.limit=1",
        "num_retrieved=2",
        "num_users=2",
        "prompts.max_review_chars=80",
        "prompts.max_description_chars=40",
        "extractor.sampling.max_tokens=48",
        "generator.sampling.max_tokens=48",
        "extractor.backend.options.n_threads=1",
        "generator.backend.options.n_threads=1",
        f"cache.path={tmp_path / 'calls.sqlite'}",
    ]
    full = full_dataset()
    profile = full.samples[0].profile
    expected = {  # summarize calls of the first sample, then its one generate call
        "intsum": 1,
        "llm-trsr": len(blocks(profile, 5, 5)),
        "cicl": 1,
        "p-db": 2,
    }
    for method, summaries in expected.items():
        result = evaluate([f"method={method}", *common], out_dir=tmp_path / method)
        assert result.status == "complete", result.summary()
        (record,) = result.records
        steps = record["stages"]["summarize"]
        assert len(steps if isinstance(steps, list) else [steps]) == summaries
        assert set(record["stages"]) == {"summarize", "generate"}
        assert record["status"] == "complete" and record["prediction"]
        assert result.metrics["calls"]["total"] == summaries + 1


def test_the_report_names_every_method_of_the_papers_table():
    from drp_bench.report.collect import METHOD_NAMES, METHOD_ORDER
    from drp_bench.report.tables import load_paper_table
    from drp_bench.resources import config_dir

    paper = load_paper_table()
    assert paper is not None
    in_paper = list(dict.fromkeys(paper["method"]))
    assert [METHOD_NAMES[m] for m in METHOD_ORDER] == in_paper
    assert set(METHOD_ORDER) <= {p.stem for p in (config_dir() / "method").glob("*.yaml")}


def test_settings_and_template_options_are_checked_before_any_call():
    from drp_bench.pipeline.runner import check_stages

    with pytest.raises(ValueError, match=r"stages\[0\] \(summarize_blocks\)\.options\.mode"):
        compose_config(("method=llm-trsr", "method.summarization=both"))
    with pytest.raises(ValueError, match=r"method\.neighbours: expected an integer >= 1"):
        compose_config(("method=p-db", "method.neighbours=0"))
    with pytest.raises(ValueError, match=r"llm-trsr.yaml\): method\.recent_reviews: expected"):
        compose_config(("method=llm-trsr", "method.recent_reviews=0"))
    with pytest.raises(ValueError, match=r"\(summarize_blocks\)\.options\.max_tokens"):
        compose_config(("method=llm-trsr", "method.stages.0.options.max_tokens=0"))
    cfg = compose_config(("method=llm-trsr", "method.templates.merge=nope"))
    with pytest.raises(FileNotFoundError, match=r"options\.merge_template: prompt template 'nope'"):
        check_stages(cfg, PromptRenderer())

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
from drp_bench.pipeline.kinds.base import StageEnv
from drp_bench.pipeline.kinds.generate import GenerateReview
from drp_bench.pipeline.kinds.history import recent
from drp_bench.pipeline.kinds.persona import parse_entries
from drp_bench.pipeline.kinds.steps import blocks
from drp_bench.pipeline.parsing import split_analysis_review
from drp_bench.pipeline.prompts import PromptRenderer
from drp_bench.pipeline.retrieval import latest_reviews
from drp_bench.pipeline.runner import Pipeline
from drp_bench.pipeline.state import SampleState
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
            answer = self.answer(prompt, len(self.log))
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

    def answer(self, prompt: str, n: int) -> str:
        """The n-th answer: labelled as the prompt's (last) answer format asks."""
        label = re.findall(r"^\[(Summary|Persona|Analysis|Review)\]: <", prompt, re.M)[-1]
        return f"[{label}]: answer-{n}"

    def close(self) -> None:
        pass


class Analysing(Scripted):
    """As :class:`Scripted`, but a prompt asking for an analysis and then a review gets both
    (CICL's one call), the analysis mentioning a review so a leak would show."""

    def answer(self, prompt: str, n: int) -> str:
        if "[Analysis]: <" not in prompt or "[Review]: <" not in prompt:
            return super().answer(prompt, n)
        return f"**[Analysis]:** analysis-{n}: unlike a [review] by others\n\n[Review]: answer-{n}"


def run(*overrides: str, fail: str | None = None, model: type[Scripted] = Scripted):
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
    backends = {role: model(role, log, fail) for role in cfg.roles}
    pipeline = Pipeline(cfg, backends, PromptRenderer(), embedder=HashedEmbedder())
    records = pipeline.run(dataset, list(contexts))
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


def _rating_and_title(review) -> str:
    return f'The review\'s rating is {review.rating} and its title is "{review.title}".'


def _nonp_prompt(ctx, review) -> list[dict[str, str]]:
    """The messages Non-P's generation sends for the sample had ``review`` been its target."""
    cfg = compose_config(("method=nonp",))
    stage = cfg.method.output
    full = full_dataset()
    sample = SampleState(0, replace(ctx, sample=replace(ctx.sample, target=review)))
    renderer = PromptRenderer()
    env = StageEnv(full.items, lambda _role, t, **v: renderer.messages(t, **v), "lenient")
    (planned,) = GenerateReview().plan(stage, sample, env)
    return planned.messages


def test_cicl_one_answer_call_shows_each_positive_with_the_models_own_negative():
    records, log, contexts = run("method=cicl", model=Analysing)
    negatives = [c for c in log if c["role"] == "summarizer"]
    answers = [c for c in log if c["role"] == "generator"]
    assert len(answers) == len(contexts)  # one answer call per sample
    assert len(negatives) == sum(len(ctx.past_reviews) for ctx in contexts) > 0
    # every negative in one batch (one round), before the answer calls' batch
    assert len({c["batch"] for c in negatives}) == len({c["batch"] for c in answers}) == 1
    assert max(c["batch"] for c in negatives) < min(c["batch"] for c in answers)
    for ctx, record in zip(contexts, records, strict=True):
        steps = record["stages"]["summarize"]
        assert len(steps) == len(ctx.past_reviews)
        answer = record["stages"]["generate"]["messages"][-1]["content"]
        position = 0
        for positive, step in zip(ctx.past_reviews, steps, strict=True):
            # the negative: nonp's prompt (its instruction, no personal context) for the
            # positive's item, rating and title; the model's answer without its label
            assert step["messages"] == _nonp_prompt(ctx, positive)  # the call cache shares it
            user = step["messages"][-1]
            assert user["content"].endswith(_rating_and_title(positive))
            assert "[The user's past reviews]" not in user["content"]
            assert "Review text:" not in user["content"]
            assert step["summary"] and not step["summary"].startswith("[")
            # the answer prompt: the positive (its item and the user's review), then its negative
            for text in (f"Review text: {positive.text}", f"Review text: {step['summary']}\n"):
                found = answer.find(text, position)
                assert found > position, text[:60]
                position = found
        assert answer.index("[New item]") > position
        assert answer.endswith(
            "[Analysis]: <what distinguishes the user's reviews from the "
            "generic ones>\n[Review]: <review text>"
        )
        generate = record["stages"]["generate"]
        n = int(generate["output"].rsplit("answer-", 1)[1])
        assert record["prediction"] == f"answer-{n}"  # the review, not the analysis
        assert generate["analysis"] == f"analysis-{n}: unlike a [review] by others"
        assert record["status"] == "complete" and record["failed_stages"] == []
        assert not ctx.comparisons  # no other users: the representatives are never built
    targets = [ctx.sample.target.text for ctx in contexts]
    assert not [t for t in targets for c in log if t in c["prompt"]]  # never shown


def test_cicl_a_failed_negative_leaves_its_positive_alone_and_the_sample_incomplete():
    _, _, contexts = run("method=cicl")
    victim = contexts[0].past_reviews[0]
    records, _, _ = run("method=cicl", fail=_rating_and_title(victim), model=Analysing)
    steps = records[0]["stages"]["summarize"]
    assert steps[0]["error"] and all(s["error"] is None for s in steps[1:])
    answer = records[0]["stages"]["generate"]["messages"][-1]["content"]
    first, rest = answer.split("[Example 2]", 1)
    assert f"Review text: {victim.text}" in first and "negative example" not in first
    assert f"Review text: {steps[1]['summary']}\n" in rest
    assert records[0]["status"] == "context_incomplete"
    assert records[0]["failed_stages"] == ["summarize"]
    assert records[0]["prediction"]
    assert all(r["status"] == "complete" for r in records[1:])


@pytest.mark.parametrize(
    ("answer", "analysis", "review"),
    [
        ("[Analysis]: terse.\n[Review]: Great album.", "terse.", "Great album."),
        ("**[Analysis]:** terse\n\n**[Review]:** Great.", "terse", "Great."),
        ("[analysis] : a [Review]: is short\n[REVIEW]: Fine.", "a [Review]: is short", "Fine."),
        ("[Review]: Great.\n[Analysis]: terse", "terse", "Great."),  # the analysis last
        ("[Analysis]: only an analysis, no review", "only an analysis, no review", ""),
        ("Just the review.", "", "Just the review."),
    ],
)
def test_cicl_the_review_is_read_from_the_one_answer_without_the_analysis(
    answer: str, analysis: str, review: str
):
    assert split_analysis_review(answer) == (analysis, review)


def test_cicl_reference_prefix_reads_only_labels_written_exactly():
    text = "[Analysis]: terse\n[review] : not a label here\n[Review]: Fine."
    assert split_analysis_review(text, "reference") == (
        "terse\n[review] : not a label here",
        "Fine.",
    )
    assert split_analysis_review("[review]: x", "reference") == ("", "[review]: x")


def test_cicl_two_call_negatives_are_other_users_reviews_of_the_same_items():
    records, log, contexts = run("method=cicl-two-call")
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
    assert [c["role"] for c in log].count("summarizer") == len(contexts)  # two calls a sample


# ---------------------------------------------------------------- P-DB


class PersonaScripted(Scripted):
    """Answers P-DB's persona calls with lines of its categories (a call's lines are unique
    to it, with list markers, markdown and a bare heading to parse through); the generation
    as :class:`Scripted`. A prompt holding ``empty`` gets a labelled answer without a line
    (markers and a bare heading only)."""

    def __init__(self, role, log, fail=None, empty=None):
        super().__init__(role, log, fail)
        self.empty = empty

    def chat(self, requests, on_result=None):
        batch = max((c["batch"] for c in self.log), default=-1) + 1
        results = []
        for i, request in enumerate(requests):
            prompt = "\n\n".join(m["content"] for m in request.messages)
            n = len(self.log)
            if self.empty is not None and self.empty in prompt:
                answer = "[Persona]: \n- \nViews:\n"
            elif "[Persona]: <the lines>" in prompt:  # distillation
                answer = f"[Persona]: Taste: taste-{n}\nRating: rating-{n}\nViews:\n" + "\n".join(
                    f"- **View: view-{n}-{k}**" for k in range(6)
                )
            elif "[Persona]: <the new lines>" in prompt:  # refinement
                answer = f"[Persona]: View: high-{n}-0\n\n2. View: high-{n}-1\nAnalysis: an-{n}"
            else:
                answer = f"[Review]: answer-{n}"
            failed = self.fail is not None and self.fail in prompt
            self.log.append({"batch": batch, "role": self.role, "prompt": prompt, "answer": answer})
            result = ChatResult(text="", error="ScriptedError") if failed else ChatResult(answer)
            if on_result:
                on_result(i, result)
            results.append(result)
        return results


def run_p_db(*overrides: str, fail: str | None = None, empty: str | None = None):
    """:func:`run` of P-DB with persona answers of several lines."""
    cfg = compose_config(("method=p-db", *overrides))
    full = full_dataset()
    dataset = replace(full, samples=full.samples[:SAMPLES])
    contexts = contexts_for(True, False, cfg.num_retrieved, cfg.num_users, cfg.seed)
    log: list[dict[str, Any]] = []
    backends = {role: PersonaScripted(role, log, fail, empty) for role in cfg.roles}
    pipeline = Pipeline(cfg, backends, PromptRenderer(), embedder=HashedEmbedder())
    return pipeline.run(dataset, list(contexts)), log, contexts, dataset


def nearest(query: str, texts: list[str], k: int) -> list[str]:
    """The ``k`` texts nearest ``query`` by the tests' hashed embedding (ties: the earlier)."""
    vectors = HashedEmbedder().encode([query, *texts]).astype(np.float64)
    unit = vectors / np.linalg.norm(vectors, axis=1)[:, None]
    scores = unit[1:] @ unit[0]
    return [texts[i] for i in sorted(range(len(texts)), key=lambda i: (-scores[i], i))[:k]]


def layers(record) -> tuple[list[str], list[str]]:
    """A sample's two persona answers, as lines (what the kind parsed)."""
    return tuple(parse_entries(step["summary"]) for step in record["stages"]["summarize"])


def test_p_db_parses_one_line_each_without_markers_or_bare_headings():
    text = "Taste: jazz\n\n- **View: loud mixes are bad**\nViews:\n3) Note: buys vinyl\n"
    assert parse_entries(text) == ["Taste: jazz", "View: loud mixes are bad", "Note: buys vinyl"]
    assert parse_entries("") == []
    # a statement that happens to end in a colon is a line, not a heading (a small model's
    # persona on the bundled sample was nothing but such lines, and the sample was skipped)
    said = "The user lists twelve songs and suggests a few changes for each of them:"
    assert parse_entries(f"Rating tendencies:\n{said}") == [said]


def test_p_db_refinement_reads_the_recent_history_and_every_first_layer_line():
    records, log, contexts, _ = run_p_db()
    for ctx, record in zip(contexts, records, strict=True):
        _, refine = record["stages"]["summarize"]
        prompt = refine["messages"][-1]["content"]
        first, _ = layers(record)
        assert prompt.endswith("[Persona of the user]\n" + "\n".join(first))
        assert "Views:" not in prompt and "**" not in prompt
        latest = recent(ctx.sample.profile, 10)
        assert len(latest) == min(10, len(ctx.sample.profile))
        for r in latest:
            assert f"Review title: {r.title}" in prompt
        older = [r for r in recent(ctx.sample.profile, None) if r not in latest]
        for r in older:
            assert f"Review text: {r.text[:60]}" not in prompt
    batches = [c["batch"] for c in log if c["role"] == "summarizer"]
    assert len(set(batches)) == 2  # distillation, then refinement: one batch each


def test_p_db_generation_shows_the_profile_and_only_the_entries_nearest_the_item():
    records, _, contexts, dataset = run_p_db("method.stages.0.options.item_topk=3")
    for ctx, record in zip(contexts, records, strict=True):
        first, second = layers(record)
        entries = [e for e in first + second if e.split(":")[0] == "View"]
        profile = sorted(e for e in first + second if e.split(":")[0] != "View")
        query = dataset.items[ctx.sample.target.asin].title
        kept = nearest(query, entries, 3)
        generate = record["stages"]["generate"]["messages"][-1]["content"]
        block = "[Persona of the user]\n" + "\n".join([*profile, *kept]) + "\n"
        assert block in generate
        for entry in entries:
            assert (entry in generate) == (entry in kept)
        assert record["context"]["persona_entries"] == kept
        assert record["context"]["persona_profile"] == profile
        assert ctx.sample.target.text not in generate


def test_p_db_collaborators_are_matched_by_persona_and_give_their_nearest_entries():
    records, _, contexts, dataset = run_p_db(
        "method.neighbours=1", "method.stages.0.options.item_topk_collab=4"
    )
    users = [ctx.sample.user_id for ctx in contexts]
    assert len(set(users)) == len(users) == SAMPLES  # one persona each
    persona = {u: layers(r) for u, r in zip(users, records, strict=True)}

    def profile(user: str) -> str:
        return "\n".join(e for e in persona[user][0] if e.split(":")[0] != "View")

    for ctx, record in zip(contexts, records, strict=True):
        user = ctx.sample.user_id
        others = sorted(u for u in users if u != user)
        vectors = HashedEmbedder().encode([profile(u) for u in [user, *others]])
        expected = similar_users(vectors[0], dict(zip(others, vectors[1:], strict=True)), 1)
        (chosen,) = record["context"]["collaborators"]
        assert chosen["user_id"] == expected[0][0]
        assert chosen["similarity"] == pytest.approx(expected[0][1], abs=1e-6)
        pooled = [e for layer in persona[chosen["user_id"]] for e in layer if e[:5] == "View:"]
        kept = nearest(dataset.items[ctx.sample.target.asin].title, pooled, 4)
        assert chosen["entries"] == kept
        generate = record["stages"]["generate"]["messages"][-1]["content"]
        heading = "[Persona of similar users (it may not apply to this user)]\n"
        assert heading + "\n".join(kept) + "\n" in generate
        for entry in pooled:
            assert (entry in generate) == (entry in kept)


def test_p_db_a_failed_refinement_skips_the_generation():
    records, log, _, _ = run_p_db(fail="[Persona]: <the new lines>")
    for record in records:
        assert record["status"] == "failed"
        assert record["stages"]["summarize"][1]["error"] == "ScriptedError"
        assert record["stages"]["generate"]["skipped"]
        assert record["context"]["persona_entries"] == []
    assert [c["role"] for c in log].count("generator") == 0


def test_p_db_a_distillation_without_a_line_skips_the_refinement():
    records, log, _, _ = run_p_db(empty="[Persona]: <the lines>")
    for record in records:
        assert record["status"] == "failed"
        refine = record["stages"]["summarize"][1]
        assert refine["skipped"] and "gave no line" in refine["error"]
    assert [c["role"] for c in log] == ["summarizer"] * SAMPLES


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
        "cicl": min(2, len(profile)),  # a negative per retrieved past review
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
    from drp_bench.methods.contracts import METHOD_NAMES
    from drp_bench.report.collect import METHOD_ORDER
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

"""Prefix caching: each stage's batch goes out with prompts that share a prefix adjacent, and
its answers are stored against the calls that asked for them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

import pytest

from drp_bench.backends.base import ChatRequest, ChatResult, SamplingParams
from drp_bench.pipeline.progress import StageProgress
from drp_bench.pipeline.prompts import PromptRenderer
from drp_bench.pipeline.runner import Pipeline
from drp_bench.pipeline.stages import prefix_order, run_stage
from tests.test_method_prompts_pinned import SHORT_TEXTS, compose_config, contexts_for, full_dataset


def _key(messages: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in messages]


def _answer(messages: list[dict[str, str]]) -> str:
    digest = hashlib.sha256(json.dumps(messages).encode()).hexdigest()[:12]
    return f"[Summary]: answer {digest}\n[Review]: answer {digest}"


class Recorder:
    """Answers every call with a digest of its own messages; records each batch as sent and
    reports results out of order (the last request first), as a concurrent backend may."""

    def __init__(self) -> None:
        self.identity = {"backend": "recorder"}
        self.batches: list[list[list[dict[str, str]]]] = []

    def chat(self, requests: list[ChatRequest], on_result=None) -> list[ChatResult]:
        batch = [[dict(m) for m in r.messages] for r in requests]
        self.batches.append(batch)
        results = [ChatResult(text=_answer(m), prompt_tokens=7) for m in batch]
        for i in reversed(range(len(results))):
            if on_result is not None:
                on_result(i, results[i])
        return results

    def close(self) -> None:
        pass


def test_prefix_order_puts_shared_prefixes_next_to_each_other() -> None:
    system = {"role": "system", "content": "Compare."}
    prompts = [
        [system, {"role": "user", "content": f"item {item}\nuser {user}"}]
        for user, item in [("u1", "B"), ("u2", "A"), ("u3", "B"), ("u4", "A")]
    ]
    order = prefix_order(prompts)
    assert [prompts[i][1]["content"][:6] for i in order] == ["item A"] * 2 + ["item B"] * 2
    assert order == [1, 3, 0, 2]  # stable among equals, sorted by the whole prompt


def test_run_stage_sends_in_prefix_order_and_returns_in_the_order_given() -> None:
    prompts = [[{"role": "user", "content": text}] for text in ("c", "a", "b", "a")]
    backend = Recorder()
    progress = StageProgress("s", len(prompts))
    calls = run_stage("s", prompts, backend, SamplingParams(), progress)
    assert [m[0]["content"] for m in backend.batches[0]] == ["a", "a", "b", "c"]
    assert [c.messages for c in calls] == prompts
    assert [c.answer for c in calls] == [_answer(p) for p in prompts]
    assert progress.done == 4
    unordered = Recorder()
    run_stage("s", prompts, unordered, SamplingParams(), ordered=False)
    assert unordered.batches[0] == prompts


def _run_drp(prefix_order_on: bool) -> tuple[Recorder, Pipeline, list[dict[str, Any]], tuple]:
    overrides = ("method=drp", *SHORT_TEXTS, f"prompts.prefix_order={str(prefix_order_on).lower()}")
    cfg = compose_config(overrides)
    full = full_dataset()
    dataset = replace(full, samples=full.samples[:3])
    contexts = contexts_for(True, True, cfg.num_retrieved, cfg.num_users, cfg.seed)
    backend = Recorder()
    pipeline = Pipeline(cfg, {role: backend for role in cfg.roles}, PromptRenderer())
    records = pipeline.run(dataset, list(contexts))
    return backend, pipeline, records, contexts


def _calls(record: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for entry in record["stages"].values():
        out += entry if isinstance(entry, list) else [entry]
    return [c for c in out if c.get("messages")]


@pytest.mark.parametrize("ordered", [True, False])
def test_the_runner_sends_each_batch_in_prefix_order_and_stores_answers_by_call(
    ordered: bool,
) -> None:
    backend, pipeline, records, contexts = _run_drp(ordered)
    extract = backend.batches[0]
    assert len(extract) > 3  # several items per sample: the ordering has work to do
    sorted_batch = sorted(extract, key=_key)
    assert (extract == sorted_batch) is ordered
    for batch in backend.batches:
        if ordered:
            assert [_key(m) for m in batch] == sorted(_key(m) for m in batch)
    # every stored call holds the answer to its own messages, whatever order they went in
    calls = [c for r in records for c in _calls(r)]
    assert len(calls) == sum(len(b) for b in backend.batches)
    assert all(c["output"] == _answer(c["messages"]) for c in calls)
    # the plan order is kept in the records: the extraction entries in comparison order
    for record, ctx in zip(records, contexts, strict=True):
        assert [e["asin"] for e in record["stages"]["extract"]] == [
            c.review.asin for c in ctx.comparisons
        ]
    report = pipeline.progress_report()
    assert all(p["done"] == p["calls"] for p in report.values())

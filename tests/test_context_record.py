"""Every predictions row records its sample's contexts as ids (``context``), equal to what the
prompts show: the retrieved past reviews in their order, each compared item with the
representatives whose reviews its extract prompt holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drp_bench.data.types import Dataset
from drp_bench.pipeline.representatives import Embedder, EmbedderSpec
from drp_bench.run import folder as rf
from tests.test_pipeline import ScriptedModel, _config
from tests.test_run_folder import scripted_run


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(EmbedderSpec())


def _rows(method: str, dataset: Dataset, embedder, tmp_path: Path, *overrides: str):
    cfg = _config(method, *overrides)
    _, records = scripted_run(cfg, dataset, embedder, ScriptedModel())
    rf.write_predictions(tmp_path / rf.PREDICTIONS, records)
    return rf.read_predictions(tmp_path / rf.PREDICTIONS)


def _user_turn(call: rf.CallRecord) -> str:
    return next(m.content for m in call.messages if m.role == "user")


def _review_of(dataset: Dataset, user_id: str, asin: str) -> str:
    """The text of ``user_id``'s profile review of ``asin`` (what a representative shows)."""
    sample = next(s for s in dataset.samples if s.user_id == user_id)
    return next(r.text for r in sample.profile if r.asin == asin)


def test_rag_rows_record_the_past_reviews_its_generate_prompt_shows(
    tiny_dataset, embedder, tmp_path
) -> None:
    rows = _rows("rag", tiny_dataset, embedder, tmp_path, "num_retrieved=2")
    assert len(rows) == 3
    for row in rows:
        assert row.context is not None
        assert row.context.comparisons == [] and row.context.neighbours == []
        assert row.context.peer is None
        past = row.context.past_reviews
        assert len(past) == 2 and past == row.past_reviews
        prompt = _user_turn(row.stages.generate)
        for number, asin in enumerate(past, start=1):
            title = tiny_dataset.items[asin].title
            assert f"[Past review {number}]\nItem title: {title}" in prompt
        assert f"[Past review {len(past) + 1}]" not in prompt


def test_drp_rows_record_the_representatives_its_extract_prompts_show(
    tiny_dataset, embedder, tmp_path
) -> None:
    rows = _rows("drp", tiny_dataset, embedder, tmp_path, "num_users=1", "num_retrieved=2")
    compared = 0
    for row in rows:
        assert row.context is not None and row.context.neighbours == []
        extract = row.stages.extract or []
        assert [c.asin for c in row.context.comparisons] == [e.asin for e in extract]
        for item, call in zip(row.context.comparisons, extract, strict=True):
            assert item.representatives == call.representatives and len(item.representatives) == 1
            prompt = _user_turn(call)
            others = {s.user_id for s in tiny_dataset.samples} - {row.user_id}
            for user in others:
                shown = _review_of(tiny_dataset, user, item.asin) in prompt
                assert shown == (user in item.representatives), (item.asin, user)
            compared += 1
        assert len(row.context.past_reviews) == 2
    assert compared >= 2, "u1 shares items A and B with two other users"


def test_a_row_without_context_reads_as_not_recorded(tiny_dataset, embedder, tmp_path) -> None:
    rows = _rows("nonp", tiny_dataset, embedder, tmp_path)
    assert rows[0].context == rf.SampleContextRecord(
        past_reviews=[], comparisons=[], neighbours=[], peer=None
    ), "a context the method does not build is empty"
    row = rows[0].to_json_dict()
    row.pop("context")
    (tmp_path / "old.jsonl").write_text(json.dumps(row) + "\n")
    assert rf.read_predictions(tmp_path / "old.jsonl")[0].context is None


def test_neighbours_are_recorded_with_their_retrieved_reviews(tiny_dataset, embedder) -> None:
    from drp_bench.pipeline.context import build_contexts
    from drp_bench.pipeline.sample_record import context_record

    contexts = build_contexts(tiny_dataset, False, False, 2, 1, 42, embedder, neighbours=2)
    for ctx in contexts:
        record = context_record(ctx)
        assert record["past_reviews"] == [] and record["comparisons"] == []
        assert [n["user_id"] for n in record["neighbours"]] == [n.user_id for n in ctx.neighbours]
        assert len(record["neighbours"]) == 2 and ctx.sample.user_id not in {
            n["user_id"] for n in record["neighbours"]
        }
        for entry, near in zip(record["neighbours"], ctx.neighbours, strict=True):
            assert entry["reviews"] == [r.asin for r in near.reviews]
            assert ctx.sample.target.asin not in entry["reviews"]

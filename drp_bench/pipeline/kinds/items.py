"""Helpers of the per-item kinds: one call per comparison item of a sample."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drp_bench.data.types import Item
from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.context import ComparisonItem
from drp_bench.pipeline.state import ItemOutputs, ItemResult, SampleState


def comparison_vars(comparison: ComparisonItem, items: dict[str, Item]) -> dict[str, Any]:
    """Template variables of one comparison: the item, the user's review, the others'."""
    return {
        "item": items[comparison.review.asin],
        "target": comparison.review,
        "others": list(comparison.representatives),
    }


def start(stage: StageSpec, sample: SampleState) -> ItemOutputs:
    """The stage's (still empty) output for ``sample``, stored under its name."""
    output = ItemOutputs(stage.record, [None] * len(sample.context.comparisons))
    sample.values[stage.writes] = output
    return output


def source(stage: StageSpec, sample: SampleState) -> ItemOutputs:
    """The per-item differences the stage reads."""
    return sample.read(stage.inputs["differences"])


def entries(
    stage: StageSpec, sample: SampleState, fields: Callable[[ItemResult], dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """predictions.jsonl entries of the items that have a call (None when none has)."""
    output: ItemOutputs = sample.values[stage.writes]
    found = [
        {
            "asin": comparison.review.asin,
            "representatives": list(comparison.representative_users),
            **({} if result.steps else result.call.record()),  # several calls: in fields
            **fields(result),
        }
        for comparison, result in zip(sample.context.comparisons, output.results, strict=True)
        if result is not None
    ]
    return found or None

"""A task-aware summary of the user's history (IntSum, arXiv 2310.20081)."""

from __future__ import annotations

from drp_bench.data.types import Review
from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.kinds.base import Planned, StageEnv
from drp_bench.pipeline.kinds.summarize import SummaryStage
from drp_bench.pipeline.state import SampleState


class SummarizeHistory(SummaryStage):
    """One call per sample over the user's reviews it reads: the ``max_reviews`` most recent
    (all when null), oldest first. Nothing about the target item is in the prompt, so it is
    the same for every sample of a user (the call cache makes it once per user)."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        history = recent(sample.read(stage.inputs["history"]), stage.options["max_reviews"])
        messages = env.render(stage.role, stage.template, history=history, items=env.items)
        return [Planned(None, messages)]


def recent(reviews: tuple[Review, ...], limit: int | None) -> list[Review]:
    """The ``limit`` latest reviews by timestamp (ties: later in the profile), oldest first."""
    ordered = sorted(reviews, key=lambda r: r.timestamp)  # stable: profile order on ties
    return ordered if limit is None else ordered[-limit:]

"""What distinguishes the user's reviews from other users' reviews of the same items (CICL)."""

from __future__ import annotations

from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.kinds import items
from drp_bench.pipeline.kinds.base import Planned, StageEnv
from drp_bench.pipeline.kinds.summarize import SummaryStage
from drp_bench.pipeline.state import SampleState


class ContrastReviews(SummaryStage):
    """CICL (arXiv 2401.17390): one call per sample. Per comparison item, the user's review (a
    positive example) and the representatives' reviews of the same item (negatives); the
    past reviews it reads, those of other items, are shown as further positives. Its text is
    the answer after ``[Analysis]:``."""

    label = "Analysis"

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        compared = sample.read(stage.inputs["comparisons"])
        shown = {c.review.asin for c in compared}
        past = sample.read(stage.inputs.get("past_reviews")) or ()
        messages = env.render(
            stage.role,
            stage.template,
            comparisons=[items.comparison_vars(c, env.items) for c in compared],
            past_reviews=[r for r in past if r.asin not in shown],
            items=env.items,
        )
        return [Planned(None, messages)]

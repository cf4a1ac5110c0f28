"""CICL (Gao and Das, arXiv 2401.17390): contrastive in-context learning.

The default (``conf/method/cicl.yaml``): :class:`GenerateNegatives` asks the model for its own
review of each positive example's item without any personal context (the negatives), then
:class:`ContrastGenerate` shows every positive with its negative in one prompt and asks for
the analysis and the review in one answer. The two-call variant (``cicl-two-call``):
:class:`ContrastReviews` (other users' reviews of the same items as negatives), then
``generate_review`` reading its analysis.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from drp_bench.data.types import Review
from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.kinds import items
from drp_bench.pipeline.kinds.base import Planned, StageEnv
from drp_bench.pipeline.kinds.generate import generation_messages
from drp_bench.pipeline.kinds.summarize import SummaryStage
from drp_bench.pipeline.parsing import split_analysis_review, strip_answer_prefix
from drp_bench.pipeline.stages import StageCall
from drp_bench.pipeline.state import CallOutput, SampleState


class ContrastReviews(SummaryStage):
    """The two-call variant's first call: one per sample. Per comparison item, the user's
    review (a positive example) and the representatives' reviews of the same item
    (negatives); the past reviews it reads, those of other items, are shown as further
    positives. Its text is the answer after ``[Analysis]:``."""

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


@dataclass
class Negatives:
    """A sample's negative examples: per positive example (a past review), in order, its call
    and the review read from the answer ('' when the call failed)."""

    stage: str
    positives: list[Review] = field(default_factory=list)
    steps: list[tuple[StageCall, str]] = field(default_factory=list)

    def calls(self) -> Iterator[StageCall]:
        return (call for call, _ in self.steps)

    def pairs(self) -> list[tuple[Review, str | None]]:
        """Every positive with its negative (None: its call failed)."""
        return [
            (review, text if call.ok else None)
            for review, (call, text) in zip(self.positives, self.steps, strict=True)
        ]


class GenerateNegatives:
    """One call per positive example (the first ``max_reviews`` of the reviews it reads; all
    when null): the stage's template (``generate``, nonp's) for the positive's item with its
    rating and title and no personal context, so the prompt is the one nonp sends for that
    review and the call cache shares it. The negative is the answer after ``[Review]:``.
    Nothing of the target is in the prompts. Recorded as the list of calls, each with its
    ``summary`` (the negative review)."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        keep = stage.options["max_reviews"]
        positives = list(sample.read(stage.inputs["positives"]))[:keep]
        sample.values[stage.writes] = Negatives(stage.record, positives)
        return [Planned(i, generation_messages(stage, env, r)) for i, r in enumerate(positives)]

    def store(
        self,
        stage: StageSpec,
        sample: SampleState,
        planned: Planned,
        call: StageCall,
        env: StageEnv,
    ) -> None:
        output: Negatives = sample.values[stage.writes]
        assert planned.item == len(output.steps), "negatives are stored in order"
        text = strip_answer_prefix(call.answer, "Review", env.answer_prefix) if call.ok else ""
        output.steps.append((call, text))

    def record(self, stage: StageSpec, sample: SampleState) -> list[dict[str, Any]]:
        output: Negatives = sample.values[stage.writes]
        return [{**call.record(), "summary": text} for call, text in output.steps]


@dataclass
class AnalysedReview(CallOutput):
    """The review read from a one-call answer, with the analysis written before it."""

    analysis: str = ""


class ContrastGenerate:
    """One call per sample: each positive example (its item, the user's review) with its
    negative (the model's own review of the same item, rating and title; left out when its
    call failed), then the target item with its rating and title; the answer holds the
    analysis, then the review (:func:`split_analysis_review`): only the text after the last
    ``[Review]`` label is the prediction; the analysis is recorded beside the call."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        negatives: Negatives = sample.read(stage.inputs["negatives"])
        negative_of = dict(negatives.pairs())  # a positive without one: shown alone
        examples = [
            {
                "item": env.items[review.asin],
                "positive": review,
                "negative": negative_of.get(review),
            }
            for review in sample.read(stage.inputs["positives"])
        ]
        target = sample.context.sample.target
        messages = env.render(
            stage.role,
            stage.template,
            item=env.items[target.asin],
            target=target,
            examples=examples,
            items=env.items,
        )
        return [Planned(None, messages)]

    def store(
        self,
        stage: StageSpec,
        sample: SampleState,
        planned: Planned,
        call: StageCall,
        env: StageEnv,
    ) -> None:
        analysis, review = "", ""
        if call.ok:
            analysis, review = split_analysis_review(call.answer, env.answer_prefix)
        sample.values[stage.writes] = AnalysedReview(stage.record, call, review, analysis)

    def record(self, stage: StageSpec, sample: SampleState) -> dict[str, Any]:
        output: AnalysedReview = sample.values[stage.writes]
        return {**output.call.record(), "analysis": output.analysis}

"""The review: the item, the rating and title to write, and whatever context the stage reads."""

from __future__ import annotations

from typing import Any

from drp_bench.data.types import Review
from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.kinds.base import Planned, StageEnv
from drp_bench.pipeline.parsing import strip_answer_prefix
from drp_bench.pipeline.prompts import Message
from drp_bench.pipeline.stages import StageCall
from drp_bench.pipeline.state import CallOutput, SampleState


def generation_messages(
    stage: StageSpec,
    env: StageEnv,
    target: Review,
    past_reviews: list[Review] | None = None,
    summary: str = "",
    neighbours: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> list[Message]:
    """The generation template's messages for writing ``target``'s review (its item, rating and
    title) with the given context; with none, the prompt Non-P sends for that review."""
    return env.render(
        stage.role,
        stage.template,
        item=env.items[target.asin],
        target=target,
        past_reviews=past_reviews or [],
        summary=summary,
        neighbours=neighbours or [],
        items=env.items,
        **extra,
    )


class GenerateReview:
    """One call per sample, skipped when the text it reads (the summary) failed. It shows the
    first ``max_past_reviews`` of the reviews it reads (all when null) and, when it reads
    the neighbours, each one's first ``max_neighbour_reviews``. The prediction is the answer
    after ``[Review]:`` (cut as ``answer_prefix`` says). The template also gets what the summary's
    output adds (``template_variables``: P-DB's collaborators' entries)."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        summary: CallOutput | None = sample.read(stage.inputs.get("summary"))
        if summary is not None and not summary.call.ok:
            return [Planned(None, skip=f"the {summary.stage} call of this sample failed")]
        target = sample.context.sample.target
        keep = stage.options["max_past_reviews"]  # the first (best-ranked) ones; None: all
        per_user = stage.options["max_neighbour_reviews"]
        neighbours = [
            {"user_id": n.user_id, "similarity": n.similarity, "reviews": n.reviews[:per_user]}
            for n in sample.read(stage.inputs.get("neighbours")) or ()
        ]
        messages = generation_messages(
            stage,
            env,
            target,
            past_reviews=list(sample.read(stage.inputs.get("past_reviews")) or ())[:keep],
            summary=summary.text if summary is not None else "",
            neighbours=neighbours,
            **(summary.template_variables() if summary is not None else {}),
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
        prediction = (
            strip_answer_prefix(call.answer, "Review", env.answer_prefix) if call.ok else ""
        )
        sample.values[stage.writes] = CallOutput(stage.record, call, prediction)

    def record(self, stage: StageSpec, sample: SampleState) -> dict[str, Any]:
        return sample.values[stage.writes].call.record()

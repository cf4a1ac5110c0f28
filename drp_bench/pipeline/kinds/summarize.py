"""Per-sample summaries: the part every summary stage shares, and DPL/DRP's summary."""

from __future__ import annotations

from typing import Any

from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.kinds import items
from drp_bench.pipeline.kinds.base import Planned, StageEnv
from drp_bench.pipeline.parsing import strip_answer_prefix
from drp_bench.pipeline.stages import StageCall
from drp_bench.pipeline.state import CallOutput, SampleState


class SummaryStage:
    """A per-sample stage whose text is the answer after ``[Summary]:`` (cut as
    ``answer_prefix`` says; a subclass may name another ``label``), recorded with the call."""

    label = "Summary"

    def store(
        self,
        stage: StageSpec,
        sample: SampleState,
        planned: Planned,
        call: StageCall,
        env: StageEnv,
    ) -> None:
        summary = strip_answer_prefix(call.answer, self.label, env.answer_prefix)
        sample.values[stage.writes] = CallOutput(stage.record, call, summary)

    def record(self, stage: StageSpec, sample: SampleState) -> dict[str, Any]:
        output: CallOutput = sample.values[stage.writes]
        return {**output.call.record(), "summary": output.text}


class SummarizeDifferences(SummaryStage):
    """One call per sample. An item whose differences call failed contributes nothing (the
    sample is then marked incomplete in its record)."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        source = items.source(stage, sample)
        differences = [
            {
                "item": env.items[comparison.review.asin],
                "text": result.differences_text(stage.options["handoff"]),
            }
            for comparison, result in zip(sample.context.comparisons, source.results, strict=True)
            if result is not None and result.call.ok
        ]
        past = sample.read(stage.inputs.get("past_reviews")) or ()
        messages = env.render(
            stage.role,
            stage.template,
            differences=differences,
            past_reviews=list(past),
            items=env.items,
        )
        return [Planned(None, messages)]

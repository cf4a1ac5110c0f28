"""The ``judge`` scorer: the LLM judge's 0-10 score of each prediction (drp_bench.pipeline.judge
holds the rubric's score rule and the metrics.json summary)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.judge import JUDGED_STATUSES, judge_summary, parse_score
from drp_bench.pipeline.kinds.base import Planned, StageEnv
from drp_bench.pipeline.stages import StageCall
from drp_bench.pipeline.state import CallOutput, SampleState


@dataclass
class JudgeOutput(CallOutput):
    """The judge's call for a sample and the score parsed from its answer (None: unparsed
    or failed)."""

    score: int | None = None


class Judge:
    """One call per sample with a prediction (status ``complete`` or ``context_incomplete``
    in its row): template ``judge`` with the item, the real review's rating and title, the
    real and the generated review. Its record is the call with its parsed ``score``."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        row = sample.row
        if row is None or row["status"] not in JUDGED_STATUSES:
            return []
        target = sample.context.sample.target
        messages = env.render(
            stage.role,
            stage.template,
            item=env.items[target.asin],
            target=target,
            reference=row["reference"],
            prediction=sample.read(stage.inputs["review"]).text,
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
        score = parse_score(call.answer) if call.ok else None
        sample.values[stage.writes] = JudgeOutput(stage.record, call, call.answer, score)

    def record(self, stage: StageSpec, sample: SampleState) -> dict[str, Any] | None:
        output: JudgeOutput | None = sample.values.get(stage.writes)
        return None if output is None else {**output.call.record(), "score": output.score}

    def summary(
        self, stage: StageSpec, records: list[dict[str, Any]], model: str
    ) -> dict[str, Any] | None:
        """metrics.json's ``judge`` (:func:`drp_bench.pipeline.judge.judge_summary`)."""
        return judge_summary(records, model)

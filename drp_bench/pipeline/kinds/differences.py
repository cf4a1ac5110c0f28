"""Difference extraction and validation: per comparison item, features in the feature format."""

from __future__ import annotations

from typing import Any

from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.kinds import items
from drp_bench.pipeline.kinds.base import Planned, StageEnv
from drp_bench.pipeline.parsing import parse_features
from drp_bench.pipeline.stages import StageCall
from drp_bench.pipeline.state import ItemResult, SampleState


class _FeatureStage:
    """Stores each answer with its parsed features; records them per item."""

    def store(
        self,
        stage: StageSpec,
        sample: SampleState,
        planned: Planned,
        call: StageCall,
        env: StageEnv,
    ) -> None:
        parsed = parse_features(call.answer)
        output = sample.values[stage.writes]
        output.results[planned.item] = ItemResult(call, parsed.ok, parsed.features)

    def record(self, stage: StageSpec, sample: SampleState) -> list[dict[str, Any]] | None:
        return items.entries(stage, sample, _features)


def _features(result: ItemResult) -> dict[str, Any]:
    return {
        "features": [
            {"name": f.name, "definition": f.definition, "difference": f.difference}
            for f in result.features
        ],
        "parse_ok": result.parse_ok,
    }


class ExtractDifferences(_FeatureStage):
    """One call per comparison item: the item, the user's review and the representatives'."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        items.start(stage, sample)
        comparisons = sample.read(stage.inputs["comparisons"])
        return [
            Planned(
                i, env.render(stage.role, stage.template, **items.comparison_vars(c, env.items))
            )
            for i, c in enumerate(comparisons)
        ]


class ValidateDifferences(_FeatureStage):
    """One call per item with differences: the comparison plus the candidates (the earlier
    answer, parsed or raw per ``handoff``); skipped where the earlier call failed."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        items.start(stage, sample)
        source = items.source(stage, sample)
        planned = []
        for i, (comparison, result) in enumerate(
            zip(sample.context.comparisons, source.results, strict=True)
        ):
            if result is None:
                continue
            if not result.call.ok:
                planned.append(Planned(i, skip=f"the {source.stage} call of this item failed"))
                continue
            messages = env.render(
                stage.role,
                stage.template,
                candidates=result.differences_text(stage.options["handoff"]),
                **items.comparison_vars(comparison, env.items),
            )
            planned.append(Planned(i, messages))
        return planned

"""UVQ normalisation: the differences of each item as taxonomy units (analysis, not context)."""

from __future__ import annotations

from typing import Any

from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.kinds import items
from drp_bench.pipeline.kinds.base import Planned, StageEnv
from drp_bench.pipeline.stages import StageCall
from drp_bench.pipeline.state import ItemResult, SampleState


class NormalizeDifferences:
    """One call per item whose differences call succeeded with a non-empty answer (the others
    get none and no entry). It reads the parsed features; the raw answer when it did not parse,
    or always with the raw hand-off (DRP's analysis script sends every output as written)."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        from drp_bench.uvq.normalize import prompt_variables

        items.start(stage, sample)
        source = items.source(stage, sample)
        planned = []
        for i, (comparison, result) in enumerate(
            zip(sample.context.comparisons, source.results, strict=True)
        ):
            if result is None or not result.call.ok or not result.call.answer.strip():
                continue
            title = env.items[comparison.review.asin].title
            if result.parse_ok and stage.options["handoff"] == "parsed":
                variables = prompt_variables(title, result.features)
            else:
                variables = prompt_variables(title, (), result.call.answer)
            planned.append(Planned(i, env.render(stage.role, stage.template, **variables)))
        return planned

    def store(
        self,
        stage: StageSpec,
        sample: SampleState,
        planned: Planned,
        call: StageCall,
        env: StageEnv,
    ) -> None:
        from drp_bench.uvq.normalize import parse_units

        parsed = parse_units(call.answer)
        output = sample.values[stage.writes]
        output.results[planned.item] = ItemResult(call, parsed.ok, units=parsed.units)

    def record(self, stage: StageSpec, sample: SampleState) -> list[dict[str, Any]] | None:
        return items.entries(stage, sample, _units)


def _units(result: ItemResult) -> dict[str, Any]:
    return {"units": [u.to_dict() for u in result.units], "parse_ok": result.parse_ok}

"""What a run knows about one sample as its stages go: named values (contexts, outputs)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from drp_bench.data.types import Feature
from drp_bench.pipeline.context import SampleContext
from drp_bench.pipeline.parsing import format_features
from drp_bench.pipeline.stages import StageCall


@dataclass
class ItemResult:
    """One comparison item's call of a per-item stage and what was parsed from it."""

    call: StageCall
    parse_ok: bool = False
    features: tuple[Feature, ...] = ()
    units: tuple[Any, ...] = ()

    def differences_text(self, handoff: str = "parsed") -> str:
        """What a later stage reads of this answer: with ``handoff="raw"`` the answer as the
        model wrote it (as the papers' code passes it on); with "parsed" the parsed features
        re-formatted, or the raw answer when it did not parse."""
        if handoff == "parsed" and self.parse_ok:
            return format_features(self.features)
        return self.call.answer


@dataclass
class ItemOutputs:
    """A per-item stage's output for one sample: a result per comparison item, in order
    (None where no call was made)."""

    stage: str
    results: list[ItemResult | None]

    def calls(self) -> Iterator[StageCall]:
        return (r.call for r in self.results if r is not None)


@dataclass
class CallOutput:
    """A per-sample stage's output: its call and the answer without its label."""

    stage: str
    call: StageCall
    text: str

    def calls(self) -> Iterator[StageCall]:
        return iter([self.call])


@dataclass
class StepsOutput:
    """A per-sample stage with several calls, made in rounds (LLM-TRSR's blocks, P-DB's two
    steps): every call in order with its answer without its label. Later stages read the last
    call's text; a step whose earlier step failed is a skipped call, so the last call fails
    whenever any step did."""

    stage: str
    steps: list[tuple[StageCall, str]] = field(default_factory=list)

    @property
    def call(self) -> StageCall:
        return self.steps[-1][0]

    @property
    def text(self) -> str:
        return self.steps[-1][1]

    def calls(self) -> Iterator[StageCall]:
        return (call for call, _ in self.steps)


@dataclass
class SampleState:
    """One sample: its context and every named value the stages have written so far;
    ``row``: its predictions.jsonl row once the method's stages ran (what scorers read)."""

    index: int
    context: SampleContext
    values: dict[str, Any] = field(default_factory=dict)
    row: dict[str, Any] | None = None

    def read(self, name: str | None) -> Any:
        """The value called ``name`` (None for an unfilled optional input)."""
        return None if name is None else self.values[name]

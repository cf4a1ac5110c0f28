"""What a run knows about one sample as its stages go: named values (contexts, outputs)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from drp_bench.config.models import SamplingParams
from drp_bench.data.types import Feature
from drp_bench.pipeline.context import SampleContext
from drp_bench.pipeline.parsing import format_features
from drp_bench.pipeline.stages import StageCall


@dataclass
class ItemResult:
    """One comparison item's call of a per-item stage and what was parsed from it.

    ``steps``: when the item took several calls (extraction samples, validation rounds), each
    call's own result, in order; ``call`` and ``features`` are then the outcome later stages
    read (the merge of the samples, the last round). ``sampling``: the call's sampling when it
    is not its role's (an extraction sample's temperature and seed)."""

    call: StageCall
    parse_ok: bool = False
    features: tuple[Feature, ...] = ()
    units: tuple[Any, ...] = ()
    steps: tuple[ItemResult, ...] = ()
    sampling: SamplingParams | None = None

    def calls(self) -> Iterator[StageCall]:
        """The calls made for the item (its steps', when it has steps)."""
        return (s.call for s in self.steps) if self.steps else iter([self.call])

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
    (None where no call was made); what a stage with several calls per item keeps between
    them."""

    stage: str
    results: list[ItemResult | None]
    rounds: int = 1  # rounds planned so far (a stage with rounds)
    #: per item, its extraction samples stored so far, until all are in (then merged)
    pending: dict[int, list[ItemResult | None]] = field(default_factory=dict)

    def calls(self) -> Iterator[StageCall]:
        return (c for r in self.results if r is not None for c in r.calls())


@dataclass
class CallOutput:
    """A per-sample stage's output: its call and the answer without its label."""

    stage: str
    call: StageCall
    text: str

    def calls(self) -> Iterator[StageCall]:
        return iter([self.call])

    def template_variables(self) -> dict[str, Any]:
        """What a stage reading this output gets in its template besides the text."""
        return {}


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

    def template_variables(self) -> dict[str, Any]:
        """What a stage reading this output gets in its template besides the text."""
        return {}


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

"""The interface of a stage kind's implementation, and what the runner gives it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from drp_bench.config.models import SamplingParams
from drp_bench.data.types import Item
from drp_bench.methods.contracts import StageKind
from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.prompts import Message
from drp_bench.pipeline.stages import StageCall
from drp_bench.pipeline.state import SampleState

#: (role, template, **variables) -> the messages of one call of that role.
Render = Callable[..., list[Message]]
#: texts -> one float32 vector each (the run's embedding model, through its persistent cache).
Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class StageEnv:
    """What every kind may use: the items' metadata, the renderer, how answers are cut, and
    how each role's model samples (a kind may send a call with other sampling: ``Planned``).
    ``embed``: the run's embedder, for a kind whose contract ``embeds`` (None: no stage does);
    ``shared``: what a kind keeps across the samples of one run, under its stage's record (a
    later round of the stage may read what other samples' rounds stored: P-DB's
    collaborators)."""

    items: dict[str, Item]
    render: Render
    answer_prefix: str
    sampling: Mapping[str, SamplingParams] = field(default_factory=dict)
    embed: Embed | None = None
    shared: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Planned:
    """One unit of a stage's work for a sample: a call to make, or one skipped (``skip`` says
    why: a call it needs failed). ``item``: the comparison item's index (per-item kinds);
    ``step``: which of the item's calls (an extraction sample); ``sampling``: the call's own,
    None: its role's."""

    item: int | None
    messages: list[Message] | None = None
    skip: str | None = None
    step: int = 0
    sampling: SamplingParams | None = None


class Kind(Protocol):
    """How a kind of stage runs. The runner calls ``plan`` for every sample, sends every
    planned call of the stage in one batch, then ``store``s each call (skipped ones too) and,
    when all stages ran, asks ``record`` for the sample's predictions.jsonl entry. A kind whose
    contract has ``rounds`` is asked to ``plan`` again after each batch (it reads what it
    stored) until a round plans nothing: one batch per round."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]: ...

    def store(
        self,
        stage: StageSpec,
        sample: SampleState,
        planned: Planned,
        call: StageCall,
        env: StageEnv,
    ) -> None: ...

    def record(self, stage: StageSpec, sample: SampleState) -> Any | None: ...


class ScorerKind(Kind, Protocol):
    """A scorer kind (its contract has ``scorer``): it plans from the sample's predictions row
    (``SampleState.row``, set once the method's stages ran); ``summary`` is its section of
    metrics.json (named after its record) from the rows, ``model``: its role's model."""

    def summary(self, stage: StageSpec, records: list[dict[str, Any]], model: str) -> Any: ...


@dataclass(frozen=True)
class KindPlugin:
    """A stage kind from another package (entry point group ``drp_bench.kinds``, named as the
    kind): its contract, its implementation and, when it renders templates of its own, the
    folder holding them (searched after ``prompts.dir`` and the package's; docs/extending.md)."""

    contract: StageKind
    implementation: Kind
    templates: Path | None = None

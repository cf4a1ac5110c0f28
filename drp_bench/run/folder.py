"""The run folder's files as typed models, and the one reader and writer of each.

A run folder holds ``predictions.jsonl`` (one :class:`PredictionRow` per line), ``metrics.json``
(:class:`MetricsFile`) or ``error.json`` (:class:`ErrorFile`), next to Hydra's
``.hydra/config.yaml``. Every file carries ``schema_version`` (:data:`SCHEMA_VERSION`; in every
predictions row). Unknown fields, missing fields and wrong types are errors
(:class:`RunFolderError`) naming the file, the line (for JSON lines) and the field.

Version policy: any change to what a file may hold bumps :data:`SCHEMA_VERSION`; the readers
read every earlier version, upgraded to the current models with documented defaults (the
instance keeps the version it was read from), and refuse a newer one. Version ``"0"`` is a
folder written before the field existed (see :func:`upgrade_row_v0` and friends); version
``"1"`` is before the LLM judge and the ``excluded`` sample status (:func:`upgrade_row_v1`,
:func:`upgrade_metrics_v1`). Version ``"2"`` added: the ``judge`` and ``peer`` entries of a
row's ``stages`` (``generate`` is absent for the ``peer`` method, which calls no model), the
sample status ``excluded``, and metrics.json's ``judge`` and ``excluded_samples``. Version
``"3"`` added a row's ``context``, the ids of what the sample's contexts held (retrieved past
reviews, compared items with their representatives, neighbours, peer;
:class:`SampleContextRecord`), so two runs can be compared context first, and metrics.json's
``prompts_sha256``, the fingerprint of the prompts the run rendered
(:mod:`drp_bench.run.prompts_fingerprint`). Files of versions ``"0"``-``"2"`` read with both null,
meaning not recorded (:func:`upgrade_row_v2`, :func:`upgrade_metrics_v2`); an lm-eval import
writes null too. Version ``"4"`` added a row's ``scores``: its per-sample METEOR and
ROUGE-1/2/L/Lsum F-measures (:class:`SampleScores`), computed once when the run writes its
folder, in the pass whose means metrics.json holds; BLEU is corpus-level (sacrebleu), so it has
no per-sample value (readers sum its per-pair statistics). ``scores`` is null for a row left out
of the scores (status ``excluded``); a ``failed`` row is scored as its empty prediction, as
metrics.json scores it. Files of versions ``"0"``-``"3"`` read with ``scores`` null, meaning
not recorded: readers recompute them (:func:`upgrade_row_v3`). Version ``"5"`` added the
compute knobs: an ``extract`` or ``validate`` item that took several calls (extraction samples,
validation rounds) is a :class:`MultiCallItemRecord` (every call under ``calls``), and
metrics.json's ``run`` has ``extract_samples``, ``extract_agree``, ``extract_temperature`` and
``validate_rounds`` when they are not 1 (:class:`RunInfo`); and a call's ``budget`` (the two
calls of a reasoning budget, :class:`BudgetRecord`). A file that holds none of it (a run with
one sample, one round and no budget) is written as version ``"4"``, which it is: byte for byte
as before, and readable by a drp-bench of version 4 (:func:`written_version`). Version ``"6"``
added to metrics.json's ``judge`` the mean with unparsed answers scored 0 and its CI
(``mean_unparsed_zero``, ``ci_low_unparsed_zero``, ``ci_high_unparsed_zero``) and
``judge_self`` (the run allowed a judge whose model is the generator's): a metrics.json with a
judge is written as version 6, one without as before; earlier files read with them null. The
JSON Schema of each file is published under ``results/schema/``::

    python -m drp_bench.run.folder --write-schemas results/schema

A run folder's status (:func:`classify`; :data:`FOLDER_STATUSES`, the one vocabulary of the
sweep summary, ``drp-bench report``, ``drp-bench submit`` and the plan comparison) follows one
rule, in this order:

1. ``error.json`` newer than ``metrics.json``, or alone: the last attempt did not finish:
   ``interrupted`` when it says ``"interrupted": true`` (Ctrl-C, SIGTERM), else ``failed``; the
   reason is its ``error``'s first line. A run writes error.json whenever it stops early, and
   removes an earlier attempt's files only once its config is read, so a re-run that fails
   before that leaves the old metrics.json behind, older than its error.json.
2. ``metrics.json``: its ``status``, ``complete`` or ``degraded`` (the reason: its
   ``failures.reason``); an older error.json next to it is stale and only noted.
3. Neither, but ``predictions.jsonl`` or ``.hydra/``: ``interrupted`` (killed before it could
   write either, e.g. SIGKILL or out of memory; or still running).
4. A metrics.json or error.json that cannot be read or breaks its schema: ``failed``, the
   reason naming the file (line, field); so is a folder with none of these files.

"Newer" compares modification times: copy run folders with them kept (``cp -p``, ``rsync
-t``; ``shutil.copytree`` keeps them). Only complete and degraded runs have scores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    SerializerFunctionWrapHandler,
    ValidationError,
    WithJsonSchema,
    model_serializer,
)
from pydantic.json_schema import SkipJsonSchema

from drp_bench.methods.contracts import STAGE_RECORDS

SCHEMA_VERSION = "6"
LEGACY_VERSION = "0"
#: The compute knobs' and reasoning budget's version (:func:`written_version`).
KNOBS_VERSION = "5"
READABLE_VERSIONS = (LEGACY_VERSION, "1", "2", "3", "4", KNOBS_VERSION, SCHEMA_VERSION)
#: What a file holds nothing newer than is stamped with this version (:func:`written_version`).
BEFORE_KNOBS = "4"

PREDICTIONS = "predictions.jsonl"
METRICS = "metrics.json"
ERROR = "error.json"

STAGES: tuple[str, ...] = tuple(STAGE_RECORDS)
StageName = Literal[STAGES]  # type: ignore[valid-type]
SampleStatus = Literal["complete", "context_incomplete", "failed", "excluded"]
#: metrics.json's ``status``: the run finished (its scores are the method's, or some calls
#: failed). These are the folder statuses whose scores count.
RunStatus = Literal["complete", "degraded"]
FINISHED: tuple[RunStatus, ...] = get_args(RunStatus)
#: A run folder's status (:func:`classify`): the one vocabulary of the sweep summary, the
#: report, ``submit`` and the plan comparison.
FolderStatus = Literal[RunStatus, "failed", "interrupted"]
FOLDER_STATUSES: tuple[FolderStatus, ...] = get_args(FolderStatus)


class RunFolderError(ValueError):
    """A run-folder file is unreadable or does not match its schema.

    The message names the file, the line (JSON lines) and the field; the parts are also kept
    as attributes (``field`` is the first failing field's dotted path, else None).
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ):
        super().__init__(message)
        self.path = path
        self.line = line
        self.field = field


# ---------------------------------------------------------------- field types


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, found {_show(value)}")
    return value


#: An int or a float, kept as given (a JSON bool is not a number here).
Number = Annotated[int | float, PlainValidator(_number), WithJsonSchema({"type": "number"})]

#: "0" only in memory, for a file read from before the field existed; files hold "1"-"6".
Version = Annotated[
    Literal["0", "1", "2", "3", "4", "5", "6"],
    WithJsonSchema(
        {
            "enum": [BEFORE_KNOBS, KNOBS_VERSION, SCHEMA_VERSION],
            "type": "string",
            "description": "run-folder schema version (the oldest that describes the file)",
        }
    ),
]

M = TypeVar("M", bound=BaseModel)


class _Model(BaseModel):
    """Strict: no unknown fields, no coercion (``"3"`` is not an int)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    def to_json_dict(self) -> dict[str, Any]:
        """The object as written to the file."""
        return self.model_dump(by_alias=True)


# ---------------------------------------------------------------- predictions.jsonl


class Message(_Model):
    """One chat message sent to the model."""

    role: Literal["system", "user", "assistant"]
    content: str


class CallTokensRecord(_Model):
    """What one backend call of a reasoning budget cost, as the backend counted it."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    latency_s: float
    cached_prompt_tokens: int | None


class BudgetRecord(_Model):
    """The two calls behind a call with a reasoning budget (budget forcing, docs/methods.md)."""

    budget: int = Field(description="the thinking-token cap (sampling.reasoning_budget)")
    thinking: CallTokensRecord = Field(
        description="the thinking call: at most 'budget' tokens, stopped at </think>; its "
        "finish_reason 'length' means the budget was reached and the harness closed the thinking"
    )
    answer: CallTokensRecord = Field(
        description="the answer call: continues from the prompt + thinking + </think>"
    )


class CallRecord(_Model):
    """One model call of a stage: what was sent, what came back, what it cost. With a
    reasoning budget, the token fields are the sums of its two calls, each in ``budget``."""

    messages: list[Message] = Field(description="the chat messages sent ([] when skipped)")
    output: str = Field(description="the answer text ('' when the call failed)")
    reasoning: str | None = Field(description="text before </think> or reasoning_content")
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int = Field(description="completion tokens spent on reasoning (estimate)")
    finish_reason: str | None
    latency_s: float
    error: str | None = Field(description="why the call failed; null when it succeeded")
    skipped: bool = Field(description="not sent because a call it needs failed")
    cached: bool = Field(description="answered from the call cache")
    reasoning_truncated: bool = Field(
        default=False,
        description="a reasoning model's output without </think> (cut off while thinking): "
        "'output' is the whole text, 'reasoning' null",
    )
    cached_prompt_tokens: int | None = Field(
        default=None,
        description="prompt tokens the backend served from its prefix (KV) cache; null when "
        "it does not say, or the call came from the call cache",
    )
    budget: BudgetRecord | None = Field(
        default=None,
        description="the two calls of a reasoning budget; absent when the call had none",
    )

    @model_serializer(mode="wrap")
    def _without_unset_budget(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A call without a budget is written as before budgets existed (no ``budget`` key)."""
        data = handler(self)
        if data.get("budget") is None:
            data.pop("budget", None)
        return data

    @property
    def ok(self) -> bool:
        return self.error is None


class GenerateRecord(CallRecord):
    """The generate call of a sample. CICL's one call (``contrast_generate``) also has the
    analysis the model wrote before the review; other methods' records have no such key."""

    analysis: str | None = Field(
        default=None,
        description="CICL: the answer's [Analysis] part (never part of the prediction); "
        "absent for other methods",
    )

    @model_serializer(mode="wrap")
    def _without_unset_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Neither ``budget`` nor ``analysis`` is written when unset (as before they existed)."""
        data = handler(self)
        for key in ("budget", "analysis"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class SummarizeRecord(CallRecord):
    """The summarize call of a sample, with the summary the generator read."""

    summary: str


class _ItemKey(_Model):
    asin: str = Field(description="the comparison item")
    representatives: list[str] = Field(description="user ids of the other reviewers compared")


class Feature(_Model):
    """One difference feature parsed from an extract or validate answer."""

    name: str
    definition: str
    difference: str


class Unit(_Model):
    """One atomic difference from the normaliser (UVQ); see docs/uvq.md."""

    text: str
    category: str | None
    valid: bool
    key: str | None
    reason: str | None
    source_feature: str | None


class FeatureItemRecord(CallRecord, _ItemKey):
    """An extract or validate call for one comparison item, with its parsed features."""

    features: list[Feature]
    parse_ok: bool = Field(description="the answer parsed into features")


class FeatureCallRecord(CallRecord):
    """One of an item's several calls (an extraction sample, a validation round), with its
    parsed features and its own sampling."""

    features: list[Feature]
    parse_ok: bool = Field(description="the answer parsed into features")
    temperature: float | None = Field(
        description="the call's temperature when not its role's (extraction samples); null: "
        "the role's"
    )
    seed: int | None = Field(description="the call's seed when not its role's; null: the role's")


class MultiCallItemRecord(_ItemKey):
    """An extract or validate item that took several calls (version 5): the extraction
    samples, merged by agreement, or the validation rounds, each reading the previous one.
    ``features`` and ``error`` are the outcome later stages read (the merge; the last
    round)."""

    features: list[Feature] = Field(description="the merged features; the last round's")
    parse_ok: bool = Field(description="the outcome has parsed features")
    error: str | None = Field(description="why the outcome failed; null when it did not")
    calls: list[FeatureCallRecord] = Field(description="every call of the item, in order")


class NormalizeItemRecord(CallRecord, _ItemKey):
    """A normalize call for one comparison item, with its parsed units."""

    units: list[Unit]
    parse_ok: bool = Field(description="the answer parsed into units")


class JudgeRecord(CallRecord):
    """The LLM judge's call for a sample (``metrics.judge=true``) and the score parsed from its
    answer (:func:`drp_bench.pipeline.judge.parse_score`): 0-10, or null when the answer is
    unparseable (or the call failed); unparsed answers are counted, never scored."""

    score: int | None = Field(description="the parsed 0-10 score; null: unparsed or failed")


class PeerRecord(_Model):
    """The ``peer`` method's choice (no model call): another real user's review of the same
    item, or why the sample is excluded."""

    peer_user_id: str | None = Field(description="whose review is the prediction; null: none")
    similarity: float | None = Field(
        description="cosine similarity of that review to the mean of the target user's "
        "profile reviews (embedding.model)"
    )
    candidates: int = Field(description="other users' reviews of the item")
    excluded: str | None = Field(description="why the sample is excluded; null when it is not")


# A stage the method does not run is absent from the file (never null).
FeatureItems = Annotated[
    list[FeatureItemRecord | MultiCallItemRecord] | SkipJsonSchema[None], Field(default=None)
]
NormalizeItems = Annotated[list[NormalizeItemRecord] | SkipJsonSchema[None], Field(default=None)]
# A summarize stage with several calls per sample (LLM-TRSR's blocks, P-DB's two persona
# steps) is a list of them, in order; the last one's summary is what the generator read.
OptionalSummarize = Annotated[
    SummarizeRecord | list[SummarizeRecord] | SkipJsonSchema[None], Field(default=None)
]
OptionalGenerate = Annotated[GenerateRecord | SkipJsonSchema[None], Field(default=None)]
OptionalPeer = Annotated[PeerRecord | SkipJsonSchema[None], Field(default=None)]
OptionalJudge = Annotated[JudgeRecord | SkipJsonSchema[None], Field(default=None)]


class Stages(_Model):
    """The calls of one sample per stage; a stage the method does not run is absent
    (``generate`` is absent only for a method without a model call for the review: peer)."""

    extract: FeatureItems
    validate_: FeatureItems = Field(alias="validate")
    normalize: NormalizeItems
    summarize: OptionalSummarize
    generate: OptionalGenerate
    peer: OptionalPeer
    judge: OptionalJudge

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: Any) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}

    def calls(self) -> list[tuple[str, CallRecord]]:
        """Every (stage, call), in stage order."""
        out: list[tuple[str, CallRecord]] = []
        for stage, entry in (
            ("extract", self.extract),
            ("validate", self.validate_),
            ("normalize", self.normalize),
            ("summarize", self.summarize),
            ("generate", self.generate),
            ("judge", self.judge),
        ):
            for item in [] if entry is None else entry if isinstance(entry, list) else [entry]:
                if isinstance(item, MultiCallItemRecord):
                    out.extend((stage, c) for c in item.calls)
                else:
                    out.append((stage, item))
        return out


class ComparedItem(_Model):
    """A compared item of the sample's user and the representatives chosen among its other
    reviewers."""

    asin: str
    representatives: list[str] = Field(description="user ids, in the order the prompt has them")


class NeighbourRecord(_Model):
    """A similar other user (P-DB) and the asins of their retrieved reviews."""

    user_id: str
    reviews: list[str] = Field(description="asins, best-ranked first")


class PeerRef(_Model):
    """Whose review of which item the peer method took (both null: nobody else reviewed it)."""

    user_id: str | None
    asin: str | None


class CollaboratorRecord(_Model):
    """A user of the run whose persona is nearest the sample's user's (P-DB), and which of
    their persona entries the generation read."""

    user_id: str
    similarity: float = Field(description="cosine similarity of the round-1 profile lines")
    entries: list[str] = Field(description="their retrieved entries, best-ranked first")


class SampleContextRecord(_Model):
    """What the sample's contexts held, as ids (no texts); a context the method does not
    build is empty (null for ``peer``). P-DB's rows add what its persona stage retrieved."""

    past_reviews: list[str] = Field(description="asins of the retrieved past reviews, in order")
    comparisons: list[ComparedItem]
    neighbours: list[NeighbourRecord]
    peer: PeerRef | None
    persona_profile: list[str] | SkipJsonSchema[None] = Field(
        default=None, description="P-DB: the persona's profile lines, shown whole"
    )
    persona_entries: list[str] | SkipJsonSchema[None] = Field(
        default=None, description="P-DB: the user's persona entries retrieved, best first"
    )
    collaborators: list[CollaboratorRecord] | SkipJsonSchema[None] = Field(
        default=None, description="P-DB: the matched users and their retrieved entries"
    )

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: Any) -> dict[str, Any]:
        """P-DB's fields only in P-DB's rows (the others' rows stay as they were)."""
        data = handler(self)
        for key in ("persona_profile", "persona_entries", "collaborators"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class SampleScores(_Model):
    """A sample's per-sample metrics (:func:`drp_bench.metrics.text.per_sample_scores`): METEOR
    and each ROUGE type's F-measure, 0-1. No BLEU: sacrebleu's BLEU is a corpus statistic.
    An installed metric plugin's per-sample values come after them, under its key (numbers)."""

    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)
    __pydantic_extra__: dict[str, float] = Field(init=False)  # type: ignore[assignment]

    meteor: float
    rouge1: float
    rouge2: float
    rougeL: float
    rougeLsum: float


class PredictionRow(_Model):
    """One line of predictions.jsonl: one sample, its prediction and every call behind it."""

    schema_version: Version
    sample_id: str
    user_id: str
    target_asin: str
    reference: str
    prediction: str = Field(description="the generated review ('' when generation failed)")
    past_reviews: list[str] = Field(description="asins of the retrieved past reviews")
    status: SampleStatus = Field(
        description="complete; context_incomplete (generated without part of the method's "
        "context); failed (no prediction); excluded (the method has no prediction for it by "
        "design, e.g. peer without another reviewer of the item: left out of the scores, "
        "not a failure)"
    )
    failed_stages: list[StageName]
    stages: Stages
    error: str | None = Field(description="the generate call's error")
    context: SampleContextRecord | None = Field(
        default=None,
        description="the ids the sample's contexts held; null: not recorded (version < 3, or "
        "an lm-eval import)",
    )
    scores: SampleScores | None = Field(
        default=None,
        description="per-sample METEOR and ROUGE F-measures (BLEU is corpus-level: none), the "
        "values metrics.json's meteor and rouge*_mean are the means of; null: not scored "
        "(status excluded) or not recorded (version < 4: readers recompute them)",
    )


class PredictionRows(list[PredictionRow]):
    """The rows of a predictions.jsonl. ``lines[i]`` is the file line of row ``i``;
    ``cut_off_line`` the cut-off last line dropped by ``read_predictions(...,
    allow_partial_tail=True)``, else None."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []
        self.cut_off_line: int | None = None


# ---------------------------------------------------------------- metrics.json


class StageFailures(_Model):
    calls: int
    failed: int
    skipped: int


class Failures(_Model):
    """Why a run is degraded: failed and skipped calls per stage and the samples they touch."""

    reason: str
    calls_by_stage: dict[StageName, StageFailures]
    samples: list[str]
    sample_status: dict[str, SampleStatus]


class ModelSummary(_Model):
    """A role's model, as listed in metrics.json."""

    name: str
    hub_id: str
    family: str | None
    params_b: float | None
    reasoning: bool
    backend: str


class RunInfo(_Model):
    """What ran: method, data, main hyper-parameters and the model of every role."""

    method: str
    dataset: str
    split: str
    num_samples: int
    num_users: int
    num_retrieved: int
    dimensions: str | None
    validation: bool = Field(alias="validate")
    summary_reads: str | None
    temperature: float
    seed: int
    models: dict[str, ModelSummary]
    # compute knobs (version 5): written only when not 1 (KNOB_DEFAULTS)
    extract_samples: int = Field(default=1, description="extraction calls per item")
    extract_agree: int | None = Field(
        default=None, description="samples that must state a feature (with samples > 1)"
    )
    extract_temperature: float | None = Field(
        default=None, description="the extraction samples' temperature (with samples > 1)"
    )
    validate_rounds: int = Field(default=1, description="validation rounds")

    @model_serializer(mode="wrap")
    def _drop_default_knobs(self, handler: Any) -> dict[str, Any]:
        out = handler(self)
        return {k: v for k, v in out.items() if k not in KNOB_DEFAULTS or v != KNOB_DEFAULTS[k]}


#: metrics.json run block's compute knobs and the value that leaves them out of the file.
KNOB_DEFAULTS: dict[str, Any] = {
    "extract_samples": 1,
    "extract_agree": None,
    "extract_temperature": None,
    "validate_rounds": 1,
}


class FeatureSummary(_Model):
    """Parsed / malformed outputs of a feature stage (failed calls counted apart)."""

    stage: StageName
    items: int
    parsed: int
    malformed: int
    failed: int
    per_item_mean: float


class CallCounts(_Model):
    total: int = Field(description="calls made (skipped ones not included)")
    failed: int
    cached: int
    skipped: int
    reasoning_truncated: int = Field(
        default=0, description="answered calls whose reasoning was cut off (no </think>)"
    )


class JudgeSummary(_Model):
    """The LLM judge's scores (DPL's 0-10 rubric) over the scored samples, divided by 10."""

    mean: float | None = Field(description="mean score / 10 over parsed answers; null: none")
    ci_low: float | None = Field(description="95% percentile bootstrap CI (scores / 10)")
    ci_high: float | None
    parsed: int = Field(description="answers that gave a 0-10 score")
    unparsed: int = Field(description="answers without one (not in mean; 0 in mean_unparsed_zero)")
    failed: int = Field(description="judge calls that failed or were not sent (in neither mean)")
    n: int = Field(description="samples sent to the judge (those with a prediction)")
    model: str = Field(description="the judge role's model")
    mean_unparsed_zero: float | None = Field(
        default=None,
        description="mean score / 10 with every unparsed answer scored 0, as DPL's eval-GPT.py; "
        "null: no answer, or a file written before it",
    )
    ci_low_unparsed_zero: float | None = Field(
        default=None, description="95% percentile bootstrap CI of mean_unparsed_zero"
    )
    ci_high_unparsed_zero: float | None = Field(default=None)
    judge_self: bool | None = Field(
        default=None,
        description="metrics.judge_self: the run allowed a judge whose model is the generator's; "
        "null: a config or file from before the setting",
    )


class MetricsFile(_Model):
    """metrics.json: scores, feature and call counts, UVQ, compute and provenance of a run."""

    schema_version: Version
    status: RunStatus
    failures: Failures | None = Field(description="null when every call succeeded")
    run: RunInfo
    metrics: dict[str, Number] = Field(description="bleu, meteor, rouge1, rougeL, ..., n")
    failed_samples: int
    excluded_samples: int = Field(
        default=0, description="samples with status excluded (not scored; version < 2: 0)"
    )
    judge: JudgeSummary | None = Field(
        default=None, description="the LLM judge (metrics.judge=true); null when off"
    )
    features: FeatureSummary | None = Field(description="the final feature stage; null: none")
    extracted_features: FeatureSummary | None
    uvq: dict[str, Any] | None = Field(description="null unless uvq=true; see docs/uvq.md")
    calls: CallCounts
    compute: dict[str, dict[str, Number]] = Field(
        description="per stage: calls, token counts, latency_s, wall_s; plus per_sample means"
    )
    wall_time_s: float
    context_time_s: float | None = Field(description="null when not recorded (version 0)")
    versions: dict[str, str]
    git_commit: str | None
    prompts_sha256: str | None = Field(
        default=None,
        description="drp_bench.run.prompts_fingerprint.prompts_fingerprint: the method's stages, "
        "its templates' text and the prompt settings; null: not recorded (version < 3)",
    )
    dataset_fingerprint: dict[str, str] = Field(description="data file -> sha256")


# ---------------------------------------------------------------- error.json


class StageProgress(_Model):
    calls: int
    done: int
    failed: int
    finished: bool


class Finished(_Model):
    """How far a failed or interrupted run got."""

    phase: str
    stages: dict[str, StageProgress]


class ErrorFile(_Model):
    """error.json: a run that failed or was interrupted."""

    schema_version: Version
    error: str = Field(description="'<Exception>: <message>' or 'interrupted by <SIGNAL>'")
    interrupted: bool
    traceback: str
    finished: Finished | None = Field(description="null when not recorded (version 0)")


# ---------------------------------------------------------------- version 0 (no field)


def upgrade_row_v0(row: dict[str, Any]) -> dict[str, Any]:
    """A predictions row written before ``schema_version``: calls get ``skipped: false``;
    ``failed_stages`` are the stages with a failed call; ``status`` is ``failed`` when the row
    has an error, else ``complete``."""
    row = dict(row)
    row["schema_version"] = LEGACY_VERSION
    stages = row.get("stages")
    failed: list[str] = []
    if isinstance(stages, dict):
        stages = row["stages"] = dict(stages)
        for stage in STAGES:
            entry = stages.get(stage)
            if isinstance(entry, list):
                stages[stage] = entry = [_call_v0(c) for c in entry]
            elif isinstance(entry, dict):
                stages[stage] = entry = _call_v0(entry)
            calls = entry if isinstance(entry, list) else [entry] if entry else []
            if any(isinstance(c, dict) and c.get("error") is not None for c in calls):
                failed.append(stage)
    row.setdefault("failed_stages", failed)
    row.setdefault("status", "failed" if row.get("error") else "complete")
    return row


def _call_v0(call: Any) -> Any:
    return {**call, "skipped": call.get("skipped", False)} if isinstance(call, dict) else call


def upgrade_metrics_v0(obj: dict[str, Any]) -> dict[str, Any]:
    """metrics.json before ``schema_version``: no ``failures`` (null), no skipped calls (0), no
    failed feature calls (0: version 0 counted them as malformed), ``context_time_s`` null
    when absent."""
    obj = dict(obj)
    obj["schema_version"] = LEGACY_VERSION
    obj.setdefault("failures", None)
    obj.setdefault("context_time_s", None)
    if isinstance(obj.get("calls"), dict):
        obj["calls"] = {**obj["calls"], "skipped": obj["calls"].get("skipped", 0)}
    for key in ("features", "extracted_features"):
        if isinstance(obj.get(key), dict):
            obj[key] = {**obj[key], "failed": obj[key].get("failed", 0)}
    return obj


def upgrade_error_v0(obj: dict[str, Any]) -> dict[str, Any]:
    """error.json before ``schema_version``: not interrupted, progress not recorded."""
    obj = dict(obj)
    obj["schema_version"] = LEGACY_VERSION
    obj.setdefault("interrupted", False)
    obj.setdefault("finished", None)
    return obj


_UPGRADES_V0 = {
    PredictionRow: upgrade_row_v0,
    MetricsFile: upgrade_metrics_v0,
    ErrorFile: upgrade_error_v0,
}


# ---------------------------------------------------------------- version 1 (before judge, peer)


def upgrade_row_v1(row: dict[str, Any]) -> dict[str, Any]:
    """A predictions row of version 1 (or an upgraded 0): nothing to add: no ``judge`` or
    ``peer`` entry (absent), ``generate`` present, never ``excluded``."""
    return dict(row)


def upgrade_metrics_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """metrics.json of version 1 (or an upgraded 0): no excluded samples (0), no judge
    (null)."""
    obj = dict(obj)
    obj.setdefault("excluded_samples", 0)
    obj.setdefault("judge", None)
    return obj


def upgrade_error_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """error.json of version 1: unchanged in version 2."""
    return dict(obj)


_UPGRADES_V1 = {
    PredictionRow: upgrade_row_v1,
    MetricsFile: upgrade_metrics_v1,
    ErrorFile: upgrade_error_v1,
}


# ---------------------------------------------------------------- version 2 (before contexts)


def upgrade_row_v2(row: dict[str, Any]) -> dict[str, Any]:
    """A predictions row of version 2 (or older, upgraded): its contexts were not recorded
    (``context`` null)."""
    return {**row, "context": row.get("context")}


def upgrade_metrics_v2(obj: dict[str, Any]) -> dict[str, Any]:
    """metrics.json of version 2 (or older, upgraded): the prompts' fingerprint was not
    recorded (``prompts_sha256`` null)."""
    return {**obj, "prompts_sha256": obj.get("prompts_sha256")}


_UPGRADES_V2: dict[type[BaseModel], Callable[[dict[str, Any]], dict[str, Any]]] = {
    PredictionRow: upgrade_row_v2,
    MetricsFile: upgrade_metrics_v2,
    ErrorFile: dict,  # error.json: unchanged in version 3
}


# ---------------------------------------------------------------- version 3 (before scores)


def upgrade_row_v3(row: dict[str, Any]) -> dict[str, Any]:
    """A predictions row of version 3 (or older, upgraded): its per-sample scores were not
    recorded (``scores`` null; readers recompute them)."""
    return {**row, "scores": row.get("scores")}


_UPGRADES_V3: dict[type[BaseModel], Callable[[dict[str, Any]], dict[str, Any]]] = {
    PredictionRow: upgrade_row_v3,
    MetricsFile: dict,  # metrics.json: unchanged in version 4
    ErrorFile: dict,  # error.json: unchanged in version 4
}


# ---------------------------------------------------------------- validation and errors


def _where(path: Path, line: int | None) -> str:
    return f"{path}:{line}" if line is not None else str(path)


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(err: Mapping[str, Any]) -> str:
    kind, msg = err["type"], str(err["msg"])
    if kind == "missing":
        return "missing required field"
    if kind == "extra_forbidden":
        return f"unknown field (not in schema version {SCHEMA_VERSION})"
    msg = msg.removeprefix("Value error, ").replace("Input should be ", "expected ", 1)
    if "found" in msg:
        return msg
    return f"{msg}, found {_show(err.get('input'))}"


def _model_names(cls: type = BaseModel) -> set[str]:
    names = set()
    for sub in cls.__subclasses__():
        names |= {sub.__name__, *_model_names(sub)}
    return names


def _without_union_branches(errors: list[Any]) -> list[Any]:
    """An optional stage (``Record | None``) reports each branch: keep the record's errors
    under the field's own path (no ``CallRecord`` / ``none`` tags)."""
    models = _model_names()
    out = []
    for e in errors:
        loc = tuple(e["loc"])
        if e["type"] == "none_required" and loc and loc[-1] == "none":
            continue
        out.append({**e, "loc": tuple(p for p in loc if p not in models)})
    return out or errors


def _schema_error(
    exc: ValidationError, path: Path, line: int | None, limit: int = 3
) -> RunFolderError:
    errors = _without_union_branches(exc.errors())
    parts = [f"field {_loc(e['loc'])!r}: {_problem(e)}" for e in errors[:limit]]
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    field = _loc(errors[0]["loc"]) if errors else None
    return RunFolderError(
        f"{_where(path, line)}: {'; '.join(parts)}{more}", path=path, line=line, field=field
    )


def _version(obj: dict[str, Any], path: Path, line: int | None) -> str:
    version = obj.get("schema_version", LEGACY_VERSION)
    if version not in READABLE_VERSIONS:
        hint = "; written by a newer drp-bench?" if isinstance(version, str) else ""
        raise RunFolderError(
            f"{_where(path, line)}: field 'schema_version': {_show(version)} is not a version "
            f"this drp-bench reads ({', '.join(map(repr, READABLE_VERSIONS))}){hint}",
            path=path,
            line=line,
            field="schema_version",
        )
    return version


def parse(model: type[M], obj: Any, path: Path, line: int | None = None) -> M:
    """Validate one decoded JSON object of a run-folder file (upgrading an old version)."""
    if not isinstance(obj, dict):
        raise RunFolderError(
            f"{_where(path, line)}: expected a JSON object, found {type(obj).__name__}",
            path=path,
            line=line,
        )
    version = _version(obj, path, line)
    if version == LEGACY_VERSION:
        obj = _UPGRADES_V0[model](obj)
    if version in (LEGACY_VERSION, "1"):
        obj = _UPGRADES_V1[model](obj)
    if version in (LEGACY_VERSION, "1", "2"):
        obj = _UPGRADES_V2[model](obj)
    if version in (LEGACY_VERSION, "1", "2", "3"):
        obj = _UPGRADES_V3[model](obj)
    try:
        return model.model_validate(obj)
    except ValidationError as e:
        raise _schema_error(e, path, line) from None


# ---------------------------------------------------------------- readers


def _read_text(path: Path) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RunFolderError(f"{path}: cannot read: {e}", path=path) from e


def _json_error(e: json.JSONDecodeError, path: Path, line: int | None) -> RunFolderError:
    line = line if line is not None else e.lineno
    return RunFolderError(
        f"{path}:{line}: malformed JSON: {e.msg}: column {e.colno}", path=path, line=line
    )


def _read_json_file(model: type[M], path: Path) -> M:
    path = Path(path)
    try:
        obj = json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise _json_error(e, path, None) from e
    return parse(model, obj, path)


def read_metrics(path: Path) -> MetricsFile:
    """Read and validate metrics.json (any readable version)."""
    return _read_json_file(MetricsFile, path)


def read_error(path: Path) -> ErrorFile:
    """Read and validate error.json (any readable version)."""
    return _read_json_file(ErrorFile, path)


def read_predictions(path: Path, allow_partial_tail: bool = False) -> PredictionRows:
    """Read and validate predictions.jsonl, one row per non-empty line (streamed: the file
    is never held whole in memory).

    With ``allow_partial_tail`` a last line cut off mid-write (malformed JSON, no newline) is
    dropped and its number kept in ``cut_off_line``; otherwise it is an error.
    """
    rows = PredictionRows()
    for number, row in _prediction_rows(Path(path), allow_partial_tail):
        if row is None:
            rows.cut_off_line = number
            break
        rows.append(row)
        rows.lines.append(number)
    return rows


def iter_predictions(path: Path) -> Iterator[PredictionRow]:
    """The validated rows of predictions.jsonl one at a time (a cut-off line is an error)."""
    for _, row in _prediction_rows(Path(path), allow_partial_tail=False):
        assert row is not None
        yield row


def _prediction_rows(
    path: Path, allow_partial_tail: bool
) -> Iterator[tuple[int, PredictionRow | None]]:
    """``(line, row)`` per non-empty line; ``(line, None)`` for a cut-off last line that
    ``allow_partial_tail`` lets pass."""
    for number, line, last in _lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            if allow_partial_tail and last:
                yield number, None
                return
            raise _json_error(e, path, number) from e
        yield number, parse(PredictionRow, obj, path, number)


def _lines(path: Path) -> Iterator[tuple[int, str, bool]]:
    """``(number, text, is_last)`` of every line, split on ``\n`` only (as ``str.split``);
    ``is_last``: the line has no newline after it (the file's last)."""
    try:
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                ended = raw.endswith(b"\n")
                yield number, (raw[:-1] if ended else raw).decode("utf-8"), not ended
    except (OSError, UnicodeDecodeError) as e:
        raise RunFolderError(f"{path}: cannot read: {e}", path=path) from e


# ---------------------------------------------------------------- writers


def _validated(model: type[M], obj: M | Mapping[str, Any], path: Path, line: int | None) -> M:
    """The object as the current version: stamped, JSON-normalised (tuples -> lists) and
    validated exactly as a reader will."""
    data = obj.to_json_dict() if isinstance(obj, _Model) else dict(obj)
    data["schema_version"] = SCHEMA_VERSION
    try:
        data = json.loads(json.dumps(data, ensure_ascii=False))
    except (TypeError, ValueError) as e:
        raise RunFolderError(f"{_where(path, line)}: not JSON-serialisable: {e}", path=path) from e
    try:
        checked = model.model_validate(data)
    except ValidationError as e:
        raise _schema_error(e, path, line) from None
    return checked.model_copy(update={"schema_version": written_version(checked)})


def written_version(obj: BaseModel) -> str:
    """The version a file is stamped with: the oldest that describes it. Only the compute
    knobs and a call's reasoning budget (version 5) and metrics.json's judge fields of version 6
    are newer than version 4, so a run with one extraction sample, one validation round, no
    budget and no judge writes version 4, as before them."""
    if isinstance(obj, MetricsFile) and obj.judge is not None:
        return SCHEMA_VERSION
    if isinstance(obj, PredictionRow):
        items = [*(obj.stages.extract or []), *(obj.stages.validate_ or [])]
        newer = any(isinstance(item, MultiCallItemRecord) for item in items) or _has_budget(
            obj.stages.model_dump(by_alias=True)
        )
    elif isinstance(obj, MetricsFile):
        newer = any(getattr(obj.run, k) != v for k, v in KNOB_DEFAULTS.items())
    else:
        newer = False
    return KNOBS_VERSION if newer else BEFORE_KNOBS


def _has_budget(node: Any) -> bool:
    """Whether a call under ``node`` has the two calls of a reasoning budget (version 5)."""
    if isinstance(node, dict):
        return node.get("budget") is not None or any(_has_budget(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_budget(v) for v in node)
    return False


def _replace_atomically(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _dumps(model: _Model, indent: int | None = None) -> str:
    return json.dumps(model.to_json_dict(), indent=indent, ensure_ascii=False)


def write_predictions(
    path: Path, rows: Iterable[PredictionRow | Mapping[str, Any]]
) -> list[PredictionRow]:
    """Validate every row, then write predictions.jsonl atomically (tmp file + rename);
    returns the validated rows (:func:`stream_predictions` keeps none in memory)."""
    checked: list[PredictionRow] = []
    stream_predictions(path, rows, on_row=checked.append)
    return checked


def stream_predictions(
    path: Path,
    rows: Iterable[PredictionRow | Mapping[str, Any]],
    on_row: Callable[[PredictionRow], None] | None = None,
) -> int:
    """Validate and write the rows one by one to a tmp file, renamed to ``path`` when all
    are written (a failed row leaves ``path`` as it was); returns how many were written."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    count = 0
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for count, row in enumerate(rows, start=1):
                checked = _validated(PredictionRow, row, path, count)
                fh.write(_dumps(checked) + "\n")
                if on_row is not None:
                    on_row(checked)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return count


def write_metrics(path: Path, obj: MetricsFile | Mapping[str, Any]) -> MetricsFile:
    """Validate and write metrics.json atomically; returns the validated model."""
    checked = _validated(MetricsFile, obj, path, None)
    _replace_atomically(path, _dumps(checked, indent=2) + "\n")
    return checked


def write_error(path: Path, obj: ErrorFile | Mapping[str, Any]) -> ErrorFile:
    """Validate and write error.json atomically; returns the validated model."""
    checked = _validated(ErrorFile, obj, path, None)
    _replace_atomically(path, _dumps(checked, indent=2) + "\n")
    return checked


# ---------------------------------------------------------------- a folder's status

#: Longest reason kept (one line).
REASON_CHARS = 300


@dataclass(frozen=True)
class RunState:
    """What a run folder says about its run (:func:`classify`).

    ``reason``: one line; empty for a complete run with nothing to note. ``read``: the files
    the status was read from, in order (empty: none was there). ``metrics`` / ``error``: the
    file that decided, as read (None when it was not read or could not be).
    """

    status: FolderStatus
    reason: str
    read: tuple[str, ...] = ()
    metrics: MetricsFile | None = field(default=None, repr=False, compare=False)
    error: ErrorFile | None = field(default=None, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        """complete or degraded: metrics.json holds the run's scores."""
        return self.status in FINISHED


def classify(run_dir: Path) -> RunState:
    """The status of a run folder, by the one rule of the module docstring; never raises.

    Reads metrics.json and error.json with the typed readers (never predictions.jsonl: a
    reader that needs the rows reports that file's own problems).
    """
    d = Path(run_dir)
    metrics, error = d / METRICS, d / ERROR
    has_metrics, has_error = metrics.is_file(), error.is_file()
    if has_error and (not has_metrics or _mtime_ns(error) > _mtime_ns(metrics)):
        return _state_from_error(error, over_metrics=has_metrics)
    if has_metrics:
        return _state_from_metrics(metrics, stale_error=has_error)
    if (d / PREDICTIONS).is_file() or (d / ".hydra").is_dir():
        written = f"{PREDICTIONS} written, " if (d / PREDICTIONS).is_file() else ""
        return RunState(
            "interrupted",
            f"no {METRICS} or {ERROR} ({written}killed before it could write either, "
            "or still running)",
        )
    return RunState(
        "failed", f"{d}: not a run folder (no .hydra, {METRICS}, {ERROR} or {PREDICTIONS})"
    )


def _mtime_ns(path: Path) -> int:
    return path.stat().st_mtime_ns


def one_line(text: Any, limit: int = REASON_CHARS) -> str:
    """The first line of ``text``, stripped and cut to ``limit`` characters."""
    lines = str(text).strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _state_from_error(path: Path, over_metrics: bool) -> RunState:
    try:
        err = read_error(path)
    except RunFolderError as e:
        return RunState("failed", one_line(e), (ERROR,))
    reason = one_line(err.error) or "no error message"
    if over_metrics:
        reason += f" ({ERROR} is newer than {METRICS}: the last attempt did not finish)"
    status: FolderStatus = "interrupted" if err.interrupted else "failed"
    return RunState(status, reason, (ERROR,), error=err)


def _state_from_metrics(path: Path, stale_error: bool) -> RunState:
    try:
        metrics = read_metrics(path)
    except RunFolderError as e:
        return RunState("failed", one_line(e), (METRICS,))
    reason = ""
    if metrics.status == "degraded":
        reason = one_line(metrics.failures.reason if metrics.failures else "") or (
            "some calls failed"
        )
    if stale_error:
        reason = "; ".join(filter(None, (reason, f"an older {ERROR} is stale (ignored)")))
    return RunState(metrics.status, reason, (METRICS,), metrics=metrics)


# ---------------------------------------------------------------- JSON Schema

SCHEMA_FILES: dict[str, type[_Model]] = {
    "predictions-row.schema.json": PredictionRow,
    "metrics.schema.json": MetricsFile,
    "error.schema.json": ErrorFile,
}
_SCHEMA_URL = "https://json-schema.org/draft/2020-12/schema"


def _without_null_defaults(node: Any) -> Any:
    """Drop ``"default": null`` (an absent optional stage is absent, never null)."""
    if isinstance(node, dict):
        return {
            k: _without_null_defaults(v)
            for k, v in node.items()
            if not (k == "default" and v is None)
        }
    if isinstance(node, list):
        return [_without_null_defaults(v) for v in node]
    return node


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> the JSON Schema generated from its model."""
    return {
        name: {
            "$schema": _SCHEMA_URL,
            **_without_null_defaults(model.model_json_schema(by_alias=True)),
        }
        for name, model in SCHEMA_FILES.items()
    }


def schema_texts() -> dict[str, str]:
    """File name -> the published text of its schema."""
    return {name: json.dumps(s, indent=2) + "\n" for name, s in json_schemas().items()}


def write_schemas(out_dir: Path) -> list[Path]:
    """Write every schema into ``out_dir``; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in schema_texts().items():
        (out_dir / name).write_text(text, encoding="utf-8")
        paths.append(out_dir / name)
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m drp_bench.run.folder --write-schemas DIR`` (or ``--check-schemas DIR``)."""
    parser = argparse.ArgumentParser(prog="python -m drp_bench.run.folder", description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write-schemas", type=Path, metavar="DIR")
    group.add_argument("--check-schemas", type=Path, metavar="DIR")
    args = parser.parse_args(argv)
    if args.write_schemas:
        for p in write_schemas(args.write_schemas):
            print(p)
        return 0
    stale = [
        name
        for name, text in schema_texts().items()
        if not (args.check_schemas / name).is_file()
        or (args.check_schemas / name).read_text(encoding="utf-8") != text
    ]
    for name in stale:
        print(f"{args.check_schemas / name}: differs from the models", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A leaderboard entry's files as strict models, its id, and the limits every entry obeys.

An entry is a folder ``entries/<id>/`` holding exactly ``submission.json``
(:class:`Submission`) and ``predictions.jsonl.gz`` (one :class:`EntryPrediction` per line).
Nothing in an entry is executed or unpickled; every path the leaderboard uses is built from
validated identifiers, never taken from a field.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from drp_bench.metrics.table import SCORE_TOLERANCE
from drp_bench.run.folder import Number

ENTRY_SCHEMA_VERSION = "1"
SUBMISSION = "submission.json"
PREDICTIONS = "predictions.jsonl.gz"
ENTRY_FILES = frozenset({SUBMISSION, PREDICTIONS})
ENTRIES = "entries"  # <board>/entries/<id>/
STAGING = ".staging"  # <board>/.staging/<id>/ while submit checks a new entry

# ---------------------------------------------------------------- limits
MAX_SUBMISSION_BYTES = 1_000_000
MAX_PREDICTIONS_GZ_BYTES = 50_000_000
MAX_PREDICTIONS_BYTES = 200_000_000  # decompressed; read in bounded chunks
MAX_PREDICTION_CHARS = 20_000
MAX_STAGE_OUTPUT_CHARS = 50_000
MAX_FIELD_CHARS = 10_000  # any other string (notes: MAX_NOTES_CHARS)
MAX_NOTES_CHARS = 2_000
MAX_ROWS = 1_000_000
MAX_ID_CHARS = 400  # a sample, user or item id
MAX_CONTEXT_ITEMS = 1_000  # entries of one list of a row's context
#: Largest accepted gap between a claimed metric (or CI bound) and the recomputed one.
#: Sections of submission.json that hold measurements: a string spelling NaN or infinity
#: there ("NaN", "inf") is refused like the number itself.
NUMERIC_SECTIONS = ("metrics", "uvq", "compute", "judge")
_NONFINITE_WORDS = frozenset(
    sign + word for sign in ("", "+", "-") for word in ("nan", "inf", "infinity")
)

#: Entry ids and split ids: lower-case, no path separators beyond the split's single "/".
ENTRY_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,150}")
SPLIT_ID_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,60}/[a-z0-9][a-z0-9_.-]{0,60}")
SHA256_RE = r"^sha256:[0-9a-f]{64}$"

Trust = Literal["reproduced", "verified", "reported"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class MetricClaim(_Strict):
    """A corpus metric as drp-bench computes it, with its 95% bootstrap CI."""

    value: Number
    ci_low: Number
    ci_high: Number


class RoleModel(_Strict):
    """The model of one role: who made it, which exact weights, how it sampled."""

    name: str = Field(max_length=200)
    hub_id: str | None = Field(max_length=200)
    revision: str | None = Field(max_length=100)
    sha256: str | None = Field(pattern=SHA256_RE, description="GGUF file (llama.cpp models)")
    family: str | None = Field(max_length=100)
    params_b: Number | None
    reasoning: bool
    backend: str = Field(max_length=100)
    sampling: dict[str, Number | str | None]  # str: a grammar (sampling.grammar)


class SplitRef(_Strict):
    id: str = Field(pattern=rf"^{SPLIT_ID_RE.pattern}$")
    references_sha256: str = Field(pattern=SHA256_RE)
    num_samples: int = Field(ge=1, le=MAX_ROWS)


class MethodInfo(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$")
    settings: dict[str, Any] = Field(description="the run's method block")


class PredictionsInfo(_Strict):
    file: Literal["predictions.jsonl.gz"]
    sha256: str = Field(pattern=SHA256_RE, description="of the decompressed JSON lines")
    rows: int = Field(ge=1, le=MAX_ROWS)
    with_stages: bool


class StageTotals(_Strict):
    calls: int
    prompt_tokens: int
    completion_tokens: int
    latency_s: Number


class Compute(_Strict):
    stages: dict[str, StageTotals]
    calls_per_sample: Number
    tokens_per_sample: Number = Field(description="prompt + completion tokens, all stages")
    wall_time_s: Number | None


class Submission(_Strict):
    """submission.json: what ran, on which split, with which models, and what it claims."""

    schema_version: Literal["1"]
    entry_id: str = Field(pattern=rf"^{ENTRY_ID_RE.pattern}$")
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    submitter: str | None = Field(max_length=200)
    notes: str | None = Field(max_length=MAX_NOTES_CHARS)
    split: SplitRef
    method: MethodInfo
    hyperparameters: dict[str, Any] = Field(description="what else shapes the predictions")
    models: dict[str, RoleModel] = Field(description="role -> model (roles the method uses)")
    metric_seed: int = Field(description="seed of rouge-score's bootstrap aggregator")
    metrics: dict[str, MetricClaim]
    uvq: dict[str, Any] | None
    compute: Compute
    software: dict[str, str]
    git_commit: str | None = Field(max_length=64)
    source: dict[str, Any] = Field(
        description="where the predictions come from: a drp-bench run or an lm-eval import"
    )
    config: dict[str, Any] = Field(description="the run's resolved config, local paths removed")
    predictions: PredictionsInfo
    judge: dict[str, Any] | None = Field(
        default=None,
        description="the LLM judge's score as the run reported it (metrics.judge=true): not "
        "recomputed by verify, since that needs the judge's model; reproduce re-runs it",
    )
    prompts_sha256: str | None = Field(
        default=None,
        pattern=SHA256_RE,
        description="drp_bench.run.prompts_fingerprint.prompts_fingerprint of the run (method "
        "stages, template texts, prompt settings); absent or null: prompts unknown",
    )


class StageOutput(_Strict):
    output: str = Field(max_length=MAX_STAGE_OUTPUT_CHARS)


Id = Annotated[str, Field(max_length=MAX_ID_CHARS)]
Ids = Annotated[list[Id], Field(max_length=MAX_CONTEXT_ITEMS)]


class ContextItem(_Strict):
    asin: Id
    representatives: Ids


class ContextNeighbour(_Strict):
    user_id: Id
    reviews: Ids


class ContextPeer(_Strict):
    user_id: Id | None
    asin: Id | None


class EntryContext(_Strict):
    """The ids the sample's contexts held (the run's ``context``, run_folder
    ``SampleContextRecord``): what ``reproduce`` compares before the prediction."""

    past_reviews: Ids
    comparisons: list[ContextItem] = Field(max_length=MAX_CONTEXT_ITEMS)
    neighbours: list[ContextNeighbour] = Field(max_length=MAX_CONTEXT_ITEMS)
    peer: ContextPeer | None


class EntryPrediction(_Strict):
    """One line of predictions.jsonl.gz (``context`` absent: an entry made before contexts
    were recorded, or an lm-eval import)."""

    sample_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    prediction: str = Field(max_length=MAX_PREDICTION_CHARS)
    stages: dict[str, list[StageOutput]] | None = None
    context: EntryContext | None = None


# ---------------------------------------------------------------- ids and keys


def is_local_path(value: str) -> bool:
    """Absolute, home-relative or parent-relative: a path into someone's disk."""
    return (
        value.startswith(("/", "~", "\\", ".."))
        or "/../" in value
        or (len(value) > 2 and value[1] == ":" and value[2] in "/\\")
    )


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha256_text(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def slug(text: str, limit: int = 40) -> str:
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out[:limit].strip("-") or "x"


def json_object(value: Any) -> dict[str, Any]:
    """A JSON object, or {} for anything else (an untrusted file's field of the wrong type)."""
    return value if isinstance(value, dict) else {}


def derive_entry_id(submission: dict[str, Any]) -> str:
    """``<split>.<method>.<extractor>.<hash>``: readable, and the hash covers every field
    (but ``entry_id``), so an id names exactly one content."""
    body = {k: v for k, v in submission.items() if k != "entry_id"}
    digest = sha256_text(canonical_json(body)).split(":")[1][:12]
    models = json_object(submission.get("models"))
    main = json_object(models.get("extractor") or models.get("generator"))
    parts = [
        slug(str(json_object(submission.get("split")).get("id", "split"))),
        slug(str(json_object(submission.get("method")).get("name", "method")), 20),
        slug(str(main.get("name", "model")), 40),
        digest,
    ]
    return ".".join(parts)


def dedup_key(submission: dict[str, Any]) -> str:
    """Same models, method, settings and predictions -> same key (who and when do not count)."""
    models = {
        role: {k: m.get(k) for k in ("name", "hub_id", "revision", "sha256", "sampling")}
        for role, m in json_object(submission.get("models")).items()
        if isinstance(m, dict)
    }
    return sha256_text(
        canonical_json(
            {
                "split": json_object(submission.get("split")).get("id"),
                "method": submission.get("method"),
                "hyperparameters": submission.get("hyperparameters"),
                "models": models,
                "predictions": json_object(submission.get("predictions")).get("sha256"),
            }
        )
    )


# ---------------------------------------------------------------- numbers that are numbers


def scores_match(claimed: float, recomputed: float) -> bool:
    """Equal within :data:`SCORE_TOLERANCE`, both finite (NaN or infinity never matches)."""
    return (
        math.isfinite(claimed)
        and math.isfinite(recomputed)
        and math.isclose(claimed, recomputed, rel_tol=0.0, abs_tol=SCORE_TOLERANCE)
    )


def _nonfinite_name(value: float) -> str:
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def nonfinite_fields(obj: Any, where: str = "", strings: bool = False) -> list[tuple[str, str]]:
    """``(field, what)`` for every NaN or infinite number in a JSON value, e.g.
    ``("metrics.meteor.value", "NaN")``.

    JSON has neither, but Python's ``json`` reads the tokens ``NaN``/``Infinity`` and an
    overflowing number such as ``1e999`` as such floats. With ``strings``, a string spelling
    one (``"NaN"``, ``"-inf"``) counts too."""
    if isinstance(obj, dict):
        return [
            found
            for key, value in obj.items()
            for found in nonfinite_fields(value, f"{where}.{key}" if where else str(key), strings)
        ]
    if isinstance(obj, list):
        return [
            found
            for i, value in enumerate(obj)
            for found in nonfinite_fields(value, f"{where}[{i}]", strings)
        ]
    if isinstance(obj, float) and not math.isfinite(obj):
        return [(where, _nonfinite_name(obj))]
    if strings and isinstance(obj, str) and obj.strip().lower() in _NONFINITE_WORDS:
        return [(where, f"the string {obj[:20]!r}")]
    return []


def submission_nonfinite(submission: dict[str, Any]) -> list[str]:
    """Every non-finite number of submission.json as a one-line problem naming its field."""
    return [
        f"{SUBMISSION}: field {where!r} is {what} (every number in an entry must be finite)"
        for key, value in submission.items()
        for where, what in nonfinite_fields(value, str(key), strings=key in NUMERIC_SECTIONS)
    ]

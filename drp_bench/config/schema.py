"""The run config's schema as Hydra structured configs (registered in Hydra's ConfigStore).

``conf/config.yaml`` names ``drp_bench_schema`` first in its defaults, so every value that
composes onto it is checked by OmegaConf: a wrong type (``num_users=two``) or an unknown key
(``num_user=2``, ``extractor.sampling.temprature=0``) is rejected with Hydra's usual message,
naming the key. Backend ``options`` stay free-form: each backend has its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from drp_bench.config.run_config import BUNDLED_EMBEDDER

SCHEMA_NAME = "drp_bench_schema"

# OmegaConf reads these annotations at runtime and does not support ``X | None`` on every
# Python version the package supports: Optional[...] is on purpose here.


@dataclass
class BackendConf:
    kind: str = "llamacpp"  # a kind of drp_bench.backends.registry.backends() (plugins too)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SamplingConf:
    temperature: float = 0.0
    top_p: float = 0.95
    max_tokens: int = 4096
    seed: int = 42
    # thinking-token cap of a reasoning model, with budget forcing (docs/methods.md)
    reasoning_budget: Optional[int] = None  # noqa: UP045
    # constrained decoding of the answer: null or features (drp_bench.backends.grammar)
    grammar: Optional[str] = None  # noqa: UP045


@dataclass
class ThroughputConf:
    """What ``drp-bench plan`` assumes one replica of the model processes per second (its
    hours and GPU-hours); ``device: gpu`` counts ``tensor_parallel_size`` GPUs per replica."""

    device: str = "gpu"  # gpu | cpu
    hardware: str = "A100-80GB, vLLM, offline batched"
    prefill_tokens_per_s: float = 10000.0
    decode_tokens_per_s: float = 1500.0


@dataclass
class ModelConf:
    """A model registry entry (conf/model/*.yaml)."""

    name: str = "???"
    hub_id: str = "???"
    revision: Optional[str] = None  # noqa: UP045
    family: str = "???"
    params_b: float = 0.0
    reasoning: bool = False
    context_length: int = 4096
    tensor_parallel_size: int = 1
    # where a template's instruction goes for this model (None: prompts.instructions_in)
    instructions_in: Optional[str] = None  # noqa: UP045
    # the reference's prompt string under prompts.mode=reference_exact (chatml_reference |
    # r1_reference); None: the model has none
    prompt_format: Optional[str] = None  # noqa: UP045
    backend: BackendConf = field(default_factory=BackendConf)
    sampling: SamplingConf = field(default_factory=SamplingConf)
    throughput: ThroughputConf = field(default_factory=ThroughputConf)


@dataclass
class DatasetConf:
    name: str = "???"
    path: str = "???"
    meta_path: Optional[str] = None  # noqa: UP045
    split: str = "test"
    limit: Optional[int] = None  # noqa: UP045
    pool_split: Optional[str] = None  # noqa: UP045


@dataclass
class StageConf:
    """One stage of a method (docs/methods.md); kinds, names and options are checked when the
    run reads the config (drp_bench.methods.spec)."""

    kind: str = "???"  # a kind of drp_bench.methods.contracts.stage_kinds() (plugins too)
    enabled: bool = True
    role: Optional[str] = None  # noqa: UP045  extractor | validator | ... (model kinds)
    template: Optional[str] = None  # noqa: UP045
    reads: list[str] = field(default_factory=list)
    writes: str = "???"
    options: dict[str, Any] = field(default_factory=dict)  # per kind


@dataclass
class MethodConf:
    """A method: its settings (its stages refer to them: ``${method.validate}``) and stages."""

    name: str = "???"
    dimensions: Optional[str] = None  # noqa: UP045  fixed | auto
    validate: bool = False
    summary_reads: str = "validated"  # validated | extracted
    handoff: str = "parsed"  # parsed | raw: what later stages read of earlier outputs
    summarization: Optional[str] = None  # noqa: UP045  LLM-TRSR: recurrent | hierarchical
    neighbours: int = 2  # P-DB: how many most similar other users (the neighbours context)
    # peer: which other reviews of the target item it may pick: before_target | any (every
    # date; peer runs made before this setting existed ran so: their config has no such key)
    peer_candidates: str = "before_target"
    # LLM-TRSR: the past_reviews context is the user's N latest profile reviews (none dated
    # after the target), oldest first, instead of BM25's num_retrieved; null: BM25's
    recent_reviews: Optional[int] = None  # noqa: UP045
    templates: dict[str, str] = field(default_factory=dict)
    stages: list[StageConf] = field(default_factory=list)


@dataclass
class EmbeddingConf:
    model: str = BUNDLED_EMBEDDER
    batch_size: int = 32
    device: str = "cpu"
    prompt_name: Optional[str] = None  # noqa: UP045  a prompt of the model; null: documents
    precision: str = "float64"  # float64 (CPU-independent representatives) | float32


@dataclass
class PromptsConf:
    dir: Optional[str] = None  # noqa: UP045
    system: Optional[str] = None  # noqa: UP045
    instructions_in: str = "system"  # system | user: where a NAME.system.j2 part goes
    max_review_chars: Optional[int] = None  # noqa: UP045
    max_description_chars: Optional[int] = None  # noqa: UP045
    prefix_order: bool = True  # send each stage's batch with common-prefix prompts adjacent
    # chat: the model's chat template; reference_exact: the reference's hand-written prompt
    # string (the model entry's prompt_format) sent as a raw completion
    mode: str = "chat"


@dataclass
class CacheConf:
    enabled: bool = True
    path: str = "???"


@dataclass
class MetricsConf:
    """Optional measures that cost model calls."""

    judge: bool = False  # the LLM judge (role ``judge``) scores every prediction 0-10
    judge_self: bool = False  # allow a judge whose model is the generator's (else refused)


@dataclass
class RunConf:
    method: MethodConf = field(default_factory=MethodConf)
    dataset: DatasetConf = field(default_factory=DatasetConf)
    # The two slots a sweep varies; the other roles follow one of them by interpolation
    # (``validator: ${extractor}``), which a typed node would refuse, so they are untyped here
    # and checked when the run reads them (drp_bench.config.models.ModelSpec.from_config).
    extractor: ModelConf = field(default_factory=ModelConf)
    generator: ModelConf = field(default_factory=ModelConf)
    validator: Any = None
    normalizer: Any = None
    summarizer: Any = None
    judge: Any = None  # the LLM judge's model (metrics.judge); ${generator} by default
    num_retrieved: int = 8
    num_users: int = 4
    seed: int = 42
    temperature: Optional[float] = None  # noqa: UP045  set: every role samples at it
    answer_prefix: str = "lenient"  # lenient | reference: how [Review]:/[Summary]: are cut
    # compute knobs of the difference stages (a method's stages read them: docs/methods.md)
    extract_samples: int = 1  # extraction calls per comparison item, merged by agreement
    extract_agree: Optional[int] = None  # noqa: UP045  samples that must agree; null: majority
    extract_temperature: float = 0.7  # the extraction samples' temperature (samples > 1)
    validate_rounds: int = 1  # validation applied again on its own output
    uvq: bool = False
    uvq_rule: str = "drop-conflicts"  # drop-conflicts | drp-reference | both
    embedding: EmbeddingConf = field(default_factory=EmbeddingConf)
    prompts: PromptsConf = field(default_factory=PromptsConf)
    cache: CacheConf = field(default_factory=CacheConf)
    metrics: MetricsConf = field(default_factory=MetricsConf)
    sweep_exit: str = "strict"  # strict | zero


def register() -> None:
    """Store the schema in Hydra's ConfigStore (idempotent)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=SCHEMA_NAME, node=RunConf)

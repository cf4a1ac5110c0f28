"""Typed view of the composed Hydra config for one run."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from drp_bench.config.models import GRAMMAR_ROLES, ModelSpec
from drp_bench.methods.contracts import ANALYSIS_ROLES, OPTIONAL_ROLES, ROLES
from drp_bench.methods.spec import MethodSpec
from drp_bench.resources import BUNDLED_PREFIX

BUNDLED_EMBEDDER = f"{BUNDLED_PREFIX}all-MiniLM-L6-v2"
#: How review embeddings are computed and clustered (EmbedderSpec.precision).
EMBEDDING_PRECISIONS = ("float64", "float32")


@dataclass(frozen=True)
class EmbedderSpec:
    """The sentence-transformers model that embeds reviews for representative selection.

    ``prompt_name``: one of the model's prompts (e.g. ``"query"``) to encode with; None encodes
    as ``SentenceTransformer.encode`` does by default (DRP's ``0_prepare_diff_inputs.py``: no
    prompt, so gte-Qwen2-1.5B-instruct embeds reviews as documents, without its instruction).
    """

    model: str = BUNDLED_EMBEDDER
    batch_size: int = 32
    device: str = "cpu"
    prompt_name: str | None = None
    precision: str = "float32"

    def __post_init__(self) -> None:
        if self.precision not in EMBEDDING_PRECISIONS:
            raise ValueError(
                f"embedding.precision: {self.precision!r} is not one of {EMBEDDING_PRECISIONS}"
            )


#: uvq_rule -> the UVQ rules computed (the first one is metrics.json's ``uvq``); rules are
#: drp_bench.uvq.score.RULES.
UVQ_RULE_CHOICES: dict[str, tuple[str, ...]] = {
    "drop-conflicts": ("drop-conflicts",),
    "drp-reference": ("drp-reference",),
    "both": ("drop-conflicts", "drp-reference"),
}
#: How an answer's "[Review]:" label is cut (drp_bench.pipeline.parsing.strip_answer_prefix).
PREFIX_MODES = ("lenient", "reference")


@dataclass(frozen=True)
class RunConfig:
    method: MethodSpec
    roles: dict[str, ModelSpec]
    dataset: dict[str, Any]
    num_retrieved: int
    num_users: int
    seed: int
    embedder: EmbedderSpec
    uvq: bool
    prompts: dict[str, Any]
    cache_path: str | None
    answer_prefix: str = "lenient"
    uvq_rules: tuple[str, ...] = ("drop-conflicts",)
    judge: bool = False  # metrics.judge: score every prediction with the judge role
    # metrics.judge_self: the judge may be the generator's model; None: a config from before
    # the key existed (accepted as it ran then)
    judge_self: bool | None = False

    @property
    def used_roles(self) -> dict[str, ModelSpec]:
        """The roles whose model the run lists: every role, the judge only when it judges."""
        return {r: s for r, s in self.roles.items() if r != "judge" or self.judge}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> RunConfig:
        """The run's typed view of a resolved config (a plain dict).

        Types and keys were checked when Hydra composed it onto the schema
        (:mod:`drp_bench.config.schema`); this adds the checks of values.
        """
        cfg = {**cfg, **{r: cfg[f] for r, f in OPTIONAL_ROLES.items() if cfg.get(r) is None}}
        for key in ("method", "dataset", *ROLES):
            if not isinstance(cfg.get(key), dict):
                raise ValueError(f"config: {key!r} must be a mapping, found {cfg.get(key)!r:.60}")
        num_users = cfg.get("num_users", 4)
        num_retrieved = cfg.get("num_retrieved", 8)
        if num_users < 1 or num_retrieved < 1:
            raise ValueError(
                f"config: num_users and num_retrieved must be >= 1, found {num_users}, "
                f"{num_retrieved}"
            )
        limit = cfg["dataset"].get("limit")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError(f"dataset.limit: expected null or an integer >= 1, found {limit!r}")
        roles = {role: ModelSpec.from_config(cfg[role], role) for role in ROLES}
        _check_grammar_roles(roles)
        if cfg.get("temperature") is not None:  # the method's roles, not the UVQ analysis
            temperature = float(cfg["temperature"])
            roles = {
                role: spec
                if role in ANALYSIS_ROLES
                else replace(spec, sampling=replace(spec.sampling, temperature=temperature))
                for role, spec in roles.items()
            }
        metrics = cfg.get("metrics") or {}
        judge_self = None if "judge_self" not in metrics else bool(metrics["judge_self"])
        if metrics.get("judge"):
            check_judge_is_not_generator(roles, judge_self)
        embedding = cfg.get("embedding") or {}
        cache = cfg.get("cache") or {}
        knobs = _checked_knobs(cfg)
        method = MethodSpec.from_config(cfg["method"], metrics)
        _check_knobs_reach(method, knobs)
        return cls(
            method=method,
            roles=roles,
            dataset=dict(cfg["dataset"]),
            num_retrieved=num_retrieved,
            num_users=num_users,
            seed=cfg.get("seed", 42),
            embedder=EmbedderSpec(**embedding),
            uvq=cfg.get("uvq", False),
            prompts=dict(cfg.get("prompts") or {}),
            cache_path=cache.get("path") if cache.get("enabled", True) else None,
            uvq_rules=UVQ_RULE_CHOICES[
                _one_of("uvq_rule", cfg.get("uvq_rule", "drop-conflicts"), tuple(UVQ_RULE_CHOICES))
            ],
            answer_prefix=_one_of(
                "answer_prefix", cfg.get("answer_prefix", "lenient"), PREFIX_MODES
            ),
            judge=bool(metrics.get("judge", False)),
            judge_self=judge_self,
        )


def same_model(a: ModelSpec, b: ModelSpec) -> bool:
    """Whether two roles' entries are one model (its name or its hub id, whatever the
    sampling, backend or revision)."""
    return a.name == b.name or a.hub_id.lower() == b.hub_id.lower()


def check_judge_is_not_generator(roles: dict[str, ModelSpec], judge_self: bool | None) -> None:
    """A judged run whose judge is the generator's model is refused (it would grade the reviews
    it wrote) unless ``metrics.judge_self=true``; a config without that key (written before it)
    is accepted as it ran then."""
    judge, generator = roles["judge"], roles["generator"]
    if judge_self is not False or not same_model(judge, generator):
        return
    raise ValueError(
        f"config: metrics.judge=true, but the judge's model is the generator's (judge: "
        f"{judge.name} [{judge.hub_id}], generator: {generator.name} [{generator.hub_id}]): the "
        "model would grade the reviews it wrote. Give the judge its own model "
        "(+model@judge=NAME, or DPL's judges: +judge_preset=dpl_72b / dpl_gpt), or allow it "
        "with metrics.judge_self=true (recorded in metrics.json's judge)"
    )


#: The top-level compute knobs: key -> (the stage kind, its option that reads it, default).
COMPUTE_KNOBS: dict[str, tuple[str, str, Any]] = {
    "extract_samples": ("extract_differences", "samples", 1),
    "extract_agree": ("extract_differences", "agree", None),
    "extract_temperature": ("extract_differences", "temperature", 0.7),
    "validate_rounds": ("validate_differences", "rounds", 1),
}


def _checked_knobs(cfg: dict[str, Any]) -> dict[str, Any]:
    """The top-level compute knobs, checked: counts >= 1, agree <= samples, temperature > 0."""
    knobs = {key: cfg.get(key, default) for key, (_, _, default) in COMPUTE_KNOBS.items()}
    for key in ("extract_samples", "validate_rounds", "extract_agree"):
        value = knobs[key]
        if value is None and key == "extract_agree":
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"config: {key}: expected an integer >= 1, found {value!r}")
    agree, samples = knobs["extract_agree"], knobs["extract_samples"]
    if agree is not None and agree > samples:
        raise ValueError(
            f"config: extract_agree={agree} > extract_samples={samples}: expected null (a "
            f"majority) or 1..{samples}"
        )
    temperature = knobs["extract_temperature"]
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        temperature = None
    if temperature is None or temperature <= 0:
        raise ValueError(
            "config: extract_temperature: expected a number > 0 (samples that differ), found "
            f"{knobs['extract_temperature']!r}"
        )
    return knobs


def _check_knobs_reach(method: MethodSpec, knobs: dict[str, Any]) -> None:
    """A knob set away from its default must reach every stage of its kind (the method's YAML
    maps it: ``options: {samples: "${extract_samples}"}``), never be silently ignored."""
    for key, (kind, option, default) in COMPUTE_KNOBS.items():
        if knobs[key] == default:
            continue
        for stage in method.stages:
            if stage.kind == kind and stage.options[option] != knobs[key]:
                raise ValueError(
                    f"config: {key}={knobs[key]!r}, but method {method.name!r} "
                    f"(method/{method.name}.yaml) stages[{stage.index}] ({kind}) "
                    f"has options.{option}={stage.options[option]!r}: map it there as "
                    f'{option}: "${{{key}}}" (docs/methods.md)'
                )


def _check_grammar_roles(roles: dict[str, ModelSpec]) -> None:
    """A grammar holds an answer to the difference-feature format: only the roles whose
    stages answer in it may set one (a summary or review held to it would be nonsense)."""
    for role, spec in roles.items():
        grammar = spec.sampling.grammar
        if grammar is not None and role not in GRAMMAR_ROLES:
            raise ValueError(
                f"config: {role}.sampling.grammar={grammar}: the {grammar} grammar holds an"
                f" answer to the difference-feature format, which only the"
                f" {' and '.join(GRAMMAR_ROLES)} write; set it to null for the {role}"
            )


def _one_of(key: str, value: Any, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        raise ValueError(f"{key}: expected one of {allowed}, found {value!r}")
    return value

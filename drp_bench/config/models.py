"""Model registry entries (conf/model/*.yaml) and the roles a run gives them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: The grammars ``sampling.grammar`` may name (drp_bench.backends.grammar holds their text);
#: None: no constraint, the papers' decoding.
GRAMMARS = ("features",)
#: The roles whose stages answer in the difference-feature format the ``features`` grammar
#: holds an answer to (extraction and validation).
GRAMMAR_ROLES = ("extractor", "validator")


@dataclass(frozen=True)
class SamplingParams:
    """How a role's model samples (the papers: temperature 0, top_p 0.95, 4096 tokens, seed 42)."""

    temperature: float = 0.0
    top_p: float = 0.95
    max_tokens: int = 4096
    seed: int = 42
    # a reasoning model's thinking cap (budget forcing: docs/methods.md); None: no cap, one call
    reasoning_budget: int | None = None
    # constrained decoding of the answer (drp_bench.backends.grammar); None: unconstrained
    grammar: str | None = None

    def completion_limit(self) -> int:
        """Most completion tokens a call may produce: the thinking budget (if any) plus
        ``max_tokens`` for the answer."""
        return self.max_tokens + (self.reasoning_budget or 0)


@dataclass(frozen=True)
class ModelSpec:
    """One model of the registry: identity, family, size and how to serve it."""

    name: str
    hub_id: str
    family: str
    params_b: float
    reasoning: bool
    context_length: int
    tensor_parallel_size: int
    backend: str
    backend_options: dict[str, Any] = field(default_factory=dict)
    sampling: SamplingParams = field(default_factory=SamplingParams)
    revision: str | None = None
    instructions_in: str | None = None  # system | user; None: the run's prompts setting
    # the reference's hand-written prompt string for prompts.mode=reference_exact
    # (chatml_reference | r1_reference: drp_bench.pipeline.reference_prompts); None: none
    prompt_format: str | None = None

    @classmethod
    def from_config(cls, cfg: dict[str, Any], where: str) -> ModelSpec:
        """Build from a resolved ``conf/model`` entry; ``where`` names it in errors."""
        required = ("name", "hub_id", "family", "params_b", "reasoning", "backend")
        missing = [k for k in required if k not in cfg]
        if missing:
            raise ValueError(f"model config {where}: missing field(s) {missing}")
        backend = cfg["backend"]
        if not isinstance(backend, dict) or "kind" not in backend:
            raise ValueError(
                f"model config {where}.backend: expected a mapping with 'kind', found {backend!r}"
            )
        sampling = dict(cfg.get("sampling") or {})
        unknown = set(sampling) - set(SamplingParams.__dataclass_fields__)
        if unknown:
            raise ValueError(f"model config {where}.sampling: unknown field(s) {sorted(unknown)}")
        _check_budget(sampling.get("reasoning_budget"), bool(cfg["reasoning"]), where)
        _check_grammar(sampling, bool(cfg["reasoning"]), where)
        return cls(
            name=str(cfg["name"]),
            hub_id=str(cfg["hub_id"]),
            family=str(cfg["family"]),
            params_b=float(cfg["params_b"]),
            reasoning=bool(cfg["reasoning"]),
            context_length=int(cfg.get("context_length") or 4096),
            tensor_parallel_size=int(cfg.get("tensor_parallel_size") or 1),
            backend=str(backend["kind"]),
            backend_options=dict(backend.get("options") or {}),
            sampling=SamplingParams(**sampling),
            revision=cfg.get("revision"),
            instructions_in=cfg.get("instructions_in"),
            prompt_format=cfg.get("prompt_format"),
        )

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hub_id": self.hub_id,
            "family": self.family,
            "params_b": self.params_b,
            "reasoning": self.reasoning,
            "backend": self.backend,
        }

    def options(self) -> dict[str, Any]:
        """Backend options, without those set to null ("the backend's default")."""
        return {k: v for k, v in self.backend_options.items() if v is not None}

    def serving_key(self) -> str:
        """Two roles with the same serving key share one loaded backend."""
        return json.dumps(
            [
                self.backend,
                self.hub_id,
                self.revision,
                self.context_length,
                self.tensor_parallel_size,
                self.reasoning,
                self.backend_options,
            ],
            sort_keys=True,
            default=str,
        )


def _check_budget(budget: Any, reasoning: bool, where: str) -> None:
    """A reasoning budget is a positive int, and only for a model with ``reasoning: true``
    (an instruct model has no thinking to cap: an error, so a sweep never records a budget
    that did nothing)."""
    if budget is None:
        return
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(
            f"model config {where}.sampling.reasoning_budget: expected a positive integer"
            f" (thinking tokens) or null, found {budget!r}"
        )
    if not reasoning:
        raise ValueError(
            f"model config {where}.sampling.reasoning_budget: set to {budget} on a model with"
            " reasoning: false (a budget caps a reasoning model's thinking); set it to null"
        )


def _check_grammar(sampling: dict[str, Any], reasoning: bool, where: str) -> None:
    """A grammar is one of :data:`GRAMMARS`; on a reasoning model
    only with a reasoning budget, whose answer call is the one held to it (one call would
    hold the thinking to the answer's format too)."""
    grammar = sampling.get("grammar")
    if grammar is None:
        return
    if grammar not in GRAMMARS:
        raise ValueError(
            f"model config {where}.sampling.grammar: expected null or one of"
            f" {', '.join(GRAMMARS)}, found {grammar!r}"
        )
    if reasoning and sampling.get("reasoning_budget") is None:
        raise ValueError(
            f"model config {where}.sampling.grammar: {grammar} on a model with reasoning: true"
            " needs sampling.reasoning_budget (the grammar then holds the answer call after the"
            " thinking; a single call would hold the thinking to it too)"
        )

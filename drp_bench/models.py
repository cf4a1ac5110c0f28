"""Model registry entries (conf/model/*.yaml) and the backends that serve them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from drp_bench.backends.base import Backend, SamplingParams

ROLES = ("extractor", "validator", "normalizer", "summarizer", "generator")


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


def backend_kwargs(spec: ModelSpec) -> dict[str, Any]:
    """Constructor arguments of the spec's backend, derived from the registry entry.

    Options set to null mean "the backend's default" and are not passed.
    """
    options = {k: v for k, v in spec.backend_options.items() if v is not None}
    if spec.backend == "llamacpp":
        return {"n_ctx": spec.context_length, "reasoning": spec.reasoning, **options}
    if spec.backend == "openai":
        if not options.get("base_url"):
            raise ValueError(
                f"model {spec.name}: the openai backend needs backend.options.base_url "
                "(e.g. +extractor.backend.options.base_url=http://127.0.0.1:8000/v1)"
            )
        options.setdefault("model", spec.hub_id)
        options.setdefault("revision", spec.revision)
        return {"reasoning": spec.reasoning, **options}
    if spec.backend == "vllm":
        return {
            "model": spec.hub_id,
            "revision": spec.revision,
            "tensor_parallel_size": spec.tensor_parallel_size,
            "max_model_len": spec.context_length,
            "reasoning": spec.reasoning,
            **options,
        }
    return options


def open_backend(spec: ModelSpec) -> Backend:
    from drp_bench.backends.registry import create_backend

    return create_backend(spec.backend, **backend_kwargs(spec))


def model_identity(spec: ModelSpec) -> dict[str, Any]:
    """What, besides the request, decides the model's output; the call cache keys on it.

    Computed by the backend class from its constructor arguments, without loading the model,
    so a fully cached run loads nothing.
    """
    from drp_bench.backends.registry import backend_class

    return backend_class(spec.backend).identity_for(**backend_kwargs(spec))

"""Backends by name. Adding a backend is one line in ``BACKENDS``; modules load on first use."""

from __future__ import annotations

import importlib
from typing import Any

from drp_bench.backends.base import Backend

BACKENDS: dict[str, str] = {
    "llamacpp": "drp_bench.backends.llamacpp:LlamaCppBackend",
    "openai": "drp_bench.backends.openai_compat:OpenAIBackend",
    "vllm": "drp_bench.backends.vllm_offline:VLLMBackend",
}


def backend_class(kind: str) -> type:
    """The class registered under ``kind`` (imports its module)."""
    try:
        target = BACKENDS[kind]
    except KeyError:
        raise ValueError(
            f"unknown backend kind {kind!r}; known kinds: {', '.join(sorted(BACKENDS))}"
        ) from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_backend(kind: str, **kwargs: Any) -> Backend:
    """Instantiate the backend registered under ``kind`` with ``kwargs``."""
    return backend_class(kind)(**kwargs)

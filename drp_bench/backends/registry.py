"""Backends by name. Adding a built-in backend is one line in ``BACKENDS``; another package adds
one through the entry point group ``drp_bench.backends`` (name = the kind, value =
``module:Class``; docs/extending.md). Modules load on first use: listing the kinds imports none.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any

from drp_bench import plugins
from drp_bench.backends.base import Backend

BACKENDS: dict[str, str] = {
    "llamacpp": "drp_bench.backends.llamacpp:LlamaCppBackend",
    "openai": "drp_bench.backends.openai_compat:OpenAIBackend",
    "vllm": "drp_bench.backends.vllm_offline:VLLMBackend",
}


@lru_cache(maxsize=1)
def backends() -> dict[str, str | plugins.Plugin]:
    """Every backend kind: the built-ins' targets, then the plugins' entry points (read from
    the installed packages' metadata on the first call; nothing is imported)."""
    return plugins.merge(BACKENDS, plugins.BACKENDS_GROUP, "backend kind", lambda p: p)


plugins.on_reset(backends.cache_clear)


def backend_class(kind: str) -> type:
    """The class registered under ``kind`` (imports its module)."""
    known = backends()
    try:
        target = known[kind]
    except KeyError:
        raise ValueError(
            f"unknown backend kind {kind!r}; known kinds: {', '.join(known)}"
        ) from None
    if isinstance(target, plugins.Plugin):
        cls = target.load()
        if not isinstance(cls, type):
            raise plugins.PluginError(f"plugin {target.where}: expected a class, found {cls!r:.60}")
        return cls
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_backend(kind: str, **kwargs: Any) -> Backend:
    """Instantiate the backend registered under ``kind`` with ``kwargs``."""
    return backend_class(kind)(**kwargs)

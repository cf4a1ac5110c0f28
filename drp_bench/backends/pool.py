"""The backends of one run: one per served model, behind the call cache, loaded on demand.

The run builds a :class:`BackendPool` and hands the pipeline a role -> backend mapping
(:meth:`BackendPool.for_roles`); the pipeline sees only the :class:`Backend` protocol, never
the cache or a concrete backend. A backend class builds itself from a registry entry
(``spec_kwargs``), knows its identity without loading the model (``identity_for``) and says
whether it holds GPUs exclusively (``exclusive_gpu``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from drp_bench.backends.base import Backend, ChatRequest, ChatResult, ProgressCallback
from drp_bench.backends.registry import backend_class
from drp_bench.config.models import ModelSpec

log = logging.getLogger("drp_bench")

#: Attribute of the log record "loaded MODEL in S s": the seconds loading took (model load time
#: is outside every call's latency; benchmarks/harness_overhead.py reads it from the log).
LOAD_S = "model_load_s"


def open_backend(spec: ModelSpec) -> Backend:
    """Load the model of a registry entry with its backend class."""
    cls = backend_class(spec.backend)
    return cls(**cls.spec_kwargs(spec))


def model_identity(spec: ModelSpec) -> dict[str, Any]:
    """What, besides the request, decides the model's output; the call cache keys on it.

    Computed by the backend class from its constructor arguments, without loading the model,
    so a fully cached run loads nothing.
    """
    cls = backend_class(spec.backend)
    return cls.identity_for(**cls.spec_kwargs(spec))


def holds_gpu_exclusively(spec: ModelSpec) -> bool:
    return bool(getattr(backend_class(spec.backend), "exclusive_gpu", False))


class BackendPool:
    """One backend per distinct served model, wrapped by the persistent call cache.

    Backends that hold GPUs exclusively (local engines) are loaded one at a time: loading one
    unloads the others, so the extractor and the generator of a job need not fit together.
    """

    def __init__(
        self, cache_path: str | Path | None, opener: Callable[[ModelSpec], Backend] = open_backend
    ):
        self._opener = opener
        self._backends: dict[str, Backend] = {}
        self._lazy: dict[str, LazyBackend] = {}
        self._cache = None
        if cache_path:
            from drp_bench.backends.cache import CallCache

            path = Path(cache_path).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._cache = CallCache(path)

    def get(self, spec: ModelSpec) -> Backend:
        key = spec.serving_key()
        if key not in self._backends:
            lazy = LazyBackend(spec, self._opener, self._before_load)
            self._lazy[key] = lazy
            backend: Backend = lazy
            if self._cache is not None:
                from drp_bench.backends.cache import CachedBackend

                backend = CachedBackend(lazy, self._cache)
            self._backends[key] = backend
        return self._backends[key]

    def for_roles(
        self, specs: Mapping[str, ModelSpec], given: Mapping[str, Backend] | None = None
    ) -> dict[str, Backend]:
        """Role -> backend: the ``given`` ones (behind the cache; their owner closes them),
        the others served by the pool."""
        given = given or {}
        unknown = sorted(set(given) - set(specs))
        if unknown:
            raise ValueError(f"backends given for unknown role(s) {unknown}; roles: {list(specs)}")
        return {
            role: self._cached(given[role]) if role in given else self.get(spec)
            for role, spec in specs.items()
        }

    def _cached(self, backend: Backend) -> Backend:
        if self._cache is None:
            return backend
        from drp_bench.backends.cache import CachedBackend

        return CachedBackend(backend, self._cache)  # not kept: the pool never closes it

    def _before_load(self, spec: ModelSpec) -> None:
        if not holds_gpu_exclusively(spec):
            return
        for other in self._lazy.values():
            if other.loaded and holds_gpu_exclusively(other.spec):
                log.info("unloading %s to make room for %s", other.spec.name, spec.name)
                other.close()

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()
        if self._cache is not None:
            self._cache.close()


class LazyBackend:
    """Loads the model on the first call that misses the cache, so fully cached runs load nothing.

    Its identity is known without loading: it is computed by the backend class from the spec.
    """

    def __init__(
        self,
        spec: ModelSpec,
        opener: Callable[[ModelSpec], Backend] = open_backend,
        before_load: Callable[[ModelSpec], None] | None = None,
    ):
        self.spec = spec
        self._opener = opener
        self._before_load = before_load
        self._inner: Backend | None = None
        self.load_s: float | None = None  # seconds the model took to load (None: not loaded)
        self.identity = model_identity(spec)

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    def chat(
        self, requests: Sequence[ChatRequest], on_result: ProgressCallback | None = None
    ) -> list[ChatResult]:
        if self._inner is None:
            if self._before_load is not None:
                self._before_load(self.spec)
            log.info("loading %s (%s backend)", self.spec.name, self.spec.backend)
            start = time.perf_counter()
            self._inner = self._opener(self.spec)
            self.load_s = time.perf_counter() - start
            log.info(
                "loaded %s in %.2f s", self.spec.name, self.load_s, extra={LOAD_S: self.load_s}
            )
        return self._inner.chat(requests, on_result=on_result)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None

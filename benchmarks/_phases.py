"""Wall time spent in named harness functions during a run, for the benchmarks' breakdowns.

Each phase names a function by ``module:attribute`` (``Class.method`` for methods) where the
run looks it up when it calls it; while :meth:`PhaseTimer.timing` is active the attribute is
wrapped by a timer adding its inclusive wall time to the phase. Nothing else changes: the real
function runs with its arguments. A name that no longer exists (the code moved) is reported
as missing instead of failing the benchmark.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from drp_bench.backends.pool import LOAD_S


@dataclass(frozen=True)
class Phase:
    """A label, its nesting depth in the printed breakdown and the functions it times."""

    label: str
    depth: int
    targets: tuple[str, ...]


@dataclass
class PhaseTimer:
    """Inclusive seconds per phase label, and the seconds models took to load."""

    phases: Sequence[Phase]
    seconds: dict[str, float] = field(default_factory=dict)
    model_load_s: float = 0.0
    missing: list[str] = field(default_factory=list)

    def _wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start

        return timed

    @contextlib.contextmanager
    def timing(self) -> Iterator[PhaseTimer]:
        """Time the phases (and model loads, from the pool's log) inside the block."""
        restore: list[tuple[Any, str, Any]] = []
        for phase in self.phases:
            for target in phase.targets:
                owner, attr = _resolve(target)
                if owner is None or not hasattr(owner, attr):
                    self.missing.append(target)
                    continue
                original = owner.__dict__.get(attr, getattr(owner, attr))
                restore.append((owner, attr, original))
                setattr(owner, attr, self._wrap(phase.label, getattr(owner, attr)))
        handler = _LoadTimes(self)
        logger = logging.getLogger("drp_bench")
        logger.addHandler(handler)
        old_level = logger.level
        if not logger.isEnabledFor(logging.INFO):
            logger.setLevel(logging.INFO)
        try:
            yield self
        finally:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
            for owner, attr, original in reversed(restore):
                setattr(owner, attr, original)


class _LoadTimes(logging.Handler):
    """Adds up the ``model_load_s`` of the pool's "loaded MODEL in S s" records."""

    def __init__(self, timer: PhaseTimer):
        super().__init__(logging.INFO)
        self.timer = timer

    def emit(self, record: logging.LogRecord) -> None:
        self.timer.model_load_s += float(getattr(record, LOAD_S, 0.0) or 0.0)


def _resolve(target: str) -> tuple[Any, str]:
    """``"pkg.mod:Class.method"`` -> (Class, "method"); (None, name) if it cannot be found."""
    module_name, _, path = target.partition(":")
    try:
        owner: Any = importlib.import_module(module_name)
    except ImportError:
        return None, path
    *parents, attr = path.split(".")
    for name in parents:
        owner = getattr(owner, name, None)
        if owner is None:
            return None, attr
    return owner, attr

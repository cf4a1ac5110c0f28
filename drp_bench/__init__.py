"""drp-bench: evaluation harness for difference-aware LLM personalization.

``drp_bench.evaluate(overrides)`` runs one configuration as ``drp-bench run`` does and returns a
:class:`drp_bench.api.RunResult`; importing the package stays light (nothing heavy is loaded
until it is called).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["RunResult", "compose_run_config", "evaluate"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from drp_bench import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

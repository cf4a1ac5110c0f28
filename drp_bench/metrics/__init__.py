"""Text metrics (BLEU, METEOR, ROUGE as HF evaluate computes them) and bootstrap statistics.

Names are imported lazily so that ``python -m drp_bench.metrics.nltk_data`` needs only nltk.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "bleu": "text",
    "meteor": "text",
    "rouge": "text",
    "per_sample_scores": "text",
    "score_all": "text",
    "score_samples": "text",
    "bootstrap_ci": "bootstrap",
    "bootstrap_ci_values": "bootstrap",
    "bootstrap_ci_mean": "bootstrap",
    "paired_bootstrap_pvalue": "bootstrap",
    "paired_bootstrap_pvalue_values": "bootstrap",
    "install_nltk_data": "nltk_data",
    "verify_nltk_data": "nltk_data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

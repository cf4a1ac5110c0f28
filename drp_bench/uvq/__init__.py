"""UVQ ("unique valid quantity") and feature categories of validated difference features.

taxonomy: the controlled keys; normalize: parse the normaliser's JSON into units;
score: per-user UVQ and the run's ``uvq`` metrics entry. Documented in docs/uvq.md.
"""

from drp_bench.uvq.normalize import (
    NormalizeResult,
    Unit,
    canonical_key,
    parse_units,
    prompt_variables,
)
from drp_bench.uvq.score import UserUVQ, run_uvq, user_uvq, user_uvq_from_results
from drp_bench.uvq.taxonomy import CATEGORIES, TAXONOMY, all_keys, opposite, parse_key

__all__ = [
    "CATEGORIES",
    "TAXONOMY",
    "NormalizeResult",
    "Unit",
    "UserUVQ",
    "all_keys",
    "canonical_key",
    "opposite",
    "parse_key",
    "parse_units",
    "prompt_variables",
    "run_uvq",
    "user_uvq",
    "user_uvq_from_results",
]

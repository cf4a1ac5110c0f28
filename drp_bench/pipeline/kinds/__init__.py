"""How each stage kind runs (its contract is in drp_bench.methods.contracts): kind -> code."""

from __future__ import annotations

from drp_bench.pipeline.kinds.base import Kind
from drp_bench.pipeline.kinds.contrast import ContrastReviews
from drp_bench.pipeline.kinds.differences import ExtractDifferences, ValidateDifferences
from drp_bench.pipeline.kinds.generate import GenerateReview
from drp_bench.pipeline.kinds.history import SummarizeHistory
from drp_bench.pipeline.kinds.judge import Judge
from drp_bench.pipeline.kinds.normalize import NormalizeDifferences
from drp_bench.pipeline.kinds.peer import PeerReview
from drp_bench.pipeline.kinds.steps import BuildPersona, SummarizeBlocks
from drp_bench.pipeline.kinds.summarize import SummarizeDifferences

KINDS: dict[str, Kind] = {
    "extract_differences": ExtractDifferences(),
    "validate_differences": ValidateDifferences(),
    "normalize_differences": NormalizeDifferences(),
    "summarize_differences": SummarizeDifferences(),
    "summarize_history": SummarizeHistory(),
    "generate_review": GenerateReview(),
    "summarize_blocks": SummarizeBlocks(),
    "contrast_reviews": ContrastReviews(),
    "build_persona": BuildPersona(),
    "peer": PeerReview(),
    "judge": Judge(),
}

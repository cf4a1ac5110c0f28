"""lm-eval metric functions for drp-bench's generation task (``!function drp_metrics.X``).

``process_results`` gives each sample its METEOR and ROUGE-1/L F-measures (and the
(prediction, reference) pair for BLEU); the aggregations reproduce ``drp_bench.metrics.text
.score_all``: corpus BLEU, mean METEOR (lm-eval's ``mean``), and rouge-score's bootstrap
``mid`` F-measure with numpy seeded to ``ROUGE_SEED`` (drp-bench's default run seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rouge_score import scoring

from drp_bench.metrics import text
from drp_bench.metrics.table import METRIC_KEYS, ROUGE_SEED


def process_results(doc: dict[str, Any], results: Sequence[str]) -> dict[str, Any]:
    """Per-sample scores of the (filtered) generation against ``doc["reference"]``."""
    prediction, reference = results[0], doc["reference"]
    scores = text.per_sample_scores([prediction], [reference])[0]
    # BLEU is corpus-level: its aggregation gets the pair; the others are per-sample scores.
    return {key: (prediction, reference) if key == "bleu" else scores[key] for key in METRIC_KEYS}


def corpus_bleu(items: Sequence[tuple[str, str]]) -> float:
    """sacrebleu corpus BLEU (0-100) over (prediction, reference) pairs."""
    predictions, references = zip(*items, strict=True)
    return text.bleu(list(predictions), list(references))


def _rouge_mid(fmeasures: Sequence[float], rouge_type: str) -> float:
    """Bootstrap mid F-measure as ``score_all`` computes it.

    Each ROUGE type's bootstrap draws the same number of random indices whatever the values,
    and only the F-measure column feeds its mid, so zero scores for the other types and for
    precision/recall leave this type's value identical to the joint computation."""
    zero = scoring.Score(0.0, 0.0, 0.0)
    rows = [
        {
            k: scoring.Score(0.0, 0.0, float(f)) if k == rouge_type else zero
            for k in text.ROUGE_TYPES
        }
        for f in fmeasures
    ]
    return text._aggregate_rouge(rows, ROUGE_SEED)[rouge_type]


def rouge1_mid(items: Sequence[float]) -> float:
    return _rouge_mid(items, "rouge1")


def rougeL_mid(items: Sequence[float]) -> float:
    return _rouge_mid(items, "rougeL")

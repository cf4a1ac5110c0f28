"""Bootstrap confidence intervals and paired significance tests over test samples.

Samples (prediction/reference pairs) are resampled with replacement. Per metric:

- ``bleu``: each sample contributes sacrebleu's sentence-level sufficient statistics
  (``[hyp_len, ref_len, correct_1..4, total_1..4]``, from the same ``BLEU`` object and code path
  ``corpus_bleu`` uses); a resample's BLEU is corpus BLEU of the summed statistics, so it is exact
  and needs no re-tokenization.
- ``meteor`` and the ROUGE types (``rouge1``, ``rougeL``; also ``rouge2``, ``rougeLsum``):
  per-sample values; the statistic is their mean.

The CI is the percentile interval of the resampled statistic around the point estimate computed on
the original sample. The ``*_values`` functions accept precomputed per-sample values
(:func:`sample_values`, or ``per_sample_scores`` columns), so reports need not re-score.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from sacrebleu.metrics import BLEU

from drp_bench.metrics import text
from drp_bench.metrics.table import METRIC_KEYS, all_metric_keys, metric_info

_CHUNK = 256  # resamples per weight matrix (bounds memory at _CHUNK x n)
#: The papers' metrics; every key of ``all_metric_keys()`` (ROUGE-2/Lsum, plugins' too) is accepted.
METRICS = METRIC_KEYS


def _check_metric(metric: str) -> None:
    known = all_metric_keys()
    if metric not in known:
        raise ValueError(f"metric: expected one of {known}, found {metric!r}")


@lru_cache(maxsize=1)
def _bleu_metric() -> BLEU:
    # the settings of sacrebleu.corpus_bleu's defaults (13a, exp smoothing, case-sensitive)
    return BLEU()


def bleu_sentence_stats(predictions: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Per-sample BLEU sufficient statistics, shape ``(n, 10)``, int64."""
    return np.asarray(text.bleu_sentence_stats(predictions, references), dtype=np.int64)


def sample_values(predictions: Sequence[str], references: Sequence[str], metric: str) -> np.ndarray:
    """What :func:`bootstrap_ci_values` resamples: ``(n, 10)`` BLEU statistics or ``(n,)``
    per-sample METEOR / ROUGE F-measures."""
    _check_metric(metric)
    if metric == "bleu":
        return bleu_sentence_stats(predictions, references)
    text.check_pairs(predictions, references)
    info = metric_info(metric)
    if info.aggregation != "builtin":  # a plugin's: its per-sample values (mean-aggregated)
        if info.per_sample is None or info.corpus is not None:
            raise ValueError(f"metric {metric!r}: not a mean of per-sample values; no bootstrap")
        pairs = zip(predictions, references, strict=True)
        return np.array([info.per_sample(p, r) for p, r in pairs], dtype=np.float64)
    if metric == "meteor":
        text.verify_nltk_data()
        return np.array(
            [text._meteor_pair(p, r) for p, r in zip(predictions, references, strict=True)]
        )
    scorer = text._rouge_scorer((metric,))
    return np.array(
        [scorer.score(r, p)[metric].fmeasure for p, r in zip(predictions, references, strict=True)]
    )


def _as_values(values: np.ndarray | Sequence[float], metric: str) -> np.ndarray:
    _check_metric(metric)
    arr = np.asarray(values, dtype=np.float64)
    expected = "(n, 10)" if metric == "bleu" else "(n,)"
    ok = (arr.ndim == 2 and arr.shape[1] == 10) if metric == "bleu" else arr.ndim == 1
    if not ok:
        raise ValueError(f"{metric} values: expected shape {expected}, found {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{metric} values: empty, nothing to resample")
    return arr


def _bleu_from_sums(sums: np.ndarray) -> float:
    stats = [round(float(x)) for x in sums]  # integer counts, exact in float64
    return float(_bleu_metric()._compute_score_from_stats(stats).score)


def statistic(values: np.ndarray | Sequence[float], metric: str) -> float:
    """The corpus-level value: BLEU of summed statistics, or the mean."""
    arr = _as_values(values, metric)
    return _bleu_from_sums(arr.sum(axis=0)) if metric == "bleu" else float(arr.mean())


def resample_weights(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """How often each of ``n`` samples is drawn in each resample: ``(n_resamples, n)`` int."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples: expected >= 1, found {n_resamples}")
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_resamples, n), dtype=np.int64)
    for row in weights:
        row += np.bincount(rng.integers(0, n, size=n), minlength=n)
    return weights


def _distribution(arr: np.ndarray, metric: str, weights: np.ndarray) -> np.ndarray:
    out = np.empty(weights.shape[0])
    for start in range(0, weights.shape[0], _CHUNK):
        w = weights[start : start + _CHUNK].astype(np.float64)
        sums = w @ arr
        if metric == "bleu":
            out[start : start + len(w)] = [_bleu_from_sums(s) for s in sums]
        else:
            out[start : start + len(w)] = sums / arr.shape[0]
    return out


def bootstrap_distribution(
    values: np.ndarray | Sequence[float], metric: str, n_resamples: int = 1000, seed: int = 0
) -> np.ndarray:
    """The statistic on each of ``n_resamples`` resamples (the ones :func:`resample_weights`
    draws for ``seed``)."""
    arr = _as_values(values, metric)
    return _distribution(arr, metric, resample_weights(arr.shape[0], n_resamples, seed))


def bootstrap_ci_values(
    values: np.ndarray | Sequence[float],
    metric: str,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """``(point, low, high)``: percentile bootstrap CI from precomputed per-sample values."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected 0 < confidence < 1, found {confidence}")
    dist = bootstrap_distribution(values, metric, n_resamples, seed)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(dist, [tail, 100 - tail])
    return statistic(values, metric), float(low), float(high)


def bootstrap_ci_mean(
    values: np.ndarray | Sequence[float],
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """``(mean, low, high)``: the percentile bootstrap CI of the mean of any per-sample values
    (e.g. the LLM judge's scores / 10), with the same resamples and percentiles as
    :func:`bootstrap_ci_values`."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected 0 < confidence < 1, found {confidence}")
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(f"values: expected a non-empty 1-d sequence, found shape {arr.shape}")
    dist = _distribution(arr, "mean", resample_weights(arr.shape[0], n_resamples, seed))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(dist, [tail, 100 - tail])
    return float(arr.mean()), float(low), float(high)


def bootstrap_ci(
    predictions: Sequence[str],
    references: Sequence[str],
    metric: str,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """``(point, low, high)`` for ``metric`` in {bleu, meteor, rouge1, rougeL, rouge2, rougeLsum}.

    ``point`` is the plain corpus value (for ROUGE the mean F-measure, not rouge-score's
    bootstrap ``mid``)."""
    values = sample_values(predictions, references, metric)
    return bootstrap_ci_values(values, metric, n_resamples, seed, confidence)


def paired_bootstrap_pvalue_values(
    values_a: np.ndarray | Sequence[float],
    values_b: np.ndarray | Sequence[float],
    metric: str,
    n_resamples: int = 1000,
    seed: int = 0,
) -> float:
    """Two-sided paired bootstrap p-value for "systems A and B score the same".

    Both systems are scored on the same resamples of the test samples. Following sacrebleu's
    paired bootstrap (``--paired-bs``, after Koehn 2004), the bootstrap differences are shifted to
    the null hypothesis and compared with the observed difference, with the +1 correction:

        p = (1 + #{i : |d_i - delta| >= |delta|}) / (n_resamples + 1)

    where ``delta = score(A) - score(B)`` on the full sample and ``d_i`` the same difference on
    resample ``i``. Unlike sacrebleu, the difference is signed and centred on ``delta`` (Efron &
    Tibshirani's shift), and ``>=`` makes identical systems give ``p = 1`` (sacrebleu's ``>`` gives
    ``1 / (n + 1)`` there). The smallest reachable p is ``1 / (n_resamples + 1)``.
    """
    a = _as_values(values_a, metric)
    b = _as_values(values_b, metric)
    if a.shape != b.shape:
        raise ValueError(
            f"paired test: systems A and B must be scored on the same samples; "
            f"A has shape {a.shape}, B has {b.shape}"
        )
    weights = resample_weights(a.shape[0], n_resamples, seed)
    diffs = _distribution(a, metric, weights) - _distribution(b, metric, weights)
    delta = statistic(a, metric) - statistic(b, metric)
    # tolerance: resampled means differ from the full-sample one in the last bits
    extreme = np.abs(diffs - delta) >= abs(delta) - 1e-12
    return float((1 + int(extreme.sum())) / (n_resamples + 1))


def paired_bootstrap_pvalue(
    predictions_a: Sequence[str],
    predictions_b: Sequence[str],
    references: Sequence[str],
    metric: str,
    n_resamples: int = 1000,
    seed: int = 0,
) -> float:
    """Two-sided paired bootstrap p-value of A vs B on ``metric`` (see
    :func:`paired_bootstrap_pvalue_values`)."""
    if len(predictions_a) != len(predictions_b):
        raise ValueError(
            f"paired test: {len(predictions_a)} predictions for A, {len(predictions_b)} for B "
            "(expected one each per reference)"
        )
    return paired_bootstrap_pvalue_values(
        sample_values(predictions_a, references, metric),
        sample_values(predictions_b, references, metric),
        metric,
        n_resamples,
        seed,
    )

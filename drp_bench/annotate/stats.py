"""The statistics of a human study, from well-kept packages: Krippendorff's alpha
(``krippendorff``), Cohen's kappa and precision/recall/F1 (scikit-learn), Bradley-Terry
(``choix``), rank correlations (scipy). Inputs are plain: a label matrix or per-annotator dicts,
so this module knows nothing of the study's files.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import numpy as np

Level = Literal["nominal", "ordinal"]
#: Units per annotator: ``labels[annotator][unit] = value`` (a missing unit: not labelled).
Labels = Mapping[str, Mapping[str, Hashable]]

DEFAULT_BOOTSTRAP = 1000
CI_LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile bootstrap (or Wilson) interval; None: undefined."""

    value: float | None
    low: float | None = None
    high: float | None = None


# ---------------------------------------------------------------- agreement


def reliability_matrix(
    labels: Labels, codes: Mapping[Hashable, float]
) -> tuple[np.ndarray, list[str], list[str]]:
    """Annotators x units matrix of ``codes[value]`` (NaN: not labelled), with the annotators'
    and units' order (both sorted)."""
    annotators = sorted(labels)
    units = sorted({u for per in labels.values() for u in per})
    col = {u: j for j, u in enumerate(units)}
    matrix = np.full((len(annotators), len(units)), np.nan)
    for i, a in enumerate(annotators):
        for unit, value in labels[a].items():
            matrix[i, col[unit]] = codes[value]
    return matrix, annotators, units


def _pairable(matrix: np.ndarray) -> np.ndarray:
    """The columns (units) labelled by at least two annotators."""
    return matrix[:, (~np.isnan(matrix)).sum(axis=0) >= 2]


def alpha(matrix: np.ndarray, level: Level, domain: Sequence[float]) -> float | None:
    """Krippendorff's alpha of an annotators x units matrix (NaN = missing), or None when it is
    undefined (fewer than two annotators on every unit, or a single value used throughout)."""
    import krippendorff

    pairable = _pairable(matrix)
    if pairable.shape[1] == 0 or len(np.unique(pairable[~np.isnan(pairable)])) < 2:
        return None
    value = krippendorff.alpha(
        reliability_data=pairable, value_domain=list(domain), level_of_measurement=level
    )
    return None if math.isnan(value) else float(value)


def alpha_with_ci(
    matrix: np.ndarray,
    level: Level,
    domain: Sequence[float],
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> Interval:
    """Alpha and its percentile bootstrap CI over units (columns resampled with replacement;
    resamples where alpha is undefined are dropped)."""
    point = alpha(matrix, level, domain)
    if point is None or n_bootstrap == 0:
        return Interval(point)
    pairable = _pairable(matrix)
    rng = np.random.default_rng(seed)
    n = pairable.shape[1]
    draws = [alpha(pairable[:, rng.integers(0, n, n)], level, domain) for _ in range(n_bootstrap)]
    return Interval(point, *_percentiles([d for d in draws if d is not None]))


def _percentiles(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(np.asarray(values, dtype=float), [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class PairKappa:
    """Cohen's kappa of two annotators on the units both labelled (None: undefined)."""

    a: str
    b: str
    n: int
    kappa: float | None


def kappa(y1: Sequence[Hashable], y2: Sequence[Hashable]) -> float | None:
    """sklearn's Cohen's kappa, None when undefined (no items, or one label throughout)."""
    from sklearn.metrics import cohen_kappa_score

    if not y1 or len(set(y1) | set(y2)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = cohen_kappa_score(list(y1), list(y2))
    return None if math.isnan(value) else float(value)


def pairwise_kappas(labels: Labels) -> list[PairKappa]:
    """Cohen's kappa for every pair of annotators, on the units both labelled."""
    out = []
    for a, b in combinations(sorted(labels), 2):
        shared = sorted(set(labels[a]) & set(labels[b]))
        y1 = [labels[a][u] for u in shared]
        y2 = [labels[b][u] for u in shared]
        out.append(PairKappa(a, b, len(shared), kappa(y1, y2)))
    return out


def majority(labels: Labels) -> dict[str, Hashable | None]:
    """Each unit's most frequent label; None when the top labels tie."""
    votes: dict[str, Counter[Hashable]] = {}
    for per in labels.values():
        for unit, value in per.items():
            votes.setdefault(unit, Counter())[value] += 1
    out: dict[str, Hashable | None] = {}
    for unit, counter in sorted(votes.items()):
        (top, n), *rest = counter.most_common()
        out[unit] = None if rest and rest[0][1] == n else top
    return out


# ---------------------------------------------------------------- validator vs humans


@dataclass(frozen=True)
class BinaryAgreement:
    """A system's keep (predicted) against the humans' valid (truth) on the same features."""

    n: int
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float | None
    recall: float | None
    f1: float | None
    kappa: float | None


def binary_agreement(truth: Sequence[bool], predicted: Sequence[bool]) -> BinaryAgreement:
    """Counts, sklearn's precision/recall/F1 of ``predicted`` (None when a denominator is 0)
    and Cohen's kappa."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    pairs = list(zip(truth, predicted, strict=True))
    tp = sum(t and p for t, p in pairs)
    fp = sum(p and not t for t, p in pairs)
    fn = sum(t and not p for t, p in pairs)
    tn = len(pairs) - tp - fp - fn
    y, p = [bool(t) for t in truth], [bool(x) for x in predicted]
    precision = float(precision_score(y, p, zero_division=0)) if tp + fp else None
    recall = float(recall_score(y, p, zero_division=0)) if tp + fn else None
    defined = precision is not None and recall is not None
    f1 = float(f1_score(y, p, zero_division=0)) if defined else None
    return BinaryAgreement(len(pairs), tp, fp, fn, tn, precision, recall, f1, kappa(y, p))


# ---------------------------------------------------------------- preference


#: A judgment's score for side "first" of a pair: a win 1, a tie 1/2, a loss 0.
CHOICE_SCORE = {"win": 1.0, "tie": 0.5, "loss": 0.0}


@dataclass(frozen=True)
class WinRate:
    """How often ``first`` beat ``second`` (ties as half) over ``n`` judgments of ``tasks``
    tasks, with a bootstrap CI over tasks; ``ties``: the share of tied judgments."""

    first: str
    second: str
    n: int
    tasks: int
    wins: int
    losses: int
    ties: int
    win_rate: Interval
    tie_share: float


def win_rate(
    first: str,
    second: str,
    outcomes: Mapping[str, Sequence[str]],
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> WinRate:
    """``outcomes[task]``: the judgments of one task from ``first``'s side ("win", "tie",
    "loss"). Judgments of one task are resampled together (they share the texts)."""
    tasks = sorted(outcomes)
    per_task = [np.array([CHOICE_SCORE[o] for o in outcomes[t]]) for t in tasks]
    flat = [o for t in tasks for o in outcomes[t]]
    count = Counter(flat)
    point = float(np.concatenate(per_task).mean())
    low = high = None
    if n_bootstrap and len(tasks) > 1:
        sums = np.array([s.sum() for s in per_task])
        sizes = np.array([len(s) for s in per_task])
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(tasks), (n_bootstrap, len(tasks)))
        low, high = _percentiles(list(sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)))
    return WinRate(
        first=first,
        second=second,
        n=len(flat),
        tasks=len(tasks),
        wins=count["win"],
        losses=count["loss"],
        ties=count["tie"],
        win_rate=Interval(point, low, high),
        tie_share=count["tie"] / len(flat),
    )


#: choix's L2 penalty on the log-strengths: keeps a system that never wins finite.
BT_RIDGE = 0.01


def bradley_terry(
    systems: Sequence[str], judgments: Sequence[tuple[str, str, str]]
) -> list[tuple[str, float]]:
    """Bradley-Terry log-strengths (``choix.opt_pairwise``, ridge :data:`BT_RIDGE`, centred)
    from ``(first, second, outcome)`` judgments, best first. A tie counts as half a win each
    way: every judgment enters twice (a win as two wins, a tie as one win each way)."""
    import choix

    index = {s: i for i, s in enumerate(systems)}
    data: list[tuple[int, int]] = []
    for first, second, outcome in judgments:
        a, b = index[first], index[second]
        pairs = {"win": [(a, b), (a, b)], "loss": [(b, a), (b, a)], "tie": [(a, b), (b, a)]}
        data.extend(pairs[outcome])
    if not data:
        return []
    strengths = choix.opt_pairwise(len(systems), data, alpha=BT_RIDGE)
    strengths = strengths - strengths.mean()
    ranked = sorted(zip(systems, strengths, strict=True), key=lambda x: (-x[1], x[0]))
    return [(s, float(v)) for s, v in ranked]


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho and Kendall's tau (scipy) of human preference with a metric's
    difference on the same pairs; None when undefined (fewer than 3 pairs, or a constant)."""

    metric: str
    n: int
    spearman: float | None
    spearman_p: float | None
    kendall: float | None
    kendall_p: float | None


def correlation(metric: str, human: Sequence[float], diff: Sequence[float]) -> Correlation:
    """Rank correlations of two paired sequences."""
    from scipy.stats import kendalltau, spearmanr

    n = len(human)
    if n < 3 or len(set(human)) < 2 or len(set(diff)) < 2:
        return Correlation(metric, n, None, None, None, None)
    rho, rho_p = spearmanr(human, diff)
    tau, tau_p = kendalltau(human, diff)
    return Correlation(metric, n, _num(rho), _num(rho_p), _num(tau), _num(tau_p))


def _num(x: float) -> float | None:
    return None if math.isnan(float(x)) else float(x)


# ---------------------------------------------------------------- quality control


def share_true(flags: Sequence[bool]) -> float | None:
    """The share of True values; None for an empty sequence."""
    return sum(flags) / len(flags) if flags else None

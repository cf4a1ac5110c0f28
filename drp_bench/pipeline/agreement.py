"""Merging several extractions of one comparison item by agreement (self-consistency).

The rule (docs/methods.md, "Compute knobs"), after Wang et al. 2023 (self-consistency: sample
several answers at a temperature above 0, keep what most of them agree on): a feature's *key*
is the set of words of its name, lower-cased, split on anything that is not a letter or a
digit, without English stop words. Two features *match* when the Jaccard similarity of their
keys is at least :data:`MATCH_THRESHOLD` (two empty keys match when the names are equal once
lower-cased and stripped). Going through the samples in order and each sample's features in
order, a feature not yet counted gathers, from every other sample, that sample's first
not-yet-counted feature matching it (one per sample at most); its *support* is the number of
samples in the group (itself included). It is kept, as that first sample worded it, when the
support is at least ``agree``; every feature of the group is then counted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from drp_bench.data.types import Feature

#: Least Jaccard similarity of two features' name keys for them to be the same feature.
MATCH_THRESHOLD = 0.5

#: Words left out of a feature's key (function words that say nothing of the feature).
STOP_WORDS = frozenset(
    {"a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "by", "at", "from",
     "as", "is", "are", "be", "was", "were", "it", "its", "this", "that", "these", "those",
     "their", "his", "her"}
)  # fmt: skip
_WORD = re.compile(r"[a-z0-9]+")


def feature_key(feature: Feature) -> frozenset[str]:
    """The words of the feature's name: lower case, no punctuation, no stop words."""
    return frozenset(w for w in _WORD.findall(feature.name.lower()) if w not in STOP_WORDS)


def same_feature(a: Feature, b: Feature) -> bool:
    """Whether two features match (:data:`MATCH_THRESHOLD` on their keys' Jaccard)."""
    ka, kb = feature_key(a), feature_key(b)
    if not ka or not kb:
        return not ka and not kb and a.name.strip().lower() == b.name.strip().lower()
    return len(ka & kb) / len(ka | kb) >= MATCH_THRESHOLD


def majority(samples: int) -> int:
    """More than half of ``samples``: the default ``agree``."""
    return samples // 2 + 1


def merge_by_agreement(
    samples: Sequence[Sequence[Feature]], agree: int
) -> tuple[tuple[Feature, ...], list[int]]:
    """The features at least ``agree`` of ``samples`` state (module doc), in first-stated
    order, and the support of each kept feature."""
    if agree < 1 or agree > max(len(samples), 1):
        raise ValueError(f"agree must be 1..{len(samples)}, found {agree}")
    counted = [[False] * len(features) for features in samples]
    kept: list[Feature] = []
    support: list[int] = []
    for s, features in enumerate(samples):
        for f, feature in enumerate(features):
            if counted[s][f]:
                continue
            counted[s][f] = True
            group = 1
            for t, others in enumerate(samples):
                if t == s:
                    continue
                match = next(
                    (
                        g
                        for g, other in enumerate(others)
                        if not counted[t][g] and same_feature(feature, other)
                    ),
                    None,
                )
                if match is not None:
                    counted[t][match] = True
                    group += 1
            if group >= agree:
                kept.append(feature)
                support.append(group)
    return tuple(kept), support

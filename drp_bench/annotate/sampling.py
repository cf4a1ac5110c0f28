"""Seeded, stratified choices of a study: which candidates become tasks, evenly across strata;
which tasks are repeated; the opaque task ids.

Every choice draws from its own :class:`random.Random` seeded by ``(seed, purpose)`` (a string
seed is hashed with SHA-512 by Python: the same on every machine and run), and candidates are
sorted before they are shuffled, so the input's order never matters.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Mapping, Sequence
from itertools import combinations
from typing import TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def rng_for(seed: int, purpose: str) -> random.Random:
    """The generator of one kind of choice (``purpose``) under the study's seed."""
    return random.Random(f"drp-bench-study:{seed}:{purpose}")


def stratified(strata: Mapping[K, Sequence[T]], n: int, rng: random.Random) -> list[tuple[K, T]]:
    """Up to ``n`` candidates taken evenly across strata: each stratum's candidates shuffled,
    then one from each stratum in turn (strata in sorted order); a stratum that runs out
    leaves its turns to the others. Returns (stratum, candidate) in the order taken."""
    keys = sorted(strata, key=repr)
    queues = {k: rng.sample(list(strata[k]), len(strata[k])) for k in keys}
    taken: list[tuple[K, T]] = []
    while len(taken) < n and any(queues.values()):
        for k in keys:
            if queues[k] and len(taken) < n:
                taken.append((k, queues[k].pop()))
    return taken


def group_pairs(groups: Mapping[K, set[str]]) -> dict[tuple[K, K], list[str]]:
    """Every pair of groups that share samples, with the shared sample ids (sorted)."""
    keys = sorted(groups, key=repr)
    pairs: dict[tuple[K, K], list[str]] = {}
    for a, b in combinations(keys, 2):
        shared = sorted(groups[a] & groups[b])
        if shared:
            pairs[(a, b)] = shared
    return pairs


def split_count(total: int, rate: float) -> int:
    """``round(total * rate)`` (half up), at most ``total``."""
    return min(total, int(total * rate + 0.5))


def repeat_choice(count: int, rate: float, rng: random.Random) -> list[int]:
    """Indices (sorted) of the ``round(count * rate)`` tasks shown twice."""
    return sorted(rng.sample(range(count), split_count(count, rate)))


def task_ids(count: int) -> list[str]:
    """Opaque task ids ``t0001`` ... (zero-padded to the count's width, at least 4 digits)."""
    width = max(4, len(str(count)))
    return [f"t{i:0{width}d}" for i in range(1, count + 1)]

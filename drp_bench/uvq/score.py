"""UVQ per user and per run from normalised units (rules and formulas: docs/uvq.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from drp_bench.uvq.normalize import PARSER_REASONS, NormalizeResult, Unit, reason_code
from drp_bench.uvq.taxonomy import CATEGORIES, attribute_of, is_key, parse_key

Rule = Literal["drop-conflicts", "drp-reference"]
RULES: tuple[str, ...] = ("drop-conflicts", "drp-reference")


@dataclass(frozen=True)
class UserUVQ:
    """UVQ of one user (one sample) and the counts behind it."""

    uvq: int
    keys: tuple[str, ...]
    items: int
    total_units: int
    invalid_units: int
    rejected_units: int
    duplicate_units: int
    dropped_attributes: tuple[str, ...]
    category_counts: dict[str, int]
    uvq_category_counts: dict[str, int]
    malformed_items: int = 0
    rule: str = "drop-conflicts"

    @property
    def conflicts_dropped(self) -> int:
        return len(self.dropped_attributes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "uvq": self.uvq,
            "keys": list(self.keys),
            "items": self.items,
            "malformed_items": self.malformed_items,
            "total_units": self.total_units,
            "invalid_units": self.invalid_units,
            "rejected_units": self.rejected_units,
            "duplicate_units": self.duplicate_units,
            "conflicts_dropped": self.conflicts_dropped,
            "dropped_attributes": list(self.dropped_attributes),
            "category_counts": dict(self.category_counts),
            "uvq_category_counts": dict(self.uvq_category_counts),
            "rule": self.rule,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserUVQ:
        return cls(
            uvq=int(data["uvq"]),
            keys=tuple(data.get("keys") or ()),
            items=int(data.get("items", 0)),
            total_units=int(data.get("total_units", 0)),
            invalid_units=int(data.get("invalid_units", 0)),
            rejected_units=int(data.get("rejected_units", 0)),
            duplicate_units=int(data.get("duplicate_units", 0)),
            dropped_attributes=tuple(data.get("dropped_attributes") or ()),
            category_counts=_full(data.get("category_counts") or {}),
            uvq_category_counts=_full(data.get("uvq_category_counts") or {}),
            malformed_items=int(data.get("malformed_items", 0)),
            rule=str(data.get("rule", "drop-conflicts")),
        )


@dataclass
class _Tally:
    total: int = 0
    invalid: int = 0
    rejected: int = 0
    duplicates: int = 0
    per_item_keys: list[set[str]] = field(default_factory=list)


def counted_key(unit: Unit) -> str | None:
    """The unit's key if it counts: valid and exactly a taxonomy key; else None."""
    if unit.valid and unit.key is not None and is_key(unit.key):
        return unit.key
    return None


def user_uvq(
    units_per_item: Sequence[Sequence[Unit]],
    *,
    rule: Rule = "drop-conflicts",
    malformed_items: int = 0,
) -> UserUVQ:
    """UVQ of one user from the units of each of the user's items.

    Units are deduplicated per item by key; an attribute seen in opposite directions across the
    user's items is dropped (``rule="drop-conflicts"``) or decided by DRP's vote
    (``rule="drp-reference"``); UVQ is the number of distinct keys that remain.
    """
    if rule not in RULES:
        raise ValueError(f"unknown UVQ rule {rule!r}: expected one of {RULES}")
    tally = _Tally()
    for units in units_per_item:
        seen: set[str] = set()
        for unit in units:
            tally.total += 1
            key = counted_key(unit)
            if key is None:
                tally.invalid += 1
                if unit.valid or reason_code(unit.reason) in PARSER_REASONS:
                    tally.rejected += 1  # parser checks, or a stored key no longer in taxonomy
                continue
            if key in seen:
                tally.duplicates += 1
                continue
            seen.add(key)
        tally.per_item_keys.append(seen)

    kept = _keep(tally.per_item_keys, rule)
    all_keys = set().union(*tally.per_item_keys)
    dropped = sorted({attribute_of(k) for k in all_keys} - {attribute_of(k) for k in kept})
    return UserUVQ(
        uvq=len(kept),
        keys=tuple(sorted(kept)),
        items=len(units_per_item),
        total_units=tally.total,
        invalid_units=tally.invalid,
        rejected_units=tally.rejected,
        duplicate_units=tally.duplicates,
        dropped_attributes=tuple(dropped),
        category_counts=_count_categories(k for keys in tally.per_item_keys for k in keys),
        uvq_category_counts=_count_categories(kept),
        malformed_items=malformed_items,
        rule=rule,
    )


def user_uvq_from_results(
    results: Sequence[NormalizeResult], *, rule: Rule = "drop-conflicts"
) -> UserUVQ:
    """``user_uvq`` over parsed normaliser results; results with ``ok=False`` count as malformed."""
    return user_uvq(
        [r.units for r in results],
        rule=rule,
        malformed_items=sum(not r.ok for r in results),
    )


def run_uvq(users: Sequence[UserUVQ]) -> dict[str, Any] | None:
    """The ``uvq`` entry of metrics.json; None when no user was normalised.

    ``mean``: mean UVQ over users; ``invalid_share``: invalid units / all units, pooled over
    users; ``categories``: share of each category among the per-item deduplicated valid units,
    pooled over users (DRP's category proportions); ``uvq_categories``: the same over the keys
    that make up the UVQ.
    """
    if not users:
        return None
    total = sum(u.total_units for u in users)
    invalid = sum(u.invalid_units for u in users)
    rules = {u.rule for u in users}
    return {
        "mean": sum(u.uvq for u in users) / len(users),
        "invalid_share": invalid / total if total else 0.0,
        "categories": _shares(u.category_counts for u in users),
        "uvq_categories": _shares(u.uvq_category_counts for u in users),
        "users": len(users),
        "units": total,
        "conflicts_dropped_mean": sum(u.conflicts_dropped for u in users) / len(users),
        "malformed_items": sum(u.malformed_items for u in users),
        "rule": rules.pop() if len(rules) == 1 else sorted(rules),
    }


# --- rules --------------------------------------------------------------------------------


def _keep(per_item_keys: list[set[str]], rule: Rule) -> set[str]:
    """Keys (over all items) that survive the conflict rule."""
    items_with: Counter[str] = Counter(k for keys in per_item_keys for k in keys)
    by_attribute: dict[str, dict[str, int]] = {}
    for key, n in items_with.items():
        by_attribute.setdefault(attribute_of(key), {})[key] = n
    kept: set[str] = set()
    for keys in by_attribute.values():
        if rule == "drop-conflicts":
            if len(keys) == 1:
                kept.update(keys)
            continue
        winner = _drp_vote(keys)
        if winner is not None:
            kept.add(winner)
    return kept


def _drp_vote(items_per_key: dict[str, int]) -> str | None:
    """DRP's analysis script: a direction survives when it leads by two items, or is found in
    two items against at most one; otherwise the attribute is dropped. An attribute seen in a
    single item is therefore never counted."""
    (key_a, n_a), *rest = sorted(items_per_key.items(), key=lambda kv: -kv[1])
    n_b = rest[0][1] if rest else 0
    if n_a - n_b >= 2 or (n_a >= 2 and n_b <= 1):
        return key_a
    return None


# --- categories ---------------------------------------------------------------------------


def _count_categories(keys: Any) -> dict[str, int]:
    counts = dict.fromkeys(CATEGORIES, 0)
    for key in keys:
        counts[parse_key(key)[0]] += 1
    return counts


def _full(counts: dict[str, int]) -> dict[str, int]:
    return {c: int(counts.get(c, 0)) for c in CATEGORIES}


def _shares(counts: Any) -> dict[str, float]:
    total = Counter[str]()
    for c in counts:
        total.update(c)
    n = sum(total.values())
    return {c: (total[c] / n if n else 0.0) for c in CATEGORIES}

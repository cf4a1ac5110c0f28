"""Typed records that flow through the harness. All serialise to plain JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Review:
    """One review: the item it is about, its title, text, rating and time (seconds or ms)."""

    asin: str
    title: str
    text: str
    rating: float
    timestamp: int


@dataclass(frozen=True)
class Item:
    """Item metadata (DPL-meta row)."""

    asin: str
    title: str
    description: str


@dataclass(frozen=True)
class Sample:
    """One evaluation instance: a user's past reviews and the review to generate."""

    user_id: str
    profile: tuple[Review, ...]
    target: Review

    @property
    def sample_id(self) -> str:
        return f"{self.user_id}:{self.target.asin}"


@dataclass
class Dataset:
    """A split of samples plus the metadata of every item they mention."""

    name: str
    split: str
    samples: list[Sample]
    items: dict[str, Item]
    fingerprint: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Feature:
    """One difference feature parsed from extractor / validator output."""

    name: str
    definition: str
    difference: str


def to_jsonable(obj: Any) -> Any:
    """Dataclasses (nested) to dicts; tuples to lists."""
    if hasattr(obj, "__dataclass_fields__"):
        return {k: to_jsonable(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return obj

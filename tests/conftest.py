"""Shared fixtures: small hand-made datasets and paths."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import pytest

from drp_bench.data.types import Dataset, Item, Review, Sample

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI") == "true"
# A small but complete run with the embedded model: 2 samples, 2 comparison items with 2
# representatives each, short outputs (about a minute on 2 cores).
TINY = [
    "dataset.limit=2",
    "num_retrieved=2",
    "num_users=2",
    "prompts.max_review_chars=300",
    "prompts.max_description_chars=200",
    "extractor.sampling.max_tokens=48",
    "generator.sampling.max_tokens=48",
]


def require(module: str, why: str) -> ModuleType:
    """Import an optional dependency that ``make setup`` installs.

    Missing on a developer's partial install: the test is skipped. Missing under ``CI=true``:
    the test fails, since CI installs everything and a skip there would hide a broken setup.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"{module} is not importable under CI ({why}): {exc}")
        pytest.skip(f"needs {module} ({why})", allow_module_level=True)


def require_executable(path: str | Path, why: str) -> Path:
    """An executable the system provides (e.g. ``make browser``'s Chromium), as ``require``."""
    found = Path(path)
    if found.is_file() and os.access(found, os.X_OK):
        return found
    if IN_CI:
        pytest.fail(f"{found} is not an executable under CI ({why})")
    pytest.skip(f"needs {found} ({why})", allow_module_level=True)


def review(asin: str, title: str, text: str, rating: float = 5.0, ts: int = 0) -> Review:
    return Review(asin=asin, title=title, text=text, rating=rating, timestamp=ts)


@pytest.fixture
def tiny_dataset() -> Dataset:
    """Three users sharing items A and B; user u1's target is item T."""
    items = {
        "A": Item("A", "Jazz at Dawn", "A smooth jazz album with saxophone and piano."),
        "B": Item("B", "Metal Storm", "Heavy metal record with loud guitars and drums."),
        "C": Item("C", "Folk Tales", "Acoustic folk songs about rural life."),
        "T": Item("T", "Jazz at Dusk", "A late-night jazz album with saxophone solos."),
    }
    samples = [
        Sample(
            "u1",
            (
                review("A", "Lovely jazz", "Smooth and warm saxophone.", 5, 1),
                review("B", "Too loud", "Not my thing, the drums hurt.", 2, 2),
                review("C", "Nice folk", "Gentle acoustic stories.", 4, 3),
            ),
            review("T", "Jazz again", "Another smooth saxophone night.", 5, 4),
        ),
        Sample(
            "u2",
            (
                review("A", "Great sax", "The saxophone sings throughout.", 5, 1),
                review("B", "Brutal", "Crushing riffs, great drums.", 5, 2),
            ),
            review("C", "Folk", "Pleasant but forgettable.", 3, 3),
        ),
        Sample(
            "u3",
            (
                review("A", "Dull", "Background music, nothing more.", 2, 1),
                review("B", "Metal!", "Loud and proud metal.", 4, 2),
            ),
            review("C", "Meh", "Too slow for me.", 2, 3),
        ),
    ]
    return Dataset(name="tiny", split="test", samples=samples, items=items)

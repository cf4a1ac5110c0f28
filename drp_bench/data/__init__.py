"""Data layer: load DPL-style datasets, read raw Amazon files, build DPL-style splits."""

from drp_bench.data.loader import (
    DataValidationError,
    available_splits,
    iter_items,
    iter_samples,
    load_dataset,
)

__all__ = [
    "DataValidationError",
    "available_splits",
    "iter_items",
    "iter_samples",
    "load_dataset",
]

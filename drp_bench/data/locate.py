"""Where a dataset path points: ``bundled:NAME`` is a sample shipped in the package."""

from __future__ import annotations

from drp_bench.resources import BUNDLED_PREFIX, PACKAGE_DIR

#: The samples shipped in the package (``bundled:NAME``).
SAMPLE_DATA = PACKAGE_DIR / "sample_data"


def resolve_data_path(path: str | None) -> str | None:
    """``bundled:NAME`` -> the sample shipped in the package; other paths as given."""
    if path and path.startswith(BUNDLED_PREFIX):
        folder = SAMPLE_DATA / path[len(BUNDLED_PREFIX) :]
        if not folder.exists():
            known = sorted(p.name for p in SAMPLE_DATA.iterdir() if p.is_dir())
            raise FileNotFoundError(f"no bundled dataset {path!r}; bundled: {known}")
        return str(folder)
    return path

"""Where drp-bench's data folders are: Hydra configs, lm-eval task templates, reference tables.

The folders live at the top of the repository (``conf/``, ``tasks/``, ``results/reference/``),
where users see and edit them. A built wheel cannot install top-level folders, so the build
(``setup.py``'s ``build_py`` step) copies them into the package as ``drp_bench/_data/``.

- In a checkout or an editable install (``pip install -e .``), the repository's folders are
  used, so edits to ``conf/`` take effect at once.
- In an installed wheel (``pip install .``), the copies in ``drp_bench/_data/`` are used.

A checkout is recognised by the package's parent folder holding ``pyproject.toml`` and
``conf/config.yaml``, not by ``conf/`` alone: in an installed wheel the parent folder is
``site-packages``, where another distribution may have put a stray ``conf/``.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: Where the build copies the repository's folders inside the package (see setup.py).
PACKAGED_DATA_DIR = PACKAGE_DIR / "_data"
#: Names of what ships inside the package: ``bundled:music_sample`` (a dataset under
#: ``drp_bench/sample_data/``), ``bundled:all-MiniLM-L6-v2`` (the embedder of a package).
BUNDLED_PREFIX = "bundled:"


def checkout_root() -> Path | None:
    """The repository root when drp_bench runs from a checkout (or editable install), else None."""
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() and (root / "conf" / "config.yaml").is_file():
        return root
    return None


def data_root() -> Path:
    """The folder holding ``conf/``, ``tasks/`` and ``results/reference/``.

    Never raises (modules compute their paths at import): in a broken install the packaged
    folder is returned even if missing, and the caller's "not found" names that path.
    """
    root = checkout_root()
    return root if root is not None else PACKAGED_DATA_DIR


def config_dir() -> Path:
    """Hydra's primary config folder (the one holding ``config.yaml``)."""
    return data_root() / "conf"


def tasks_dir() -> Path:
    """lm-eval task template and metric functions (``drp_generation.yaml``, ``drp_metrics.py``)."""
    return data_root() / "tasks"


def reference_dir() -> Path:
    """Reference tables: the papers' reported numbers (``results/reference``)."""
    return data_root() / "results" / "reference"


def paper_table_path() -> Path:
    """The DRP paper's reported table (``results/reference/drp_paper_table.csv``)."""
    return reference_dir() / "drp_paper_table.csv"

"""Provenance of a run: package versions and the git commit of the code."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from drp_bench.resources import checkout_root

PACKAGES = (
    "drp-bench",
    "hydra-core",
    "sacrebleu",
    "rouge-score",
    "nltk",
    "scikit-learn",
    "sentence-transformers",
    "torch",
    "rank-bm25",
    "llama-cpp-python",
    "openai",
    "vllm",
    "transformers",
    "numpy",
    "pandas",
)


def package_version(name: str) -> str | None:
    """Installed version of a distribution, without importing it (None if not installed)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        version = package_version(name)
        if version is not None:
            versions[name] = version
    return versions


def git_commit() -> str | None:
    """Commit of the drp-bench checkout ("+dirty" when it has uncommitted changes).

    None for an installed wheel: its folder may sit inside some other git repository (a venv
    in the user's project), whose commit says nothing about drp-bench's code.
    """
    root = checkout_root()
    if root is None:
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")

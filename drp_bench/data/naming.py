"""The name a run gives its data: a preset's name only on the preset's own path.

A dataset preset (``conf/dataset/*.yaml``) sets ``name: ${drp_dataset_name:NAME,'PATH'}`` with
its own ``path`` written exactly as in the file. While ``dataset.path`` is still that value,
the run is named ``NAME``. When ``dataset.path`` is overridden (and ``dataset.name`` is not:
an explicit name replaces the interpolation and is kept), the name comes from the data at the
new path (:func:`name_from_data`), so a run folder (``outputs/runs/<name>/...``), metrics.json
``run.dataset`` and the report's columns say which data was read. A name that cannot serve as
one folder name is refused with a message asking for ``dataset.name``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from omegaconf import DictConfig, OmegaConf

from drp_bench.data.loader import default_name
from drp_bench.resources import BUNDLED_PREFIX

RESOLVER = "drp_dataset_name"
BUILD_INFO = "build_info.json"
# One folder name: no separator, not hidden, not '.' or '..', no spaces or control characters.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}")


class DatasetNameError(ValueError):
    """The data at an overridden ``dataset.path`` gives no usable name."""


def _builder_name(folder: Path) -> str | None:
    """The folder ``drp-bench data build`` wrote (its ``out_dir``'s last part), if it wrote
    ``build_info.json`` in ``folder``."""
    info_path = folder / BUILD_INFO
    if not info_path.is_file():
        return None
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetNameError(
            f"{info_path}: cannot read it to name the run ({exc}); give the name with "
            "dataset.name=NAME"
        ) from exc
    out_dir = info.get("out_dir") if isinstance(info, dict) else None
    if not isinstance(out_dir, str) or not out_dir.strip():
        raise DatasetNameError(
            f"{info_path}: field 'out_dir': expected the folder the builder wrote, found "
            f"{out_dir!r}; give the name with dataset.name=NAME"
        )
    return PureWindowsPath(out_dir).name if "\\" in out_dir else PurePosixPath(out_dir).name


def name_from_data(path: str, split: str = "test") -> str:
    """The name of the data at ``path``.

    ``bundled:NAME`` -> ``NAME``; a builder's folder (``build_info.json`` in it, or beside the
    file ``path`` names) -> the folder it was built as; otherwise the folder's name (a split
    file: its folder's, see :func:`drp_bench.data.loader.default_name`). Reads nothing but
    ``build_info.json``: a path that does not exist is named from its text (loading it fails
    later with the loader's own message). Raises :class:`DatasetNameError` when the name is not
    one plain folder name.
    """
    if path.startswith(BUNDLED_PREFIX):
        name = path[len(BUNDLED_PREFIX) :]
    else:
        data = Path(path)
        folder = data if data.is_dir() else data.parent
        name = _builder_name(folder) or default_name(data, split)
    if not _PLAIN_NAME.fullmatch(name):
        raise DatasetNameError(
            f"dataset.path={path}: the name taken from the data, {name!r}, is not a plain "
            "folder name (letters, digits, '_', '.', '+', '-'; not starting with '.'); "
            "give the run a name with dataset.name=NAME"
        )
    return name


def dataset_name(preset_name: str, preset_path: str, *, _parent_: DictConfig) -> str:
    """``${drp_dataset_name:NAME,'PATH'}``: ``NAME`` while the dataset node's ``path`` is the
    preset's own ``PATH`` (compared as written, before interpolation), else the data's name."""
    raw = OmegaConf.to_container(_parent_, resolve=False)
    assert isinstance(raw, dict)
    if raw.get("path") == preset_path:
        return preset_name
    path: Any = _parent_.get("path")
    if not isinstance(path, str) or not path:
        raise DatasetNameError(
            f"dataset.path: expected a data file or folder to name the run after, found "
            f"{path!r}; give the run a name with dataset.name=NAME"
        )
    return name_from_data(path, str(_parent_.get("split") or "test"))


def register_resolver() -> None:
    """Register ``${drp_dataset_name:...}`` with OmegaConf (once per process)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, dataset_name)

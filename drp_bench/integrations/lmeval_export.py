"""Export a run's final generation prompts as an lm-evaluation-harness task.

``export_run(run_dir, out_dir)`` writes into ``out_dir``:

- ``<task>.jsonl``: one document per sample, ``{"sample_id", "system", "prompt", "reference"}``,
  taken from the generate stage's exact chat messages in ``predictions.jsonl``;
- ``<task>.yaml``: ``tasks/drp_generation.yaml`` with ``task``, the jsonl's absolute path and
  the run's generator ``max_tokens`` filled in, and the source run's provenance under
  ``metadata.drp_bench`` (see :func:`provenance`); lm-eval copies a task's ``metadata`` into its
  results JSON (``configs[<task>]["metadata"]``), which is how ``drp-bench import-lmeval`` knows
  the run the prompts came from;
- ``drp_metrics.py``: the metric functions the YAML names with ``!function`` (lm-eval resolves
  them next to the YAML file, so the folder is self-contained).

Then: ``lm_eval --model ... --tasks <task> --include_path out_dir --apply_chat_template``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from drp_bench import __version__
from drp_bench.data import naming
from drp_bench.resources import tasks_dir
from drp_bench.run.folder import (
    METRICS,
    PREDICTIONS,
    PredictionRow,
    RunFolderError,
    read_metrics,
    read_predictions,
)

TASKS_DIR = tasks_dir()  # the checkout's tasks/, or the copy shipped in the wheel
TEMPLATE = TASKS_DIR / "drp_generation.yaml"
METRICS_MODULE = TASKS_DIR / "drp_metrics.py"
#: The key under the task's ``metadata`` holding drp-bench's provenance of the export.
METADATA_KEY = "drp_bench"

log = logging.getLogger(__name__)


class _Function(str):
    """A ``!function`` scalar kept verbatim through load and dump."""


class _Loader(yaml.SafeLoader):
    pass


class _Dumper(yaml.SafeDumper):
    pass


_Loader.add_constructor("!function", lambda loader, node: _Function(loader.construct_scalar(node)))
_Dumper.add_representer(_Function, lambda dumper, v: dumper.represent_scalar("!function", str(v)))


def _run_config(run_dir: Path) -> Any:
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (expected a drp-bench run folder)")
    naming.register_resolver()  # a preset's dataset.name is ${drp_dataset_name:...}
    return OmegaConf.load(path)


def _max_tokens(cfg: Any, path: Path) -> int:
    value = OmegaConf.select(cfg, "generator.sampling.max_tokens")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(
            f"{path}: generator.sampling.max_tokens: expected a positive integer, found {value!r}"
        )
    return value


def default_task_name(cfg: Any) -> str:
    """``drp_gen_<method>_<dataset>_<generator>``, lower-case, ``[a-z0-9_]`` only."""
    parts = [
        OmegaConf.select(cfg, "method.name", default="method"),
        OmegaConf.select(cfg, "dataset.name", default="dataset"),
        OmegaConf.select(cfg, "generator.name", default="generator"),
    ]
    return "drp_gen_" + "_".join(
        re.sub(r"[^a-z0-9]+", "_", str(p).lower()).strip("_") for p in parts
    )


def _document(row: PredictionRow, where: str) -> dict[str, str] | None:
    """The lm-eval document of one predictions.jsonl row (None: its generation was skipped)."""
    generate = row.stages.generate
    if generate is None or generate.skipped:  # no generation call (peer) or skipped
        return None
    roles = [m.role for m in generate.messages]
    if roles not in (["user"], ["system", "user"]):
        raise RunFolderError(
            f"{where}: stages.generate.messages: expected [system?, user] chat messages, "
            f"found roles {roles!r}"
        )
    return {
        "sample_id": row.sample_id,
        "system": generate.messages[0].content if roles[0] == "system" else "",
        "prompt": generate.messages[-1].content,
        "reference": row.reference,
    }


def read_documents(predictions: Path) -> list[dict[str, str]]:
    """One document per sample whose generation was sent (later duplicates of a sample win)."""
    docs: dict[str, dict[str, str]] = {}
    skipped = 0
    rows = read_predictions(predictions)
    for lineno, row in zip(rows.lines, rows, strict=True):
        doc = _document(row, f"{predictions}:{lineno}")
        if doc is None:
            skipped += 1
        else:
            docs[doc["sample_id"]] = doc
    if skipped:
        log.warning("%s: %d sample(s) whose generation was skipped left out", predictions, skipped)
    if not docs:
        raise ValueError(f"{predictions}: no sample with a generation to export")
    return list(docs.values())


def resolved_config(cfg: Any, path: Path) -> dict[str, Any]:
    """The run config as a plain dict, interpolations resolved, without ``cache.path`` (a
    machine path that says nothing about the run)."""
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    if OmegaConf.select(cfg, "cache") is not None and "path" in cfg.cache:
        del cfg.cache["path"]
    try:
        out = OmegaConf.to_container(cfg, resolve=True)
    except Exception as err:  # omegaconf's InterpolationResolutionError and friends
        raise ValueError(f"{path}: cannot resolve the run config: {err}") from err
    assert isinstance(out, dict)
    return {str(k): v for k, v in out.items()}


def provenance(run_dir: Path, cfg: Any, num_samples: int) -> dict[str, Any]:
    """``metadata.drp_bench`` of the exported task: what the prompts came from.

    ``config`` is the source run's resolved ``.hydra/config.yaml`` (no ``cache.path``);
    ``run``, ``dataset_fingerprint`` and ``git_commit`` come from its ``metrics.json`` (null
    when the run folder has none); ``num_samples`` counts the exported documents.
    """
    config = resolved_config(cfg, run_dir / ".hydra" / "config.yaml")
    metrics_path = run_dir / METRICS
    metrics = read_metrics(metrics_path) if metrics_path.is_file() else None
    if metrics is None:
        log.warning("%s: not found; the export carries no run block", metrics_path)
    return {
        "drp_bench_version": __version__,
        "method": OmegaConf.select(cfg, "method.name"),
        "dataset": OmegaConf.select(cfg, "dataset.name"),
        "split": OmegaConf.select(cfg, "dataset.split"),
        "num_samples": num_samples,
        "config": config,
        "run": metrics.run.to_json_dict() if metrics else None,
        "dataset_fingerprint": dict(metrics.dataset_fingerprint) if metrics else None,
        "git_commit": metrics.git_commit if metrics else None,
    }


def task_config(
    task_name: str,
    data_path: Path,
    max_gen_toks: int,
    drp_bench: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The template with the task name, data file and generation length filled in, and
    ``drp_bench`` (see :func:`provenance`) under ``metadata``."""
    cfg = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_Loader)
    out: dict[str, Any] = {"task": task_name}
    for key, value in cfg.items():
        out[key] = value
        if key == "dataset_path":
            out["dataset_kwargs"] = {"data_files": {"test": str(data_path.resolve())}}
    out["generation_kwargs"] = {**cfg["generation_kwargs"], "max_gen_toks": max_gen_toks}
    if drp_bench is not None:
        out["metadata"] = {**(cfg.get("metadata") or {}), METADATA_KEY: drp_bench}
    return out


def export_run(run_dir: Path, out_dir: Path, task_name: str | None = None) -> Path:
    """Write ``<task>.jsonl``, ``<task>.yaml`` and ``drp_metrics.py`` into ``out_dir``;
    return the YAML path."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    cfg = _run_config(run_dir)
    max_gen_toks = _max_tokens(cfg, run_dir / ".hydra" / "config.yaml")
    predictions = run_dir / PREDICTIONS
    if not predictions.is_file():
        raise FileNotFoundError(f"{predictions}: not found (the run produced no predictions)")
    docs = read_documents(predictions)
    task_name = task_name or default_task_name(cfg)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", task_name):
        raise ValueError(f"task name: expected letters, digits, '_', '.', '-', found {task_name!r}")
    meta = provenance(run_dir, cfg, len(docs))

    out_dir.mkdir(parents=True, exist_ok=True)
    data_path = out_dir / f"{task_name}.jsonl"
    with data_path.open("w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    yaml_path = out_dir / f"{task_name}.yaml"
    header = f"# Exported by drp-bench from {run_dir.resolve()} ({len(docs)} samples).\n"
    body = yaml.dump(
        task_config(task_name, data_path, max_gen_toks, meta),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    yaml_path.write_text(header + body, encoding="utf-8")
    shutil.copyfile(METRICS_MODULE, out_dir / METRICS_MODULE.name)
    return yaml_path


def main(argv: list[str] | None = None) -> int:
    """``drp-bench export-lmeval RUN_DIR --out DIR [--task NAME]``."""
    parser = argparse.ArgumentParser(
        prog="drp-bench export-lmeval",
        description="Export a run's final generation prompts as an lm-evaluation-harness task.",
    )
    parser.add_argument("run_dir", type=Path, help="a drp-bench run folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for the task files")
    parser.add_argument("--task", default=None, help="task name (default: from the run config)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        yaml_path = export_run(args.run_dir, args.out, args.task)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    task = yaml.load(yaml_path.read_text(encoding="utf-8"), Loader=_Loader)["task"]
    print(f"task {task}: {yaml_path}")
    print(
        f"run: lm_eval --model local-chat-completions --model_args model=NAME,"
        f"base_url=http://127.0.0.1:8000/v1/chat/completions,num_concurrent=1 "
        f"--tasks {task} --include_path {yaml_path.parent.resolve()} --apply_chat_template "
        f"--output_path OUT --log_samples"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

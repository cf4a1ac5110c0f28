"""Import an lm-evaluation-harness output folder as a drp-bench run folder.

``drp-bench export-lmeval RUN --out TASK_DIR`` writes a task whose YAML carries the source run's
provenance under ``metadata.drp_bench``; lm-eval copies it into its results JSON
(``configs[<task>]["metadata"]``). After ``lm_eval ... --output_path OUT --log_samples``,
``drp-bench import-lmeval OUT --out RUN_DIR`` (:func:`import_results`) reads the newest
``results_*.json`` under ``OUT`` (lm-eval nests it in a folder named after the model) and the
``samples_<task>_<same date>.jsonl`` next to it, and writes:

- ``predictions.jsonl``: one row per lm-eval sample. ``prediction`` is lm-eval's filtered
  response (filter ``strip_review_prefix``: what lm-eval scored); ``stages.generate`` holds
  the chat messages lm-eval sent and its raw response. lm-eval logs no token counts, finish
  reason or latency: they are 0 / null in every row (and so in ``metrics.json``'s ``compute``);
  ``cached`` is false. An empty raw response (lm-eval's answer for a null completion) is a
  failed sample (``status: failed``, ``error`` set), so the run is ``degraded``; it is still
  scored as the empty prediction, as lm-eval scored it.
  Each row's ``scores`` are its METEOR and ROUGE values, from the pass that computes
  ``metrics.json``'s.
- ``metrics.json``: scores recomputed with ``drp_bench.metrics.text.score_samples`` (ROUGE seed
  :data:`ROUGE_SEED`, the task's) and checked against lm-eval's own numbers: any difference
  above :data:`SCORE_TOLERANCE` is an error naming both. The ``run`` block is the source run's, with
  the generator replaced by the lm-eval model (family, size and reasoning from the model
  registry ``conf/model/*.yaml`` when its name or hub id matches, else null / false).
- ``.hydra/config.yaml``: the source run's resolved config with the same generator swap
  (``backend.kind: lm-eval``, options = lm-eval's model type and model args without secrets)
  and an ``imported_from`` block. The other roles stay the source run's models: they wrote
  the context in the prompts (e.g. DRP's summaries); the lm-eval model only generated.
- ``lmeval_import.json``: lm-eval version, task, file names and sha256, limit, model, the
  numbers lm-eval reported next to the recomputed ones.

Every problem is an :class:`LmevalImportError` naming the file, line and field; the folder is
written only when everything checked out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from drp_bench.integrations.lmeval_export import METADATA_KEY
from drp_bench.methods.contracts import ANALYSIS_ROLES, ROLES
from drp_bench.metrics.table import METRIC_KEYS, ROUGE_SEED, SCORE_TOLERANCE
from drp_bench.run.folder import METRICS, PREDICTIONS, write_metrics, write_predictions

#: The filter of the exported task whose responses lm-eval scored (tasks/drp_generation.yaml).
FILTER = "strip_review_prefix"
#: lm-eval's metrics of the task, checked against the recomputed ones.
CHECKED_METRICS = METRIC_KEYS
PROVENANCE = "lmeval_import.json"
BACKEND_KIND = "lm-eval"
#: lm-eval's date id at the end of a results file name (isoformat with ':' -> '-'); the
#: samples files of the same evaluation end with the same one.
_DATE_RE = re.compile(r"_(?P<date>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)\.json$")
#: model_args keys never copied (api keys, tokens, passwords, auth headers).
_SECRET_KEY_RE = re.compile(
    r"(^|_)(api_?key|key|token|secret|password|passwd|auth|authorization|headers?|cookies?|"
    r"credentials?)($|_)",
    re.IGNORECASE,
)


class LmevalImportError(ValueError):
    """The lm-eval output cannot be imported; the message names the file, line and field."""


# ---------------------------------------------------------------- finding the files


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _load_json(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise LmevalImportError(f"{path}:{e.lineno}: malformed JSON: {e.msg}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise LmevalImportError(f"{path}: cannot read: {e}") from e
    if not isinstance(obj, dict):
        raise LmevalImportError(f"{path}: expected a JSON object, found {type(obj).__name__}")
    return obj


def _results_files(results_dir: Path) -> list[Path]:
    """``results_*.json`` under ``results_dir`` (or the file itself), oldest first."""
    if results_dir.is_file():
        return [results_dir]
    if not results_dir.is_dir():
        raise LmevalImportError(f"{results_dir}: not found (expected lm-eval's --output_path)")
    found = [p for p in results_dir.rglob("results_*.json") if _DATE_RE.search(p.name)]
    if not found:
        raise LmevalImportError(
            f"{results_dir}: no results_*.json (in it or its model sub-folders); is this "
            "lm-eval's --output_path?"
        )
    folders = sorted({p.parent for p in found})
    if len(folders) > 1:
        listed = ", ".join(str(f) for f in folders)
        raise LmevalImportError(
            f"{results_dir}: lm-eval results of several models ({listed}); pass one of them"
        )
    return sorted(found, key=lambda p: (_date(p), p.stat().st_mtime))


def _date(path: Path) -> str:
    """lm-eval's date id in a results file name ('' if none); it sorts in time order."""
    match = _DATE_RE.search(path.name)
    return match["date"] if match else ""


def _task_metadata(results: dict[str, Any], task: str) -> dict[str, Any] | None:
    meta = ((results.get("configs") or {}).get(task) or {}).get("metadata")
    if not isinstance(meta, dict):
        return None
    value = meta.get(METADATA_KEY)
    return value if isinstance(value, dict) else None


def _pick(results_dir: Path, task: str | None) -> tuple[Path, dict[str, Any], str]:
    """The results file, its JSON and the task to import."""
    files = _results_files(results_dir)
    if task is not None:
        for path in reversed(files):
            results = _load_json(path)
            if task in (results.get("results") or {}):
                break
        else:
            present = sorted({t for p in files for t in (_load_json(p).get("results") or {})})
            raise LmevalImportError(
                f"{results_dir}: no lm-eval results for task {task!r} (found: "
                f"{', '.join(present) or 'none'})"
            )
    else:
        path = files[-1]
        results = _load_json(path)
        tasks = sorted(results.get("results") or {})
        ours = [t for t in tasks if _task_metadata(results, t) is not None]
        if not ours:
            raise LmevalImportError(
                f"{path}: field 'configs.<task>.metadata.{METADATA_KEY}': no task exported by "
                f"drp-bench among {', '.join(tasks) or 'none'} (export one with "
                "`drp-bench export-lmeval RUN --out DIR`)"
            )
        if len(ours) > 1:
            raise LmevalImportError(
                f"{path}: several drp-bench tasks ({', '.join(ours)}); choose one with --task"
            )
        task = ours[0]
    if _task_metadata(results, task) is None:
        raise LmevalImportError(
            f"{path}: field 'configs.{task}.metadata.{METADATA_KEY}': missing; task {task!r} "
            "was not exported by drp-bench (or by a version before the import existed: "
            "export the run again)"
        )
    return path, results, task


def _samples_file(results_path: Path, task: str) -> Path:
    date = _date(results_path)
    if not date:
        raise LmevalImportError(
            f"{results_path}: no lm-eval date id in the file name (results_<date>.json), so its "
            "samples file cannot be found"
        )
    path = results_path.parent / f"samples_{task}_{date}.jsonl"
    if not path.is_file():
        raise LmevalImportError(
            f"{path}: not found; lm-eval writes per-sample outputs only with --log_samples: "
            "re-run lm_eval with --log_samples"
        )
    return path


# ---------------------------------------------------------------- lm-eval's samples


def _read_samples(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line, sample) of the task's filter, in file order."""
    out = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LmevalImportError(f"{path}: cannot read: {e}") from e
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise LmevalImportError(
                f"{path}:{number}: malformed JSON: {e.msg}: column {e.colno}"
            ) from e
        if not isinstance(obj, dict):
            raise LmevalImportError(f"{path}:{number}: expected a JSON object")
        if obj.get("filter", FILTER) == FILTER:
            out.append((number, obj))
    if not out:
        raise LmevalImportError(f"{path}: no sample with filter {FILTER!r}")
    return out


def _field(obj: Mapping[str, Any], dotted: str, where: str, kind: type) -> Any:
    value: Any = obj
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise LmevalImportError(f"{where}: field {dotted!r}: missing")
        value = value[part]
    if not isinstance(value, kind):
        raise LmevalImportError(
            f"{where}: field {dotted!r}: expected {getattr(kind, '__name__', kind)}, "
            f"found {value!r:.60}"
        )
    return value


def _first_text(value: Any, where: str, name: str) -> str:
    """lm-eval logs a response as a string or a (nested) one-element list of strings."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        raise LmevalImportError(f"{where}: field {name!r}: expected one text, found {value!r:.60}")
    return value


def _doc_messages(doc: Mapping[str, Any]) -> list[dict[str, str]]:
    system = doc.get("system") or ""
    return [*([{"role": "system", "content": system}] if system else []),
            {"role": "user", "content": doc["prompt"]}]  # fmt: skip


def _sent_messages(sample: Mapping[str, Any], where: str) -> list[dict[str, str]] | None:
    """The chat messages lm-eval logged as sent (``arguments.gen_args_0.arg_0``, a JSON chat);
    None when it logged a prompt string (a local model applied its chat template itself)."""
    arg = ((sample.get("arguments") or {}).get("gen_args_0") or {}).get("arg_0")
    if isinstance(arg, list) and len(arg) == 1:
        arg = arg[0]
    if not isinstance(arg, str):
        return None
    try:
        chat = json.loads(arg)
    except json.JSONDecodeError:
        return None
    if not (isinstance(chat, list) and chat and all(isinstance(m, dict) for m in chat)):
        return None
    for m in chat:
        if m.get("role") not in ("system", "user", "assistant") or not isinstance(
            m.get("content"), str
        ):
            raise LmevalImportError(
                f"{where}: field 'arguments.gen_args_0.arg_0': not a chat message: {m!r:.80}"
            )
    return [{"role": m["role"], "content": m["content"]} for m in chat]


def _gen_kwargs(sample: Mapping[str, Any]) -> dict[str, Any]:
    kwargs = ((sample.get("arguments") or {}).get("gen_args_0") or {}).get("arg_1")
    return dict(kwargs) if isinstance(kwargs, dict) else {}


def _call(messages: list[dict[str, str]], output: str, error: str | None) -> dict[str, Any]:
    return {
        "messages": messages, "output": output, "reasoning": None,
        "prompt_tokens": 0, "completion_tokens": 0, "reasoning_tokens": 0,  # not logged
        "finish_reason": None, "latency_s": 0.0, "error": error, "skipped": False,
        "cached": False, "reasoning_truncated": False,
    }  # fmt: skip


def prediction_rows(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """predictions.jsonl rows from lm-eval's samples file, and the gen kwargs it sent."""
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    gen_kwargs: dict[str, Any] = {}
    for number, sample in _read_samples(path):
        where = f"{path}:{number}"
        doc = _field(sample, "doc", where, dict)
        sample_id = _field(sample, "doc.sample_id", where, str)
        user_id, sep, asin = sample_id.partition(":")
        if not (sep and user_id and asin):
            raise LmevalImportError(
                f"{where}: field 'doc.sample_id': expected 'user_id:asin', found {sample_id!r}"
            )
        if sample_id in seen:
            raise LmevalImportError(
                f"{where}: field 'doc.sample_id': {sample_id!r} already on line {seen[sample_id]}"
            )
        seen[sample_id] = number
        reference = _field(sample, "doc.reference", where, str)
        _field(sample, "doc.prompt", where, str)
        if not isinstance(doc.get("system", ""), str):
            raise LmevalImportError(f"{where}: field 'doc.system': expected str")
        raw = _first_text(_field(sample, "resps", where, list), where, "resps")
        prediction = _first_text(
            _field(sample, "filtered_resps", where, list), where, "filtered_resps"
        )
        expected = _doc_messages(doc)
        sent = _sent_messages(sample, where)
        if sent is not None and sent != expected:
            raise LmevalImportError(
                f"{where}: field 'arguments.gen_args_0.arg_0': lm-eval sent other messages "
                "than the exported prompt (--system_instruction or few-shot examples?); the "
                "predictions would not answer drp-bench's prompts"
            )
        gen_kwargs = gen_kwargs or _gen_kwargs(sample)
        error = None if raw.strip() else "lm-eval returned an empty response"
        rows.append({
            "sample_id": sample_id, "user_id": user_id, "target_asin": asin,
            "reference": reference, "prediction": prediction, "past_reviews": [],
            "status": "failed" if error else "complete",
            "failed_stages": ["generate"] if error else [],
            "stages": {"generate": _call(expected, raw, error)}, "error": error,
        })  # fmt: skip
    return rows, gen_kwargs


# ---------------------------------------------------------------- the model


def _parse_model_args(value: Any) -> dict[str, Any]:
    """lm-eval's ``config.model_args``: a dict, or ``k=v,k=v`` as given on the command line."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str):
        out: dict[str, Any] = {}
        for part in filter(None, value.split(",")):
            key, _, val = part.partition("=")
            out[key.strip()] = val
        return out
    return {}


def _without_credentials(url: str) -> str:
    """A URL without user:password@, query and fragment (where tokens hide)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def public_model_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """model_args without secrets: keys naming keys, tokens, passwords or auth headers are
    dropped; URLs lose their credentials and query."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if _SECRET_KEY_RE.search(str(key)):
            continue
        if isinstance(value, Mapping):
            value = public_model_args(value)
        elif isinstance(value, str) and "://" in value:
            value = _without_credentials(value)
        out[str(key)] = value
    return out


def registry_entry(names: list[str]) -> tuple[str, dict[str, Any]] | None:
    """The model registry entry (``conf/model/<file>.yaml``) whose ``hub_id`` or ``name``
    equals one of ``names`` or its last path part (case-insensitive): (file stem, entry)."""
    from drp_bench.resources import data_root

    wanted = set()
    for name in names:
        if name:
            wanted.add(name.lower())
            wanted.add(name.rstrip("/").rsplit("/", 1)[-1].lower())
    for path in sorted((data_root() / "conf" / "model").glob("*.yaml")):
        entry = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(entry, dict):
            continue
        keys = {str(entry.get("hub_id", "")).lower(), str(entry.get("name", "")).lower()}
        if wanted & keys:
            return path.stem, entry
    return None


def lmeval_model(results: Mapping[str, Any], results_path: Path) -> dict[str, Any]:
    """The lm-eval model's identity from its results JSON (no secrets)."""
    config = results.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("model"), str):
        raise LmevalImportError(f"{results_path}: field 'config.model': missing")
    args = _parse_model_args(config.get("model_args"))
    model_id = args.get("pretrained") or args.get("model")
    name = results.get("model_name") or model_id or config["model"]
    entry = registry_entry([str(n) for n in (model_id, name) if n])
    revision = args.get("revision")
    return {
        "type": config["model"],
        "name": str(name),
        "name_sanitized": results.get("model_name_sanitized"),
        "model_id": str(model_id) if model_id is not None else None,
        "revision": str(revision) if revision is not None else None,
        "model_args": public_model_args(args),
        "registry_entry": entry[0] if entry else None,
        "_entry": entry[1] if entry else None,
    }


def _generator_block(model: Mapping[str, Any], gen_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The config's generator: the lm-eval model, sampling as lm-eval sent it."""
    entry = model["_entry"] or {}

    def number(key: str) -> float | int | None:
        value = gen_kwargs.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return value if ok else None

    seed = model["model_args"].get("seed")
    return {
        "name": model["name"],
        "hub_id": model["model_id"] or model["name"],
        "revision": model["revision"],
        "family": entry.get("family"),
        "params_b": entry.get("params_b"),
        "reasoning": bool(entry.get("reasoning", False)),
        "context_length": entry.get("context_length"),
        "tensor_parallel_size": entry.get("tensor_parallel_size"),
        "instructions_in": None,
        "backend": {
            "kind": BACKEND_KIND,
            "options": {"model": model["type"], "model_args": model["model_args"]},
        },
        "sampling": {
            "temperature": number("temperature"),
            "top_p": number("top_p"),
            "max_tokens": number("max_gen_toks") or number("max_tokens"),
            "seed": int(seed) if isinstance(seed, (int, str)) and str(seed).isdigit() else None,
        },
    }


# ---------------------------------------------------------------- the run folder


def _lmeval_numbers(results: Mapping[str, Any], task: str, path: Path) -> dict[str, float]:
    block = (results.get("results") or {}).get(task) or {}
    out = {}
    for metric in CHECKED_METRICS:
        key = f"{metric},{FILTER}"
        value = block.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise LmevalImportError(
                f"{path}: field 'results.{task}.{key}': expected a number, found {value!r}"
            )
        out[metric] = float(value)
    return out


def check_scores(reported: Mapping[str, float], recomputed: Mapping[str, Any], where: str) -> None:
    """Each of lm-eval's numbers must equal the recomputed one (within :data:`SCORE_TOLERANCE`)."""
    bad = [
        f"{m}: lm-eval {reported[m]!r}, recomputed {float(recomputed[m])!r}"
        for m in CHECKED_METRICS
        if not math.isclose(reported[m], float(recomputed[m]), rel_tol=0.0, abs_tol=SCORE_TOLERANCE)
    ]
    if bad:
        raise LmevalImportError(
            f"{where}: lm-eval's scores differ from those recomputed from its samples "
            f"(tolerance {SCORE_TOLERANCE}): {'; '.join(bad)}"
        )


def _imported_config(
    meta: Mapping[str, Any],
    generator: dict[str, Any],
    imported_from: dict[str, Any],
    num_imported: int,
) -> dict[str, Any]:
    """The source config with the lm-eval generator. The run-wide ``temperature`` (if any) is
    written into the roles it applied to, as it no longer applies to the generator."""
    cfg = json.loads(json.dumps(meta.get("config") or {}))
    temperature = cfg.get("temperature")
    if temperature is not None:
        for role in (r for r in ROLES if r not in ANALYSIS_ROLES and r != "generator"):
            if isinstance(cfg.get(role), dict):
                cfg[role].setdefault("sampling", {})["temperature"] = temperature
        cfg["temperature"] = None
    cfg["generator"] = generator
    run = meta.get("run") or {}
    dataset = cfg.get("dataset")
    exported = meta.get("num_samples")
    if isinstance(dataset, dict) and exported == run.get("num_samples") and num_imported < exported:
        dataset["limit"] = num_imported  # lm-eval's --limit: the first documents of the export
    cfg["imported_from"] = imported_from
    return cfg


def _run_block(
    meta: Mapping[str, Any], generator: Mapping[str, Any], n: int, where: str
) -> dict[str, Any]:
    run = meta.get("run")
    if not isinstance(run, dict):
        raise LmevalImportError(
            f"{where}: field 'configs.<task>.metadata.{METADATA_KEY}.run': missing; the source "
            "run had no metrics.json when it was exported (export a finished run)"
        )
    run = json.loads(json.dumps(run))
    run["num_samples"] = n
    temperature = generator["sampling"]["temperature"]
    if temperature is not None:
        run["temperature"] = float(temperature)
    run.setdefault("models", {})["generator"] = {
        "name": generator["name"],
        "hub_id": generator["hub_id"],
        "family": generator["family"],
        "params_b": generator["params_b"],
        "reasoning": generator["reasoning"],
        "backend": BACKEND_KIND,
    }
    return run


def import_results(results_dir: Path, out_dir: Path, task: str | None = None) -> Path:
    """Write the run folder ``out_dir`` from lm-eval's output in ``results_dir``; returns it.

    ``out_dir`` must not exist yet (or be empty). Raises :class:`LmevalImportError`.
    """
    from drp_bench import __version__
    from drp_bench.provenance import git_commit, package_versions
    from drp_bench.run.metrics_file import compute_summary, failure_summary, score_records

    results_dir, out_dir = Path(results_dir), Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise LmevalImportError(f"{out_dir}: exists and is not empty; choose a new folder")
    results_path, results, task = _pick(results_dir, task)
    meta = _task_metadata(results, task) or {}
    samples_path = _samples_file(results_path, task)
    if results.get("chat_template", "") is None:
        raise LmevalImportError(
            f"{results_path}: field 'chat_template': null: lm-eval ran without "
            "--apply_chat_template, so the model did not get drp-bench's chat messages"
        )
    rows, gen_kwargs = prediction_rows(samples_path)
    where = str(results_path)
    n_samples = (results.get("n-samples") or {}).get(task) or {}
    effective = n_samples.get("effective")
    if isinstance(effective, int) and effective != len(rows):
        raise LmevalImportError(
            f"{samples_path}: {len(rows)} samples, but {results_path.name} field "
            f"'n-samples.{task}.effective' says {effective}"
        )

    reported = _lmeval_numbers(results, task, results_path)
    scores = score_records(rows, ROUGE_SEED)  # every row's scores, and their corpus values
    check_scores(reported, scores, f"{results_path} vs {samples_path.name}")

    model = lmeval_model(results, results_path)
    generator = _generator_block(model, gen_kwargs)
    run = _run_block(meta, generator, len(rows), where)
    config = results.get("config") or {}
    lm_eval_version = str(results.get("lm_eval_version") or "unknown")
    public_model = {k: v for k, v in model.items() if not k.startswith("_")}
    imported_from = {
        "tool": "lm-eval",
        "lm_eval_version": lm_eval_version,
        "task": task,
        "results_file": results_path.name,
        "results_sha256": _sha256(results_path),
        "samples_file": samples_path.name,
        "samples_sha256": _sha256(samples_path),
        "limit": config.get("limit"),
        "source_drp_bench_version": meta.get("drp_bench_version"),
        "source_git_commit": meta.get("git_commit"),
    }
    compute, calls = compute_summary(rows)
    failures = failure_summary(rows)
    wall = results.get("total_evaluation_time_seconds")
    try:
        wall_time_s = float(wall) if wall is not None else 0.0
    except (TypeError, ValueError):
        wall_time_s = 0.0
    metrics = {
        "status": "degraded" if failures else "complete",
        "failures": failures,
        "run": run,
        "metrics": scores,
        "failed_samples": sum(1 for r in rows if r["status"] == "failed"),
        "features": None,
        "extracted_features": None,
        "uvq": None,
        "calls": calls,
        "compute": compute,
        "wall_time_s": wall_time_s,
        "context_time_s": None,
        "versions": {**package_versions(), "lm-eval": lm_eval_version},
        "git_commit": git_commit(),
        "dataset_fingerprint": dict(meta.get("dataset_fingerprint") or {}),
    }
    provenance = {
        **{k: v for k, v in imported_from.items() if k != "tool"},
        "drp_bench_version": __version__,
        "model": public_model,
        "gen_kwargs": gen_kwargs,
        "n_samples": {
            "exported": meta.get("num_samples"),
            "original": n_samples.get("original"),
            "imported": len(rows),
        },
        "filter": FILTER,
        "rouge_seed": ROUGE_SEED,
        "tolerance": SCORE_TOLERANCE,
        "lm_eval_scores": reported,
        "recomputed_scores": {m: float(scores[m]) for m in CHECKED_METRICS},
        "not_logged_by_lm_eval": (
            "prompt/completion/reasoning tokens (0), finish_reason (null), latency_s (0.0) and "
            "past_reviews ([]) in predictions.jsonl; so tokens and latency in metrics.json"
        ),
        "empty_response": "an empty raw response is a failed sample (status failed), scored "
        "as the empty prediction lm-eval scored",
    }
    cfg = _imported_config(meta, generator, imported_from, len(rows))

    staging = out_dir.with_name(f".{out_dir.name}.importing")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / ".hydra").mkdir(parents=True)
        write_predictions(staging / PREDICTIONS, rows)
        write_metrics(staging / METRICS, metrics)
        (staging / ".hydra" / "config.yaml").write_text(
            yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        (staging / PROVENANCE).write_text(
            json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        if out_dir.is_dir():
            out_dir.rmdir()
        os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    """``drp-bench import-lmeval RESULTS_DIR --out RUN_DIR [--task NAME]``."""
    parser = argparse.ArgumentParser(
        prog="drp-bench import-lmeval",
        description="Turn an lm-evaluation-harness output folder (run with --log_samples on a "
        "task from `drp-bench export-lmeval`) into a drp-bench run folder.",
    )
    parser.add_argument("results_dir", type=Path, help="lm-eval's --output_path")
    parser.add_argument("--out", type=Path, required=True, help="the run folder to write (new)")
    parser.add_argument("--task", default=None, help="the task (needed when several are there)")
    args = parser.parse_args(argv)
    try:
        run_dir = import_results(args.results_dir, args.out, args.task)
    except (OSError, ValueError) as err:  # LmevalImportError, RunFolderError
        print(f"error: {err}", file=sys.stderr)
        return 1
    provenance = json.loads((run_dir / PROVENANCE).read_text(encoding="utf-8"))
    scores = ", ".join(f"{k} {v:.4f}" for k, v in provenance["recomputed_scores"].items())
    print(
        f"imported task {provenance['task']} ({provenance['n_samples']['imported']} samples, "
        f"model {provenance['model']['name']}): {scores} (equal to lm-eval's)"
    )
    print(f"run directory: {run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

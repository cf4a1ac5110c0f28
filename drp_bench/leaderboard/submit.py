"""``drp-bench submit RUN_DIR``: a complete run folder becomes a leaderboard entry.

Only a folder that :func:`drp_bench.run.folder.classify` calls complete is taken (degraded,
failed and interrupted runs are refused with its reason).

The run's scores are recomputed from its predictions against the registered split's
references before anything is written (the per-sample scores its predictions.jsonl stores
are checked against that recomputation, and left out of the entry: ``verify`` recomputes
them anyway); the entry is assembled in a staging folder, verified
exactly as ``leaderboard verify`` would, and only then moved into ``entries/<id>/``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from drp_bench.config.models import ModelSpec
from drp_bench.data import naming
from drp_bench.leaderboard.entry import (
    ENTRIES,
    ENTRY_SCHEMA_VERSION,
    PREDICTIONS,
    STAGING,
    SUBMISSION,
    canonical_json,
    dedup_key,
    derive_entry_id,
    is_local_path,
    scores_match,
    sha256_text,
    submission_nonfinite,
)
from drp_bench.leaderboard.scoring import sample_score_mismatches, score_entry_samples
from drp_bench.leaderboard.splits import find_split, load_registry
from drp_bench.methods.contracts import ANALYSIS_ROLES, STAGE_RECORDS
from drp_bench.metrics.table import ROUGE_SEED
from drp_bench.run.folder import (
    METRICS,
    MetricsFile,
    PredictionRow,
    classify,
    read_predictions,
)
from drp_bench.run.folder import (
    PREDICTIONS as RUN_PREDICTIONS,
)

log = logging.getLogger(__name__)

IMPORT_PROVENANCE = "lmeval_import.json"
#: Stage -> the role whose model answers it.
STAGE_ROLES = {record: role for record, role in STAGE_RECORDS.items() if role}
HYPERPARAMETERS = (
    "num_retrieved", "num_users", "seed", "temperature", "answer_prefix", "uvq", "uvq_rule",
)  # fmt: skip


class SubmitError(ValueError):
    """The run cannot become an entry; ``problems`` lists every reason."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]


def entries_dir(board: Path) -> Path:
    return Path(board) / ENTRIES


# ---------------------------------------------------------------- reading the run


def _run_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        raise SubmitError(f"{path}: not found (expected a drp-bench run folder)")
    naming.register_resolver()  # a preset's dataset.name is ${drp_dataset_name:...}
    cfg = OmegaConf.load(path)
    if "cache" in cfg:  # ${oc.env:...} of the machine that ran it; not part of the entry
        del cfg["cache"]
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
    except Exception as e:
        raise SubmitError(f"{path}: cannot resolve the config: {e}") from e
    assert isinstance(resolved, dict)
    return resolved


def sanitize_config(cfg: Any, where: str = "", found: list[str] | None = None) -> Any:
    """The config without machine paths: a local path becomes its file name (recorded in
    ``found``), so an entry carries nothing that points into someone's disk."""
    found = found if found is not None else []
    if isinstance(cfg, dict):
        return {
            k: sanitize_config(v, f"{where}.{k}" if where else k, found) for k, v in cfg.items()
        }
    if isinstance(cfg, list):
        return [sanitize_config(v, f"{where}[{i}]", found) for i, v in enumerate(cfg)]
    if isinstance(cfg, str) and is_local_path(cfg):
        found.append(where)
        return "local:" + Path(cfg.replace("\\", "/")).name
    return cfg


def _role_model(role: str, cfg: dict[str, Any]) -> dict[str, Any]:
    block = cfg.get(role)
    if not isinstance(block, dict):
        raise SubmitError(f"config: role {role!r} has no model block")
    sampling = dict(block.get("sampling") or {})
    for knob in ("reasoning_budget", "grammar"):  # unset: the entry as before the knob
        if knob in sampling and sampling[knob] is None:
            del sampling[knob]
    temperature = cfg.get("temperature")
    if temperature is not None and role not in ANALYSIS_ROLES:
        sampling["temperature"] = float(temperature)
    sha256 = None
    kind = (block.get("backend") or {}).get("kind")
    if kind == "llamacpp":
        from drp_bench.backends.pool import model_identity

        spec = ModelSpec.from_config(block, role)
        sha256 = "sha256:" + model_identity(spec)["sha256"]
    params = block.get("params_b")
    return {
        "name": str(block.get("name")),
        "hub_id": block.get("hub_id"),
        "revision": block.get("revision"),
        "sha256": sha256,
        "family": block.get("family"),
        "params_b": float(params) if params is not None else None,
        "reasoning": bool(block.get("reasoning", False)),
        "backend": str(kind),
        "sampling": sampling,
    }


def _roles_used(metrics: MetricsFile, method: dict[str, Any]) -> list[str]:
    """Roles whose stage made calls, and the roles the method declares (an lm-eval import
    ran only the generation; the other roles wrote the context of its prompts)."""
    used = {STAGE_ROLES[s] for s in metrics.compute if s in STAGE_ROLES}
    used |= {STAGE_ROLES[s] for s in method.get("templates") or {} if s in STAGE_ROLES}
    for stage in method.get("stages") or []:
        if isinstance(stage, dict) and stage.get("role") in STAGE_ROLES.values():
            used.add(stage["role"])
    if metrics.uvq is None and "normalize" not in metrics.compute:
        used.discard("normalizer")  # the UVQ analysis did not run
    return [r for r in STAGE_ROLES.values() if r in used] or ["generator"]


def _compute(metrics: MetricsFile) -> dict[str, Any]:
    stages = {
        stage: {
            "calls": int(v.get("calls", 0)),
            "prompt_tokens": int(v.get("prompt_tokens", 0)),
            "completion_tokens": int(v.get("completion_tokens", 0)),
            "latency_s": float(v.get("latency_s", 0.0)),
        }
        for stage, v in metrics.compute.items()
        if stage in STAGE_ROLES
    }
    n = max(1, metrics.run.num_samples)
    tokens = sum(s["prompt_tokens"] + s["completion_tokens"] for s in stages.values())
    return {
        "stages": stages,
        "calls_per_sample": round(sum(s["calls"] for s in stages.values()) / n, 4),
        "tokens_per_sample": round(tokens / n, 2),
        "wall_time_s": metrics.wall_time_s,
    }


def _hyperparameters(cfg: dict[str, Any]) -> dict[str, Any]:
    out = {k: cfg.get(k) for k in HYPERPARAMETERS if k in cfg}
    # the compute knobs, only away from their defaults (so earlier entries keep their ids)
    if cfg.get("extract_samples", 1) not in (None, 1):
        out.update({k: cfg.get(k) for k in ("extract_samples", "extract_agree")})
        out["extract_temperature"] = cfg.get("extract_temperature")
    if cfg.get("validate_rounds", 1) not in (None, 1):
        out["validate_rounds"] = cfg["validate_rounds"]
    embedding = cfg.get("embedding") or {}
    out["embedding"] = {k: embedding.get(k) for k in ("model", "prompt_name")}
    prompts = cfg.get("prompts") or {}
    out["prompts"] = {
        k: prompts.get(k)
        for k in ("system", "instructions_in", "max_review_chars", "max_description_chars")
    }
    return sanitize_config(out)


def _imported(run_dir: Path) -> dict[str, Any]:
    """``lmeval_import.json`` of a run folder made by ``import-lmeval`` (else empty)."""
    path = run_dir / IMPORT_PROVENANCE
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise SubmitError(f"{path}:{e.lineno}: malformed JSON: {e.msg}") from e
    if not isinstance(info, dict):
        raise SubmitError(f"{path}: expected a JSON object")
    return info


def _source(run_dir: Path, metrics: MetricsFile) -> dict[str, Any]:
    info = _imported(run_dir)
    if info:
        keep = ("lm_eval_version", "task", "limit", "model", "results_sha256", "samples_sha256")
        return {"kind": "lm-eval", **{k: info[k] for k in keep if k in info}}
    return {"kind": "drp-bench run", "status": metrics.status}


def _prediction_rows(
    rows: list[PredictionRow], order: list[str], with_stages: bool
) -> list[dict[str, Any]]:
    by_id = {r.sample_id: r for r in rows}
    out = []
    for sid in order:
        row = by_id[sid]
        item: dict[str, Any] = {"sample_id": sid, "prediction": row.prediction}
        if row.context is not None:  # what reproduce compares first
            item["context"] = row.context.to_json_dict()
        if with_stages:
            stages: dict[str, list[dict[str, str]]] = {}
            for stage, call in row.stages.calls():
                stages.setdefault(stage, []).append({"output": call.output})
            item["stages"] = stages
        out.append(item)
    return out


# ---------------------------------------------------------------- the entry


def build_submission(
    run_dir: Path,
    board: Path,
    submitter: str | None = None,
    notes: str | None = None,
    with_stages: bool = False,
    date: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(submission, prediction rows)`` for a complete run whose samples are a registered
    split; raises :class:`SubmitError` naming what stands in the way."""
    run_dir = Path(run_dir)
    state = classify(run_dir)  # the rule the sweep summary and `report` follow too
    if state.status != "complete" or state.metrics is None:
        raise SubmitError(
            f"{run_dir}: status {state.status!r} ({state.reason or 'no reason given'}); only a "
            "complete run can be submitted: re-run the same command (the calls that succeeded "
            "come from the call cache), then submit the complete run"
        )
    metrics = state.metrics
    if metrics.excluded_samples:
        raise SubmitError(
            f"{run_dir / METRICS}: {metrics.excluded_samples} sample(s) excluded from its scores "
            "(method peer: no other reviewer of the item); an entry is scored on every sample "
            "of its split, so such a run stays a reference row of `drp-bench report`"
        )
    rows = list(read_predictions(run_dir / RUN_PREDICTIONS))
    ids = [r.sample_id for r in rows]
    if len(set(ids)) != len(ids):
        raise SubmitError(f"{run_dir / RUN_PREDICTIONS}: a sample appears more than once")
    references = {r.sample_id: r.reference for r in rows}
    registry = load_registry(board)
    split = find_split(registry, references)
    if split is None:
        known = ", ".join(f"{s.id} ({s.num_samples} samples)" for s in registry.splits)
        raise SubmitError(
            f"{run_dir}: its {len(rows)} samples and references match no registered split "
            f"(registered: {known or 'none'}); run on a registered split, or register one with "
            "`drp-bench leaderboard register-split`"
        )
    cfg = _run_config(run_dir)
    imported = _imported(run_dir)
    # rouge-score's bootstrap seed: the run's seed, or the lm-eval task's for an import
    seed = (
        int(imported.get("rouge_seed", ROUGE_SEED))
        if imported
        else int(cfg.get("seed", ROUGE_SEED))
    )
    scored = score_entry_samples(
        split.sample_ids, {r.sample_id: r.prediction for r in rows}, references, seed
    )
    claims = scored.claims
    stored = {r.sample_id: r.scores.model_dump() for r in rows if r.scores is not None}
    wrong = sample_score_mismatches(stored, scored.samples, str(run_dir / RUN_PREDICTIONS))
    if wrong:
        raise SubmitError(
            f"{run_dir / RUN_PREDICTIONS}: per-sample scores differ from those recomputed "
            "from its predictions",
            wrong,
        )
    mismatches = [
        f"{m}: metrics.json {metrics.metrics.get(m)!r}, recomputed {c['value']!r}"
        for m, c in claims.items()
        if not isinstance(metrics.metrics.get(m), (int, float))
        or not scores_match(float(metrics.metrics[m]), c["value"])
    ]
    if mismatches:
        raise SubmitError(
            f"{run_dir / METRICS}: scores differ from those recomputed from predictions.jsonl",
            mismatches,
        )
    sanitized: list[str] = []
    config = sanitize_config(cfg, found=sanitized)
    pred_rows = _prediction_rows(rows, split.sample_ids, with_stages)
    pred_text = "".join(canonical_json(r) + "\n" for r in pred_rows)
    method = dict(cfg.get("method") or {})
    submission: dict[str, Any] = {
        "schema_version": ENTRY_SCHEMA_VERSION,
        "entry_id": "",
        "date": date or dt.date.today().isoformat(),
        "submitter": submitter,
        "notes": notes,
        "split": {
            "id": split.id,
            "references_sha256": split.references_sha256,
            "num_samples": split.num_samples,
        },
        "method": {
            "name": str(method.get("name", metrics.run.method)),
            "settings": sanitize_config(method),
        },
        "hyperparameters": _hyperparameters(cfg),
        "models": {role: _role_model(role, cfg) for role in _roles_used(metrics, method)},
        "metric_seed": seed,
        "metrics": claims,
        "uvq": metrics.uvq,
        "compute": _compute(metrics),
        "software": dict(metrics.versions),
        "git_commit": metrics.git_commit,
        "source": {**_source(run_dir, metrics), "sanitized_fields": sanitized},
        "config": config,
        "predictions": {
            "file": PREDICTIONS,
            "sha256": sha256_text(pred_text),
            "rows": len(pred_rows),
            "with_stages": with_stages,
        },
    }
    if metrics.judge is not None:  # claimed as the run reported it (needs the judge's model)
        submission["judge"] = metrics.judge.model_dump()
    if metrics.prompts_sha256 is not None:  # null: a run made before it was recorded
        submission["prompts_sha256"] = metrics.prompts_sha256
    nonfinite = submission_nonfinite(submission)
    if nonfinite:
        raise SubmitError(f"{run_dir}: the entry would hold numbers that are not finite", nonfinite)
    submission = json.loads(json.dumps(submission))  # plain JSON types (tuples -> lists)
    submission["entry_id"] = derive_entry_id(submission)
    return submission, pred_rows


def write_entry(folder: Path, submission: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True)
    text = json.dumps(submission, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    (folder / SUBMISSION).write_text(text, encoding="utf-8")
    data = "".join(canonical_json(r) + "\n" for r in rows).encode("utf-8")  # strings only
    # mtime 0: the same rows give the same bytes
    with (
        open(folder / PREDICTIONS, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
    ):
        gz.write(data)


def submit_run(
    run_dir: Path,
    board: Path,
    submitter: str | None = None,
    notes: str | None = None,
    *,
    with_stages: bool = False,
    data_paths: dict[str, Path] | None = None,
    date: str | None = None,
) -> Path:
    """Write the run as ``<board>/entries/<id>/`` after verifying it; returns the folder.

    Nothing is left behind when it is refused (:class:`SubmitError` with every problem). A
    suspect entry (verified, not ranked until reproduced) is written, and each reason logged
    as a warning."""
    from drp_bench.leaderboard.verify import existing_dedup_keys, verify_entry

    board = Path(board)
    submission, rows = build_submission(run_dir, board, submitter, notes, with_stages, date)
    entry_id = submission["entry_id"]
    final = entries_dir(board) / entry_id
    if final.exists():
        raise SubmitError(f"{final}: this entry is already on the leaderboard")
    twin = existing_dedup_keys(board).get(dedup_key(submission))
    if twin is not None:
        raise SubmitError(
            f"duplicate of entry {twin}: same split, method, settings, models and predictions"
        )
    staging = board / STAGING / entry_id
    shutil.rmtree(staging, ignore_errors=True)
    try:
        write_entry(staging, submission, rows)
        result = verify_entry(staging, board, data_paths=data_paths)
        if result.problems:
            raise SubmitError(f"entry {entry_id} failed verification", result.problems)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, final)
        for flag in result.suspect:
            log.warning("SUSPECT %s: %s (not ranked until reproduced)", entry_id, flag)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            (board / STAGING).rmdir()
    return final

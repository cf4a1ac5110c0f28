"""Find run folders, classify them and read complete runs into a tidy table.

A run folder is any directory holding ``.hydra/config.yaml``; its status is
``drp_bench.run.folder.classify``'s (complete, degraded, failed, interrupted: the rule the
sweep summary and ``submit`` follow too) and its files are read with that module's schema.
Nothing here raises for a broken folder: a problem is a reason naming the file (and line, and
field) at fault, and a sweep's job without a folder is a run with status ``missing``. Runs of
one dataset name whose data differ (metrics.json ``dataset_fingerprint``) are never one column
(:func:`split_by_data`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

from drp_bench.methods.contracts import METHOD_NAMES
from drp_bench.metrics.table import METRIC_LABELS
from drp_bench.report.cost import GPU_COST, gpu_seconds_per_sample, token_costs
from drp_bench.run.folder import (
    FINISHED,
    PREDICTIONS,
    FolderStatus,
    MetricsFile,
    PredictionRow,
    RunFolderError,
    SampleScores,
    Stages,
    classify,
    iter_predictions,
    read_predictions,
)

log = logging.getLogger(__name__)

#: A run folder's status (``drp_bench.run.folder.FOLDER_STATUSES``), or ``missing``: a job
#: its sweep's multirun.yaml expects that has no folder.
Status = Literal[FolderStatus, "missing"]
#: Statuses whose scores are read into the frame (degraded ones are marked and not ranked).
SCORED: frozenset[str] = frozenset(FINISHED)

#: Metrics that get bootstrap CIs and appear in the tables (key -> display name), paper order.
TABLE_METRICS: dict[str, str] = METRIC_LABELS
#: The LLM judge's row (metrics.json ``judge``: mean score / 10, its CI from that file; ``n``
#: the parsed answers).
JUDGE_METRIC = "judge"
#: Largest accepted gap between metrics.json BLEU and BLEU recomputed from predictions.jsonl.
BLEU_TOLERANCE = 1e-3
#: The paper's column order (other methods, e.g. the peer reference, come after it).
METHOD_ORDER: tuple[str, ...] = ("nonp", "rag", "intsum", "llm-trsr", "cicl", "p-db", "dpl", "drp")
EXTRACTOR_METHODS = frozenset({"dpl", "drp"})
#: The DRP paper's baselines: its table's methods other than DRP. Their reported numbers come
#: from code drp-bench does not run (Non-P to P-DB: DPL's paper's implementations, never
#: published; DPL: DPL's code, re-run by the DRP authors).
PAPER_BASELINES: frozenset[str] = frozenset(METHOD_ORDER) - {"drp"}
#: What a baseline's column says beside the paper's reported row (:func:`is_reimplementation`).
REIMPLEMENTATION = "re-implementation"
#: The frame column: whether a run's column is labelled a re-implementation.
REIMPLEMENTATION_COLUMN = "reimplementation"
#: Paper dataset spelling (as in results/reference/drp_paper_table.csv) -> display name.
PAPER_DATASETS = {"Books": "Books", "CDs_and_Vinyl": "CDs & Vinyl"}
#: Run fields that tell apart runs of the same method and extractor (used in column labels).
DISTINGUISHING_FIELDS: tuple[str, ...] = (
    "generator",
    "num_users",
    "num_retrieved",
    "dimensions",
    "validate",
    "summary_reads",
    "temperature",
    "seed",
    "extract_samples",
    "extract_agree",
    "validate_rounds",
)


#: metrics.json ``run`` keys read into their own columns above, or not a setting (``models``).
RUN_BLOCK_FIELDS = frozenset(
    {
        "method",
        "dataset",
        "split",
        "num_samples",
        "models",
        "extractor",
        "extract_temperature",
        *DISTINGUISHING_FIELDS,
    }
)
#: The frame column naming, per run, the other keys of its metrics.json ``run`` block (new
#: knobs such as extraction samples): each also has a column of its own.
KNOBS_COLUMN = "knobs"


def extra_run_fields(info: dict[str, Any]) -> dict[str, Any]:
    """The run block's settings this module does not know by name (new compute knobs), in
    the file's order: scalars as they are, lists and objects as canonical JSON."""
    return {
        k: _hashable(v) for k, v in info.items() if k not in RUN_BLOCK_FIELDS and k != KNOBS_COLUMN
    }


def knob_fields(frame: pd.DataFrame) -> list[str]:
    """The fields that tell runs apart: :data:`DISTINGUISHING_FIELDS`, then every other run
    block key some run records (:data:`KNOBS_COLUMN`)."""
    extra: dict[str, None] = {}
    if KNOBS_COLUMN in frame:
        for names in frame[KNOBS_COLUMN].dropna():
            extra.update(dict.fromkeys(n for n in str(names).split(",") if n))
    return [*DISTINGUISHING_FIELDS, *(f for f in extra if f not in DISTINGUISHING_FIELDS)]


@dataclass
class Run:
    """One run folder (or, with status ``missing``, one expected sweep job without a folder)."""

    run_dir: Path
    status: Status
    reason: str = ""
    overrides: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)  # metrics.json, validated
    #: the scored rows without their calls (``stages`` emptied: the report reads ids,
    #: references and predictions; a run's calls would take as much memory as its file)
    predictions: list[PredictionRow] = field(default_factory=list)
    done: int | None = None  # predictions written
    expected: int | None = None  # samples the run should produce, when known
    _values: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def sample_values(self, metric: str) -> np.ndarray:
        """Per-sample values of ``metric`` (BLEU statistics or scores), aligned with
        ``predictions``: the rows' stored ``scores`` when every row has them (schema version
        4), else computed once by ``drp_bench.metrics.bootstrap.sample_values`` (BLEU, a
        corpus statistic, always: its per-sample statistics are integer counts)."""
        if metric not in self._values:
            stored = stored_sample_values(self.predictions, metric)
            if stored is None:
                from drp_bench.metrics.bootstrap import sample_values

                preds = [p.prediction for p in self.predictions]
                refs = [p.reference for p in self.predictions]
                stored = sample_values(preds, refs, metric)
            self._values[metric] = stored
        return self._values[metric]

    @property
    def name(self) -> str:
        """Short identifier: the Hydra overrides, else the folder path."""
        return " ".join(self.overrides) if self.overrides else str(self.run_dir)


def stored_sample_values(rows: Sequence[PredictionRow], metric: str) -> np.ndarray | None:
    """``metric``'s per-sample values as the rows store them (``scores``), or None when a row
    has none (written before schema version 4) or the metric is not per-sample (BLEU)."""
    if not rows or metric not in SampleScores.model_fields:
        return None
    if any(r.scores is None for r in rows):
        return None
    return np.array([getattr(r.scores, metric) for r in rows], dtype=np.float64)


@dataclass
class RunTable:
    """All runs found plus the tidy frame of complete runs (one row per run x metric)."""

    runs: list[Run]
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> list[Run]:
        return [r for r in self.runs if r.status == "complete"]

    @property
    def degraded(self) -> list[Run]:
        """Runs that finished with failed calls: scored, but not ranked by default."""
        return [r for r in self.runs if r.status == "degraded"]

    @property
    def problems(self) -> list[Run]:
        """Runs whose scores are not in the frame (failed, interrupted, missing)."""
        return [r for r in self.runs if r.status not in SCORED]

    def run(self, run_dir: str | Path) -> Run:
        key = str(run_dir)
        for r in self.runs:
            if str(r.run_dir) == key:
                return r
        raise KeyError(f"no run with run_dir {key}")


# ---------------------------------------------------------------- the paper's baselines


def paper_dataset(name: str | None) -> str | None:
    """Map a run's dataset name to the paper's spelling: ``books`` -> ``Books``,
    ``cds`` / ``cds_and_vinyl`` -> ``CDs_and_Vinyl``; other datasets -> None."""
    if not name:
        return None
    low = str(name).lower()
    tokens = set(re.split(r"[^a-z0-9]+", low))
    if "books" in tokens or low.startswith("books"):
        return "Books"
    if "cds" in tokens or "cd" in tokens or "cds_and_vinyl" in low or "cdsandvinyl" in low:
        return "CDs_and_Vinyl"
    return None


def uses_paper_prompts(config: dict[str, Any]) -> bool:
    """Whether a run's ``.hydra/config.yaml`` sets a template of the paper prompt set
    (``method.templates`` values under ``paper/``, as ``+experiment=dpl_paper`` does)."""
    templates = _get(config, "method", "templates")
    return isinstance(templates, dict) and any(
        str(t).startswith("paper/") for t in templates.values()
    )


def is_reimplementation(run: Run) -> bool:
    """Whether ``run``'s column is labelled a re-implementation: a run of one of the paper's
    baselines (:data:`PAPER_BASELINES`) on one of the paper's datasets, where the report shows
    the paper's reported number beside it. Whatever preset made it (``.hydra/config.yaml``
    does not record one), drp-bench ran its own implementation, not the code behind that
    number; except a DPL run with the paper prompt set, which follows DPL's code."""
    info = run.record.get("run", {})
    method = info.get("method")
    if method not in PAPER_BASELINES or paper_dataset(info.get("dataset")) is None:
        return False
    return not (method == "dpl" and uses_paper_prompts(run.config))


# ---------------------------------------------------------------- discovery


def find_run_dirs(root: Path) -> list[Path]:
    """Directories under ``root`` (inclusive) holding ``.hydra/config.yaml``, sorted."""
    found: list[Path] = []
    for dirpath, dirnames, _ in os.walk(root):
        here = Path(dirpath)
        if (here / ".hydra" / "config.yaml").is_file():
            found.append(here)
            dirnames[:] = []  # a run folder does not hold further runs
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return sorted(found, key=_natural_key)


def _natural_key(p: Path) -> list[tuple[int, int, str]]:
    """Numbered folders in number order (``2`` before ``10``), then named ones (``drp``)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in p.parts]


# ---------------------------------------------------------------- file readers


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise RunFolderError(f"{path}: cannot read: {e}") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise RunFolderError(f"{path}{where}: malformed YAML: {e}") from e


def _get(d: Any, *keys: str, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def _expected_samples(config: dict[str, Any]) -> int | None:
    limit = _get(config, "dataset", "limit")
    return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None


# ---------------------------------------------------------------- classification


def read_run(run_dir: Path) -> Run:
    """One run folder: its status and reason by :func:`drp_bench.run.folder.classify` (the
    rule the sweep summary and ``submit`` use), then its config and, for a complete or
    degraded run, its scores, else how far it got; what cannot be read is added to the
    reason. Never raises."""
    state = classify(run_dir)
    run = Run(run_dir=run_dir, status=state.status, reason=state.reason)
    _noting_problems(run, _read_hydra)
    metrics = state.metrics
    if state.finished and metrics is not None:
        _noting_problems(run, lambda r: _read_finished(r, metrics))
    else:
        _noting_problems(run, _read_progress)
    return run


def _noting_problems(run: Run, step: Callable[[Run], None]) -> None:
    """``step(run)``; what it cannot read is added to the run's reason."""
    try:
        step(run)
    except RunFolderError as e:
        run.reason = _join(run.reason, str(e))
    except Exception as e:  # a folder must never take the report down
        run.reason = _join(run.reason, f"{run.run_dir}: unexpected {type(e).__name__}: {e}")


def _read_hydra(run: Run) -> None:
    """The run's config and overrides (Hydra's files) and the samples it should produce."""
    d = run.run_dir
    cfg = read_yaml(d / ".hydra" / "config.yaml")
    run.config = cfg if isinstance(cfg, dict) else {}
    if (d / ".hydra" / "overrides.yaml").is_file():
        ov = read_yaml(d / ".hydra" / "overrides.yaml")
        run.overrides = [str(o) for o in ov] if isinstance(ov, list) else []
    if run.expected is None:
        run.expected = _expected_samples(run.config)


def _read_progress(run: Run) -> None:
    """A run without scores: how many samples its predictions.jsonl holds (0: none)."""
    preds_path = run.run_dir / PREDICTIONS
    if not preds_path.is_file():
        run.done = 0
        return
    preds = read_predictions(preds_path, allow_partial_tail=True)
    run.done = len(preds)
    note = f"{_progress(run.done, run.expected)} samples in {PREDICTIONS}"
    if preds.cut_off_line is not None:
        note += f" (last line {preds.cut_off_line} of {PREDICTIONS} is cut off)"
    run.reason = _join(run.reason, note)


def _read_finished(run: Run, metrics: MetricsFile) -> None:
    """A complete or degraded run: its metrics.json (as classified) and the scored rows."""
    preds_path = run.run_dir / PREDICTIONS
    run.record = metrics.to_json_dict()
    run.expected = metrics.run.num_samples or run.expected
    no_cis = "metrics shown without confidence intervals"
    if not preds_path.is_file():
        run.reason = _join(run.reason, f"no {PREDICTIONS}: {no_cis}")
        return
    try:
        # excluded samples (peer without another reviewer) have no prediction: not scored
        rows = [_without_calls(p) for p in iter_predictions(preds_path)]
    except RunFolderError as e:
        run.reason = _join(run.reason, f"{e}: {no_cis}")
        return
    run.predictions = [p for p in rows if p.status != "excluded"]
    run.done = len(rows)


_NO_CALLS = Stages(extract=[], validate=[], normalize=[])


def _without_calls(row: PredictionRow) -> PredictionRow:
    return row.model_copy(update={"stages": _NO_CALLS})


def _progress(done: int | None, expected: int | None) -> str:
    return f"{done}/{expected if expected else 'unknown'}"


# ---------------------------------------------------------------- sweeps: missing jobs


def missing_jobs(sweep_dir: Path, present: Sequence[Run]) -> tuple[list[Run], str]:
    """Jobs a Hydra multirun (``multirun.yaml``) expected but that have no run folder.

    The expected jobs are expanded with Hydra's own override parser and basic sweeper, the
    same way the sweep was launched. Returns (missing runs, note when expansion was impossible).
    """
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return [], ""
    try:
        from drp_bench.plan.jobs import sweep_jobs

        conf = read_yaml(path)
        task = [str(o) for o in (_get(conf, "hydra", "overrides", "task") or [])]
        params = _get(conf, "hydra", "sweeper", "params") or {}
        expected = sweep_jobs(params, task)
    except RunFolderError as e:
        return [], f"cannot tell which jobs are missing: {e}"
    except Exception as e:
        return [], f"{path}: cannot expand the sweep to find missing jobs: {type(e).__name__}: {e}"
    have = {frozenset(r.overrides) for r in present if _is_under(r.run_dir, sweep_dir)}
    missing = [
        Run(
            run_dir=sweep_dir,
            status="missing",
            reason="expected by multirun.yaml, no run folder",
            overrides=job,
        )
        for job in expected
        if frozenset(job) not in have
    ]
    return missing, ""


def _is_under(p: Path, root: Path) -> bool:
    try:
        p.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- tidy frame


def _bootstrap_available() -> bool:
    try:
        import drp_bench.metrics.bootstrap  # noqa: F401
    except ImportError as e:
        log.warning("drp_bench.metrics.bootstrap unavailable (%s): no confidence intervals", e)
        return False
    return True


def run_fields(run: Run) -> dict[str, Any]:
    """The per-run columns of the tidy frame (everything but metric/value/CI)."""
    rec = run.record
    info = rec.get("run", {})
    # metrics.json lists a model for every role; the extractor counts only for methods that
    # extract differences (DPL, DRP: their ``features`` summary is not null)
    uses_extractor = rec.get("features") is not None or info.get("method") in EXTRACTOR_METHODS
    extractor = (_get(info, "models", "extractor") or {}) if uses_extractor else {}
    generator = _get(info, "models", "generator") or {}
    per_sample = _get(rec, "compute", "per_sample") or {}
    row: dict[str, Any] = {
        "status": run.status,
        "dataset": info.get("dataset"),
        "split": info.get("split"),
        "method": info.get("method"),
        "extractor": extractor.get("name"),
        "family": extractor.get("family"),
        "params_b": _num(extractor.get("params_b")),
        "reasoning": extractor.get("reasoning"),
        "generator": generator.get("name"),
        "num_users": info.get("num_users"),
        "num_retrieved": info.get("num_retrieved"),
        "dimensions": info.get("dimensions"),
        "validate": info.get("validate"),
        "summary_reads": info.get("summary_reads"),
        "temperature": info.get("temperature"),
        "seed": info.get("seed"),
        # compute knobs: absent from the run block at 1 (metrics.json version 5)
        "extract_samples": info.get("extract_samples", 1),
        "extract_agree": info.get("extract_agree"),
        "extract_temperature": info.get("extract_temperature"),
        "validate_rounds": info.get("validate_rounds", 1),
        "num_samples": info.get("num_samples"),
        "failed_samples": rec.get("failed_samples"),
        **token_costs(rec),
        GPU_COST: gpu_seconds_per_sample(rec, run.config),
        "calls_per_sample": _num(per_sample.get("calls")),
        "latency_s_per_sample": _num(per_sample.get("latency_s")),
        "wall_time_s": _num(rec.get("wall_time_s")),
        "data_fingerprint": data_fingerprint(rec.get("dataset_fingerprint")),
        "overrides": " ".join(run.overrides),
        PEER_RULE_COLUMN: peer_rule(run) if info.get("method") == "peer" else None,
        REIMPLEMENTATION_COLUMN: is_reimplementation(run),
    }
    knobs = extra_run_fields(info)
    row.update(knobs)
    row[KNOBS_COLUMN] = ",".join(knobs)
    uvq = rec.get("uvq")
    if isinstance(uvq, dict):
        row["uvq_mean"] = _num(uvq.get("mean"))
        row["uvq_invalid_share"] = _num(uvq.get("invalid_share"))
        for cat, share in (uvq.get("categories") or {}).items():
            row[f"uvq_share_{cat}"] = _num(share)
        for rule, by_rule in (uvq.get("by_rule") or {}).items():
            row[f"uvq_mean[{rule}]"] = _num((by_rule or {}).get("mean"))
    row["run_dir"] = str(run.run_dir)
    return row


#: The frame column of a peer run's candidates rule (``method.peer_candidates``; None for
#: other methods).
PEER_RULE_COLUMN = "peer_candidates"
#: A peer run whose candidates may be dated after the target review: its column's name.
UNFILTERED_PEER_NAME = "peer (human, unfiltered)"


def peer_rule(run: Run) -> str:
    """The candidates rule a peer run ran with, from its ``.hydra/config.yaml``
    (``method.peer_candidates``); a config without the key is from before the rule existed,
    when every date was a candidate: ``any``."""
    return str(_get(run.config, "method", "peer_candidates", default="any"))


def data_fingerprint(files: Any) -> str:
    """The first 8 hex digits of the SHA-256 over metrics.json's ``dataset_fingerprint`` (data
    file -> sha256; the digests, sorted: the same bytes under other file names are the same
    data); ``""`` when the run recorded none."""
    if not isinstance(files, dict) or not files:
        return ""
    digests = "\n".join(sorted(str(v) for v in files.values()))
    return hashlib.sha256(digests.encode("utf-8")).hexdigest()[:8]


def split_by_data(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Never one column for different data: runs under one dataset name and split whose data
    fingerprints differ each get the dataset ``NAME@FINGERPRINT8`` (``NAME@unrecorded`` for a
    run that recorded none), and a note names the run folders of each."""
    runs = frame.drop_duplicates("run_dir")
    relabel: dict[str, str] = {}
    notes: list[str] = []
    for (name, split), group in runs.groupby(["dataset", "split"], dropna=False, sort=True):
        if group["data_fingerprint"].nunique(dropna=False) < 2:
            continue
        parts = []
        for fingerprint, same in group.groupby("data_fingerprint", sort=True):
            label = f"{name}@{fingerprint or 'unrecorded'}"
            relabel.update(dict.fromkeys(same["run_dir"], label))
            parts.append(f"{label}: {', '.join(sorted(same['run_dir']))}")
        notes.append(
            f"dataset {name!r} ({split}): its runs read different data (metrics.json "
            f"dataset_fingerprint differs), so each data gets its own column: {'; '.join(parts)}"
        )
    if relabel:
        frame = frame.assign(dataset=frame["run_dir"].map(relabel).fillna(frame["dataset"]))
    return frame, notes


def _num(v: Any) -> float:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return math.nan


def tidy_rows(run: Run, n_bootstrap: int, seed: int) -> list[dict[str, Any]]:
    """One row per metric of a complete run, with bootstrap CIs for the table metrics
    (``n_bootstrap`` 0: none)."""
    base = run_fields(run)
    rows = []
    for metric, value in run.record["metrics"].items():
        if metric == "n":  # sample count, not a metric
            continue
        low = high = math.nan
        if n_bootstrap > 0 and run.predictions and metric in TABLE_METRICS:
            from drp_bench.metrics.bootstrap import bootstrap_ci_values

            try:
                values = run.sample_values(metric)
                point, low, high = bootstrap_ci_values(values, metric, n_bootstrap, seed)
            except Exception as e:  # e.g. WordNet missing for METEOR: keep the run, no CI
                run.reason = _join(run.reason, f"no {metric} CI: {type(e).__name__}: {e}")
            else:
                if metric == "bleu" and abs(point - float(value)) > BLEU_TOLERANCE:
                    run.reason = _join(
                        run.reason,
                        f"metrics.json bleu {float(value):.4f} differs from {point:.4f} "
                        "recomputed from predictions.jsonl",
                    )
        rows.append(
            {
                **base,
                "metric": metric,
                "value": float(value),
                "ci_low": float(low),
                "ci_high": float(high),
                "n": len(run.predictions) if run.predictions else base["num_samples"],
            }
        )
    judge = run.record.get("judge")
    if isinstance(judge, dict) and judge.get("mean") is not None:  # metrics.judge=true
        ci = (judge.get("ci_low"), judge.get("ci_high"))
        rows.append(
            {
                **base,
                "metric": JUDGE_METRIC,
                "value": float(judge["mean"]),
                "ci_low": math.nan if ci[0] is None else float(ci[0]),
                "ci_high": math.nan if ci[1] is None else float(ci[1]),
                "n": judge.get("parsed"),
            }
        )
    return rows


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


#: Settings that are counts: a column of them with a missing value holds floats (``2.0``).
COUNT_FIELDS = frozenset(
    {"num_users", "num_retrieved", "seed", "extract_samples", "extract_agree", "validate_rounds"}
)


def _label_value(field: str, value: Any) -> str:
    """A setting as a label shows it: a count as a whole number."""
    if field in COUNT_FIELDS and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def add_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``method_name``, ``detail``, ``label`` (table column / plot legend) and ``order``.

    ``detail`` = ``re-implementation`` for a run :func:`is_reimplementation` marks, then the
    extractor model for methods that have one, plus ``field=value`` for each
    distinguishing field that varies among runs of that method and extractor, plus ``#k`` when
    the same configuration ran twice on one dataset; ``label`` = method name + detail.
    """
    cols = ["run_dir", "method_name", "detail", "label", "order"]
    if frame.empty:
        return frame.assign(**{c: [] for c in cols[1:]})
    runs = frame.drop_duplicates("run_dir").copy()
    runs["method_name"] = runs["method"].map(lambda m: METHOD_NAMES.get(m, str(m).upper()))
    if PEER_RULE_COLUMN in runs:  # a peer run that may have picked later reviews says so
        unfiltered = (runs["method"] == "peer") & (runs[PEER_RULE_COLUMN] == "any")
        runs.loc[unfiltered, "method_name"] = UNFILTERED_PEER_NAME
    runs["detail"] = runs["extractor"].map(lambda e: str(e) if _present(e) else "")
    if REIMPLEMENTATION_COLUMN in runs:  # beside the paper's row: not the paper's code
        tagged = runs[REIMPLEMENTATION_COLUMN].eq(True)
        runs.loc[tagged, "detail"] = runs.loc[tagged, "detail"].map(
            lambda d: f"{REIMPLEMENTATION}, {d}" if d else REIMPLEMENTATION
        )
    for _, idx in runs.groupby(["method_name", "detail"]).groups.items():
        group = runs.loc[idx]
        varying = [
            f
            for f in knob_fields(runs)
            if f in group and group[f].map(_hashable).nunique(dropna=False) > 1
        ]
        if varying:
            runs.loc[idx, "detail"] = group.apply(
                lambda r, fs=varying: ", ".join(
                    [
                        *([r["detail"]] if r["detail"] else []),
                        *(f"{f}={_label_value(f, r[f])}" for f in fs if _present(r[f])),
                    ]
                ),
                axis=1,
            )
    dup = runs.duplicated(["method_name", "detail", "dataset", "split"], keep=False)
    if dup.any():
        counter = runs[dup].groupby(["method_name", "detail", "dataset", "split"]).cumcount() + 1
        runs.loc[dup, "detail"] = (runs.loc[dup, "detail"] + " #" + counter.astype(str)).str.strip()
    runs["label"] = runs["method_name"] + runs["detail"].map(lambda d: f" ({d})" if d else "")
    if "status" in runs:
        runs["label"] += runs["status"].map(lambda st: " [DEGRADED]" if st == "degraded" else "")
    method_rank = runs["method"].map(
        lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER)
    )
    runs = runs.assign(_m=method_rank, _r=runs["reasoning"].map(lambda v: v is True))
    runs = runs.sort_values(["_m", "_r", "family", "params_b", "label"], na_position="first")
    order = {lab: i for i, lab in enumerate(dict.fromkeys(runs["label"]))}
    runs["order"] = runs["label"].map(order)
    return frame.merge(runs[cols], on="run_dir", how="left")


def _present(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v)) and v != ""


def _hashable(v: Any) -> Any:
    return json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else v


FRAME_COLUMNS = [
    "status", "dataset", "split", "method", "extractor", "family", "params_b", "reasoning",
    "generator",
    "num_users", "num_retrieved", "dimensions", "validate", "summary_reads", "temperature", "seed",
    "extract_samples", "extract_agree", "extract_temperature", "validate_rounds",
    "metric", "value",
    "ci_low", "ci_high", "n", "run_dir",
]  # fmt: skip


def collect_runs(
    paths: Sequence[Path], *, n_bootstrap: int = 1000, seed: int = 0, find_missing: bool = True
) -> RunTable:
    """Read every run folder under ``paths`` into a :class:`RunTable`.

    ``n_bootstrap`` resamples per CI (0: no CIs). Complete runs give one frame row per metric;
    all other folders are kept in ``runs`` with status and reason. Never raises for bad folders.
    """
    runs: list[Run] = []
    notes: list[str] = []
    seen: set[Path] = set()
    for root in map(Path, paths):
        if not root.exists():
            notes.append(f"{root}: does not exist")
            continue
        for d in find_run_dirs(root):
            if d.resolve() in seen:
                continue
            seen.add(d.resolve())
            runs.append(read_run(d))
        if find_missing:
            for sweep in sorted({p.parent for p in root.rglob("multirun.yaml")}):
                if sweep.resolve() in seen:
                    continue
                seen.add(sweep.resolve())
                missing, note = missing_jobs(sweep, runs)
                runs.extend(missing)
                if note:
                    notes.append(note)
    if n_bootstrap > 0 and not _bootstrap_available():
        notes.append("drp_bench.metrics.bootstrap not importable: no confidence intervals")
        n_bootstrap = 0
    rows = [row for r in runs if r.status in SCORED for row in tidy_rows(r, n_bootstrap, seed)]
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=FRAME_COLUMNS)
    else:  # runs differing only in temperature: their mean too (the DRP table's protocol)
        from drp_bench.report.replicates import mean_rows

        frame, data_notes = split_by_data(frame)
        notes.extend(data_notes)

        means = mean_rows(RunTable(runs, frame), list(TABLE_METRICS), n_bootstrap, seed)
        if means:
            members = {d for r in means for d in r["replicate_of"]}
            # a replicate's own cells are shown, but its group's mean is what gets ranked
            frame["replicate_member"] = frame["run_dir"].isin(members)
            frame = pd.concat([frame, pd.DataFrame(means)], ignore_index=True)
            frame["replicate_member"] = frame["replicate_member"].fillna(False).astype(bool)
            notes.append(
                f"{len({tuple(r['replicate_of']) for r in means})} group(s) of runs differing "
                "only in temperature: their mean is shown as temperature=mean(...), with a CI "
                "over samples and replicates"
            )
    frame = add_labels(frame)
    extra = [c for c in frame.columns if c not in FRAME_COLUMNS]
    return RunTable(runs=runs, frame=frame[FRAME_COLUMNS + extra], notes=notes)

"""Collect the :class:`~drp_bench.leaderboard.view.Board`: verified entries with their trust
level, plus the paper's reported rows.

Trust: **reproduced** (a matching record in ``reproductions.json`` with identical predictions,
and the entry verifies), **verified** (its scores recomputed now, or, for a split whose data is
not in the repository, a matching record in ``verifications.json``), **reported** (the paper's
numbers, never verified). An entry that fails verification, or that cannot be read at all, is
not on the board; the others still are.

Ranks (per split, :func:`rank_rows`): reproduced entries first, then verified ones, each by
ROUGE-L. A *suspect* entry (``flags``: copied references, implausible scores; see
:mod:`drp_bench.leaderboard.trust`) is shown but not ranked until it is reproduced; reported
rows are never ranked.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drp_bench.leaderboard.entry import nonfinite_fields
from drp_bench.leaderboard.records import (
    REPRODUCTIONS,
    VERIFICATIONS,
    load_records,
    matches,
)
from drp_bench.leaderboard.splits import PAPER_SPLITS, Registry, load_registry
from drp_bench.leaderboard.trust import ceiling_flags
from drp_bench.leaderboard.verify import (
    VerifyResult,
    entry_folders,
    existing_dedup_keys,
    verify_entry,
)
from drp_bench.leaderboard.view import BOARD_METRICS, Board, MetricValue, Row, Split, Trust
from drp_bench.methods.contracts import DISPLAY_ROLES, METHOD_NAMES

TITLE = "drp-bench leaderboard"
PAPER_METHODS = {label: key for key, label in METHOD_NAMES.items()}
#: The paper table's metric names (its labels) -> keys.
PAPER_METRICS = {label: key for key, label in BOARD_METRICS.items()}
PAPER_SOURCE = "DRP paper (arXiv 2511.15389), main table; results/reference/drp_paper_table.csv"
SAMPLES_SHOWN = 3
PAPER_SPLIT_TITLES = {
    "books/test": "Amazon Books (DPL-main test split)",
    "cds_and_vinyl/test": "Amazon CDs & Vinyl (DPL-main test split)",
}


@dataclass
class Excluded:
    entry_id: str
    problems: list[str]


def _flat(obj: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(obj, dict):
        out: dict[str, str] = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: "null" if obj is None else str(obj)}


def _main_role(models: Mapping[str, Any]) -> Any:
    return models.get("extractor") or models.get("generator") or next(iter(models.values()), None)


def _uvq_mean(uvq: Any) -> float | None:
    if not isinstance(uvq, dict):
        return None
    value = uvq.get("mean")
    return float(value) if isinstance(value, (int, float)) else None


def entry_row(result: VerifyResult, trust: Trust, public: bool, flags: list[str]) -> Row:
    sub = result.submission
    assert sub is not None and result.split is not None and result.predictions is not None
    models = {
        role: {
            "name": m.name,
            "hub_id": m.hub_id,
            "family": m.family,
            "params_b": float(m.params_b) if m.params_b is not None else None,
            "reasoning": m.reasoning,
            "revision": m.revision,
            "sha256": m.sha256,
        }
        for role, m in sub.models.items()
    }
    main = _main_role(models) or {}
    refs = None
    if public:
        from drp_bench.leaderboard.splits import split_references

        refs = split_references(result.split)
    samples = [
        {
            "sample_id": sid,
            "prediction": result.predictions[sid],
            "reference": refs[sid] if refs else None,
        }
        for sid in result.split.sample_ids[:SAMPLES_SHOWN]
    ]
    settings = {
        **_flat(sub.method.settings, "method"),
        **_flat(sub.hyperparameters),
        "metric_seed": str(sub.metric_seed),
        "source": str(sub.source.get("kind")),
    }
    return Row(
        id=sub.entry_id,
        split=sub.split.id,
        trust=trust,
        rank=None,  # rank_rows
        flags=flags,
        method=sub.method.name,
        method_label=METHOD_NAMES.get(sub.method.name, sub.method.name),
        family=main.get("family"),
        params_b=main.get("params_b"),
        models=models,  # type: ignore[typeddict-item]
        metrics={
            m: MetricValue(value=float(c.value), ci_low=float(c.ci_low), ci_high=float(c.ci_high))
            for m, c in sub.metrics.items()
            if m in BOARD_METRICS
        },
        uvq=_uvq_mean(sub.uvq),
        tokens_per_sample=float(sub.compute.tokens_per_sample),
        calls_per_sample=float(sub.compute.calls_per_sample),
        date=sub.date,
        submitter=sub.submitter,
        notes=sub.notes,
        settings=settings,
        samples=samples,  # type: ignore[typeddict-item]
        source=None,
        **prompts_fields(sub.prompts_sha256, sub.git_commit, sub.config),
    )


def prompts_fields(
    entry_sha256: str | None, commit: str | None, config: Mapping[str, Any]
) -> dict[str, Any]:
    """``other_prompts`` and ``prompts_label`` of an entry: its prompts against today's
    (drp_bench.run.prompts_fingerprint; the entry's config as reproduce runs it here)."""
    from drp_bench.leaderboard.rerun_config import prompts_status

    status = prompts_status(entry_sha256, config)
    made = f" (commit {commit[:12]})" if commit else ""
    if status == "current":
        return {"other_prompts": False, "prompts_label": None}
    if status == "other":
        return {"other_prompts": True, "prompts_label": f"made with other prompts{made}"}
    what = "prompts not recorded" if entry_sha256 is None else "prompts not comparable here"
    return {"other_prompts": None, "prompts_label": what + made}


# ---------------------------------------------------------------- the paper's rows


def _paper_model(name: str) -> dict[str, Any]:
    size = re.search(r"(\d+(?:\.\d+)?)B", name)
    family = "r1-distill-qwen" if "R1-Distill" in name else "qwen2.5-instruct"
    hub = ("deepseek-ai/" if "R1-Distill" in name else "Qwen/") + name
    return {
        "name": name, "hub_id": hub, "family": family,
        "params_b": float(size.group(1)) if size else None,
        "reasoning": "R1-Distill" in name, "revision": None, "sha256": None,
    }  # fmt: skip


def reported_rows(table: Path) -> list[Row]:
    """The DRP paper's numbers: DRP per extractor (generator Qwen2.5-14B-Instruct), the
    baselines as the paper lists them (copied from DPL's paper: Qwen2.5-7B-Instruct)."""
    if not table.is_file():
        return []
    grouped: dict[tuple[str, str, str], dict[str, float]] = {}
    with table.open(encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            if rec["dataset"] not in PAPER_SPLITS or rec["metric"] not in PAPER_METRICS:
                continue
            key = (rec["dataset"], rec["method"], rec["extractor_model"] or "")
            grouped.setdefault(key, {})[PAPER_METRICS[rec["metric"]]] = float(rec["value"])
    rows: list[Row] = []
    for (dataset, method_label, extractor), values in grouped.items():
        method = PAPER_METHODS.get(method_label, method_label.lower())
        if extractor:
            models = {
                "extractor": _paper_model(extractor),
                "generator": _paper_model("Qwen2.5-14B-Instruct"),
            }
        elif method == "dpl":
            models = {}
        else:
            models = {"generator": _paper_model("Qwen2.5-7B-Instruct")}
        main = _main_role(models) or {}
        rows.append(
            Row(
                id=f"paper:{dataset}:{method}:{extractor or '-'}".lower(),
                split=PAPER_SPLITS[dataset],
                trust="reported",
                rank=None,
                flags=[],
                method=method,
                method_label=method_label,
                family=main.get("family"),
                params_b=main.get("params_b"),
                models=models,  # type: ignore[typeddict-item]
                metrics={
                    m: MetricValue(value=v, ci_low=None, ci_high=None) for m, v in values.items()
                },
                uvq=None,
                tokens_per_sample=None,
                calls_per_sample=None,
                date="2025-11",  # arXiv 2511.15389
                submitter=None,
                notes="Reported in the paper; not verified by drp-bench.",
                settings={"dataset": dataset},
                samples=[],
                source=PAPER_SOURCE,
                other_prompts=None,
                prompts_label=None,
            )
        )
    return rows


# ---------------------------------------------------------------- the board


def trust_of(result: VerifyResult, board: Path, recomputed: bool) -> Trust | None:
    raw = result.raw or {}
    verified = recomputed or matches(load_records(board, VERIFICATIONS).get(result.entry_id), raw)
    if not verified:
        return None
    record = load_records(board, REPRODUCTIONS).get(result.entry_id)
    return "reproduced" if matches(record, raw) and record.get("identical") else "verified"


def _data_missing(problems: list[str]) -> bool:
    return bool(problems) and all(p.startswith("cannot recompute the scores:") for p in problems)


def flags_of(result: VerifyResult, board: Path, recomputed: bool) -> list[str]:
    """Why the entry is suspect: found by verify, or, when the split's data is not at hand,
    recorded in ``verifications.json`` plus the ceilings checked on the claimed scores."""
    if recomputed:
        return list(result.suspect)
    record = load_records(board, VERIFICATIONS).get(result.entry_id) or {}
    recorded = [str(f) for f in record.get("suspect") or []]
    return recorded + [f for f in ceiling_flags(result.claimed) if f not in recorded]


def ranked(row: Row) -> bool:
    """Measured here, and not suspect unless reproduced."""
    return row["trust"] == "reproduced" or (row["trust"] == "verified" and not row["flags"])


def rank_rows(rows: list[Row]) -> list[Row]:
    """Set each row's rank, per split: reproduced entries first, then verified ones, each by
    ROUGE-L (best first; ties by id); None for a suspect entry not reproduced and for a
    reported row. Returns the rows."""
    trust_order = {"reproduced": 0, "verified": 1}

    def key(row: Row) -> tuple[int, bool, float, str]:
        metric = row["metrics"].get("rougeL")
        return (
            trust_order[row["trust"]],
            metric is None,
            -metric["value"] if metric else 0.0,
            row["id"],
        )

    by_split: dict[str, list[Row]] = {}
    for row in rows:
        row["rank"] = None
        if ranked(row):
            by_split.setdefault(row["split"], []).append(row)
    for split_rows in by_split.values():
        for position, row in enumerate(sorted(split_rows, key=key), start=1):
            row["rank"] = position
    return rows


def _entry_row(
    result: VerifyResult, board: Path, registry: Registry
) -> tuple[Row | None, list[str]]:
    """The entry's row, or None and why it is left out."""
    data_missing = _data_missing(result.problems)
    if result.problems and not data_missing:
        return None, result.problems
    trust = trust_of(result, board, recomputed=not result.problems)
    if trust is None:
        return None, result.problems
    record = registry.get(result.submission.split.id)  # type: ignore[union-attr]
    flags = flags_of(result, board, recomputed=not result.problems)
    row = entry_row(result, trust, bool(record and record.public), flags)
    nonfinite = [f"{where} is {what}" for where, what in nonfinite_fields(row)]
    if nonfinite:  # verify refuses these; never let one reach the page's JSON
        return None, [f"the board row would hold non-finite numbers: {', '.join(nonfinite)}"]
    return row, []


def collect_board(
    board: Path,
    data_paths: Mapping[str, Path] | None = None,
    paper_table: Path | None = None,
) -> tuple[Board, list[Excluded]]:
    """The board of every entry that verifies, and the entries left out with why. One broken
    entry never stops the others from being shown."""
    from drp_bench.resources import paper_table_path

    board = Path(board)
    registry = load_registry(board)
    rows: list[Row] = []
    excluded: list[Excluded] = []
    keys = existing_dedup_keys(board)
    for folder in entry_folders(board):
        try:
            row, problems = _entry_row(
                verify_entry(folder, board, data_paths, keys), board, registry
            )
        except Exception as e:  # whatever breaks in one entry, the others are still shown
            row, problems = None, [f"could not be checked: {type(e).__name__}: {e}"]
        if row is None:
            excluded.append(Excluded(folder.name, problems))
        else:
            rows.append(row)
    rank_rows(rows)
    rows.extend(reported_rows(paper_table or paper_table_path()))
    splits: list[Split] = [
        Split(id=s.id, title=s.title, description=s.description, num_samples=s.num_samples)
        for s in registry.splits
    ]
    for split_id, title in PAPER_SPLIT_TITLES.items():
        if not any(s["id"] == split_id for s in splits):
            splits.append(
                Split(
                    id=split_id,
                    title=title,
                    description="Not registered here: the paper's reported numbers only.",
                    num_samples=None,
                )
            )
    used = {r["split"] for r in rows}
    splits = [s for s in splits if s["id"] in used]
    board = Board(
        title=TITLE,
        metrics=dict(BOARD_METRICS),
        roles=list(DISPLAY_ROLES),
        splits=splits,
        rows=rows,
    )
    return board, excluded

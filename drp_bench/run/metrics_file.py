"""metrics.json of a run: quality metrics, feature counts, UVQ, calls and inference compute."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, cast

from drp_bench.config.run_config import RunConfig
from drp_bench.data.types import Dataset
from drp_bench.methods.contracts import CALL_RECORDS
from drp_bench.metrics.table import METRICS

#: Sample statuses left out of the scores by design (not failures): peer without another
#: reviewer of the item.
UNSCORED = frozenset({"excluded"})
TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens")


def stage_calls(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every (stage, call) of one predictions.jsonl record (an item's several calls, e.g.
    extraction samples, each)."""
    calls = []
    for stage in CALL_RECORDS:
        entry = record["stages"].get(stage)
        if entry is None:
            continue
        for call in entry if isinstance(entry, list) else [entry]:
            calls.extend((stage, c) for c in call.get("calls") or [call])
    return calls


def compute_summary(records: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, int]]:
    """Per-stage token/latency totals plus per-sample means, and the call counts."""
    per_stage: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    calls = {"total": 0, "failed": 0, "cached": 0, "skipped": 0, "reasoning_truncated": 0}
    for record in records:
        for stage, call in stage_calls(record):
            if call.get("skipped"):
                calls["skipped"] += 1
                continue
            s = per_stage[stage]
            s["calls"] += 1
            for key in TOKEN_FIELDS:
                s[key] += call.get(key) or 0
            s["latency_s"] += call.get("latency_s") or 0.0
            calls["total"] += 1
            calls["failed"] += int(call.get("error") is not None)
            calls["cached"] += int(bool(call.get("cached")))
            calls["reasoning_truncated"] += int(bool(call.get("reasoning_truncated")))
    compute: dict[str, Any] = {
        stage: {k: (round(v, 3) if k == "latency_s" else int(v)) for k, v in values.items()}
        for stage, values in per_stage.items()
    }
    n = max(len(records), 1)
    compute["per_sample"] = {
        key: round(sum(per_stage[s][key] for s in per_stage) / n, 2)
        for key in (*TOKEN_FIELDS, "calls", "latency_s")
    }
    return compute, calls


def compute_knobs(cfg: RunConfig) -> dict[str, Any]:
    """The run block's compute knobs, as the method's stages have them (none for a method
    without the stage; left out of the file at 1: drp_bench.run.folder.RunInfo)."""
    out: dict[str, Any] = {}
    for stage in cfg.method.own_stages:
        if stage.kind == "extract_differences" and stage.options["samples"] > 1:
            from drp_bench.pipeline.agreement import majority

            samples = stage.options["samples"]
            out["extract_samples"] = samples
            out["extract_agree"] = stage.options["agree"] or majority(samples)
            out["extract_temperature"] = float(stage.options["temperature"])
        if stage.kind == "validate_differences" and stage.options["rounds"] > 1:
            out["validate_rounds"] = stage.options["rounds"]
    return out


def feature_summary(records: list[dict[str, Any]], stage: str) -> dict[str, Any] | None:
    """Parsed / malformed outputs of a feature stage; failed or skipped calls count apart."""
    entries = [e for r in records for e in r["stages"].get(stage, [])]
    if not entries:
        return None
    answered = [e for e in entries if e.get("error") is None]
    parsed = sum(1 for e in answered if e.get("parse_ok"))
    n_features = sum(len(e.get("features") or []) for e in answered)
    return {
        "stage": stage,
        "items": len(entries),
        "parsed": parsed,
        "malformed": len(answered) - parsed,
        "failed": len(entries) - len(answered),
        "per_item_mean": round(n_features / max(len(answered), 1), 3),
    }


def failure_summary(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Failed and skipped calls per stage and the samples they touch; None when all succeeded."""
    by_stage: dict[str, dict[str, int]] = {}
    samples: dict[str, str] = {}
    for record in records:
        for stage, call in stage_calls(record):
            counts = by_stage.setdefault(stage, {"calls": 0, "failed": 0, "skipped": 0})
            counts["calls"] += 1
            if call.get("skipped"):
                counts["skipped"] += 1
            elif call.get("error") is not None:
                counts["failed"] += 1
        status = record.get("status") or ("failed" if record.get("error") else "complete")
        if status in UNSCORED:  # left out by design: not a failure
            continue
        if status != "complete" or record.get("failed_stages"):
            samples[record["sample_id"]] = status
    failed = sum(c["failed"] for c in by_stage.values())
    skipped = sum(c["skipped"] for c in by_stage.values())
    if not failed and not skipped and not samples:
        return None
    made = sum(c["calls"] - c["skipped"] for c in by_stage.values())
    per_stage = ", ".join(
        f"{stage} {c['failed']}/{c['calls'] - c['skipped']}"
        + (f" (+{c['skipped']} skipped)" if c["skipped"] else "")
        for stage, c in by_stage.items()
        if c["failed"] or c["skipped"]
    )
    no_prediction = sum(1 for v in samples.values() if v == "failed")
    reason = (
        f"{failed} of {made} calls failed ({per_stage}); {len(samples)} of {len(records)} "
        f"samples affected, {no_prediction} without a prediction"
    )
    return {
        "reason": reason,
        "calls_by_stage": by_stage,
        "samples": sorted(samples),
        "sample_status": samples,
    }


def uvq_summary(
    records: list[dict[str, Any]], rules: tuple[str, ...] = ("drop-conflicts",)
) -> dict[str, Any] | None:
    """metrics.json's ``uvq``: by the first of ``rules``; with several rules, each one's
    summary under ``by_rule`` too (the report shows them side by side)."""
    if not any("normalize" in r["stages"] for r in records):
        return None
    from drp_bench.uvq.normalize import Unit
    from drp_bench.uvq.score import run_uvq, user_uvq

    by_rule: dict[str, Any] = {}
    for rule in rules:
        users = []
        for record in records:
            entries = record["stages"].get("normalize", [])
            units_per_item = [[Unit.from_dict(u) for u in e.get("units", [])] for e in entries]
            malformed = sum(1 for e in entries if not e.get("parse_ok"))
            users.append(user_uvq(units_per_item, rule=rule, malformed_items=malformed))  # type: ignore[arg-type]
        by_rule[rule] = run_uvq(users)
    main = by_rule[rules[0]]
    if main is not None and len(rules) > 1:
        main = {**main, "by_rule": by_rule}
    return main


def score_records(records: list[dict[str, Any]], seed: int) -> dict[str, float]:
    """Score the run once: each record gets its per-sample ``scores`` (null for a sample left
    out by design, :data:`UNSCORED`; a failed sample is scored as its empty prediction), and
    the corpus metrics of metrics.json, from the same pass, are returned ({} when none is
    scored)."""
    from drp_bench.metrics.text import score_samples

    scored = [r for r in records if r.get("status") not in UNSCORED]
    for record in records:
        record["scores"] = None
    if not scored:
        return {}
    predictions = [r["prediction"] for r in scored]
    references = [r["reference"] for r in scored]
    corpus, per_sample = score_samples(predictions, references, seed=seed)
    for record, sample_scores in zip(scored, per_sample, strict=True):
        record["scores"] = sample_scores
    return corpus


def summarize_run(
    cfg: RunConfig,
    dataset: Dataset,
    records: list[dict[str, Any]],
    scores: dict[str, float] | None = None,
) -> dict:
    """metrics.json's content; ``scores``: the corpus metrics :func:`score_records` returned
    for these records (None: scored here, the records left as they are)."""
    if scores is None:
        from drp_bench.metrics.text import score_all

        scored = [r for r in records if r.get("status") not in UNSCORED]
        predictions = [r["prediction"] for r in scored]
        references = [r["reference"] for r in scored]
        scores = score_all(predictions, references, seed=cfg.seed) if scored else {}
    compute, calls = compute_summary(records)
    method = cfg.method
    final_stage = "validate" if method.validate else "extract"
    failures = failure_summary(records)
    out: dict[str, Any] = {
        "status": "degraded" if failures else "complete",
        "failures": failures,
        "run": {
            "method": method.name,
            "dataset": dataset.name,
            "split": dataset.split,
            "num_samples": len(records),
            "num_users": cfg.num_users,
            "num_retrieved": cfg.num_retrieved,
            "dimensions": method.dimensions,
            "validate": method.validate,
            "summary_reads": method.summary_reads if method.differences else None,
            "temperature": cfg.roles["generator"].sampling.temperature,
            "seed": cfg.seed,
            "models": {role: spec.summary() for role, spec in cfg.used_roles.items()},
            **compute_knobs(cfg),
        },
        "metrics": scores,
        "failed_samples": sum(1 for r in records if r.get("status") == "failed"),
        "features": feature_summary(records, final_stage) if method.differences else None,
        "extracted_features": feature_summary(records, "extract") if method.differences else None,
        "uvq": uvq_summary(records, cfg.uvq_rules),
        "calls": calls,
        "compute": compute,
    }
    # written only when there is something to say (the writer's defaults are 0 and null)
    excluded = sum(1 for r in records if r.get("status") in UNSCORED)
    if excluded:
        out = _insert_after(out, "failed_samples", "excluded_samples", excluded)
    out = _with_scorer_sections(
        out, cfg, records, "excluded_samples" if excluded else "failed_samples"
    )
    if out.get("judge") is not None:  # whether the run allowed a judge that is the generator
        out["judge"]["judge_self"] = cfg.judge_self
    return out


def _with_scorer_sections(
    out: dict[str, Any], cfg: RunConfig, records: list[dict[str, Any]], after: str
) -> dict[str, Any]:
    """Each scorer stage's summary of the rows (e.g. the LLM judge's), under its record name,
    placed after ``after``."""
    if not cfg.method.scorers:
        return out
    from drp_bench.pipeline.kinds import kinds
    from drp_bench.pipeline.kinds.base import ScorerKind

    for stage in cfg.method.scorers:
        assert stage.role is not None
        scorer = cast(ScorerKind, kinds()[stage.kind])
        summary = scorer.summary(stage, records, cfg.roles[stage.role].name)
        out, after = _insert_after(out, after, stage.record, summary), stage.record
    return out


def _insert_after(d: dict[str, Any], after: str, key: str, value: Any) -> dict[str, Any]:
    """``d`` with ``key`` placed right after ``after`` (the order of metrics.json's fields)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        out[k] = v
        if k == after:
            out[key] = value
    return out


# ---------------------------------------------------------------- terminal summary


def format_summary(metrics: dict) -> str:
    """A short plain-text table of a run's scores and cost."""
    m = metrics.get("metrics", {})
    run = metrics.get("run", {})
    rows = [
        ("method", run.get("method")),
        ("dataset", f"{run.get('dataset')} ({run.get('num_samples')} samples)"),
        ("extractor", run.get("models", {}).get("extractor", {}).get("name")),
        ("generator", run.get("models", {}).get("generator", {}).get("name")),
        *((info.label, _fmt(m.get(info.key))) for info in METRICS),
        *_judge_rows(metrics),
        *_excluded_rows(metrics),
        ("calls (cached/failed)", "{total} ({cached}/{failed})".format(**metrics["calls"])),
        *_truncated_row(metrics["calls"]),
        ("samples affected", _affected(metrics)),
        (
            "tokens per sample",
            _fmt(metrics["compute"]["per_sample"]["completion_tokens"], 1)
            + " completion, "
            + _fmt(metrics["compute"]["per_sample"]["prompt_tokens"], 1)
            + " prompt",
        ),
        ("wall time", f"{metrics.get('wall_time_s', 0):.1f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join([status_line(metrics), *(f"{k.ljust(width)}  {v}" for k, v in rows)])


def status_line(metrics: dict) -> str:
    """First line of a run's summary: complete, or DEGRADED with what failed."""
    if metrics.get("status") == "complete":
        return "status: complete (every call succeeded)"
    reason = (metrics.get("failures") or {}).get("reason", "some calls failed")
    return (
        f"DEGRADED: {reason}. Scores below are not the method's; re-run the same command to "
        "retry only the failed calls (the others come from the cache)."
    )


def _truncated_row(calls: dict) -> list[tuple[str, str]]:
    """A row for reasoning outputs cut off before ``</think>``, when there were any."""
    n = calls.get("reasoning_truncated") or 0
    return [("reasoning cut off", f"{n} calls (no </think>: whole text kept)")] if n else []


def _judge_rows(metrics: dict) -> list[tuple[str, str]]:
    """The LLM judge's line: mean/10 with its CI and the parsed/unparsed counts."""
    j = metrics.get("judge")
    if not j:
        return []
    ci = f" [{j['ci_low']:.4f}, {j['ci_high']:.4f}]" if j.get("ci_low") is not None else ""
    counts = f"{j['parsed']} parsed, {j['unparsed']} unparsed"
    counts += f", {j['failed']} failed" if j.get("failed") else ""
    rows = [("LLM judge (0-1)", f"{_fmt(j.get('mean'))}{ci} ({counts}; {j['model']})")]
    if j.get("unparsed") and j.get("mean_unparsed_zero") is not None:  # DPL's way differs
        rows.append(("LLM judge, unparsed=0", _fmt(j["mean_unparsed_zero"])))
    return rows


def _excluded_rows(metrics: dict) -> list[tuple[str, str]]:
    n = metrics.get("excluded_samples") or 0
    return [("samples excluded", f"{n} (no prediction by design; not scored)")] if n else []


def _affected(metrics: dict) -> str:
    failures = metrics.get("failures") or {}
    n = metrics.get("run", {}).get("num_samples")
    ids = failures.get("samples") or []
    shown = ", ".join(ids[:5]) + (f", ... (+{len(ids) - 5})" if len(ids) > 5 else "")
    return f"{len(ids)} of {n}" + (f": {shown}" if ids else "")


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"

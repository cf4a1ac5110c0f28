"""The plan as a terminal table: a row per job and stage, then the totals."""

from __future__ import annotations

from typing import Any

COLUMNS = (
    ("job", "<"),
    ("stage", "<"),
    ("model", "<"),
    ("calls", ">"),
    ("cached", ">"),
    ("prompt tok", ">"),
    ("compl. tok", ">"),
    ("hours", ">"),
    ("GPU-h", ">"),
)


def _count(n: float) -> str:
    return f"{n:,.0f}"


def _hours(h: float) -> str:
    return f"{h:.3f}" if h < 10 else f"{h:,.1f}"


def _job_name(job: dict[str, Any], n: int) -> str:
    return f"{n}: " + (" ".join(job["overrides"]) or "(defaults)")


def format_plan(body: dict[str, Any], width: int = 48) -> str:
    """Every job's stages and the plan's totals; notes say which figures are estimates."""
    rows: list[tuple[str, ...]] = []
    marks: set[str] = set()
    for n, job in enumerate(body["jobs"]):
        name = _job_name(job, n)
        name = name if len(name) <= width else name[: width - 1] + "…"
        for stage in job["stages"]:
            prompt_mark = "" if stage["prompt_tokens_exact"] else "~"
            source = stage["completion_tokens_source"]
            compl_mark = "≤" if source.startswith("max_tokens") else ""
            compl_mark = "≈" if source.startswith("assumed") else compl_mark
            marks.update({prompt_mark, compl_mark} - {""})
            rows.append(
                (
                    name,
                    stage["stage"],
                    stage["model"],
                    _count(stage["calls"]),
                    _count(stage["cached"]),
                    prompt_mark + _count(stage["prompt_tokens"]),
                    compl_mark + _count(stage["completion_tokens_expected"]),
                    _hours(stage["hours"]),
                    _hours(stage["gpu_hours"]),
                )
            )
            name = ""
    t = body["totals"]
    rows.append(
        (
            f"total ({t['jobs']} job{'s' if t['jobs'] != 1 else ''})",
            "",
            "",
            _count(t["calls"]),
            _count(t["cached"]),
            _count(t["prompt_tokens"]),
            _count(t["completion_tokens_expected"]),
            _hours(t["hours"]),
            _hours(t["gpu_hours"]),
        )
    )
    head = tuple(c for c, _ in COLUMNS)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(COLUMNS))]

    def line(row: tuple[str, ...]) -> str:
        cells = [
            f"{cell:{align}{w}}" for cell, (_, align), w in zip(row, COLUMNS, widths, strict=True)
        ]
        return "  ".join(cells).rstrip()

    out = [line(head), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows[:-1]]
    out += ["  ".join("-" * w for w in widths), line(rows[-1])]
    out.append("")
    out.append(
        "prompt tok: all prompt tokens (cached calls included); compl. tok and hours: the calls "
        "not in the call cache"
    )
    if "~" in marks:
        out.append(
            "~ estimate: some prompts read an earlier answer not in the cache (a stand-in of "
            "the expected length), or the model's own tokenizer is not on this machine"
        )
    if "≤" in marks:
        out.append("≤ upper bound: max_tokens per call (no cached call of that model and stage)")
    if "≈" in marks:
        out.append(
            f"≈ assumed: {body.get('completion_tokens_without_records')} per call "
            "(--completion-tokens; no cached call of that model and stage)"
        )
    over = [
        (n, s["stage"], s["over_context"], s["model"])
        for n, j in enumerate(body["jobs"])
        for s in j["stages"]
        if s.get("over_context")
    ]
    for n, stage, count, model in over[:10]:
        out.append(
            f"! job {n} {stage}: {count:,} prompt(s) plus max_tokens exceed {model}'s context "
            "length (as planned: they would fail or be cut)"
        )
    if len(over) > 10:
        out.append(f"! ... and {len(over) - 10} more stage(s) with prompts over the context")
    methods = sorted({s["prompt_tokens_method"] for j in body["jobs"] for s in j["stages"]})
    out += [f"tokens counted with {m}" for m in methods]
    hardware = sorted(
        {
            f"{s['model']}: {s['hardware']}, {s['prefill_tokens_per_s']:g} prompt tok/s, "
            f"{s['decode_tokens_per_s']:g} completion tok/s"
            + (f", {s['gpus']} GPU(s) per replica" if s["gpus"] else "")
            for j in body["jobs"]
            for s in j["stages"]
        }
    )
    out += [f"throughput assumed for {h}" for h in hardware]
    return "\n".join(out)

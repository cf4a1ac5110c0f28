"""Render a :class:`~drp_bench.leaderboard.view.Board` as the leaderboard's README and page.

- :func:`render_readme`: Markdown, one table per split (``results/leaderboard/README.md``).
- :func:`render_html`: one self-contained HTML file (``index.html``): the board as JSON inside
  the page, drawn by the page's own script (sortable tables, filters, scaling chart, detail
  view); no request leaves the file (a Content-Security-Policy forbids any).
- :func:`write_site`: both files, each written atomically.

The output depends on the board only (no dates, no paths), so a committed page can be checked
for being current by rendering it again.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import tempfile
from importlib import resources
from pathlib import Path

from drp_bench.leaderboard.view import Board, MetricValue, RoleModel, Row
from drp_bench.methods.contracts import DISPLAY_ROLES

#: Roles in pipeline order, for listing a row's models (other roles follow, in the row's order).
TRUST_ORDER = ("reproduced", "verified", "reported")
TRUST_MEANING = {
    "reproduced": "the entry's configuration was run again with the same models and gave the "
    "same predictions",
    "verified": "every score was recomputed by the leaderboard from the entry's predictions",
    "reported": "numbers copied from a paper, never verified here",
}
SUSPECT_MEANING = (
    "verified, but its predictions copy the references or its scores are above what review "
    "generation plausibly reaches; shown, not ranked until reproduced"
)
RANK_MEANING = (
    "per split, reproduced entries first, then verified ones, each by ROUGE-L: a verified "
    "entry is never ranked above a reproduced one. Suspect entries are not ranked until "
    "reproduced, reported rows never"
)
BUILD_COMMAND = "drp-bench leaderboard build"
MISSING = "—"

# ---------------------------------------------------------------- formatting


def format_params(params_b: float | None) -> str:
    """Parameters in billions as a size: 7 -> "7B", 1.5 -> "1.5B", 0.135 -> "135M"."""
    if params_b is None:
        return MISSING
    if params_b < 1:
        return f"{params_b * 1000:.4g}M"
    return f"{params_b:.4g}B"


def format_metric(metric: MetricValue | None) -> str:
    """``0.1234 [0.101, 0.150]``; the value alone without a CI."""
    if metric is None:
        return MISSING
    text = f"{metric['value']:.4f}"
    if metric["ci_low"] is not None and metric["ci_high"] is not None:
        text += f" [{metric['ci_low']:.3f}, {metric['ci_high']:.3f}]"
    return text


def ordered_roles(models: dict[str, RoleModel]) -> list[str]:
    known = [role for role in DISPLAY_ROLES if role in models]
    return known + [role for role in models if role not in DISPLAY_ROLES]


def models_summary(row: Row) -> str:
    """One model: its name. Several: ``A (extractor, validator); B (summarizer, generator)``."""
    groups: dict[str, list[str]] = {}
    for role in ordered_roles(row["models"]):
        groups.setdefault(row["models"][role]["name"], []).append(role)
    if len(groups) <= 1:
        return next(iter(groups), MISSING)
    return "; ".join(f"{name} ({', '.join(roles)})" for name, roles in groups.items())


def rouge_l_order(rows: list[Row]) -> list[Row]:
    """By ROUGE-L, best first; rows without one last; ties by id (a stable, total order)."""

    def key(row: Row) -> tuple[bool, float, str]:
        metric = row["metrics"].get("rougeL")
        return (metric is None, -metric["value"] if metric else 0.0, row["id"])

    return sorted(rows, key=key)


def is_suspect(row: Row) -> bool:
    """Flagged and not reproduced: shown, not ranked."""
    return bool(row["flags"]) and row["trust"] == "verified"


def board_order(rows: list[Row]) -> list[Row]:
    """Ranked rows by rank, then the unranked ones (suspect, reported) by ROUGE-L."""
    ranked = sorted((r for r in rows if r["rank"] is not None), key=lambda r: r["rank"] or 0)
    return ranked + rouge_l_order([r for r in rows if r["rank"] is None])


def trust_text(row: Row) -> str:
    return f"suspect ({row['trust']})" if is_suspect(row) else row["trust"]


# ---------------------------------------------------------------- README.md

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|<>])")


def md_cell(text: str) -> str:
    """Text as one Markdown table cell: no line breaks, Markdown/HTML characters escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _readme_cells(row: Row, metrics: dict[str, str]) -> list[str]:
    tokens = row["tokens_per_sample"]
    return [
        MISSING if row["rank"] is None else str(row["rank"]),
        md_cell(row["method_label"]),
        md_cell(models_summary(row)),
        format_params(row["params_b"]),
        md_cell(row["family"] or MISSING),
        *(format_metric(row["metrics"].get(key)) for key in metrics),
        MISSING if row["uvq"] is None else f"{row['uvq']:.2f}",
        MISSING if tokens is None else f"{tokens:,.0f}",
        md_cell(trust_text(row)),
        md_cell(row["date"]),
        md_cell(row["prompts_label"] or ("today's" if row["other_prompts"] is False else MISSING)),
    ]


def _flag_notes(rows: list[Row]) -> list[str]:
    """Under a split's table: each flagged entry with its flags (suspect ones, then those a
    reproduction lifted)."""
    lines: list[str] = []
    for title, group in (
        ("Suspect, not ranked until reproduced:", [r for r in rows if is_suspect(r)]),
        ("Flagged, ranked because reproduced:", [r for r in rows if r["flags"] and r["rank"]]),
    ):
        if group:
            lines += ["", title, ""]
            lines += [f"- {md_cell(r['id'])}: {md_cell('; '.join(r['flags']))}" for r in group]
    return lines


def render_readme(board: Board) -> str:
    metrics = board["metrics"]
    lines = [
        f"# {md_cell(board['title'])}",
        "",
        "Every row has a trust level:",
        "",
        *(f"- **{trust}**: {TRUST_MEANING[trust]}." for trust in TRUST_ORDER),
        f"- **suspect**: {SUSPECT_MEANING}.",
        "",
        f"Rank (#): {RANK_MEANING}.",
        "",
        "Metrics are shown with their 95% bootstrap confidence interval, `value [low, high]` "
        "(reported rows have none). UVQ: unique valid difference features per sample. "
        "`index.html` next to this file is the interactive page: "
        "sortable and filterable tables, the scaling chart and each entry's details.",
        "Params: the extractor's parameters (the generator's for a method without one); "
        "Family: that model's family. Prompts: whether the entry was made with today's "
        "prompt templates and method stages (an entry made with other prompts is reproduced "
        "at its own commit).",
    ]
    header = ["#", "Method", "Models", "Params", "Family", *metrics.values()]
    header += ["UVQ", "Tokens/sample", "Trust", "Date", "Prompts"]
    align = ["---:"] + ["---"] * 4 + ["---:"] * (len(metrics) + 2) + ["---"] * 3
    for split in board["splits"]:
        rows = board_order([row for row in board["rows"] if row["split"] == split["id"]])
        lines += ["", f"## {md_cell(split['title'])}", ""]
        about = " ".join(split["description"].split())
        if split["num_samples"] is not None:
            about = f"{about} ({split['num_samples']} samples)".strip()
        if about:
            lines += [md_cell(about), ""]
        if not rows:
            lines.append("No entries yet.")
            continue
        lines += [_md_row(header), _md_row(align)]
        lines += [_md_row(_readme_cells(row, metrics)) for row in rows]
        lines += _flag_notes(rows)
    lines += [
        "",
        f"Generated by `{BUILD_COMMAND}` from the leaderboard's entries; do not edit by hand.",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- index.html

#: Characters that JSON may leave as they are but a ``<script>`` element must not contain:
#: ``<``/``>`` (``</script>``, ``<!--``), ``&``, and the JavaScript line terminators.
_SCRIPT_UNSAFE = {char: f"\\u{ord(char):04x}" for char in "<>&\u2028\u2029"}
_SCRIPT_UNSAFE_RE = re.compile("[<>&\u2028\u2029]")


def board_json(board: Board) -> str:
    """The board as JSON that is safe inside ``<script type="application/json">``.

    The escaped characters can only occur inside JSON strings, where ``\\uXXXX`` means the
    same character, so ``JSON.parse`` returns the board unchanged. NaN or infinity is an error
    (JSON has neither).
    """
    try:
        text = json.dumps(board, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError as exc:
        raise ValueError(f"the board holds a number JSON cannot represent: {exc}") from exc
    return _SCRIPT_UNSAFE_RE.sub(lambda match: _SCRIPT_UNSAFE[match.group()], text)


def _template(name: str) -> str:
    return (resources.files("drp_bench.leaderboard") / "page" / name).read_text(encoding="utf-8")


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_html(board: Board) -> str:
    """The page: ``page.html`` with ``page.css``, ``page.js`` and the board filled in.

    The script may run only because its sha256 is in the page's CSP, so markup injected into
    the page could not run a script even if it got there (the data goes through JSON and
    ``textContent`` only).
    """
    script = _template("page.js")
    style = _template("page.css")
    if "</" in script or "</" in style:
        raise ValueError("page.js / page.css must not contain '</' (it would end their element)")
    values = {
        "TITLE": html.escape(board["title"]),
        "CSS": style,
        "JS": script,
        "SCRIPT_HASH": _csp_hash(script),
        "BOARD_JSON": board_json(board),
    }
    # One pass: text filled in is never scanned for placeholders again.
    return re.sub(r"@@([A-Z_]+)@@", lambda match: values[match.group(1)], _template("page.html"))


# ---------------------------------------------------------------- files


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make the page private to its writer
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_site(board: Board, out_dir: Path) -> list[Path]:
    """Write ``README.md`` and ``index.html`` into ``out_dir`` (created if missing)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("README.md", render_readme(board)), ("index.html", render_html(board))):
        _write_atomic(out_dir / name, text)
        written.append(out_dir / name)
    return written

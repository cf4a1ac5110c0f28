"""The leaderboard's README and page (drp_bench.leaderboard.build), the page in a real browser.

The browser tests open the written ``index.html`` from disk in headless Chromium (Debian's, see
``make browser`` and tests/browser.py) and use it as a reader would: sort, filter, open an
entry, switch the chart's metric. Every request the page makes is recorded (only the file
itself is allowed) and so are console messages and script errors (none allowed).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drp_bench.leaderboard.board import rank_rows
from drp_bench.leaderboard.build import (
    board_json,
    format_metric,
    md_cell,
    render_html,
    render_readme,
    write_site,
)
from drp_bench.leaderboard.view import BOARD_METRICS, Board, Row
from drp_bench.methods.contracts import DISPLAY_ROLES
from tests.conftest import require, require_executable

XSS = "</script><img src=x onerror=alert(1)>"
MUSIC, BOOKS, COPY = "music_sample", "books", "copy_split"
COPY_FLAG = "predictions.jsonl.gz: 3 of 3 predictions copy their reference"

# ---------------------------------------------------------------- the board


def model(name: str, family: str | None, params_b: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "hub_id": extra.get("hub_id", f"org/{name}"),
        "family": family,
        "params_b": params_b,
        "reasoning": family == "R1-Distill",
        "revision": extra.get("revision"),
        "sha256": extra.get("sha256"),
    }


QWEN7 = model("Qwen2.5-7B-Instruct", "Qwen2.5", 7, revision="a09a354")
QWEN05 = model("Qwen2.5-0.5B-Instruct", "Qwen2.5", 0.5)
QWEN14 = model("Qwen2.5-14B-Instruct", "Qwen2.5", 14)
R1_7 = model("R1-Distill-Qwen-7B", "R1-Distill", 7, sha256="ab" * 32)
R1_14 = model("R1-Distill-Qwen-14B", "R1-Distill", 14, hub_id="deepseek-ai/R1-14B")
UNKNOWN = model("my-local-model", None, None, hub_id=None)  # no family, no size


def metrics(bleu: float, rouge_l: float, ci: bool = True, meteor: bool = True) -> dict:
    values = {"bleu": bleu, "meteor": 0.1 + bleu, "rouge1": rouge_l + 0.05, "rougeL": rouge_l}
    if not meteor:
        del values["meteor"]
    return {
        key: {
            "value": value,
            "ci_low": round(value * 0.9, 4) if ci else None,
            "ci_high": round(value * 1.1, 4) if ci else None,
        }
        for key, value in values.items()
    }


def row(
    id: str,
    split: str,
    method: str,
    extractor: dict,
    bleu: float,
    rouge_l: float,
    trust: str = "verified",
    **extra: Any,
) -> Row:
    generator = extra.pop("generator", QWEN7)
    label = {"drp": "DRP", "dpl": "DPL", "rag": "RAG", "nonp": "Non-P"}[method]
    reported = trust == "reported"
    base: dict[str, Any] = {
        "id": id,
        "split": split,
        "trust": trust,
        "rank": None,  # rank_rows
        "flags": extra.pop("flags", []),
        "method": method,
        "method_label": label,
        "family": extractor["family"],
        "params_b": extractor["params_b"],
        "models": {"extractor": extractor, "validator": extractor, "summarizer": generator}
        | {"generator": generator, "normalizer": generator},
        "metrics": metrics(bleu, rouge_l, ci=not reported, meteor=extra.pop("meteor", True)),
        "uvq": None if method in ("rag", "nonp") else 2.5,
        "tokens_per_sample": None if reported else 9168.3,
        "calls_per_sample": None if reported else 8.0,
        "date": "2026-11-20",
        "submitter": None if reported else "alice",
        "notes": None,
        "settings": {} if reported else {"num_retrieved": "8", "temperature": "0.0"},
        "samples": [],
        "source": "arXiv 2511.15389, Table 2" if reported else None,
        "other_prompts": None if reported else False,
        "prompts_label": None,
    }
    base.update(extra)
    return base  # type: ignore[return-value]


def make_board() -> Board:
    rows = [
        row("drp-qwen-0.5b", MUSIC, "drp", QWEN05, 0.010, 0.20, tokens_per_sample=2000.0),
        row("drp-qwen-7b", MUSIC, "drp", QWEN7, 0.030, 0.25, trust="reproduced"),
        row("drp-r1-7b", MUSIC, "drp", R1_7, 0.020, 0.22, tokens_per_sample=40000.0),
        row("rag-qwen-7b", MUSIC, "rag", QWEN7, 0.040, 0.18),
        row(
            "nonp-unknown",
            MUSIC,
            "nonp",
            UNKNOWN,
            0.001,
            0.15,
            generator=UNKNOWN,
            tokens_per_sample=300.0,
        ),
        row(
            "dpl-r1-14b",
            MUSIC,
            "dpl",
            R1_14,
            0.005,
            0.21,
            tokens_per_sample=12000.0,
            submitter="bob | <b>lab</b>",
            notes="Extractor at 14B.\nValidator follows it.",
            settings={"num_retrieved": "8", "uvq_rule": "drop-conflicts", "seed": "42"},
            samples=[
                {"sample_id": "u1", "prediction": XSS, "reference": None},
                {"sample_id": "u2", "prediction": "Great jazz & sax.", "reference": "Smooth."},
            ],
        ),
        row("paper:books:drp:qwen2.5-7b", BOOKS, "drp", QWEN7, 0.05, 0.30, trust="reported"),
        row("paper:books:drp:qwen2.5-14b", BOOKS, "drp", QWEN14, 0.06, 0.31, trust="reported"),
        row(
            "paper:books:dpl:qwen2.5-7b",
            BOOKS,
            "dpl",
            QWEN7,
            0.04,
            0.28,
            trust="reported",
            meteor=False,
        ),
        row("books-drp-qwen-7b", BOOKS, "drp", QWEN7, 0.055, 0.29),
        row("books-drp-r1-14b", BOOKS, "drp", R1_14, 0.045, 0.27),
        row("copy-honest", COPY, "nonp", UNKNOWN, 0.002, 0.16, generator=UNKNOWN),
        row("copy-cat", COPY, "nonp", UNKNOWN, 0.9, 0.99, generator=UNKNOWN, flags=[COPY_FLAG]),
    ]
    rank_rows(rows)  # type: ignore[arg-type]
    return {
        "title": "drp-bench leaderboard <R&D>",
        "metrics": dict(BOARD_METRICS),
        "roles": list(DISPLAY_ROLES),
        "splits": [
            {
                "id": MUSIC,
                "title": "Digital Music (bundled sample)",
                "description": "57 users of Amazon Digital Music.",
                "num_samples": 57,
            },
            {"id": BOOKS, "title": "Books (DPL-main)", "description": "", "num_samples": None},
            {"id": "empty", "title": "CDs (no entries)", "description": "", "num_samples": 9},
            {
                "id": COPY,
                "title": "A split with a suspect entry",
                "description": "",
                "num_samples": 3,
            },
        ],
        "rows": rows,
    }


#: The tables' default order: ranked rows by rank (reproduced first, then verified, each by
#: ROUGE-L), then the unranked ones (suspect, reported) by ROUGE-L.
MUSIC_ORDER = [
    "drp-qwen-7b",
    "drp-r1-7b",
    "dpl-r1-14b",
    "drp-qwen-0.5b",
    "rag-qwen-7b",
    "nonp-unknown",
]
BOOKS_ORDER = [
    "books-drp-qwen-7b",
    "books-drp-r1-14b",
    "paper:books:drp:qwen2.5-14b",
    "paper:books:drp:qwen2.5-7b",
    "paper:books:dpl:qwen2.5-7b",
]
COPY_ORDER = ["copy-honest", "copy-cat"]


# ---------------------------------------------------------------- no browser


def test_readme_has_one_table_per_split_sorted_by_rouge_l():
    text = render_readme(make_board())
    assert text.startswith("# drp-bench leaderboard \\<R&D\\>\n")
    for trust in ("reproduced", "verified", "reported", "suspect"):
        assert f"- **{trust}**: " in text
    assert "Rank (#): per split, reproduced entries first, then verified ones" in text
    assert "same models" in text and "recomputed" in text and "paper" in text

    sections = re.split(r"^## ", text, flags=re.M)[1:]
    assert [s.splitlines()[0] for s in sections] == [
        "Digital Music (bundled sample)",
        "Books (DPL-main)",
        "CDs (no entries)",
        "A split with a suspect entry",
    ]
    music, books, empty, copy = sections
    assert "57 users of Amazon Digital Music. (57 samples)" in music
    assert "No entries yet." in empty and "|" not in empty.split("Generated by")[0]

    header = "| # | Method | Models | Params | Family | BLEU | METEOR | ROUGE-1 | ROUGE-L | UVQ |"
    assert header + " Tokens/sample | Trust | Date | Prompts |" in music
    table = [line for line in music.splitlines() if line.startswith("| ")][2:]
    assert len(table) == 6
    # sorted by ROUGE-L; the CI after the value; one model, or models with their roles
    assert [line.split(" | ")[8] for line in table] == [
        "0.2500 [0.225, 0.275]",
        "0.2200 [0.198, 0.242]",
        "0.2100 [0.189, 0.231]",
        "0.2000 [0.180, 0.220]",
        "0.1800 [0.162, 0.198]",
        "0.1500 [0.135, 0.165]",
    ]
    assert [line.split(" | ")[0] for line in table] == ["| 1", "| 2", "| 3", "| 4", "| 5", "| 6"]
    assert table[0].startswith(
        "| 1 | DRP | Qwen2.5-7B-Instruct | 7B | Qwen2.5 | 0.0300 [0.027, 0.033]"
    )
    assert table[0].endswith("| 2.50 | 9,168 | reproduced | 2026-11-20 | today's |")
    assert (
        "| R1-Distill-Qwen-7B (extractor, validator); Qwen2.5-7B-Instruct (summarizer, "
        "generator, normalizer) | 7B | R1-Distill |" in table[1]
    )
    assert "| 500M | Qwen2.5 |" in table[3]
    assert "| — | 9,168 | verified |" in table[4]  # RAG: no UVQ
    assert table[5].startswith("| 6 | Non-P | my-local-model | — | — | 0.0010 [0.001, 0.001] |")

    rows = [line for line in books.splitlines() if line.startswith("| ")][2:]
    # measured rows ranked first, then the reported ones (no rank) by ROUGE-L
    assert [line.split(" | ")[0] for line in rows] == ["| 1", "| 2", "| —", "| —", "| —"]
    # reported rows: values without a CI, a missing metric and missing tokens as a dash
    assert rows[2].startswith(
        "| — | DRP | Qwen2.5-14B-Instruct (extractor, validator); Qwen2.5-7B-Instruct (summarizer, "
        "generator, normalizer) | 14B | Qwen2.5 | 0.0600 | 0.1600 | 0.3600 | 0.3100 | 2.50 | — |"
    )
    assert "| 0.0400 | — | 0.3300 | 0.2800 | 2.50 | — | reported |" in rows[4]

    # a suspect entry: after the ranked ones despite its ROUGE-L, no rank, its flags named
    rows = [line for line in copy.splitlines() if line.startswith("| ")][2:]
    assert rows[0].startswith("| 1 | Non-P |") and rows[0].endswith(
        "| verified | 2026-11-20 | today's |"
    )
    assert rows[1].startswith("| — | Non-P |") and "| 0.9900 [0.891, 1.089] |" in rows[1]
    assert rows[1].endswith("| suspect (verified) | 2026-11-20 | today's |")
    assert "Suspect, not ranked until reproduced:\n\n- copy-cat: " + md_cell(COPY_FLAG) in copy
    assert text.rstrip().endswith(
        "Generated by `drp-bench leaderboard build` from the leaderboard's entries; "
        "do not edit by hand."
    )


def test_markdown_cells_cannot_break_the_table():
    assert md_cell("a | b\nc  <img src=x> *x* _y_ `z` [l](u) \\") == (
        "a \\| b c \\<img src=x\\> \\*x\\* \\_y\\_ \\`z\\` \\[l\\](u) \\\\"
    )
    assert format_metric(None) == "—"
    assert format_metric({"value": 0.12345, "ci_low": 0.1, "ci_high": 0.15}) == (
        "0.1235 [0.100, 0.150]"
    )


def test_board_json_cannot_end_its_script_element():
    board = make_board()
    board["rows"][0]["notes"] = "<!-- a & b --> \u2028 \u2029 </SCRIPT >"
    text = board_json(board)
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == board
    assert "\\u003c/script\\u003e\\u003cimg src=x onerror=alert(1)\\u003e" in text

    page = render_html(board)
    data = re.search(r'<script type="application/json" id="board-data">(.*?)</script>', page, re.S)
    assert data and json.loads(data.group(1)) == board
    assert page.count("</script>") == 2  # the data's and the page script's
    assert XSS not in page and "<img" not in page and "<!-- a" not in page
    assert "<title>drp-bench leaderboard &lt;R&amp;D&gt;</title>" in page

    board["rows"][0]["uvq"] = float("nan")
    with pytest.raises(ValueError, match="JSON"):
        board_json(board)


def test_page_is_self_contained_and_only_its_own_script_may_run():
    page = render_html(make_board())
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in csp and "img-src data:" in csp
    script = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(script) == 1
    digest = base64.b64encode(hashlib.sha256(script[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    # nothing fetched: no URL in src/href but data:, no @import or url() in the style
    assert all(v.startswith("data:") for v in re.findall(r'(?:src|href)="([^"]*)"', page))
    assert "@import" not in page and "url(" not in page
    assert "fetch(" not in page and "XMLHttpRequest" not in page


def test_rendering_is_deterministic_and_writes_atomically(tmp_path):
    board = make_board()
    assert render_html(board) == render_html(copy.deepcopy(board))
    assert render_readme(board) == render_readme(copy.deepcopy(board))
    first = write_site(board, tmp_path / "site")
    assert [p.name for p in first] == ["README.md", "index.html"]
    contents = [p.read_bytes() for p in first]
    second = write_site(copy.deepcopy(board), tmp_path / "site")
    assert [p.read_bytes() for p in second] == contents
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == ["README.md", "index.html"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in second)
    assert contents[1].decode() == render_html(board)


# ---------------------------------------------------------------- in Chromium


class Recorder:
    """What the page did: every request, console message and uncaught error, any dialog."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []

    def clear(self) -> None:
        for log in (self.requests, self.console, self.errors, self.dialogs):
            log.clear()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("leaderboard")
    write_site(make_board(), out)
    return out / "index.html"


@pytest.fixture(scope="module")
def browser(site) -> Iterator[tuple[Any, Recorder]]:
    """One headless Chromium for the module's tests, with everything the page does recorded."""
    require("playwright.sync_api", "the leaderboard page's browser test")
    from tests.browser import CHROMIUM, open_page

    require_executable(CHROMIUM, "the leaderboard page's browser test; `make browser`")
    recorder = Recorder()
    with open_page() as page:
        page.context.on("request", lambda request: recorder.requests.append(request.url))
        page.on("console", lambda msg: recorder.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda error: recorder.errors.append(str(error)))

        def on_dialog(dialog: Any) -> None:
            recorder.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        yield page, recorder


@pytest.fixture
def page(browser, site) -> Iterator[Any]:
    """The page freshly loaded; afterwards: no request but the file, no console output."""
    page, recorder = browser
    recorder.clear()
    page.goto("about:blank")
    recorder.clear()
    page.goto(site.as_uri())
    page.wait_for_selector(f'table[data-split="{BOOKS}"] tbody tr[data-entry]')
    yield page
    assert recorder.requests == [site.as_uri()], "the page made a request"
    assert recorder.errors == [] and recorder.console == [] and recorder.dialogs == []


def shown_rows(page: Any, split: str) -> list[str]:
    return page.eval_on_selector_all(
        f'table[data-split="{split}"] tbody tr[data-entry]',
        "trs => trs.filter(tr => !tr.hidden && tr.offsetParent !== null)"
        ".map(tr => tr.dataset.entry)",
    )


def click_header(page: Any, split: str, col: str) -> None:
    page.click(f'table[data-split="{split}"] th[data-col="{col}"]')


def test_tables_show_every_row_with_trust_badges_and_cis(page):
    assert page.title() == "drp-bench leaderboard <R&D>"
    assert shown_rows(page, MUSIC) == MUSIC_ORDER
    assert shown_rows(page, BOOKS) == BOOKS_ORDER
    assert shown_rows(page, COPY) == COPY_ORDER
    assert page.locator('section[data-split="empty"]').inner_text().endswith("No entries yet.")
    heads = page.eval_on_selector_all(
        f'table[data-split="{MUSIC}"] th', "ths => ths.map(th => th.dataset.col)"
    )
    assert heads == [
        "rank",
        "method",
        "models",
        "params",
        "family",
        *BOARD_METRICS,
        "uvq",
        "tokens",
        "trust",
        "date",
    ]
    th = page.locator(f'table[data-split="{MUSIC}"] th[data-col="rougeL"]')
    assert th.inner_text() == "ROUGE-L" and th.get_attribute("aria-sort") is None
    th = page.locator(f'table[data-split="{MUSIC}"] th[data-col="rank"]')
    assert th.inner_text() == "#" and th.get_attribute("aria-sort") == "ascending"
    assert "reproduced entries first, then verified ones" in th.get_attribute("title")
    ranks = page.eval_on_selector_all(
        'table.board tbody tr[data-entry] td[data-col="rank"]', "tds => tds.map(td => td.innerText)"
    )
    assert ranks == ["1", "2", "3", "4", "5", "6", "1", "2", "—", "—", "—", "1", "—"]
    cat = page.locator('tr[data-entry="copy-cat"]')
    assert cat.get_attribute("data-suspect") == "true"
    assert cat.locator('td[data-col="trust"]').inner_text().split() == ["verified", "suspect"]
    assert cat.locator(".badge.trust-suspect").get_attribute("title") == COPY_FLAG
    assert cat.locator('td[data-col="rank"]').get_attribute("title") == (
        f"not ranked: suspect ({COPY_FLAG})"
    )
    assert page.locator('tr[data-entry="copy-honest"] .badge.trust-suspect').count() == 0
    for entry in MUSIC_ORDER + BOOKS_ORDER:
        badge = page.locator(f'tr[data-entry="{entry}"] td[data-col="trust"] .badge')
        assert badge.inner_text() == make_board_row(entry)["trust"]
    best = page.locator('tr[data-entry="drp-qwen-7b"]')
    assert best.locator('td[data-col="rougeL"]').inner_text().split() == [
        "0.2500",
        "[0.225,",
        "0.275]",
    ]
    assert best.locator('td[data-col="params"]').inner_text() == "7B"
    assert best.locator('td[data-col="tokens"]').inner_text() == "9,168"
    reported = page.locator('tr[data-entry="paper:books:dpl:qwen2.5-7b"]')
    assert reported.locator('td[data-col="rougeL"]').inner_text() == "0.2800"  # no CI
    assert reported.locator('td[data-col="meteor"]').inner_text() == "—"
    assert reported.locator('td[data-col="tokens"]').inner_text() == "—"
    mixed = page.locator('tr[data-entry="drp-r1-7b"] td[data-col="models"]').inner_text()
    assert mixed.splitlines() == [
        "R1-Distill-Qwen-7B extractor, validator",
        "Qwen2.5-7B-Instruct summarizer, generator, normalizer",
    ]


def make_board_row(entry: str) -> Row:
    return next(r for r in make_board()["rows"] if r["id"] == entry)


def test_clicking_a_header_sorts_and_clicking_again_reverses(page):
    # the rank is the default sort; ROUGE-L sorts descending first, a second click reverses it
    click_header(page, MUSIC, "rougeL")
    assert shown_rows(page, MUSIC) == MUSIC_ORDER
    click_header(page, MUSIC, "rougeL")
    assert shown_rows(page, MUSIC) == MUSIC_ORDER[::-1]
    click_header(page, COPY, "rougeL")
    assert shown_rows(page, COPY) == COPY_ORDER[::-1]  # by ROUGE-L the suspect entry is first
    click_header(page, COPY, "rank")  # the rank sorts ascending first, unranked rows last
    assert shown_rows(page, COPY) == COPY_ORDER
    click_header(page, BOOKS, "rank")  # already ascending: descending, unranked rows still last
    assert shown_rows(page, BOOKS) == [BOOKS_ORDER[1], BOOKS_ORDER[0], *BOOKS_ORDER[2:]]
    click_header(page, BOOKS, "rank")
    by_bleu = [
        "rag-qwen-7b",
        "drp-qwen-7b",
        "drp-r1-7b",
        "drp-qwen-0.5b",
        "dpl-r1-14b",
        "nonp-unknown",
    ]
    click_header(page, MUSIC, "bleu")
    assert shown_rows(page, MUSIC) == by_bleu
    bleu = page.locator(f'table[data-split="{MUSIC}"] th[data-col="bleu"]')
    assert bleu.get_attribute("aria-sort") == "descending"
    click_header(page, MUSIC, "bleu")
    assert shown_rows(page, MUSIC) == by_bleu[::-1]
    assert bleu.get_attribute("aria-sort") == "ascending"
    assert shown_rows(page, BOOKS) == BOOKS_ORDER  # the other table keeps its order

    # back to ROUGE-L: a number column sorts descending first
    click_header(page, MUSIC, "rougeL")
    assert shown_rows(page, MUSIC) == MUSIC_ORDER

    # a missing value (the reported DPL row has no METEOR) stays last both ways
    click_header(page, BOOKS, "meteor")
    desc = shown_rows(page, BOOKS)
    click_header(page, BOOKS, "meteor")
    asc = shown_rows(page, BOOKS)
    assert desc[-1] == asc[-1] == "paper:books:dpl:qwen2.5-7b"
    assert desc[:-1] == asc[:-1][::-1]

    # text columns sort alphabetically, ascending first; params numerically
    click_header(page, MUSIC, "method")
    assert [make_board_row(e)["method_label"] for e in shown_rows(page, MUSIC)] == [
        "DPL",
        "DRP",
        "DRP",
        "DRP",
        "Non-P",
        "RAG",
    ]
    click_header(page, MUSIC, "params")
    assert shown_rows(page, MUSIC)[0] == "dpl-r1-14b"
    assert shown_rows(page, MUSIC)[-2:] == ["drp-qwen-0.5b", "nonp-unknown"]  # no size: last
    click_header(page, MUSIC, "params")
    assert shown_rows(page, MUSIC)[0] == "drp-qwen-0.5b"
    assert shown_rows(page, MUSIC)[-1] == "nonp-unknown"


def test_filters_by_method_and_family_apply_to_tables_and_charts(page):
    page.select_option("#filter-method", "drp")
    assert shown_rows(page, MUSIC) == ["drp-qwen-7b", "drp-r1-7b", "drp-qwen-0.5b"]
    assert shown_rows(page, BOOKS) == [
        "books-drp-qwen-7b",
        "books-drp-r1-14b",
        "paper:books:drp:qwen2.5-14b",
        "paper:books:drp:qwen2.5-7b",
    ]
    assert chart_points(page, MUSIC) == {"drp-qwen-7b", "drp-r1-7b", "drp-qwen-0.5b"}
    assert page.inner_text("#shown") == "7 of 13 rows shown"

    page.select_option("#filter-family", "R1-Distill")  # both filters at once
    assert shown_rows(page, MUSIC) == ["drp-r1-7b"]
    assert shown_rows(page, BOOKS) == ["books-drp-r1-14b"]

    page.select_option("#filter-method", "")
    assert shown_rows(page, MUSIC) == ["drp-r1-7b", "dpl-r1-14b"]
    assert chart_points(page, MUSIC) == {"drp-r1-7b", "dpl-r1-14b"}
    assert chart_points(page, BOOKS) == {"books-drp-r1-14b"}

    page.select_option("#filter-family", "Qwen2.5")
    page.select_option("#filter-method", "rag")
    assert shown_rows(page, MUSIC) == ["rag-qwen-7b"]
    assert shown_rows(page, BOOKS) == []
    assert page.locator(f'table[data-split="{BOOKS}"] tr.none-shown').is_visible()
    assert "No chart" in page.inner_text(f'.chart[data-split="{BOOKS}"]')

    page.select_option("#filter-method", "")
    page.select_option("#filter-family", label="unknown")  # rows without a family
    assert shown_rows(page, MUSIC) == ["nonp-unknown"]
    assert shown_rows(page, BOOKS) == []
    assert "No chart" in page.inner_text(f'.chart[data-split="{MUSIC}"]')  # no size to plot

    page.select_option("#filter-family", "")
    assert shown_rows(page, MUSIC) == MUSIC_ORDER


def chart_points(page: Any, split: str) -> set[str]:
    return set(
        page.eval_on_selector_all(
            f'svg[data-split="{split}"] circle.point', "cs => cs.map(c => c.dataset.entry)"
        )
    )


def chart_series(page: Any, split: str) -> list[dict]:
    return page.eval_on_selector_all(
        f'svg[data-split="{split}"] g.series',
        """gs => gs.map(g => ({
            family: g.dataset.family, method: g.dataset.method, trust: g.dataset.trust,
            points: g.querySelectorAll('circle.point').length,
            hollow: Array.from(g.querySelectorAll('circle.point'))
                .every(c => c.getAttribute('fill') === '#fff'),
            dashed: !!g.querySelector('polyline[stroke-dasharray]'),
            line: !!g.querySelector('polyline'),
        }))""",
    )


def test_scaling_chart_has_a_series_per_family_and_method_and_marks_the_paper_apart(page):
    assert page.locator("svg[data-split]").count() == 2  # the empty split has no chart
    music = chart_series(page, MUSIC)
    assert sorted((s["family"], s["method"], s["points"]) for s in music) == [
        ("Qwen2.5", "drp", 2),
        ("Qwen2.5", "rag", 1),
        ("R1-Distill", "dpl", 1),
        ("R1-Distill", "drp", 1),
    ]
    assert all(s["trust"] == "measured" and not s["hollow"] for s in music)
    assert [s["line"] for s in music if s["points"] == 2] == [True]

    books = chart_series(page, BOOKS)
    assert sorted((s["trust"], s["family"], s["method"], s["points"]) for s in books) == [
        ("measured", "Qwen2.5", "drp", 1),
        ("measured", "R1-Distill", "drp", 1),
        ("reported", "Qwen2.5", "dpl", 1),
        ("reported", "Qwen2.5", "drp", 2),
    ]
    for series in books:
        assert series["hollow"] == (series["trust"] == "reported")
    assert [s["dashed"] for s in books if s["points"] == 2] == [True]
    reported = page.eval_on_selector_all(
        f'svg[data-split="{BOOKS}"] circle.point.reported', "cs => cs.map(c => c.dataset.entry)"
    )
    assert sorted(reported) == sorted(BOOKS_ORDER[2:])
    legend = page.locator(f'svg[data-split="{BOOKS}"] .legend').text_content()
    assert "reported (paper)" in legend and "Qwen2.5 · DRP (paper)" in legend

    # x is log-scaled: the distance 7B -> 14B over 0.5B -> 7B is ln 2 / ln 14
    xs = {
        c["entry"]: c["x"]
        for c in page.eval_on_selector_all(
            f'svg[data-split="{MUSIC}"] circle.point',
            "cs => cs.map(c => ({entry: c.dataset.entry, x: +c.getAttribute('cx')}))",
        )
    }
    step_05_to_7 = xs["drp-qwen-7b"] - xs["drp-qwen-0.5b"]
    step_7_to_14 = xs["dpl-r1-14b"] - xs["drp-qwen-7b"]
    assert step_7_to_14 / step_05_to_7 == pytest.approx(0.693 / 2.639, rel=0.02)  # ln2 / ln14

    # RAG has the lowest ROUGE-L but the highest BLEU: switching the metric moves it to the top
    svg = f'svg[data-split="{MUSIC}"]'
    assert cys(page, svg)["rag-qwen-7b"] == max(cys(page, svg).values())
    page.select_option("#chart-metric", "bleu")
    assert page.get_attribute(svg, "data-metric") == "bleu"
    assert cys(page, svg)["rag-qwen-7b"] == min(cys(page, svg).values())


def test_the_chart_can_put_tokens_per_sample_on_its_x_axis(page):
    svg = f'svg[data-split="{MUSIC}"]'
    assert page.get_attribute(svg, "data-x") == "params"
    assert "nonp-unknown" not in chart_points(page, MUSIC)  # no size: not on the size axis
    sizes = chart_points(page, MUSIC)

    page.select_option("#chart-x", "tokens")
    assert page.get_attribute(svg, "data-x") == "tokens"
    assert "tokens per sample" in page.locator(f"{svg} .axis-title").first.text_content()
    assert chart_points(page, MUSIC) == set(MUSIC_ORDER)  # each entry records its tokens
    xs = cxs(page, svg)
    assert xs["nonp-unknown"] < xs["drp-qwen-0.5b"] < xs["drp-qwen-7b"] < xs["dpl-r1-14b"]
    assert xs["dpl-r1-14b"] < xs["drp-r1-7b"] and xs["rag-qwen-7b"] == xs["drp-qwen-7b"]
    # log-scaled: 2,000 -> 9,168 -> 40,000 tokens
    ratio = (xs["drp-r1-7b"] - xs["drp-qwen-7b"]) / (xs["drp-qwen-7b"] - xs["drp-qwen-0.5b"])
    assert ratio == pytest.approx(math.log(40000 / 9168.3) / math.log(9168.3 / 2000), rel=0.02)
    assert page.locator(f'.chart[data-split="{MUSIC}"] .chart-note').count() == 0

    # the paper's rows record no tokens: left off the chart, and the page says so
    assert chart_points(page, BOOKS) == {"books-drp-qwen-7b", "books-drp-r1-14b"}
    note = page.locator(f'.chart[data-split="{BOOKS}"] .chart-note')
    assert note.get_attribute("data-undrawn") == "3"
    assert "the paper reports no token counts" in note.inner_text()
    assert note.inner_text() == (
        "Not drawn: the paper's 3 reported rows (the paper reports no token counts)."
    )

    page.select_option("#chart-metric", "bleu")  # the metric changes, the axis stays
    assert page.get_attribute(svg, "data-x") == "tokens"
    assert page.get_attribute(svg, "data-metric") == "bleu"
    page.select_option("#chart-x", "params")
    assert chart_points(page, MUSIC) == sizes
    assert page.locator(f'.chart[data-split="{BOOKS}"] .chart-note').count() == 0


def cxs(page: Any, svg: str) -> dict[str, float]:
    """Each point's x position on the chart."""
    points = page.eval_on_selector_all(
        f"{svg} circle.point", "cs => cs.map(c => [c.dataset.entry, +c.getAttribute('cx')])"
    )
    return dict(points)


def cys(page: Any, svg: str) -> dict[str, float]:
    """Each point's height on the chart (SVG y: larger is lower)."""
    points = page.eval_on_selector_all(
        f"{svg} circle.point", "cs => cs.map(c => [c.dataset.entry, +c.getAttribute('cy')])"
    )
    return dict(points)


def test_a_row_opens_its_details_with_settings_and_inert_samples(page, tmp_path):
    assert page.locator("#detail").is_hidden()
    page.click('tr[data-entry="dpl-r1-14b"]')
    detail = page.locator("#detail")
    assert detail.is_visible() and detail.get_attribute("data-entry") == "dpl-r1-14b"
    text = detail.inner_text()
    assert "dpl-r1-14b" in text and "verified" in text
    assert "bob | <b>lab</b>" in text  # the submitter, as text
    assert "Extractor at 14B.\nValidator follows it." in text
    settings = page.eval_on_selector_all(
        "#detail-settings tbody tr",
        "trs => trs.map(tr => [tr.cells[0].textContent, tr.cells[1].textContent])",
    )
    assert settings == [["num_retrieved", "8"], ["uvq_rule", "drop-conflicts"], ["seed", "42"]]
    extractor = page.locator('#detail-models tr[data-role="extractor"]').inner_text()
    assert "R1-Distill-Qwen-14B" in extractor and "hub: deepseek-ai/R1-14B" in extractor
    generator = page.locator('#detail-models tr[data-role="generator"]').inner_text()
    assert "hub: org/Qwen2.5-7B-Instruct" in generator and "revision: a09a354" in generator

    first = page.locator('#detail-samples [data-sample="u1"]')
    assert first.locator(".prediction").inner_text() == "prediction\n" + XSS
    assert first.locator(".reference").inner_text() == "reference\nreference not public"
    second = page.locator('#detail-samples [data-sample="u2"]')
    assert second.locator(".prediction").inner_text().endswith("Great jazz & sax.")
    assert second.locator(".reference").inner_text().endswith("Smooth.")
    # the prediction's markup stayed text: no image, no handler ran
    assert page.locator("img").count() == 0
    assert page.evaluate("document.scripts.length") == 2
    page.set_viewport_size({"width": 1280, "height": 1200})  # the samples in the picture too
    shot = page.screenshot(path=str(shots(tmp_path) / "leaderboard-detail.png"))
    page.set_viewport_size({"width": 1280, "height": 900})
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"

    page.click("#detail-close")
    assert detail.is_hidden()
    # a chart point opens its entry too, and Escape closes it; another row, another entry
    page.click(f'svg[data-split="{BOOKS}"] circle[data-entry="paper:books:drp:qwen2.5-14b"]')
    assert detail.get_attribute("data-entry") == "paper:books:drp:qwen2.5-14b"
    assert "arXiv 2511.15389, Table 2" in detail.inner_text()
    assert "No settings recorded." in detail.inner_text()
    page.keyboard.press("Escape")
    assert detail.is_hidden()
    page.click('tr[data-entry="copy-cat"]')
    text = detail.inner_text()
    assert f"rank\n— not ranked: suspect ({COPY_FLAG})" in text
    assert "suspect\nsuspect verified, but its predictions copy the references" in text
    assert page.locator("#detail-flags li").all_inner_texts() == [COPY_FLAG]
    page.keyboard.press("Escape")
    page.click('tr[data-entry="drp-r1-7b"]')
    assert "sha256: " + "ab" * 32 in detail.inner_text()


def test_the_board_reaches_the_page_unchanged_and_the_full_page_renders(page, tmp_path):
    assert page.evaluate("JSON.parse(document.getElementById('board-data').textContent)") == (
        make_board()
    )
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280, "the page scrolls sideways at 1280 px"
    path = shots(tmp_path) / "leaderboard.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


def shots(tmp_path: Path) -> Path:
    out = tmp_path / "screenshots"
    out.mkdir(exist_ok=True)
    return out

"""The study's annotation page (drp_bench.annotate.page), rendered and used in a real browser.

The browser tests open the written page from disk in headless Chromium (tests/browser.py) and
label a small hand-written study as two annotators would: name entry, every task answered (by
mouse for one, by keyboard for the other), a reload midway, the export downloaded and checked
against the annotator-file format of docs (study_spec: AnnotatorFile). Every request is
recorded (only the page file itself and the export's blob: URL are allowed), and so are console
messages, script errors and dialogs (none allowed). Screenshots go to ``$DRP_BENCH_SCREENSHOTS``
when it is set.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from drp_bench.annotate.page import REASON_TEXTS, TASK_TYPE_TEXTS, page_data, render_page
from tests.conftest import require, require_executable

XSS = "</script><img src=x onerror=alert(1)>"
METHODS_AND_MODELS = ("drp", "rag", "Qwen2.5-7B-Instruct", "Llama-3.2-3B-Instruct")
LONG_REVIEW = "Every track rewards a second listen. " * 30  # > 600 characters: starts collapsed

# ---------------------------------------------------------------- the study


def review(title: str, text: str, rating: float | None = 5.0, **extra: Any) -> dict[str, Any]:
    return {**extra, "rating": rating, "title": title, "text": text}


def feature(fid: str, name: str) -> dict[str, str]:
    return {
        "feature_id": fid,
        "name": name,
        "definition": f"How the reviewer handles {name.lower()}.",
        "difference": f"This user leans on {name.lower()} far more than the others.",
    }


def feature_task(task_id: str, asin: str, title: str, features: list[dict]) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "type": "feature_validity",
        "item": {"asin": asin, "title": title, "description": f"{title}: a studio album."},
        "repeat_of": None,
        "user_review": review("Wow", "Sax like velvet; I played it all night.", 5.0),
        "representative_reviews": [
            review("Fine", "Good album. Solid musicianship.", 4.0, label="Other reviewer 1"),
            review("Long", LONG_REVIEW, None, label="Other reviewer 2"),
        ],
        "features": features,
    }


def preference_task(task_id: str, asin: str, title: str, a: str, b: str) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "type": "preference",
        "item": {"asin": asin, "title": title, "description": ""},
        "repeat_of": None,
        "history": [
            {"item_title": "Jazz at Dawn", **review("Dawn", "Mellow and warm, pure joy!!", 5.0)},
            {"item_title": "Metal Storm", **review("Loud", "Not my thing at all.", 2.0)},
            {"item_title": "Folk Tales", **review("Nice", XSS, 3.5)},
        ],
        "reviews": {"A": a, "B": b},
    }


def make_tasks() -> list[dict[str, Any]]:
    """Two feature tasks, two preference tasks and a repeat of one preference task."""
    pref = preference_task("t0002", "B01", "Blue Train", "Honestly pure joy!! Sax heaven.", "OK.")
    repeat = {**copy.deepcopy(pref), "task_id": "t0004", "repeat_of": "t0002"}
    return [
        feature_task("t0001", "A01", "Kind of Blue", [feature("f1", "Emotional tone")]),
        pref,
        feature_task(
            "t0003", "A02", "Time Out", [feature("f1", "Exclamations"), feature("f2", "Detail")]
        ),
        repeat,
        preference_task("t0005", "B02", "Giant Steps", "Pretty good record.", "Pure joy!! " + XSS),
    ]


def make_manifest() -> dict[str, Any]:
    return {
        "schema": "drp-bench-study/1",
        "study_id": "0123456789ab",
        "title": "Music study <pilot>",
        "created": "2026-12-03T05:00:00+00:00",
        "seed": 7,
        "task_types": ["feature_validity", "preference"],
        "sizes": {"feature_items": 2, "preference_pairs": 2},
        "runs": [
            {
                "run_id": "r0",
                "path": "/secret/runs/drp-run",
                "method": "drp",
                "model": "Qwen2.5-7B-Instruct",
                "samples": 4,
            },
            {
                "run_id": "r1",
                "path": "/secret/runs/rag-run",
                "method": "rag",
                "model": "Llama-3.2-3B-Instruct",
                "samples": 4,
            },
        ],
        "drp_bench_version": "0.1.0",
        "git_commit": None,
    }


def leaky_tasks() -> list[dict[str, Any]]:
    """The tasks with key fields mixed in, as a careless caller might pass them."""
    tasks = make_tasks()
    for task in tasks:
        task.update(method="drp", model="Qwen2.5-7B-Instruct", run_id="r0", gold=True)
        for feat in task.get("features", []):
            feat["validator_kept"] = True
        if task["type"] == "preference":
            task["sides"] = {"A": {"method": "rag", "model": "Llama-3.2-3B-Instruct"}}
    return tasks


def blinding_problems(html: str) -> list[str]:
    """Method or model names, and words about the LLM's own decisions, found in ``html``."""
    text = html.replace("drp-bench", "")  # the tool's name, not a method's
    found = [
        name for name in METHODS_AND_MODELS if re.search(rf"\b{re.escape(name)}\b", text, re.I)
    ]
    found += [word for word in ("validator", "kept", "gold") if re.search(word, text, re.I)]
    return found + [path for path in ("/secret/",) if path in text]


# ---------------------------------------------------------------- rendering


def test_page_is_self_contained_and_only_its_own_script_may_run():
    page = render_page(make_manifest(), make_tasks())
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    for part in (
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
    ):
        assert part in csp
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert all(v.startswith("data:") for v in re.findall(r'(?:src|href)="([^"]*)"', page))
    assert "@import" not in page and "url(" not in page
    assert "fetch(" not in page and "XMLHttpRequest" not in page and "WebSocket" not in page
    # the study's text cannot end its element: the only "</script>"s are the page's own
    assert page.count("</script>") == 2 and "<img" not in page
    assert "<title>Music study &lt;pilot&gt;</title>" in page
    assert render_page(make_manifest(), make_tasks()) == page  # deterministic


def test_only_what_annotators_see_reaches_the_page():
    tasks = leaky_tasks()
    page = render_page(make_manifest(), tasks)
    assert blinding_problems(page) == []
    data = page_data(make_manifest(), tasks)
    assert data["study"] == {
        "study_id": "0123456789ab",
        "title": "Music study <pilot>",
        "seed": 7,
        "task_types": ["feature_validity", "preference"],
    }
    assert data["tasks"] == make_tasks()  # the shown fields, every one of them, unchanged
    assert [(r["id"], r["text"]) for r in data["reasons"]] == list(REASON_TEXTS.items())


def test_reason_texts_match_the_shared_formats():
    from drp_bench.annotate import formats

    assert REASON_TEXTS == formats.REASON_TEXTS
    assert tuple(REASON_TEXTS) == formats.REASONS
    assert TASK_TYPE_TEXTS == formats.TASK_TYPE_TEXTS


def test_the_shared_models_render_as_their_dicts():
    from pydantic import TypeAdapter

    from drp_bench.annotate import formats

    manifest = formats.StudyManifest.model_validate(make_manifest())
    tasks = [TypeAdapter(formats.Task).validate_python(task) for task in make_tasks()]
    assert render_page(manifest, tasks) == render_page(make_manifest(), make_tasks())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t[0].pop("features"), r"tasks\[0\]: missing field 'features'"),
        (lambda t: t[1]["reviews"].pop("B"), r"tasks\[1\]\.reviews: missing field 'B'"),
        (
            lambda t: t[2]["features"][1].pop("definition"),
            r"tasks\[2\]\.features\[1\]: missing field 'definition'",
        ),
        (lambda t: t[4].update(type="ranking"), r"tasks\[4\]: field 'type': unknown task type"),
        (lambda t: t[3].update(repeat_of="t9999"), r"tasks\[3\]: field 'repeat_of'"),
        (lambda t: t[4].update(task_id="t0001"), r"tasks\[4\]: field 'task_id': duplicate"),
        (lambda t: t[0].update(features=[]), r"tasks\[0\]\.features: .* needs a feature"),
        (lambda t: t[2]["features"][1].update(feature_id="f1"), r"tasks\[2\]\.features: .*dup"),
        (lambda t: t[0]["user_review"].update(rating=float("nan")), "JSON cannot represent"),
    ],
)
def test_a_malformed_task_is_an_error_naming_task_and_field(change, message):
    tasks = make_tasks()
    change(tasks)
    with pytest.raises(ValueError, match=message):
        render_page(make_manifest(), tasks)


# ---------------------------------------------------------------- in Chromium


class Recorder:
    """What the page did: every request, console message and uncaught error, any dialog."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("study") / "index.html"
    path.write_text(render_page(make_manifest(), make_tasks()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser(site) -> Iterator[tuple[Any, Recorder]]:
    """One headless Chromium (one profile: its localStorage lives as long as the module)."""
    require("playwright.sync_api", "the annotation page's browser test")
    from tests.browser import CHROMIUM, open_page

    require_executable(CHROMIUM, "the annotation page's browser test; `make browser`")
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
        assert recorder.errors == [] and recorder.console == [] and recorder.dialogs == []
        schemes = {url.split(":", 1)[0] for url in recorder.requests}
        assert schemes <= {"file", "blob"}, f"the page made a request: {recorder.requests}"
        assert {u for u in recorder.requests if u.startswith("file:")} == {site.as_uri()}


@pytest.fixture
def page(browser, site) -> Any:
    page, _ = browser
    page.goto(site.as_uri())
    page.wait_for_selector("#login:not([hidden])")
    return page


def shot(page: Any, name: str) -> None:
    """A full-page screenshot into $DRP_BENCH_SCREENSHOTS, when it is set."""
    folder = os.environ.get("DRP_BENCH_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"annotate-{name}.png"), full_page=True)


def start(page: Any, name: str) -> None:
    page.fill("#annotator-name", name)
    page.click("#start")
    page.wait_for_selector("#toolbar:not([hidden])")


def shown_task(page: Any) -> tuple[str, str] | None:
    if page.locator("#task").is_hidden():
        return None
    task = page.locator("#task")
    return task.get_attribute("data-task-id"), task.get_attribute("data-type")


def progress(page: Any) -> tuple[int, int, int]:
    bar = page.locator("#progress")
    return tuple(int(bar.get_attribute(f"data-{k}")) for k in ("position", "total", "answered"))


def check_blinded(page: Any) -> None:
    assert blinding_problems(page.content()) == []
    if shown_task(page) and shown_task(page)[1] == "preference":
        text = page.locator("#task").inner_text()
        assert "Review A" in text and "Review B" in text


#: Each annotator's answers: a feature task's {feature: (valid, reason)} and rating, a
#: preference task's choice.
ANSWERS = {
    "alice": {
        "t0001": ({"f1": (True, None)}, 4),
        "t0002": "A",
        "t0003": ({"f1": (False, "unsupported"), "f2": (True, None)}, 2),
        "t0004": "A",
        "t0005": "tie",
    },
    "bob.2": {
        "t0001": ({"f1": (False, "content_not_style")}, 1),
        "t0002": "B",
        "t0003": ({"f1": (True, None), "f2": (False, "unclear")}, 5),
        "t0004": "A",
        "t0005": "B",
    },
}


def answer_by_mouse(page: Any, task_id: str, answer: Any) -> None:
    if isinstance(answer, str):
        page.click(f'button.choice[data-choice="{answer}"]')
        assert page.get_attribute(f'button.choice[data-choice="{answer}"]', "aria-pressed") == (
            "true"
        )
        chosen = page.eval_on_selector_all(
            ".review[data-chosen]", "rs => rs.map(r => r.dataset.side)"
        )
        assert chosen == (["A", "B"] if answer == "tie" else [answer])
        return
    features, rating = answer
    for fid, (valid, reason) in features.items():
        box = page.locator(f'.feature[data-feature-id="{fid}"]')
        assert box.locator("select.reason").is_hidden()
        box.locator(f'input[name="valid-{fid}"][value="{"yes" if valid else "no"}"]').check()
        if not valid:
            assert page.locator("#next").is_disabled()  # a "no" needs its reason
            box.locator("select.reason").select_option(reason)
    assert page.locator("#next").is_disabled()  # the set's rating is still missing
    page.check(f'input[name="set-rating"][value="{rating}"]')


def answer_by_keyboard(page: Any, task_id: str, answer: Any) -> None:
    page.locator("#task-heading").focus()
    if isinstance(answer, str):
        page.keyboard.press({"A": "a", "B": "b", "tie": "t"}[answer])
        return
    features, rating = answer
    for fid, (valid, reason) in features.items():
        box = page.locator(f'.feature[data-feature-id="{fid}"]')
        box.locator(f'input[name="valid-{fid}"][value="{"yes" if valid else "no"}"]').check()
        if not valid:
            box.locator("select.reason").select_option(reason)
    page.locator("#task-heading").focus()
    page.keyboard.press(str(rating))


def label_tasks(page: Any, name: str, count: int, by_keyboard: bool = False) -> list[str]:
    """Answer ``count`` tasks from the one shown, going on after each; returns their ids."""
    seen = []
    for _ in range(count):
        task_id, task_type = shown_task(page)
        check_blinded(page)
        assert page.locator("#next").is_disabled()
        (answer_by_keyboard if by_keyboard else answer_by_mouse)(
            page, task_id, ANSWERS[name][task_id]
        )
        assert page.get_attribute("#task", "data-answered") == "true"
        shot(page, task_type)
        if by_keyboard:
            page.locator("#task-heading").focus()
            page.keyboard.press("n")
        else:
            page.click("#next")
        seen.append(task_id)
    return seen


def walk_back(page: Any) -> list[str]:
    """From the end screen: every task id in the annotator's order (all tasks answered)."""
    ids = []
    while not page.locator("#prev").is_disabled():
        page.click("#prev")
        ids.append(shown_task(page)[0])
    return ids[::-1]


def export(page: Any, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    with page.expect_download() as info:
        page.click("#export")
    download = info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    return download.suggested_filename, json.loads(path.read_text(encoding="utf-8"))


def expected_labels(name: str) -> list[dict[str, Any]]:
    labels = []
    for task_id, answer in sorted(ANSWERS[name].items()):
        if isinstance(answer, str):
            labels.append({"task_id": task_id, "choice": answer})
        else:
            features, rating = answer
            labels.append(
                {
                    "task_id": task_id,
                    "features": [
                        {"feature_id": fid, "valid": valid, "reason": reason}
                        for fid, (valid, reason) in features.items()
                    ],
                    "set_rating": rating,
                }
            )
    return labels


def check_annotator_file(file: dict[str, Any], name: str, tmp_path: Path) -> None:
    """The export is the spec's AnnotatorFile with exactly this annotator's answers."""
    assert set(file) == {"schema", "study_id", "annotator", "exported_at", "labels"}
    assert (file["schema"], file["study_id"], file["annotator"]) == (
        "drp-bench-annotations/1",
        "0123456789ab",
        name,
    )
    times = [file["exported_at"]] + [label.pop("answered_at") for label in file["labels"]]
    for time in times:
        assert datetime.fromisoformat(time.replace("Z", "+00:00")).tzinfo is not None
    assert max(times[1:]) <= times[0]
    assert file["labels"] == expected_labels(name)
    from drp_bench.annotate import formats

    restored = copy.deepcopy(file)
    for label, time in zip(restored["labels"], times[1:], strict=True):
        label["answered_at"] = time
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(restored), encoding="utf-8")
    assert formats.read_annotator_file(path).annotator == name


def test_the_name_is_checked_before_any_task_is_shown(page):
    shot(page, "name")
    for bad in ("", "two words", "x" * 65, "é", "../x"):
        # set as a script would: the field's maxlength stops typing at 64 characters
        page.eval_on_selector("#annotator-name", "(input, bad) => { input.value = bad; }", bad)
        page.click("#start")
        assert page.locator("#name-error").inner_text() != ""
        assert page.get_attribute("#annotator-name", "aria-invalid") == "true"
        assert page.locator("#task").is_hidden() and page.locator("#toolbar").is_hidden()
    assert "This study has 5 tasks." in page.locator("#login").inner_text()


def test_two_annotators_label_everything_with_a_reload_midway(browser, page, site, tmp_path):
    # alice: two tasks and half of a third, then the page is reloaded
    start(page, "alice")
    assert progress(page) == (1, 5, 0)
    first_two = label_tasks(page, "alice", 2)
    third, third_type = shown_task(page)
    assert third_type == "feature_validity"  # in alice's order (seed 7): half-answered below
    partial = page.locator(".feature").first.get_attribute("data-feature-id")
    page.check(f'input[name="valid-{partial}"][value="yes"]')
    assert progress(page) == (3, 5, 2)
    page.reload()
    page.wait_for_selector("#login:not([hidden])")
    assert page.input_value("#annotator-name") == "alice"  # the last name is remembered
    page.click("#start")
    assert shown_task(page) == (third, third_type)  # resumed at the first unanswered task
    assert progress(page) == (3, 5, 2)
    assert page.is_checked(f'input[name="valid-{partial}"][value="yes"]')  # kept half-answered
    page.click("#prev")  # and the answered ones theirs
    assert shown_task(page)[0] == first_two[1]
    assert page.get_attribute("#task", "data-answered") == "true"
    page.click("#next")
    rest = label_tasks(page, "alice", 3)
    alice_order = first_two + rest
    assert page.locator("#done").is_visible() and progress(page)[2] == 5
    check_blinded(page)
    name, file = export(page, tmp_path)
    assert name == "alice.json"
    assert "alice.json with 5 of 5 tasks" in page.locator("#export-status").inner_text()
    check_annotator_file(file, "alice", tmp_path)

    # bob.2, by keyboard, after "Change annotator"
    page.click("#switch")
    start(page, "bob.2")
    assert progress(page) == (1, 5, 0)
    bob_order = label_tasks(page, "bob.2", 5, by_keyboard=True)
    name, file = export(page, tmp_path)
    assert name == "bob.2.json"
    check_annotator_file(file, "bob.2", tmp_path)

    # each order holds every task once, the repeat well after its original; the two differ
    for order in (alice_order, bob_order):
        assert sorted(order) == ["t0001", "t0002", "t0003", "t0004", "t0005"]
        gap = order.index("t0004") - order.index("t0002")
        assert gap >= 3 or (gap > 0 and order[-1] == "t0004")
    assert alice_order != bob_order

    # alice again, typed by hand: her labels untouched by bob's, her order the same
    page.click("#switch")
    start(page, "alice")
    assert page.locator("#done").is_visible() and progress(page)[2] == 5
    assert walk_back(page) == alice_order
    _, file = export(page, tmp_path)
    check_annotator_file(file, "alice", tmp_path)
    stored = page.evaluate("Object.keys(localStorage).sort()")
    assert "drp-bench-study:0123456789ab:alice" in stored
    assert "drp-bench-study:0123456789ab:bob.2" in stored


def test_the_page_reads_well_on_a_narrow_screen(browser, page):
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        start(page, "carol")
        for _ in range(5):
            task_type = shown_task(page)[1]
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the {task_type} task scrolls sideways on a phone"
            task_id = shown_task(page)[0]
            answer_by_mouse(page, task_id, ANSWERS["alice"][task_id])
            shot(page, f"{task_type}-narrow")
            page.click("#next")
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})

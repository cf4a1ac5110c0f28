"""The human study end to end (issue 19's first test): real run folders (DRP with a validate
stage on two models, RAG; scripted backend, tests/annotate_runs.py) -> ``drp-bench annotate
build`` -> two scripted annotators label every task of STUDY/index.html in headless Chromium
(a reload midway loses nothing) and export their files -> ``drp-bench annotate score`` ->
``drp-bench report``.

The scorer's numbers are checked against values computed here from the exported files,
key.jsonl and tasks.jsonl alone (never through drp_bench.annotate.stats): alpha from
``krippendorff.alpha``, kappa from scikit-learn, the validator's agreement and the annotators'
quality control by explicit counts. The scorer's rules (drp_bench/annotate/score.py) are
mirrored: a repeat's labels serve self-consistency only (its original's label counts), gold
pairs serve gold accuracy only (once per pair), flagged annotators are left out.

Screenshots of both task types go to ``$DRP_BENCH_SCREENSHOTS`` when it is set.
"""

from __future__ import annotations

import json
import os
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drp_bench.annotate.formats import REASONS
from drp_bench.annotate.report_file import StudyReport, read_study_report
from drp_bench.cli import main as cli_main
from tests.annotate_runs import KEPT, MODELS, make_runs
from tests.conftest import require, require_executable

#: The two annotators, in the order they label.
ANNOTATORS = ("ann.a", "bo")
#: The scorer's default thresholds (annotate score --min-gold-accuracy / --min-self-consistency).
MIN_GOLD, MIN_CONSISTENCY = 0.7, 0.6
TITLE = "E2E study"
BOOTSTRAP = 200

Answer = Any  # a preference task's choice, or {"features": {fid: [valid, reason]}, "set_rating"}


# ---------------------------------------------------------------- the study


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folders (and, beside them, the study)."""
    root = tmp_path_factory.mktemp("sweep")
    make_runs(root)
    return root


@pytest.fixture(scope="module")
def study(sweep: Path) -> Path:
    out = sweep / "study"
    runs = sorted(p for p in sweep.iterdir() if (p / ".hydra").is_dir())
    args = ["annotate", "build", *map(str, runs), "--out", str(out), "--feature-items", "8",
            "--preference-pairs", "16", "--gold-rate", "0.25", "--repeat-rate", "0.2",
            "--seed", "0", "--title", TITLE]  # fmt: skip
    assert cli_main(args) == 0
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def study_files(study: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """tasks.jsonl and key.jsonl by task id."""
    tasks = {t["task_id"]: t for t in read_jsonl(study / "tasks.jsonl")}
    keys = {k["task_id"]: k for k in read_jsonl(study / "key.jsonl")}
    return tasks, keys


# ---------------------------------------------------------------- the annotators' rules


def crc(*parts: Any) -> int:
    """A stable hash of the parts (Python's hash() is salted per process)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


def valid_of(name: str, task: dict, feature: dict) -> bool:
    """ann.a rejects the slang feature (and flips one in five); bo rejects one in four and,
    seeing a task again, changes their mind on a quarter of the features."""
    asin, fname = task["item"]["asin"], feature["name"]
    if name == "ann.a":
        return (fname != "Slang") != (crc(name, asin, fname) % 5 == 0)
    valid = crc(name, asin, fname) % 4 != 0
    if task["repeat_of"] is not None and crc(name, task["task_id"], fname) % 4 == 0:
        valid = not valid
    return valid


def rating_of(name: str, task: dict) -> int:
    """ann.a: 1 + the features ann.a finds valid; bo: within one of that."""
    base = 1 + sum(
        (f["name"] != "Slang") != (crc("ann.a", task["item"]["asin"], f["name"]) % 5 == 0)
        for f in task["features"]
    )
    if name == "ann.a":
        return base
    return min(5, max(1, base + crc(name, task["item"]["asin"]) % 3 - 1))


def choice_of(name: str, task: dict, key: dict) -> str:
    """Gold pairs: the real review, mostly (ann.a errs on one asin in seven, bo ties on one in
    five). Otherwise ann.a picks the longer review (a tie on equal lengths), bo the one first
    in alphabetical order (a tie on one asin in five); bo flips a third of their repeats."""
    asin, reviews = task["item"]["asin"], task["reviews"]
    if key["gold"]:
        answer = key["gold_answer"]
        if name == "ann.a":
            choice = answer if crc(name, asin) % 7 else ("B" if answer == "A" else "A")
        else:
            choice = answer if crc(name, asin, "gold") % 5 else "tie"
    elif name == "ann.a":
        a, b = len(reviews["A"]), len(reviews["B"])
        choice = "tie" if a == b else ("A" if a > b else "B")
    else:
        choice = "tie" if crc(name, asin) % 5 == 0 else min("AB", key=reviews.__getitem__)
    if name == "bo" and task["repeat_of"] is not None and crc(name, task["task_id"]) % 3 == 0:
        choice = {"A": "B", "B": "A", "tie": "A"}[choice]
    return choice


def answer_of(name: str, task: dict, key: dict) -> Answer:
    if task["type"] == "preference":
        return choice_of(name, task, key)
    features = {}
    for f in task["features"]:
        valid = valid_of(name, task, f)
        reason = None if valid else REASONS[crc(name, task["item"]["asin"], f["name"]) % 4]
        features[f["feature_id"]] = [valid, reason]
    return {"features": features, "set_rating": rating_of(name, task)}


# ---------------------------------------------------------------- the page


def shot(page: Any, name: str) -> None:
    folder = os.environ.get("DRP_BENCH_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"annotate-e2e-{name}.png"), full_page=True)


def shown(page: Any) -> tuple[str, str] | None:
    if page.locator("#task").is_hidden():
        return None
    task = page.locator("#task")
    return task.get_attribute("data-task-id"), task.get_attribute("data-type")


def answered(page: Any) -> int:
    return int(page.get_attribute("#progress", "data-answered"))


def give(page: Any, answer: Answer) -> None:
    """Answer the shown task through its controls."""
    if isinstance(answer, str):
        page.click(f'button.choice[data-choice="{answer}"]')
        return
    for fid, (valid, reason) in answer["features"].items():
        box = page.locator(f'.feature[data-feature-id="{fid}"]')
        box.locator(f'input[name="valid-{fid}"][value="{"yes" if valid else "no"}"]').check()
        if not valid:
            box.locator("select.reason").select_option(reason)
    page.check(f'input[name="set-rating"][value="{answer["set_rating"]}"]')


READ_FEATURES = """() => {
  const features = {};
  for (const box of document.querySelectorAll("#task .feature")) {
    const picked = box.querySelector("input[type=radio]:checked");
    features[box.dataset.featureId] = [picked ? picked.value === "yes" : null,
      box.querySelector("select.reason").value || null];
  }
  const rating = document.querySelector("#task input[name=set-rating]:checked");
  return {features, set_rating: rating ? Number(rating.value) : null};
}"""


def on_screen(page: Any) -> Answer:
    """The shown task's answer as its controls hold it."""
    if shown(page)[1] == "preference":
        pressed = page.eval_on_selector_all(
            'button.choice[aria-pressed="true"]', "bs => bs.map(b => b.dataset.choice)"
        )
        return pressed[0] if len(pressed) == 1 else pressed
    return page.evaluate(READ_FEATURES)


def label(page: Any, answers: dict[str, Answer], count: int, shots: set[str]) -> list[str]:
    """Answer ``count`` tasks from the shown one on (going on after each); their ids."""
    seen = []
    for _ in range(count):
        task_id, task_type = shown(page)
        assert page.locator("#next").is_disabled()
        give(page, answers[task_id])
        assert page.get_attribute("#task", "data-answered") == "true"
        assert on_screen(page) == answers[task_id]
        if task_type not in shots:
            shots.add(task_type)
            shot(page, task_type)
        page.click("#next")
        seen.append(task_id)
    return seen


def start(page: Any, name: str) -> None:
    page.fill("#annotator-name", name)
    page.click("#start")
    page.wait_for_selector("#toolbar:not([hidden])")


def check_after_reload(
    page: Any, name: str, seen: list[str], answers: dict, partial: tuple[str, str]
) -> None:
    """Reloaded: the page resumes at the first unanswered task, and every label so far (and the
    half-answered task's one answer) is on screen as given."""
    resume = shown(page)[0]
    page.reload()
    page.wait_for_selector("#login:not([hidden])")
    assert page.input_value("#annotator-name") == name
    page.click("#start")
    assert shown(page)[0] == resume and answered(page) == len(seen)
    fid, value = partial
    assert page.is_checked(f'input[name="valid-{fid}"][value="{value}"]')
    assert page.get_attribute("#task", "data-answered") == "false"
    for task_id in reversed(seen):
        page.click("#prev")
        assert shown(page)[0] == task_id
        assert page.get_attribute("#task", "data-answered") == "true"
        assert on_screen(page) == answers[task_id], task_id
    for _ in seen:
        page.click("#next")
    assert shown(page)[0] == resume


def export(page: Any, name: str, study: Path) -> Path:
    with page.expect_download() as info:
        page.click("#export")
    download = info.value
    assert download.suggested_filename == f"{name}.json"
    path = study / "annotations" / download.suggested_filename
    download.save_as(path)
    return path


@pytest.fixture(scope="module")
def annotated(study: Path) -> dict[str, Any]:
    """Both annotators label every task in the browser; ann.a reloads midway. Returns each
    annotator's answers and order."""
    require("playwright.sync_api", "the study's end-to-end browser test")
    from tests.browser import CHROMIUM, open_page

    require_executable(CHROMIUM, "the study's end-to-end browser test; `make browser`")
    tasks, keys = study_files(study)
    answers = {n: {t: answer_of(n, tasks[t], keys[t]) for t in tasks} for n in ANNOTATORS}
    orders: dict[str, list[str]] = {}
    reloaded_after = 0
    errors: list[str] = []
    requests: list[str] = []
    shots: set[str] = set()
    with open_page() as page:
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.context.on("request", lambda request: requests.append(request.url))
        page.goto((study / "index.html").resolve().as_uri())
        for name in ANNOTATORS:
            if name != ANNOTATORS[0]:
                page.click("#switch")
            start(page, name)
            assert answered(page) == 0
            half = len(tasks) // 2 if name == ANNOTATORS[0] else 0
            seen = label(page, answers[name], half, shots)
            if half:  # then on to a feature task, answer one feature of it and reload
                while shown(page)[1] != "feature_validity":
                    seen += label(page, answers[name], 1, shots)
                fid, (valid, _) = next(iter(answers[name][shown(page)[0]]["features"].items()))
                partial = fid, "yes" if valid else "no"
                page.check(f'input[name="valid-{fid}"][value="{partial[1]}"]')
                check_after_reload(page, name, seen, answers[name], partial)
                reloaded_after = len(seen)
            seen += label(page, answers[name], len(tasks) - len(seen), shots)
            assert shown(page) is None and page.locator("#done").is_visible()
            assert answered(page) == len(tasks)
            export(page, name, study)
            orders[name] = seen
    assert errors == []
    assert {url.split(":", 1)[0] for url in requests} <= {"file", "blob"}, requests
    return {"answers": answers, "orders": orders, "reloaded_after": reloaded_after}


@pytest.fixture(scope="module")
def scored(study: Path, annotated: dict[str, Any]) -> StudyReport:
    assert cli_main(["annotate", "score", str(study), "--bootstrap", str(BOOTSTRAP)]) == 0
    return read_study_report(study)


# ---------------------------------------------------------------- the study as built


def test_the_study_holds_drp_on_two_models_rag_gold_pairs_and_repeats(study: Path) -> None:
    manifest = json.loads((study / "study.json").read_text(encoding="utf-8"))
    assert {(r["method"], r["model"]) for r in manifest["runs"]} == {
        ("drp", MODELS[0]), ("drp", MODELS[1]), ("rag", MODELS[0])
    }  # fmt: skip
    tasks, keys = study_files(study)
    feature_keys = [k for k in keys.values() if k["type"] == "feature_validity"]
    kept = [f["validator_kept"] for k in feature_keys for f in k["features"]]
    assert True in kept and False in kept and None in kept  # a subset kept; one run unvalidated
    names = {f["feature_id"]: f["name"] for t in tasks.values() for f in t.get("features", [])}
    assert {names[f["feature_id"]] for k in feature_keys for f in k["features"]
            if f["validator_kept"]} == KEPT  # fmt: skip
    prefs = [k for k in keys.values() if k["type"] == "preference"]
    assert any(k["gold"] for k in prefs) and any(not k["gold"] for k in prefs)
    assert {k["type"] for k in keys.values() if k["repeat_of"]} == {
        "feature_validity",
        "preference",
    }


# ---------------------------------------------------------------- the browser


def test_two_annotators_label_every_task_and_export_it(study: Path, annotated) -> None:
    tasks, _ = study_files(study)
    for name in ANNOTATORS:
        file = json.loads((study / "annotations" / f"{name}.json").read_text(encoding="utf-8"))
        assert (file["annotator"], file["schema"]) == (name, "drp-bench-annotations/1")
        assert [lab["task_id"] for lab in file["labels"]] == sorted(tasks)  # every task
        for lab in file["labels"]:
            want = annotated["answers"][name][lab["task_id"]]
            if isinstance(want, str):
                assert lab["choice"] == want
            else:
                got = {f["feature_id"]: [f["valid"], f["reason"]] for f in lab["features"]}
                assert {"features": got, "set_rating": lab["set_rating"]} == want
        order = annotated["orders"][name]
        assert sorted(order) == sorted(tasks)
        for task_id in order:  # a repeat comes after its original
            if tasks[task_id]["repeat_of"]:
                assert order.index(task_id) > order.index(tasks[task_id]["repeat_of"])
    assert annotated["orders"]["ann.a"] != annotated["orders"]["bo"]
    assert len(tasks) // 2 <= annotated["reloaded_after"] < len(tasks)  # ann.a reloaded midway


# ---------------------------------------------------------------- the numbers, by hand


def exported(study: Path) -> dict[str, dict[str, dict]]:
    """Each annotator's labels by task id, from the exported files."""
    out = {}
    for name in ANNOTATORS:
        file = json.loads((study / "annotations" / f"{name}.json").read_text(encoding="utf-8"))
        out[name] = {lab["task_id"]: lab for lab in file["labels"]}
    return out


def hand_qc(labels: dict[str, dict], keys: dict[str, dict]) -> dict[str, Any]:
    """Gold accuracy (once per gold pair, the original's label first; a tie is wrong) and
    self-consistency (each repeat's choice, or each feature's valid, against its original)."""
    gold = right = repeats = same = 0
    for task_id, lab in labels.items():
        key = keys[task_id]
        original = key["repeat_of"]
        counts_for_gold = original is None or original not in labels
        if key["type"] == "preference" and key["gold"] and counts_for_gold:
            gold += 1
            right += lab["choice"] == key["gold_answer"]
        if original is None or original not in labels:
            continue
        first = labels[original]
        if key["type"] == "preference":
            repeats += 1
            same += lab["choice"] == first["choice"]
        else:
            before = {f["feature_id"]: f["valid"] for f in first["features"]}
            for f in lab["features"]:
                repeats += 1
                same += f["valid"] == before[f["feature_id"]]
    return {"gold": gold, "gold_accuracy": right / gold, "repeats": repeats,
            "self_consistency": same / repeats}  # fmt: skip


def kept_annotators(study: Path) -> list[str]:
    _, keys = study_files(study)
    labels = exported(study)
    qc = {n: hand_qc(labels[n], keys) for n in ANNOTATORS}
    return sorted(
        n for n in ANNOTATORS
        if qc[n]["gold_accuracy"] >= MIN_GOLD and qc[n]["self_consistency"] >= MIN_CONSISTENCY
    )  # fmt: skip


def units(labels: dict[str, dict], keys: dict[str, dict]) -> tuple[dict, dict, dict]:
    """One annotator's validity by ``task:feature``, set rating and (non-gold) choice by task:
    a repeat's label is left out when its original is labelled (it serves self-consistency)."""
    valid, rating, choice = {}, {}, {}
    for task_id, lab in labels.items():
        key = keys[task_id]
        original = key["repeat_of"]
        if original is not None and original in labels:
            continue
        unit = original or task_id
        if key["type"] == "preference":
            if not key["gold"]:
                choice[unit] = lab["choice"]
            continue
        rating[unit] = lab["set_rating"]
        for f in lab["features"]:
            valid[f"{unit}:{f['feature_id']}"] = f["valid"]
    return valid, rating, choice


def by_kind(study: Path) -> dict[str, dict[str, dict]]:
    """``{"validity"|"set_rating"|"preference": {annotator: {unit: value}}}``, kept ones."""
    _, keys = study_files(study)
    labels = exported(study)
    out: dict[str, dict[str, dict]] = {"validity": {}, "set_rating": {}, "preference": {}}
    for name in kept_annotators(study):
        for kind, values in zip(out, units(labels[name], keys), strict=True):
            out[kind][name] = values
    return out


CODES = {"validity": {False: 0, True: 1}, "set_rating": {r: r for r in range(1, 6)},
         "preference": {"A": 0, "B": 1, "tie": 2}}  # fmt: skip
LEVELS = {"validity": "nominal", "set_rating": "ordinal", "preference": "nominal"}


def matrix(per: dict[str, dict], codes: dict) -> np.ndarray:
    """Annotators (sorted) x units (sorted) of codes, NaN where a unit is not labelled."""
    names = sorted(per)
    cols = sorted({u for values in per.values() for u in values})
    out = np.full((len(names), len(cols)), np.nan)
    for i, name in enumerate(names):
        for j, unit in enumerate(cols):
            if unit in per[name]:
                out[i, j] = codes[per[name][unit]]
    return out


def agreement(report: StudyReport, label: str) -> Any:
    return next(a for a in report.main.agreement if a.label == label)


def test_alpha_equals_krippendorff_on_the_same_matrices(study: Path, scored) -> None:
    import krippendorff

    assert kept_annotators(study) == sorted(ANNOTATORS) == scored.main.annotators
    for kind, per in by_kind(study).items():
        m = matrix(per, CODES[kind])
        domain = sorted(CODES[kind].values())
        want = krippendorff.alpha(
            reliability_data=m, level_of_measurement=LEVELS[kind], value_domain=domain
        )
        got = agreement(scored, kind)
        assert got.level == LEVELS[kind] and got.units == m.shape[1]
        assert got.alpha.value == pytest.approx(want, abs=1e-12), kind
        assert got.alpha.low <= got.alpha.value <= got.alpha.high
        assert (m[0] == m[1]).any() and (m[0] != m[1]).any(), kind  # they agree and disagree
        print(f"alpha {kind}: {want:.4f} over {m.shape[1]} units")


def test_pairwise_kappa_equals_sklearn_on_the_shared_units(study: Path, scored) -> None:
    from sklearn.metrics import cohen_kappa_score

    for kind, per in by_kind(study).items():
        a, b = sorted(per)
        shared = sorted(set(per[a]) & set(per[b]))
        want = cohen_kappa_score([per[a][u] for u in shared], [per[b][u] for u in shared])
        (got,) = agreement(scored, kind).kappas
        assert (got.a, got.b, got.n) == (a, b, len(shared))
        assert got.kappa == pytest.approx(want, abs=1e-12), kind
        print(f"kappa {kind}: {want:.4f} on {len(shared)} shared units")


def hand_validator(study: Path) -> dict[str, dict[str, Any]]:
    """The validator's keep (predicted) against the kept annotators' majority valid (truth),
    over the originals' features of runs with a validate stage; an even split is left out."""
    _, keys = study_files(study)
    validity = by_kind(study)["validity"]
    counts: dict[str, Counter] = {}
    for key in keys.values():
        if key["type"] != "feature_validity" or key["repeat_of"] is not None:
            continue
        for f in key["features"]:
            kept = f["validator_kept"]
            if kept is None:
                continue
            votes = Counter(per[u] for per in validity.values()
                            if (u := f"{key['task_id']}:{f['feature_id']}") in per)  # fmt: skip
            top = votes.most_common()
            if not top or (len(top) > 1 and top[0][1] == top[1][1]):
                continue
            human = top[0][0]
            cell = "tp" if human and kept else "fp" if kept else "fn" if human else "tn"
            for group in ("all", f["category"] or "uncategorized"):
                counts.setdefault(group, Counter())[cell] += 1
    out = {}
    for group, c in counts.items():
        n = sum(c.values())
        p_obs = (c["tp"] + c["tn"]) / n
        p_keep, p_valid = (c["tp"] + c["fp"]) / n, (c["tp"] + c["fn"]) / n
        p_exp = p_keep * p_valid + (1 - p_keep) * (1 - p_valid)
        out[group] = {
            "n": n, **{k: c[k] for k in ("tp", "fp", "fn", "tn")},
            "precision": c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else None,
            "recall": c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else None,
            "kappa": (p_obs - p_exp) / (1 - p_exp) if p_exp != 1 else None,
        }  # fmt: skip
    return out


def test_the_validator_against_the_human_majority_equals_a_hand_count(study, scored) -> None:
    want = hand_validator(study)
    got = {v.category: v for v in scored.main.validator}
    assert set(got) == set(want) and {"all", "Emotion", "uncategorized"} <= set(got)
    for group, counts in want.items():
        row = got[group]
        assert (row.n, row.tp, row.fp, row.fn, row.tn) == tuple(
            counts[k] for k in ("n", "tp", "fp", "fn", "tn")
        ), group
        for field in ("precision", "recall", "kappa"):
            if counts[field] is None:
                assert getattr(row, field) is None, (group, field)
            else:
                assert getattr(row, field) == pytest.approx(counts[field], abs=1e-12)
    overall = want["all"]
    assert overall["fp"] and overall["tn"] and overall["tp"]  # neither side trivially right
    print(f"validator vs majority: {overall}")


def test_gold_accuracy_and_self_consistency_equal_hand_counts(study: Path, scored) -> None:
    _, keys = study_files(study)
    labels = exported(study)
    got = {q.annotator: q for q in scored.qc}
    assert sorted(got) == sorted(ANNOTATORS)
    for name in ANNOTATORS:
        want = hand_qc(labels[name], keys)
        q = got[name]
        assert (q.labels, q.gold, q.repeats) == (len(labels[name]), want["gold"], want["repeats"])
        assert q.gold_accuracy == pytest.approx(want["gold_accuracy"])
        assert q.self_consistency == pytest.approx(want["self_consistency"])
        assert not q.flagged and scored.everyone is None
        print(f"{name}: {want}")
    assert got["bo"].self_consistency < 1.0 == got["ann.a"].self_consistency


# ---------------------------------------------------------------- drp-bench report


def test_report_shows_the_human_study_with_the_same_alpha(sweep: Path, scored, capsys) -> None:
    assert cli_main(["report", str(sweep), "--bootstrap", "0", "--no-plots"]) == 0
    md = (sweep / "report" / "results.md").read_text(encoding="utf-8")
    section = md.split(f"## Human study: {TITLE}")[1]
    for kind, level in LEVELS.items():
        a = agreement(scored, kind).alpha
        line = f"Krippendorff's alpha, {kind} ({level}): {a.value:.2f} [{a.low:.2f}, {a.high:.2f}]"
        assert line in section, line
    assert f"## Human study: {TITLE}" in capsys.readouterr().out

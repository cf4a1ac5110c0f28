"""drp-bench annotate score: a hand-made study with known labels -> the report's numbers, each
checked against the packages' own functions on the same data or a hand count."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr
from sklearn.metrics import cohen_kappa_score

from drp_bench.annotate.cli import main as annotate_main
from drp_bench.annotate.formats import StudyFormatError, read_keys
from drp_bench.annotate.report_file import StudyReport, read_study_report
from drp_bench.annotate.score import score_study, write_report
from drp_bench.metrics.text import bleu
from drp_bench.report.cli import main as report_main
from drp_bench.run import folder as run_folder
from tests.test_report import MEDIUM, QWEN7, REFERENCES, generate_call, m, write_run

STUDY_ID = "abc123def456"
DRP, RAG, NONP = "drp / Qwen2.5-7B-Instruct", "rag / Qwen2.5-7B-Instruct", "nonp / none"
RUNS = {"r0": ("drp", "Qwen2.5-7B-Instruct"), "r1": ("rag", "Qwen2.5-7B-Instruct"),
        "r2": ("nonp", "none")}  # fmt: skip
N_BOOT = 200

# feature validity: t01 (+ its repeat t03) and t02; (feature, validator kept, UVQ category)
FEATURES = {
    "t01": [("f1", True, "tone"), ("f2", False, "tone"), ("f3", True, None)],
    "t02": [("f1", True, "detail"), ("f2", True, "detail")],
}
# preference: task -> (side A's run, side B's run); sample i of task t1i is "U{i}:B000{i}"
PAIRS = {"t10": ("r0", "r1"), "t11": ("r1", "r0"), "t12": ("r0", "r1"), "t13": ("r1", "r0"),
         "t14": ("r0", "r1"), "t15": ("r1", "r0"), "t16": ("r0", "r2"), "t17": ("r2", "r0"),
         "t18": ("r1", "r2")}  # fmt: skip
GOLD = {"t20": "A", "t21": "B"}
# labels: validity of (t01 f1, f2, f3, t02 f1, f2), set ratings (t01, t02), the repeat t03's
# validity (None: not labelled), choices of t10..t18, of the gold t20/t21, of the repeat t22
LABELS = {
    "ann1": ([1, 0, 1, 1, 0], [4, 3], [1, 0, 1], "AB" "AB" "AB" "A" "B" "A", "AB", "A"),
    "ann2": ([1, 0, 0, 1, 0], [5, 3], [1, 0, 1], "AB" "AB" "TB" "A" "B" "A", "AB", "A"),
    "ann3": ([1, 1, 1, 1, 0], [4, 2], None, "AT" "BB" "AB" "A" "B" "A", "AB", "A"),
    "bad": ([0, 1, 0, 0, 1], [1, 5], [1, 0, 1], "BA" "BA" "BA" "B" "A" "B", "BA", "A"),
}  # fmt: skip
CHOICE_TASKS = list(PAIRS)
ROUGE_L = {"r0": 0.40, "r1": 0.30, "r2": 0.20}
JUDGE = {"r0": 8, "r1": 5}  # nonp has no judge stage


def key_line(task: str, **fields: Any) -> dict[str, Any]:
    return {"task_id": task, "repeat_of": None, "user_id": "U0"} | fields


def side(run_id: str | None, source: str = "run") -> dict[str, Any]:
    method, model = RUNS[run_id] if run_id else (None, None)
    return {"source": source, "run_id": run_id, "method": method, "model": model}


def keys() -> list[dict[str, Any]]:
    out = []
    for task, repeat_of in (("t01", None), ("t02", None), ("t03", "t01")):
        feats = FEATURES[repeat_of or task]
        out.append(key_line(
            task, type="feature_validity", sample_id="U0:B0000", repeat_of=repeat_of,
            run_id="r0", method="drp", model=RUNS["r0"][1], comparison_asin=f"C{task}",
            features=[{"feature_id": f, "validator_kept": k, "category": c}
                      for f, k, c in feats],
        ))  # fmt: skip
    for i, (task, (a, b)) in enumerate(PAIRS.items()):
        out.append(key_line(task, type="preference", sample_id=f"U{i}:B{i:04d}", gold=False,
                            sides={"A": side(a), "B": side(b)}, gold_answer=None))  # fmt: skip
    for task, answer in GOLD.items():
        real, other = side(None, "reference"), side(None, "other_user")
        sides = {"A": real, "B": other} if answer == "A" else {"A": other, "B": real}
        out.append(key_line(task, type="preference", sample_id="U9:B0009", gold=True,
                            sides=sides, gold_answer=answer))  # fmt: skip
    out.append(key_line("t22", type="preference", sample_id="U0:B0000", repeat_of="t10",
                        gold=False, sides={"A": side("r0"), "B": side("r1")},
                        gold_answer=None))  # fmt: skip
    return out


def feature_label(task: str, valid: list[int], rating: int) -> dict[str, Any]:
    feats = [
        {"feature_id": f, "valid": bool(v), "reason": None if v else "unsupported"}
        for (f, _, _), v in zip(FEATURES[task], valid, strict=True)
    ]
    return {"task_id": task, "answered_at": "2026-01-01T00:00:00", "features": feats,
            "set_rating": rating}  # fmt: skip


def choice_label(task: str, letter: str) -> dict[str, Any]:
    choice = "tie" if letter == "T" else letter
    return {"task_id": task, "answered_at": "2026-01-01T00:00:00", "choice": choice}


def annotator_file(name: str) -> dict[str, Any]:
    valid, ratings, repeat, choices, gold, repeat_choice = LABELS[name]
    labels = [feature_label("t01", valid[:3], ratings[0]),
              feature_label("t02", valid[3:], ratings[1])]  # fmt: skip
    if repeat is not None:
        labels.append(feature_label("t01", repeat, 3) | {"task_id": "t03"})
    labels += [choice_label(t, c) for t, c in zip(CHOICE_TASKS, choices, strict=True)]
    labels += [choice_label(t, c) for t, c in zip(GOLD, gold, strict=True)]
    labels.append(choice_label("t22", repeat_choice))
    return {"schema": "drp-bench-annotations/1", "study_id": STUDY_ID, "annotator": name,
            "exported_at": "2026-01-02T00:00:00", "labels": labels}  # fmt: skip


def write_runs(root: Path) -> dict[str, Path]:
    """Three run folders (as report reads them) whose rows carry ROUGE-L and judge scores."""
    dirs = {}
    for n, (run_id, (method, model)) in enumerate(RUNS.items()):
        extractor = QWEN7 if model != "none" else None
        d = write_run(root, f"run{n}", method=method, extractor=extractor,
                      predictions=MEDIUM[:9], metrics=m(0.2, 0.3, 0.2), limit=9)  # fmt: skip
        rows = [json.loads(line) for line in (d / "predictions.jsonl").read_text().splitlines()]
        for i, row in enumerate(rows):
            r = ROUGE_L[run_id]
            row["scores"] = {"meteor": 0.1, "rouge1": r, "rouge2": r, "rougeL": r, "rougeLsum": r}
            if run_id in JUDGE:
                row["stages"]["judge"] = generate_call("8") | {"score": JUDGE[run_id] + i % 2}
        run_folder.write_predictions(d / "predictions.jsonl", rows)
        dirs[run_id] = d
    return dirs


def write_study(folder: Path, run_dirs: dict[str, Path], annotators: list[str]) -> Path:
    (folder / "annotations").mkdir(parents=True)
    manifest = {
        "schema": "drp-bench-study/1", "study_id": STUDY_ID, "title": "test study",
        "created": "2026-01-01T00:00:00", "seed": 0, "task_types": ["feature_validity",
        "preference"], "sizes": {"feature_items": 2}, "drp_bench_version": "0.1.0",
        "git_commit": None,
        "runs": [{"run_id": r, "path": str(run_dirs[r]), "method": RUNS[r][0],
                  "model": RUNS[r][1], "samples": 9} for r in RUNS],
    }  # fmt: skip
    (folder / "study.json").write_text(json.dumps(manifest))
    (folder / "key.jsonl").write_text("".join(json.dumps(k) + "\n" for k in keys()))
    for name in annotators:
        (folder / "annotations" / f"{name}.json").write_text(json.dumps(annotator_file(name)))
    return folder


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, StudyReport]:
    root = tmp_path_factory.mktemp("sweep")
    study = write_study(root / "study", write_runs(root), list(LABELS))
    assert annotate_main(["score", str(study), "--bootstrap", str(N_BOOT)]) == 0
    return study, read_study_report(study)


def agreement(report_stats: Any, label: str) -> Any:
    return next(a for a in report_stats.agreement if a.label == label)


# ---------------------------------------------------------------- agreement


def validity_matrix(names: list[str]) -> np.ndarray:
    return np.array([LABELS[n][0] for n in names], dtype=float)


def test_alpha_equals_krippendorff_on_the_same_matrices(scored) -> None:
    _, report = scored
    main = ["ann1", "ann2", "ann3"]
    assert report.main.annotators == main
    expected = krippendorff.alpha(validity_matrix(main), level_of_measurement="nominal")
    got = agreement(report.main, "validity").alpha
    assert got.value == pytest.approx(expected)
    assert got.low is not None and got.high is not None and got.low <= got.high
    ratings = np.array([LABELS[n][1] for n in main], dtype=float)
    ordinal = krippendorff.alpha(
        ratings, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5]
    )
    assert agreement(report.main, "set_rating").alpha.value == pytest.approx(ordinal)
    codes = {"A": 0, "B": 1, "T": 2}
    choices = np.array([[codes[c] for c in LABELS[n][3]] for n in main], dtype=float)
    nominal = krippendorff.alpha(choices, level_of_measurement="nominal")
    assert agreement(report.main, "preference").alpha.value == pytest.approx(nominal)
    everyone = krippendorff.alpha(validity_matrix(list(LABELS)), level_of_measurement="nominal")
    assert report.everyone is not None
    assert agreement(report.everyone, "validity").alpha.value == pytest.approx(everyone)


def test_pairwise_kappa_equals_sklearn_on_the_shared_items(scored) -> None:
    _, report = scored
    kappas = {(k.a, k.b): k for k in agreement(report.main, "validity").kappas}
    assert set(kappas) == {("ann1", "ann2"), ("ann1", "ann3"), ("ann2", "ann3")}
    for (a, b), k in kappas.items():
        assert k.n == 5
        assert k.kappa == pytest.approx(cohen_kappa_score(LABELS[a][0], LABELS[b][0]))
    pref = {(k.a, k.b): k for k in agreement(report.main, "preference").kappas}
    expected = cohen_kappa_score(list(LABELS["ann1"][3]), list(LABELS["ann2"][3]))
    assert pref[("ann1", "ann2")].kappa == pytest.approx(expected)


# ---------------------------------------------------------------- validator, categories


def test_validator_against_the_human_majority_equals_a_hand_count(scored) -> None:
    _, report = scored
    # majority of ann1-3: t01 f1 valid, f2 not, f3 valid; t02 f1 valid, f2 not
    # validator keeps:    f1, -, f3; f1, f2 -> tp 3 (t01 f1, f3, t02 f1), fp 1 (t02 f2), tn 1
    rows = {v.category: v for v in report.main.validator}
    overall = rows["all"]
    assert (overall.n, overall.tp, overall.fp, overall.fn, overall.tn) == (5, 3, 1, 0, 1)
    assert overall.precision == pytest.approx(3 / 4) and overall.recall == pytest.approx(1.0)
    assert overall.f1 == pytest.approx(2 * 0.75 / 1.75)
    # po = 4/5; pe = 3/5 * 4/5 + 2/5 * 1/5 = 14/25 -> kappa = (20/25 - 14/25) / (11/25)
    assert overall.kappa == pytest.approx(6 / 11)
    assert set(rows) == {"all", "tone", "detail", "uncategorized"}
    assert (rows["tone"].tp, rows["tone"].tn, rows["tone"].kappa) == (1, 1, pytest.approx(1.0))
    assert (rows["detail"].tp, rows["detail"].fp, rows["detail"].precision) == (1, 1, 0.5)
    assert rows["detail"].kappa == pytest.approx(0.0) and rows["uncategorized"].n == 1
    cats = {c.category: c for c in report.main.categories}
    assert (cats["tone"].extracted, cats["tone"].valid, cats["tone"].validator_kept) == (2, 1, 1)
    assert (cats["detail"].extracted, cats["detail"].valid, cats["detail"].validator_kept) == (
        2, 1, 2,
    )  # fmt: skip
    # with the flagged annotator, t01 f2 splits 2-2: no majority
    assert report.main.no_majority == 0 and report.everyone.no_majority >= 1


# ---------------------------------------------------------------- preferences


def test_win_rates_count_ties_as_half_and_bradley_terry_orders_a_clear_case(scored) -> None:
    _, report = scored
    rates = {(w.first, w.second): w for w in report.main.win_rates}
    drp_rag = rates[(DRP, RAG)]
    # drp's view over t10-t15 (3 annotators each): 15 wins, 2 ties, 1 loss
    assert (drp_rag.n, drp_rag.tasks, drp_rag.wins, drp_rag.ties, drp_rag.losses) == (
        18, 6, 15, 2, 1,
    )  # fmt: skip
    assert drp_rag.win_rate.value == pytest.approx(16 / 18)
    assert drp_rag.tie_share == pytest.approx(2 / 18)
    assert drp_rag.win_rate.low <= drp_rag.win_rate.value <= drp_rag.win_rate.high
    assert rates[(DRP, NONP)].win_rate.value == 1.0
    assert [r.system for r in report.main.ranking] == [DRP, RAG, NONP]
    # the flagged annotator prefers the other side every time: apart, not in the main numbers
    assert report.everyone.win_rates[0].losses > drp_rag.losses


def test_correlations_pair_human_preference_with_metric_differences(scored) -> None:
    _, report = scored
    main = ["ann1", "ann2", "ann3"]
    share = {"A": 1.0, "B": 0.0, "T": 0.5}
    human = [np.mean([share[LABELS[n][3][i]] for n in main]) for i in range(len(PAIRS))]
    rouge = [ROUGE_L[a] - ROUGE_L[b] for a, b in PAIRS.values()]
    corr = {c.metric: c for c in report.main.correlations}
    assert corr["rougeL"].n == 9
    assert corr["rougeL"].spearman == pytest.approx(spearmanr(human, rouge).statistic)
    assert corr["rougeL"].kendall == pytest.approx(kendalltau(human, rouge).statistic)
    judged = [i for i, (a, b) in enumerate(PAIRS.values()) if a in JUDGE and b in JUDGE]
    judge = [JUDGE[PAIRS[f"t1{i}"][0]] - JUDGE[PAIRS[f"t1{i}"][1]] for i in judged]
    assert corr["judge"].n == len(judged) == 6
    assert corr["judge"].spearman == pytest.approx(spearmanr([human[i] for i in judged], judge)[0])
    predictions = MEDIUM[:9]
    bleus = [bleu([predictions[i]], [REFERENCES[i]]) for i in range(9)]
    assert corr["bleu"].n == 9 and corr["bleu"].spearman is None  # same text in every run: 0
    assert bleus[0] > 0


def test_a_metric_absent_from_the_runs_is_skipped_and_said(tmp_path: Path) -> None:
    runs = write_runs(tmp_path)
    for d in runs.values():
        rows = run_folder.read_predictions(d / "predictions.jsonl")
        for row in rows:
            row.scores = None
            row.stages.judge = None
        run_folder.write_predictions(d / "predictions.jsonl", rows)
    study = write_study(tmp_path / "study", runs, ["ann1", "ann2"])
    report = score_study(study, n_bootstrap=0)
    assert [c.metric for c in report.main.correlations] == ["bleu"]
    assert any(n.startswith("rougeL: absent") for n in report.notes)
    assert any(n.startswith("judge: absent") for n in report.notes)


# ---------------------------------------------------------------- quality control


def test_gold_accuracy_and_self_consistency_equal_hand_counts(scored) -> None:
    _, report = scored
    qc = {q.annotator: q for q in report.qc}
    # ann1: gold 2/2; repeats: t03 3/3 features agree, t22 agrees with t10 -> 4/4
    assert (qc["ann1"].gold, qc["ann1"].gold_accuracy) == (2, 1.0)
    assert (qc["ann1"].repeats, qc["ann1"].self_consistency) == (4, 1.0)
    # ann2: t03 f3 valid, t01 f3 not -> 2/3 features + 1/1 choice = 3/4
    assert qc["ann2"].self_consistency == pytest.approx(3 / 4) and not qc["ann2"].flagged
    assert (qc["ann3"].repeats, qc["ann3"].self_consistency) == (1, 1.0)
    # bad: both gold pairs wrong, every repeat differs -> flagged, left out of the main set
    assert (qc["bad"].gold_accuracy, qc["bad"].self_consistency) == (0.0, 0.0)
    assert qc["bad"].flagged and len(qc["bad"].why) == 2
    assert "bad" not in report.main.annotators and "bad" in report.everyone.annotators


def test_score_writes_markdown_json_and_a_plot(scored) -> None:
    study, report = scored
    md = (study / "score" / "study_report.md").read_text()
    for heading in ("## Quality control", "### Agreement", "### LLM validator vs human majority",
                    "### Features per category", "### Preferences", "Bradley-Terry ranking",
                    "### Human preference vs metrics", "## Everyone"):  # fmt: skip
        assert heading in md, heading
    alpha = agreement(report.main, "validity").alpha.value
    assert f"{alpha:.2f}" in md and "win_rates.png" in md
    assert (study / "score" / "win_rates.png").stat().st_size > 1000


# ---------------------------------------------------------------- malformed files


def study_with(tmp_path: Path, name: str, content: str) -> Path:
    study = write_study(tmp_path / "study", {r: tmp_path / r for r in RUNS}, ["ann1"])
    (study / "annotations" / name).write_text(content)
    return study


def bad_label(change: dict[str, Any], label: int | None = None) -> str:
    obj = annotator_file("ann2")
    if label is None:
        obj |= change
    else:
        obj["labels"][label] |= change
    return json.dumps(obj)


@pytest.mark.parametrize(
    ("content", "field", "says"),
    [
        ('{"schema": "drp-bench-annotations/1",\n "labels": [,]}', None, "not valid JSON"),
        (bad_label({"schema": "drp-bench-annotations/9"}), "schema", "drp-bench-annotations/1"),
        (bad_label({"task_id": "t99"}, 3), "labels[3].task_id", "no task 't99'"),
        (bad_label({"features": [{"feature_id": "f1", "valid": False, "reason": "because"},
                                 {"feature_id": "f2", "valid": False, "reason": "unclear"},
                                 {"feature_id": "f3", "valid": True, "reason": None}]}, 0),
         "labels[0].features[0].reason", "content_not_style"),
        (bad_label({"study_id": "000000000000"}), "study_id", "not of this study"),
        (bad_label({"choice": "A", "features": None, "set_rating": None}, 0), "labels[0]",
         "feature_validity"),
    ],
)  # fmt: skip
def test_malformed_files_name_the_file_and_the_field(
    tmp_path: Path, content: str, field: str | None, says: str, capsys
) -> None:
    study = study_with(tmp_path, "ann2.json", content)
    with pytest.raises(StudyFormatError) as err:
        score_study(study, n_bootstrap=0)
    assert err.value.path.name == "ann2.json" and err.value.field == field
    assert says in str(err.value)
    assert annotate_main(["score", str(study), "--bootstrap", "0"]) == 2
    assert "ann2.json" in capsys.readouterr().err


def test_the_same_annotator_twice_names_both_files(tmp_path: Path) -> None:
    study = study_with(tmp_path, "ann1-again.json", json.dumps(annotator_file("ann1")))
    with pytest.raises(StudyFormatError) as err:
        score_study(study, n_bootstrap=0)
    assert err.value.field == "annotator" and "'ann1'" in str(err.value)
    assert "ann1.json" in str(err.value) and "ann1-again.json" in str(err.value)


@pytest.mark.skipif(
    importlib.util.find_spec("drp_bench.annotate.label_studio") is not None,
    reason="the Label Studio reader is installed (its own tests cover the export)",
)
def test_a_label_studio_export_without_its_reader_is_a_clear_error(tmp_path: Path) -> None:
    export = [{"id": 1, "data": {"task_id": "t10"}, "annotations": []}]
    study = study_with(tmp_path, "ls-export.json", json.dumps(export))
    with pytest.raises(StudyFormatError, match="Label Studio"):
        score_study(study, n_bootstrap=0)


# ---------------------------------------------------------------- drp-bench report


def test_report_shows_the_human_study_beside_the_runs(scored, capsys) -> None:
    study, report = scored
    sweep = study.parent
    assert report_main([str(sweep), "--bootstrap", "0", "--no-plots"]) == 0
    md = (sweep / "report" / "results.md").read_text()
    section = md.split("## Human study: test study")[1]
    alpha = agreement(report.main, "validity").alpha
    assert f"validity (nominal): {alpha.value:.2f} [{alpha.low:.2f}, {alpha.high:.2f}]" in section
    kappa = next(v for v in report.main.validator if v.category == "all").kappa
    assert f"kappa {kappa:.2f}" in section
    assert f"Bradley-Terry order: {DRP} > {RAG} > {NONP}" in section
    assert "Human study" in capsys.readouterr().out


def test_report_without_a_study_has_no_human_study_section(tmp_path: Path) -> None:
    write_runs(tmp_path)
    assert report_main([str(tmp_path), "--bootstrap", "0", "--no-plots"]) == 0
    assert "Human study" not in (tmp_path / "report" / "results.md").read_text()


def test_write_report_round_trips_through_the_light_reader(scored, tmp_path: Path) -> None:
    study, report = scored
    copy = tmp_path / "copy"
    shutil.copytree(study, copy)
    write_report(copy, report, plots=False)
    assert read_study_report(copy) == report


LABEL_STUDIO_DATA = Path(__file__).parent / "data" / "label_studio"


@pytest.mark.skipif(
    importlib.util.find_spec("drp_bench.annotate.label_studio") is None
    or not (LABEL_STUDIO_DATA / "export.json").is_file(),
    reason="needs the Label Studio reader and its test export (tests/data/label_studio)",
)
def test_a_label_studio_export_is_scored_beside_our_files(tmp_path: Path) -> None:
    from drp_bench.annotate.label_studio import read_export

    study = tmp_path / "study"
    (study / "annotations").mkdir(parents=True)
    for name in ("study.json", "key.jsonl"):
        shutil.copy(LABEL_STUDIO_DATA / name, study / name)
    shutil.copy(LABEL_STUDIO_DATA / "export.json", study / "annotations" / "export.json")
    expected = read_export(LABEL_STUDIO_DATA / "export.json", read_keys(study / "key.jsonl"))
    report = score_study(study, n_bootstrap=0)
    assert [q.annotator for q in report.qc] == [f.annotator for f in expected]
    assert [q.labels for q in report.qc] == [len(f.labels) for f in expected]
    # the same person again, as our page's file: named with both files
    again = expected[0].to_json_dict()
    (study / "annotations" / f"{expected[0].annotator}.json").write_text(json.dumps(again))
    with pytest.raises(StudyFormatError, match=r"export\.json"):
        score_study(study, n_bootstrap=0)


def test_a_repeated_gold_pair_counts_once_for_gold_accuracy() -> None:
    """A gold pair's repeat serves self-consistency only: gold accuracy is per gold pair (its
    original's label), so a wrong repeat lowers self-consistency, not gold accuracy."""
    from pydantic import TypeAdapter

    from drp_bench.annotate.formats import TaskKey, parse_annotator_file
    from drp_bench.annotate.report_file import Thresholds
    from drp_bench.annotate.score import annotator_qc

    lines = keys()
    lines.append(
        next(k for k in lines if k["task_id"] == "t20") | {"task_id": "t23", "repeat_of": "t20"}
    )
    by_id = {k["task_id"]: TypeAdapter(TaskKey).validate_python(k) for k in lines}
    path = Path("ann.json")
    labels = [choice_label("t20", "A"), choice_label("t21", "B"), choice_label("t23", "B")]
    file = parse_annotator_file(
        {"schema": "drp-bench-annotations/1", "study_id": STUDY_ID, "annotator": "ann",
         "exported_at": "2026-01-02T00:00:00", "labels": labels}, path
    )  # fmt: skip
    qc = annotator_qc("ann", file, by_id, path, Thresholds(gold_accuracy=0.7, self_consistency=0.6))
    assert (qc.gold, qc.gold_accuracy) == (2, 1.0)  # t20 right, t21 right; t23 is t20 again
    assert (qc.repeats, qc.self_consistency) == (1, 0.0)
    assert qc.flagged and qc.why == ["self-consistency 0.00 < 0.6"]

"""drp-bench report: run folders (per the run folder contract) -> tables and plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from drp_bench.metrics.text import bleu
from drp_bench.report.cli import main
from drp_bench.report.collect import collect_runs, data_fingerprint, read_run
from drp_bench.report.plots import (
    make_plots,
    plot_feature_categories,
    plot_quality_vs_compute,
    plot_size_scaling,
    plot_uvq_vs_bleu,
)
from drp_bench.report.tables import (
    build_table,
    load_paper_table,
    paper_dataset,
    paper_value,
    significance,
    to_latex,
    to_markdown,
)
from drp_bench.run import folder as run_folder

N_BOOT = 100

REFERENCES = [
    "This book kept me up all night, the characters felt real and the ending surprised me.",
    "A slow start, but the second half is gripping and beautifully written.",
    "I did not enjoy the writing style; too many long descriptions and little plot.",
    "Great gift for my father, he loved the history and the photographs.",
    "The author explains complex ideas clearly, highly recommended for beginners.",
    "Predictable story with flat characters, I would not read it again.",
    "Funny, warm and clever. I laughed out loud several times on the train.",
    "The recipes are easy to follow and the results were delicious every time.",
    "Too long by half; the middle chapters drag and repeat the same points.",
    "My kids asked me to read it again every evening for two weeks.",
    "Solid research, but the tone is dry and the charts are hard to read.",
    "A moving memoir that made me call my mother the next morning.",
]
# increasingly good predictions: GOOD is close to the references, BAD is unrelated
BAD = ["It is a product. I bought it and it arrived on time in a box."] * len(REFERENCES)
MEDIUM = [
    "This book kept me reading, the characters are nice and the ending is fine.",
    "A slow start, but then the story becomes better and is well written.",
    "I did not like the style; the descriptions are long and the plot is thin.",
    "Nice gift for my dad, he liked the history part a lot.",
    "The author explains ideas clearly, good for beginners.",
    "A predictable story, the characters are flat, not for me.",
    "Funny and clever, I laughed several times.",
    "The recipes are easy and the food was good.",
    "Too long; the middle part is slow.",
    "The kids liked it and asked for it again.",
    "Good research, but dry, and the charts are not clear.",
    "A moving memoir, it made me think of my mother.",
]
GOOD = [r.replace("I ", "I really ") for r in REFERENCES]
GOOD_BUT_ONE = [*GOOD[:-1], MEDIUM[-1]]  # GOOD with one worse sample
MEDIUM_PLUS = [*GOOD[:2], *MEDIUM[2:]]  # MEDIUM with two better samples


def generate_call(output: str) -> dict[str, Any]:
    """A successful generate call as predictions.jsonl records it."""
    return {
        "messages": [{"role": "user", "content": "Write the user's review of the item."}],
        "output": f"[Review]: {output}", "reasoning": None, "prompt_tokens": 300,
        "completion_tokens": 40, "reasoning_tokens": 0, "finish_reason": "stop",
        "latency_s": 0.5, "error": None, "skipped": False, "cached": False,
    }  # fmt: skip


def model_summary(model: dict[str, Any]) -> dict[str, Any]:
    """A role's model as metrics.json lists it."""
    return {"hub_id": f"org/{model['name']}", "backend": "vllm"} | model


def write_run(
    root: Path,
    name: str,
    *,
    method: str,
    dataset: str = "books",
    extractor: dict[str, Any] | None = None,
    predictions: list[str] | None = None,
    metrics: dict[str, float] | None = None,
    uvq: dict[str, Any] | None = None,
    reasoning_tokens: float = 0.0,
    limit: int = len(REFERENCES),
    temperature: float = 0.0,
    data: dict[str, str] | None = None,
) -> Path:
    """A run folder as the pipeline writes it, through the run-folder writers (metrics.json
    only when ``metrics`` is given; ``data``: its ``dataset_fingerprint``)."""
    d = root / name
    (d / ".hydra").mkdir(parents=True)
    model = (extractor or {}).get("name", "none")
    config = {
        "method": {"name": method},
        "dataset": {"name": dataset, "split": "test", "limit": limit},
        "model": {"extractor": extractor},
        "temperature": 0.0,
    }
    (d / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    overrides = [f"method={method}", f"dataset={dataset}", f"model={model}"]
    (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (d / ".hydra" / "hydra.yaml").write_text("hydra: {}\n")
    if predictions is not None:
        rows = [
            {
                "sample_id": f"U{i}:B{i:04d}",
                "user_id": f"U{i}",
                "target_asin": f"B{i:04d}",
                "reference": r,
                "prediction": p,
                "past_reviews": [],
                "status": "complete",
                "failed_stages": [],
                "stages": {"generate": generate_call(p)},
                "error": None,
            }
            for i, (p, r) in enumerate(zip(predictions, REFERENCES, strict=False))
        ]
        run_folder.write_predictions(d / "predictions.jsonl", rows)
    if metrics is not None:
        metrics = {"bleu": bleu(predictions or [], REFERENCES[: len(predictions or [])])} | metrics
        generator = model_summary(QWEN7)
        # every role is listed, also those the method does not use (as the pipeline does)
        swept = model_summary(extractor or QWEN7)
        models = {"generator": generator, "summarizer": generator, "normalizer": generator,
                  "extractor": swept, "validator": swept}  # fmt: skip
        differences = method in ("dpl", "drp")
        features = {"stage": "validate", "items": 8, "parsed": 8, "malformed": 0, "failed": 0,
                    "per_item_mean": 3.0} if differences else None  # fmt: skip
        record = {
            "status": "complete",
            "failures": None,
            "run": {
                "method": method, "dataset": dataset, "split": "test",
                "num_samples": len(predictions or []), "num_users": 4, "num_retrieved": 8,
                "dimensions": "auto" if method == "drp" else None,
                "validate": method == "drp", "temperature": temperature, "seed": 42,
                "summary_reads": "validated" if method == "drp" else None, "models": models,
            },
            "metrics": metrics
            | {"rouge1_mean": metrics["rouge1"], "rougeL_mean": metrics["rougeL"],
               "n": len(predictions or [])},
            "failed_samples": 0,
            "features": features,
            "extracted_features": features and features | {"stage": "extract"},
            "uvq": uvq,
            "calls": {"total": 40, "failed": 0, "cached": 0, "skipped": 0},
            "compute": {
                "generate": {"calls": 8, "prompt_tokens": 2400, "completion_tokens": 400,
                             "reasoning_tokens": 0, "latency_s": 4.0},
                "per_sample": {"prompt_tokens": 1500.0,
                               "completion_tokens": 300.0 + 2 * reasoning_tokens,
                               "reasoning_tokens": reasoning_tokens, "calls": 5.0},
            },
            "wall_time_s": 42.0, "context_time_s": 2.0, "versions": {}, "git_commit": None,
            "dataset_fingerprint": {"books.jsonl": "sha256:00"} if data is None else data,
        }  # fmt: skip
        run_folder.write_metrics(d / "metrics.json", record)
    return d


QWEN7 = {"name": "Qwen2.5-7B-Instruct", "family": "qwen2.5-instruct", "params_b": 7.0,
         "reasoning": False}  # fmt: skip
QWEN15 = {"name": "Qwen2.5-1.5B-Instruct", "family": "qwen2.5-instruct", "params_b": 1.5,
          "reasoning": False}  # fmt: skip
R1_7 = {"name": "DeepSeek-R1-Distill-Qwen-7B", "family": "r1-distill-qwen", "params_b": 7.0,
        "reasoning": True}  # fmt: skip


def m(meteor: float, rouge1: float, rougeL: float) -> dict[str, float]:
    """Hand-set METEOR / ROUGE (easy to find in the tables); BLEU is computed by write_run."""
    return {"meteor": meteor, "rouge1": rouge1, "rougeL": rougeL}


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    return make_sweep(tmp_path / "sweep")


def make_sweep(root: Path) -> Path:
    """A sweep with 5 complete runs, one failed, one half finished and one corrupt."""
    write_run(root, "0", method="nonp", predictions=BAD, metrics=m(0.1111, 0.2111, 0.1011))
    write_run(root, "1", method="rag", predictions=MEDIUM, metrics=m(0.2222, 0.3222, 0.1622))
    write_run(root, "2", method="drp", extractor=QWEN15, predictions=MEDIUM_PLUS,
              metrics=m(0.2333, 0.3333, 0.1733),
              uvq={"mean": 4.0, "invalid_share": 0.2,
                   "categories": {"Writing": 0.5, "Emotion": 0.3, "Semantics": 0.2}})  # fmt: skip
    write_run(root, "3", method="drp", extractor=QWEN7, predictions=GOOD,
              metrics=m(0.2444, 0.3444, 0.1844),
              uvq={"mean": 7.0, "invalid_share": 0.1,
                   "categories": {"Writing": 0.4, "Emotion": 0.2, "Semantics": 0.2,
                                  "Structure": 0.2}})  # fmt: skip
    write_run(root, "4", method="drp", extractor=R1_7, predictions=GOOD_BUT_ONE,
              reasoning_tokens=900.0,
              metrics=m(0.2555, 0.3555, 0.1755),
              uvq={"mean": 6.0, "invalid_share": 0.3,
                   "categories": {"Writing": 0.3, "Emotion": 0.3, "Pragmatics": 0.4}})  # fmt: skip
    failed = write_run(root, "5", method="drp", extractor=QWEN15 | {"name": "Broken-Model"},
                       predictions=MEDIUM[:2])  # fmt: skip
    run_folder.write_error(
        failed / "error.json",
        {"error": "RuntimeError: llama.cpp server died\nmore", "interrupted": False,
         "traceback": "...", "finished": None},
    )  # fmt: skip
    write_run(root, "6", method="dpl", extractor=QWEN7, predictions=MEDIUM[:3])
    corrupt = write_run(root, "7", method="drp", extractor=QWEN7, predictions=GOOD)
    (corrupt / "metrics.json").write_text('{"status": "complete",\n "metrics": {"bleu": 1.0,,}}')
    return root


# ---------------------------------------------------------------- collect


def test_collect_classifies_complete_failed_and_interrupted_runs(sweep: Path) -> None:
    table = collect_runs([sweep], n_bootstrap=0)
    status = {Path(r.run_dir).name: r.status for r in table.runs}
    assert status == {"0": "complete", "1": "complete", "2": "complete", "3": "complete",
                      "4": "complete", "5": "failed", "6": "interrupted",
                      "7": "failed"}  # fmt: skip
    reasons = {Path(r.run_dir).name: r.reason for r in table.runs}
    assert "llama.cpp server died" in reasons["5"] and "more" not in reasons["5"]
    assert f"3/{len(REFERENCES)}" in reasons["6"]
    assert "metrics.json:2" in reasons["7"] and "malformed JSON" in reasons["7"]


def test_tidy_frame_has_one_row_per_complete_run_and_metric_with_run_fields(sweep: Path) -> None:
    frame = collect_runs([sweep], n_bootstrap=0).frame
    assert len(frame) == 5 * 6  # 5 complete runs x (4 metrics + 2 rouge means)
    qwen7 = frame[(frame["extractor"] == "Qwen2.5-7B-Instruct") & (frame["metric"] == "bleu")]
    row = qwen7.iloc[0]
    assert (
        row["value"] == pytest.approx(bleu(GOOD, REFERENCES))
        and row["params_b"] == 7.0
        and row["family"] == "qwen2.5-instruct"
    )
    assert row["method"] == "drp" and row["dataset"] == "books" and row["n"] == len(REFERENCES)
    assert row["tokens_per_sample"] == 1800.0 and row["uvq_mean"] == 7.0
    assert row["uvq_share_Structure"] == 0.2
    r1 = frame[(frame["extractor"] == "DeepSeek-R1-Distill-Qwen-7B") & (frame["metric"] == "bleu")]
    assert r1.iloc[0]["reasoning_tokens_per_sample"] == 900.0
    # a baseline on the paper's data: drp-bench's implementation beside the paper's number
    assert set(frame.loc[frame["method"] == "nonp", "label"]) == {"Non-P (re-implementation)"}


def test_collect_computes_bootstrap_cis_around_the_measured_bleu(sweep: Path) -> None:
    frame = collect_runs([sweep], n_bootstrap=N_BOOT).frame
    bleu = frame[frame["metric"] == "bleu"]
    assert bleu["ci_low"].notna().all() and bleu["ci_high"].notna().all()
    assert ((bleu["ci_low"] <= bleu["value"]) & (bleu["value"] <= bleu["ci_high"])).all()
    assert (
        frame["metric"].isin(["bleu", "meteor", "rouge1", "rougeL"]) == frame["ci_low"].notna()
    ).all()


def test_metrics_json_bleu_that_disagrees_with_the_predictions_is_flagged(tmp_path: Path) -> None:
    d = write_run(tmp_path, "r", method="rag", predictions=MEDIUM, metrics=m(0.1, 0.1, 0.1))
    record = json.loads((d / "metrics.json").read_text())
    record["metrics"]["bleu"] = 50.0
    (d / "metrics.json").write_text(json.dumps(record))
    table = collect_runs([tmp_path], n_bootstrap=20)
    assert table.runs[0].status == "complete"
    expected = f"metrics.json bleu 50.0000 differs from {bleu(MEDIUM, REFERENCES):.4f}"
    assert expected in table.runs[0].reason


def test_labels_tell_apart_runs_of_one_model_by_the_fields_that_differ(tmp_path: Path) -> None:
    for name, temp in (("a", 0.0), ("b", 0.8), ("c", 0.8)):
        write_run(tmp_path, name, method="drp", extractor=QWEN7, predictions=GOOD,
                  metrics=m(0.2, 0.3, 0.2), temperature=temp)  # fmt: skip
    frame = collect_runs([tmp_path], n_bootstrap=0).frame
    labels = frame.drop_duplicates("run_dir").set_index("run_dir")["label"]
    assert list(labels) == [
        "DRP (Qwen2.5-7B-Instruct, temperature=0.0)",
        "DRP (Qwen2.5-7B-Instruct, temperature=0.8 #1)",
        "DRP (Qwen2.5-7B-Instruct, temperature=0.8 #2)",
    ]


def test_malformed_prediction_line_names_file_and_line(tmp_path: Path) -> None:
    d = write_run(tmp_path, "r", method="rag", predictions=MEDIUM, metrics=m(0.1, 0.1, 0.1))
    lines = (d / "predictions.jsonl").read_text().splitlines()
    lines[2] = lines[2][:20]
    (d / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    run = read_run(d)  # metrics.json decides; the rows cannot be read, so no CIs
    assert run.status == "complete" and run.predictions == [] and run.record
    assert f"{d / 'predictions.jsonl'}:3: malformed JSON" in run.reason
    assert "metrics shown without confidence intervals" in run.reason


def test_unfinished_run_tolerates_a_cut_off_last_line(tmp_path: Path) -> None:
    d = write_run(tmp_path, "r", method="rag", predictions=MEDIUM[:4])
    with (d / "predictions.jsonl").open("a") as f:
        f.write('{"sample_id": "U9:B9", "refer')
    run = read_run(d)
    assert run.status == "interrupted" and run.done == 4 and run.expected == len(REFERENCES)
    assert "cut off" in run.reason


def test_missing_sweep_jobs_are_listed(tmp_path: Path) -> None:
    root = tmp_path / "multirun"
    write_run(root, "0", method="nonp", predictions=BAD, metrics=m(0.1, 0.2, 0.1))
    conf = {"hydra": {"overrides": {"task": ["method=nonp,rag", "dataset=books", "model=none"]},
                      "sweeper": {"params": None}}}  # fmt: skip
    (root / "multirun.yaml").write_text(yaml.safe_dump(conf))
    table = collect_runs([root], n_bootstrap=0)
    missing = [r for r in table.runs if r.status == "missing"]
    assert [sorted(r.overrides) for r in missing] == [["dataset=books", "method=rag", "model=none"]]


# ---------------------------------------------------------------- tables


def test_paper_dataset_mapping_uses_the_csv_spelling() -> None:
    assert paper_dataset("books") == "Books"
    assert paper_dataset("books_sample") == "Books"
    assert paper_dataset("cds") == "CDs_and_Vinyl"
    assert paper_dataset("CDs_and_Vinyl") == "CDs_and_Vinyl"
    assert paper_dataset("music_sample") is None
    paper = load_paper_table()
    assert paper is not None and set(paper["dataset"]) == {"Books", "CDs_and_Vinyl"}
    assert paper_value(paper, "books", "DRP", "Qwen2.5-7B-Instruct-Q4_K_M", "BLEU") == 6.0444
    assert paper_value(paper, "books", "DRP", "Qwen2.5-1.5B-Instruct", "BLEU") == 5.2209
    assert paper_value(paper, "cds", "Non-P", None, "ROUGE-L") == 0.1273
    assert paper_value(paper, "books", "DRP", "SmolLM2-135M-Instruct", "BLEU") is None


def hand_frame(values: dict[str, float]) -> pd.DataFrame:
    rows = [
        {"dataset": "music", "split": "test", "method": "drp", "extractor": lab, "metric": "bleu",
         "value": v, "ci_low": v - 1, "ci_high": v + 1, "n": 10, "run_dir": lab,
         "method_name": "DRP", "detail": lab, "label": f"DRP ({lab})", "order": i}
        for i, (lab, v) in enumerate(values.items())
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_best_is_bold_and_second_underlined() -> None:
    t = build_table(hand_frame({"a": 3.0, "b": 5.0, "c": 4.0, "d": 1.0}))
    md, tex = to_markdown(t), to_latex(t)
    assert "**5.0000**" in md and "<u>4.0000</u>" in md
    assert "| 3.0000 |" in md and "| 1.0000 |" in md
    assert r"\textbf{5.0000}" in tex and r"\underline{4.0000}" in tex
    assert r"\textbf{3.0000}" not in tex and r"\underline{3.0000}" not in tex
    header = md.splitlines()[0]
    assert header.index("DRP (a)") < header.index("DRP (b)") < header.index("DRP (d)")


def test_datasets_outside_the_paper_get_no_reported_rows_and_latex_is_escaped() -> None:
    frame = hand_frame({"a": 1.0, "b": 2.0}).assign(dataset="music_sample")
    t = build_table(frame, paper=load_paper_table())
    assert not t.has_paper and "paper (reported)" not in to_markdown(t)
    assert r"music\_sample" in to_latex(t)


def test_ties_share_the_mark() -> None:
    md = to_markdown(build_table(hand_frame({"a": 5.0, "b": 5.0, "c": 4.0})))
    assert md.count("**5.0000**") == 2 and "<u>4.0000</u>" in md


def test_columns_follow_the_paper_order_baselines_first(sweep: Path) -> None:
    t = build_table(collect_runs([sweep], n_bootstrap=0).frame)
    assert [c.label for c in t.columns] == [
        "Non-P (re-implementation)",
        "RAG (re-implementation)",
        "DRP (Qwen2.5-1.5B-Instruct)",
        "DRP (Qwen2.5-7B-Instruct)",
        "DRP (DeepSeek-R1-Distill-Qwen-7B)",
    ]


def test_runs_not_significantly_worse_than_the_best_get_a_dagger(sweep: Path) -> None:
    table = collect_runs([sweep], n_bootstrap=0)
    sig = significance(table, n_resamples=N_BOOT)
    p_bleu = sig[sig["metric"] == "bleu"].set_index("label")
    # best BLEU is Qwen 7B (GOOD); R1 7B differs from it in one sample only, Non-P in all
    assert set(p_bleu["best_label"]) == {"DRP (Qwen2.5-7B-Instruct)"}
    assert p_bleu.loc["DRP (DeepSeek-R1-Distill-Qwen-7B)", "p_value"] >= 0.05
    assert p_bleu.loc["Non-P (re-implementation)", "p_value"] < 0.05
    md = to_markdown(build_table(table.frame, sig, n_resamples=N_BOOT))
    bleu_row = next(line for line in md.splitlines() if "| BLEU |" in line)
    r1_bleu = f"{bleu(GOOD_BUT_ONE, REFERENCES):.4f}"
    assert f"<u>{r1_bleu}</u>†" in bleu_row
    assert f"{bleu(BAD, REFERENCES):.4f}†" not in bleu_row


# ---------------------------------------------------------------- cli, files, plots


def test_report_cli_writes_tables_plots_and_lists_problem_runs(
    sweep: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(sweep), "--bootstrap", str(N_BOOT)]) == 0
    out = capsys.readouterr().out
    report = sweep / "report"
    for name in ("results.csv", "results.md", "results.tex", "runs.csv", "significance.csv"):
        assert (report / name).stat().st_size > 0, name
    md = (report / "results.md").read_text()
    tex = (report / "results.tex").read_text()
    csv = pd.read_csv(report / "results.csv")
    bleus = [f"{bleu(p, REFERENCES):.4f}" for p in (BAD, MEDIUM, MEDIUM_PLUS, GOOD, GOOD_BUT_ONE)]
    for value in (*bleus, "0.1111", "0.2222", "0.3333", "0.3444", "0.2555", "0.1844"):
        assert value in md and value in tex and value in out, value
    assert set(csv["run_dir"].map(lambda p: Path(p).name)) == {"0", "1", "2", "3", "4"}
    # the cost of each column, from metrics.json's compute.per_sample
    cost = md.split("## Cost per sample")[1].split("## ")[0]
    assert (
        "|  | Model calls | 5.0 | 5.0 |" in cost
        and "| Tokens (prompt + completion) | 1800 |" in cost
    )
    # the paper's reported numbers for books, labelled as such
    assert "paper (reported)" in md and "paper (reported)" in tex
    assert "1.2616" in md and "6.0444" in md and "5.2209" in md  # Non-P, DRP 7B, DRP 1.5B
    assert "0.3387" in tex  # DRP Qwen2.5-7B ROUGE-1
    # problem runs with reasons, in the file and on stdout
    for text in (md, out):
        assert "failed" in text and "llama.cpp server died" in text
        assert "interrupted" in text and f"3/{len(REFERENCES)}" in text
        assert "metrics.json:2: malformed JSON" in text
    plots = sorted(p.name for p in (report / "plots").iterdir())
    for stem in ("quality_vs_size", "uvq_vs_bleu", "feature_categories", "quality_vs_compute"):
        for ext in ("png", "pdf"):
            assert f"{stem}.{ext}" in plots
            assert (report / "plots" / f"{stem}.{ext}").stat().st_size > 1000


def test_report_without_complete_runs_returns_1(tmp_path: Path) -> None:
    write_run(tmp_path, "r", method="rag", predictions=MEDIUM[:1])
    assert main([str(tmp_path), "--no-plots", "--bootstrap", "0"]) == 1
    assert "interrupted" in (tmp_path / "report" / "results.md").read_text()


def test_plots_handle_a_single_run_and_missing_uvq(tmp_path: Path) -> None:
    no_family = QWEN7 | {"family": None}
    write_run(tmp_path / "s", "0", method="drp", extractor=no_family, predictions=GOOD,
              metrics=m(0.2, 0.3, 0.2))  # fmt: skip
    frame = collect_runs([tmp_path / "s"], n_bootstrap=0).frame
    notes: list[str] = []
    out = tmp_path / "plots"
    assert len(plot_size_scaling(frame, out, notes)) == 2
    assert len(plot_quality_vs_compute(frame, out, notes)) == 2
    assert plot_uvq_vs_bleu(frame, out, notes) == []
    assert plot_feature_categories(frame, out, notes) == []
    assert any("UVQ" in n for n in notes) and any("categor" in n for n in notes)
    assert all(p.stat().st_size > 1000 for p in out.iterdir())


def test_plots_of_an_empty_frame_write_nothing(tmp_path: Path) -> None:
    frame = collect_runs([tmp_path], n_bootstrap=0).frame
    paths, notes = make_plots(frame, tmp_path / "plots")
    assert paths == [] and notes


def test_nan_cis_render_as_dashes() -> None:
    f = hand_frame({"a": 1.0, "b": 2.0}).assign(ci_low=math.nan, ci_high=math.nan)
    assert "[" not in to_markdown(build_table(f), ci=True).split("\n", 2)[2]


# ---------------------------------------------------------------- degraded runs


def degrade(run_dir: Path, reason: str = "3 of 40 calls failed (validate 3/8)") -> None:
    """Turn a written run into one that finished with failed calls."""
    path = run_dir / "metrics.json"
    record = json.loads(path.read_text())
    record["status"] = "degraded"
    record["failures"] = {
        "reason": reason,
        "calls_by_stage": {"validate": {"calls": 8, "failed": 3, "skipped": 0}},
        "samples": ["U0:B0000"],
        "sample_status": {"U0:B0000": "context_incomplete"},
    }
    path.write_text(json.dumps(record))


def degraded_sweep(root: Path) -> Path:
    """Non-P and RAG complete; the best-scoring DRP run degraded."""
    write_run(root, "0", method="nonp", predictions=BAD, metrics=m(0.1111, 0.2111, 0.1011))
    write_run(root, "1", method="rag", predictions=MEDIUM, metrics=m(0.2222, 0.3222, 0.1622))
    drp = write_run(root, "2", method="drp", extractor=QWEN7, predictions=GOOD,
                    metrics=m(0.2444, 0.3444, 0.1844))  # fmt: skip
    degrade(drp)
    return root


def test_a_degraded_run_is_read_with_its_reason_and_labelled(tmp_path: Path) -> None:
    table = collect_runs([degraded_sweep(tmp_path)], n_bootstrap=0)
    run = table.run(tmp_path / "2")
    assert run.status == "degraded" and table.degraded == [run]
    assert run.reason == "3 of 40 calls failed (validate 3/8)"
    assert run not in table.problems and run not in table.complete
    labels = set(table.frame["label"])
    assert "DRP (Qwen2.5-7B-Instruct) [DEGRADED]" in labels


def test_a_degraded_run_gets_no_best_mark_and_no_significance_test(tmp_path: Path) -> None:
    table = collect_runs([degraded_sweep(tmp_path)], n_bootstrap=0)
    md = to_markdown(build_table(table.frame, significance(table, n_resamples=N_BOOT)))
    bleu_row = next(line for line in md.splitlines() if "| BLEU |" in line)
    good, medium = f"{bleu(GOOD, REFERENCES):.4f}", f"{bleu(MEDIUM, REFERENCES):.4f}"
    assert f"| {good} |" in bleu_row + " |"  # shown, unmarked
    assert f"**{medium}**" in bleu_row  # RAG is the best of the runs that count
    sig = significance(table, n_resamples=N_BOOT)
    assert not sig["label"].str.contains("DEGRADED").any()
    assert set(sig["best_label"]) <= {"RAG (re-implementation)"}


def test_include_degraded_ranks_and_tests_them_like_the_others(tmp_path: Path) -> None:
    table = collect_runs([degraded_sweep(tmp_path)], n_bootstrap=0)
    sig = significance(table, n_resamples=N_BOOT, include_degraded=True)
    t = build_table(table.frame, sig, n_resamples=N_BOOT, include_degraded=True)
    bleu_row = next(line for line in to_markdown(t).splitlines() if "| BLEU |" in line)
    assert f"**{bleu(GOOD, REFERENCES):.4f}**" in bleu_row
    assert set(sig["best_label"]) == {"DRP (Qwen2.5-7B-Instruct) [DEGRADED]"}


def test_report_cli_lists_degraded_runs_apart(tmp_path: Path, capsys) -> None:
    root = degraded_sweep(tmp_path / "sweep")
    assert main([str(root), "--no-plots", "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "1 degraded run(s) (shown, not ranked):" in out
    assert f"[degraded] {root / '2'}" in out and "validate 3/8" in out
    md = (root / "report" / "results.md").read_text()
    assert "[DEGRADED] columns come from runs in which some model calls failed" in md
    assert "| degraded |" in md
    assert main([str(root), "--no-plots", "--bootstrap", "0", "--include-degraded"]) == 0
    assert "1 degraded run(s) (ranked with the others):" in capsys.readouterr().out


def test_a_metrics_json_that_breaks_the_schema_is_failed_with_file_and_field(tmp_path: Path):
    d = write_run(tmp_path, "r", method="rag", predictions=MEDIUM, metrics=m(0.1, 0.1, 0.1))
    record = json.loads((d / "metrics.json").read_text())
    record["calls"]["total"] = "40"
    (d / "metrics.json").write_text(json.dumps(record))
    run = read_run(d)
    assert run.status == "failed"
    assert run.reason == (
        f"{d / 'metrics.json'}: field 'calls.total': expected a valid integer, found '40'; "
        f"{len(MEDIUM)}/{len(REFERENCES)} samples in predictions.jsonl"
    )


def test_a_metrics_json_with_another_status_is_failed(tmp_path: Path):
    d = write_run(tmp_path, "r", method="rag", predictions=MEDIUM, metrics=m(0.1, 0.1, 0.1))
    record = json.loads((d / "metrics.json").read_text())
    record["status"] = "running"
    (d / "metrics.json").write_text(json.dumps(record))
    run = read_run(d)
    assert (
        run.status == "failed" and "field 'status': expected 'complete' or 'degraded'" in run.reason
    )


# ---------------------------------------------------------------- temperature replicates


def test_runs_differing_only_in_temperature_get_a_mean_column(tmp_path: Path) -> None:
    write_run(tmp_path, "t0", method="drp", extractor=QWEN7, predictions=MEDIUM,
              metrics=m(0.2, 0.3, 0.1), temperature=0.0)  # fmt: skip
    write_run(tmp_path, "t8", method="drp", extractor=QWEN7, predictions=GOOD,
              metrics=m(0.4, 0.5, 0.3), temperature=0.8)  # fmt: skip
    table = collect_runs([tmp_path], n_bootstrap=N_BOOT)
    frame = table.frame
    means = frame[frame["replicate_of"].notna()].set_index("metric")
    assert set(means.index) == {"bleu", "meteor", "rouge1", "rougeL"}
    assert means.loc["meteor", "value"] == pytest.approx((0.2 + 0.4) / 2)
    b0, b8 = bleu(MEDIUM, REFERENCES), bleu(GOOD, REFERENCES)
    assert means.loc["bleu", "value"] == pytest.approx((b0 + b8) / 2)
    assert means.loc["bleu", "ci_low"] < means.loc["bleu", "value"] < means.loc["bleu", "ci_high"]
    assert means.loc["bleu", "label"] == "DRP (Qwen2.5-7B-Instruct, temperature=mean(0, 0.8))"
    labels = set(frame["label"])
    assert "DRP (Qwen2.5-7B-Instruct, temperature=0.0)" in labels
    assert "DRP (Qwen2.5-7B-Instruct, temperature=0.8)" in labels
    md = to_markdown(build_table(frame, significance(table, n_resamples=N_BOOT)))
    assert "temperature=mean(0, 0.8)" in md.splitlines()[0]
    assert f"{(b0 + b8) / 2:.4f}" in md
    assert "**" not in md  # the replicates are not ranked against their own mean


def test_replicate_mean_ci_resamples_samples_and_replicates() -> None:
    import numpy as np

    from drp_bench.report.replicates import replicate_mean_ci

    a, b = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.5, 0.6, 0.7, 0.8])
    point, low, high = replicate_mean_ci([a, b], "meteor", n_resamples=500, seed=1)
    assert point == pytest.approx(0.45)
    assert low < 0.45 < high and high - low > 0.2  # replicate spread is part of the CI
    same = replicate_mean_ci([a, a], "meteor", n_resamples=500, seed=1)
    assert same[2] - same[1] < high - low


# ---------------------------------------------------------------- one dataset name, other data

OTHER_DATA = {"test.jsonl": "sha256:11", "meta.jsonl": "sha256:22"}


def test_runs_of_one_dataset_name_on_other_data_get_their_own_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_run(tmp_path, "a", method="rag", predictions=MEDIUM, metrics=m(0.2, 0.3, 0.1))
    write_run(tmp_path, "b", method="drp", extractor=QWEN7, predictions=GOOD,
              metrics=m(0.4, 0.5, 0.3), data=OTHER_DATA)  # fmt: skip
    write_run(tmp_path, "c", method="nonp", predictions=BAD, metrics=m(0.1, 0.2, 0.1),
              data={"meta.jsonl": "sha256:22", "elsewhere/test.jsonl": "sha256:11"})  # fmt: skip
    table = collect_runs([tmp_path], n_bootstrap=0)
    ours, other = data_fingerprint({"books.jsonl": "sha256:00"}), data_fingerprint(OTHER_DATA)
    assert len(ours) == len(other) == 8 and ours != other
    datasets = table.frame.drop_duplicates("run_dir").set_index("run_dir")["dataset"]
    assert datasets[str(tmp_path / "a")] == f"books@{ours}"
    assert datasets[str(tmp_path / "b")] == datasets[str(tmp_path / "c")] == f"books@{other}"
    (note,) = [n for n in table.notes if "dataset_fingerprint differs" in n]
    assert str(tmp_path / "a") in note and str(tmp_path / "b") in note
    md = to_markdown(build_table(table.frame, significance(table, n_resamples=0)))
    assert f"books@{ours}" in md and f"books@{other}" in md
    assert main([str(tmp_path), "--no-plots", "--bootstrap", "0"]) == 0
    assert "note: dataset 'books' (test): its runs read different data" in capsys.readouterr().out


def test_runs_of_one_dataset_name_on_the_same_data_share_a_column(tmp_path: Path) -> None:
    write_run(tmp_path, "a", method="rag", predictions=MEDIUM, metrics=m(0.2, 0.3, 0.1))
    write_run(tmp_path, "b", method="drp", extractor=QWEN7, predictions=GOOD,
              metrics=m(0.4, 0.5, 0.3))  # fmt: skip
    table = collect_runs([tmp_path], n_bootstrap=0)
    assert set(table.frame["dataset"]) == {"books"}
    assert not [n for n in table.notes if "dataset_fingerprint" in n]


def test_a_run_without_a_fingerprint_is_not_merged_with_one_that_has_it(tmp_path: Path) -> None:
    write_run(tmp_path, "t0", method="drp", extractor=QWEN7, predictions=MEDIUM,
              metrics=m(0.2, 0.3, 0.1), temperature=0.0)  # fmt: skip
    write_run(tmp_path, "t8", method="drp", extractor=QWEN7, predictions=GOOD,
              metrics=m(0.4, 0.5, 0.3), temperature=0.8, data={})  # fmt: skip
    frame = collect_runs([tmp_path], n_bootstrap=0).frame
    assert set(frame["dataset"]) == {f"books@{data_fingerprint({'books.jsonl': 'sha256:00'})}",
                                     "books@unrecorded"}  # fmt: skip
    assert "replicate_of" not in frame  # no temperature mean over two different data


# ---------------------------------------------------------------- re-implementations


def preset_config(*overrides: str) -> dict[str, Any]:
    """A run's .hydra/config.yaml as Hydra writes it (interpolations kept) for these overrides."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from drp_bench.resources import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=False)  # type: ignore[return-value]


def test_baselines_beside_the_papers_rows_are_labelled_re_implementations(tmp_path: Path) -> None:
    """Every baseline of the paper's table run on Books (P-DB by the baselines_paper preset) is
    labelled a re-implementation in results.md and results.csv, the paper's number beside it;
    DPL with the paper prompt set (DPL's code), DRP, and a baseline on other data are not."""
    root = tmp_path / "runs"
    methods = ("nonp", "rag", "intsum", "llm-trsr", "cicl", "p-db", "dpl")
    for i, method in enumerate(methods):
        extractor = QWEN7 if method == "dpl" else None
        write_run(root, f"{i}", method=method, extractor=extractor, predictions=MEDIUM,
                  metrics=m(0.2, 0.3, 0.2))  # fmt: skip
    preset = preset_config("+experiment=baselines_paper", "dataset=books", "method=p-db")
    (root / "5" / ".hydra" / "config.yaml").write_text(yaml.safe_dump(preset))
    dpl_code = write_run(root, "dpl-paper", method="dpl", extractor=QWEN7, predictions=GOOD,
                         metrics=m(0.2, 0.3, 0.2))  # fmt: skip
    dpl_cfg = preset_config("+experiment=dpl_paper", "dataset=books")
    (dpl_code / ".hydra" / "config.yaml").write_text(yaml.safe_dump(dpl_cfg))
    write_run(
        root, "drp", method="drp", extractor=QWEN7, predictions=GOOD, metrics=m(0.2, 0.3, 0.2)
    )
    write_run(root, "music", method="p-db", dataset="music_sample", predictions=MEDIUM,
              metrics=m(0.2, 0.3, 0.2))  # fmt: skip

    assert main([str(root), "--bootstrap", "0", "--no-plots"]) == 0
    report = root / "report"
    csv = pd.read_csv(report / "results.csv")
    labels = csv.drop_duplicates("run_dir")
    labels.index = labels["run_dir"].map(lambda p: Path(p).name)
    names = ["Non-P", "RAG", "IntSum", "LLM-TRSR", "CICL", "P-DB"]
    for i, name in enumerate(names):
        assert labels.loc[str(i), "label"] == f"{name} (re-implementation)"
    assert labels.loc["6", "label"] == "DPL (re-implementation, Qwen2.5-7B-Instruct)"
    assert labels.loc["dpl-paper", "label"] == "DPL (Qwen2.5-7B-Instruct)"  # DPL's own prompts
    assert labels.loc["drp", "label"] == "DRP (Qwen2.5-7B-Instruct)"
    assert labels.loc["music", "label"] == "P-DB"  # no paper number beside it

    # results.csv: the paper's number next to the run's, under the paper's name
    pdb = csv[(csv["label"] == "P-DB (re-implementation)") & (csv["metric"] == "bleu")].iloc[0]
    assert pdb["paper_label"] == "P-DB (paper)" and pdb["paper_value"] == 5.1862
    assert pdb["value"] == pytest.approx(bleu(MEDIUM, REFERENCES))
    music = csv[(csv["label"] == "P-DB") & (csv["metric"] == "bleu")].iloc[0]
    assert pd.isna(music["paper_label"]) and pd.isna(music["paper_value"])

    # results.md: the column's header says so, the paper's row under it holds P-DB's number
    md = (report / "results.md").read_text()
    header, _, *body = md.split("\n\n")[1].splitlines()
    columns = [c.strip() for c in header.strip("|").split("|")]
    col = columns.index("P-DB (re-implementation)")
    paper_bleu = next(line for line in body if "BLEU – paper (reported)" in line)
    assert [c.strip() for c in paper_bleu.strip("|").split("|")][col] == "*5.1862*"
    assert "'(re-implementation)': drp-bench's own implementation" in md
    assert "'P-DB (paper)'" in md

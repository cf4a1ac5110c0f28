"""The ``peer`` reference row: another real user's review of the same item, no model call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from drp_bench import evaluate
from drp_bench.backends.base import ChatResult
from drp_bench.pipeline.context import build_contexts
from drp_bench.report.collect import UNFILTERED_PEER_NAME, collect_runs
from drp_bench.report.matched import matched_tables
from drp_bench.report.tables import build_table, to_markdown, write_tables
from drp_bench.run import folder as run_folder
from drp_bench.run.inputs import load_run_dataset
from tests.test_method_prompts_pinned import HashedEmbedder, compose_config

BUNDLED = {"path": "bundled:music_sample", "name": "music_sample"}
#: The bundled test samples without another user's review of the target item dated before the
#: target review (peer_candidates=before_target, the default) ...
EXCLUDED_BUNDLED = 9
#: ... and without another user's review of it at all (peer_candidates=any: earlier peer runs).
EXCLUDED_BUNDLED_ANY = 7


def _others(dataset, asin: str, user_id: str, before: int | None = None) -> dict[str, str]:
    """user -> their review text of ``asin``, from the other users' profiles (brute force);
    ``before``: only reviews with a smaller timestamp."""
    found: dict[str, str] = {}
    for sample in dataset.samples:
        if sample.user_id == user_id:
            continue
        for review in sample.profile:
            if review.asin == asin and (before is None or review.timestamp < before):
                found.setdefault(sample.user_id, review.text)
    return found


@pytest.mark.parametrize(
    ("rule", "excluded_count"),
    [("before_target", EXCLUDED_BUNDLED), ("any", EXCLUDED_BUNDLED_ANY)],
)
def test_the_peer_context_is_the_nearest_other_review_of_the_same_item(rule, excluded_count):
    dataset = load_run_dataset(BUNDLED)
    embedder = HashedEmbedder()
    contexts = build_contexts(
        dataset,
        False,
        False,
        8,
        4,
        42,
        embedder,  # type: ignore[arg-type]
        peer=True,
        peer_rule=rule,
    )
    excluded = [c for c in contexts if c.peer is not None and c.peer.review is None]
    assert len(contexts) == 57 and len(excluded) == excluded_count
    for ctx in contexts:
        sample, choice = ctx.sample, ctx.peer
        assert choice is not None and choice.rule == rule
        before = sample.target.timestamp if rule == "before_target" else None
        others = _others(dataset, sample.target.asin, sample.user_id, before)
        assert choice.candidates == len(others)
        if choice.review is None:
            assert not others
            continue
        # a real review of the same item by another user, as the data has it
        assert choice.user_id in others and choice.user_id != sample.user_id
        assert choice.review.asin == sample.target.asin
        assert choice.review.text == others[choice.user_id]
        # the nearest to the mean of the user's history; ties by user id
        history = embedder.encode([r.text for r in sample.profile]).astype(np.float64).mean(0)

        def cosine(text: str, h: np.ndarray = history) -> float:
            v = embedder.encode([text])[0].astype(np.float64)
            return float(v @ h / (np.linalg.norm(v) * np.linalg.norm(h)))

        best = min(others, key=lambda u: (-cosine(others[u]), u))
        assert choice.user_id == best
        assert choice.similarity == pytest.approx(cosine(others[best]), abs=1e-6)


class Writer:
    def __init__(self, text: str):
        self.identity = {"backend": "writer", "text": text}
        self.text = text

    def chat(self, requests, on_result=None):
        out = []
        for i, _ in enumerate(requests):
            result = ChatResult(text=f"[Review]: {self.text}", prompt_tokens=5)
            if on_result:
                on_result(i, result)
            out.append(result)
        return out

    def close(self):
        pass


def test_a_peer_run_is_complete_with_excluded_samples_left_out(tmp_path: Path):
    # the first 4 bundled samples: the 4th has no other reviewer of its item
    result = evaluate(
        ["method=peer", "dataset.limit=4", f"cache.path={tmp_path / 'calls.sqlite'}"],
        out_dir=tmp_path / "peer",
    )
    assert result.status == "complete" and result.metrics["failures"] is None
    assert result.metrics["calls"]["total"] == 0  # no model call
    assert result.metrics["excluded_samples"] == 1 and result.metrics["metrics"]["n"] == 3
    assert result.metrics["failed_samples"] == 0
    rows = run_folder.read_predictions(tmp_path / "peer" / run_folder.PREDICTIONS)
    assert [r.status for r in rows] == ["complete", "complete", "complete", "excluded"]
    dataset = load_run_dataset({**BUNDLED, "limit": None})
    for row in rows:
        assert row.stages.generate is None and row.stages.peer is not None
        assert row.failed_stages == [] and row.error is None
        peer = row.context.peer if row.context else None  # the context, as ids
        assert peer is not None and peer.user_id == row.stages.peer.peer_user_id
        assert peer.asin == (None if row.status == "excluded" else row.target_asin)
        others = _others(dataset, row.target_asin, row.user_id)
        if row.status == "excluded":
            assert row.prediction == "" and not others
            assert row.scores is None  # left out of the scores: none stored
            assert row.stages.peer.excluded and row.stages.peer.peer_user_id is None
        else:
            assert row.stages.peer.peer_user_id in others
            assert row.prediction == others[row.stages.peer.peer_user_id] != row.reference
            assert row.scores is not None
    assert "samples excluded       1" in result.summary()
    scored = [r.scores for r in rows if r.scores is not None]
    assert sum(s.meteor for s in scored) / 3 == pytest.approx(result.metrics["metrics"]["meteor"])

    # the report: a reference column, never marked best or second
    for method, text in (("nonp", "Great album."), ("rag", "Great album, lovely vocals.")):
        evaluate(
            [f"method={method}", "dataset.limit=4", f"cache.path={tmp_path / 'calls.sqlite'}"],
            out_dir=tmp_path / method,
            backends={"generator": Writer(text)},
        )
    table = collect_runs([tmp_path], n_bootstrap=20)
    peer_run = next(r for r in table.runs if r.record["run"]["method"] == "peer")
    assert peer_run.status == "complete" and peer_run.done == 4
    assert len(peer_run.predictions) == 3  # the excluded sample is not scored
    t = build_table(table.frame)
    labels = [c.label for c in t.columns]
    assert labels[-1] == "peer (human)"
    for row in t.rows:
        peer_cell = row.cells["peer (human)"]
        assert peer_cell.reference and peer_cell.rank is None
        assert 1 in {c.rank for k, c in row.cells.items() if k != "peer (human)"}
    markdown = to_markdown(t)
    assert "| peer (human) |" in markdown
    assert all(not cell.startswith("**") for cell in _column(markdown, "peer (human)"))


def _column(markdown: str, label: str) -> list[str]:
    lines = [line.split("|")[1:-1] for line in markdown.splitlines()]
    header = [h.strip() for h in lines[0]]
    i = header.index(label)
    return [line[i].strip() for line in lines[2:]]


def test_no_chosen_peer_is_dated_at_or_after_its_target_on_the_bundled_sample():
    """The whole bundled sample (every split): no peer review the default rule picks is dated
    at or after the target review, and the rule drops only such reviews. The dates filter the
    candidates before any embedding, so a stand-in embedder checks the rule (the real one
    takes minutes on a CPU)."""
    cfg = compose_config(("method=peer",))
    assert cfg.method.peer_candidates == "before_target"  # what a run composes by default
    checked = 0
    for split in ("train", "validation", "test"):
        dataset = load_run_dataset({**BUNDLED, "split": split})
        contexts = build_contexts(
            dataset,
            False,
            False,
            8,
            4,
            42,
            HashedEmbedder(),  # type: ignore[arg-type]
            peer=True,
            peer_rule=cfg.method.peer_candidates,
        )
        for ctx in contexts:
            target, choice = ctx.sample.target, ctx.peer
            assert choice is not None
            everyone = _others(dataset, target.asin, ctx.sample.user_id)
            earlier = _others(dataset, target.asin, ctx.sample.user_id, target.timestamp)
            assert choice.candidates == len(earlier) <= len(everyone)
            if choice.review is None:
                assert not earlier
                continue
            assert choice.review.asin == target.asin
            assert choice.review.timestamp < target.timestamp
            checked += 1
    assert checked > 48  # the test split alone has 48 samples with a peer


def test_the_report_shows_every_run_on_the_peer_runs_samples(tmp_path: Path):
    """A peer run on 8 samples (some excluded) and a method run on 6: the matched table has
    the subset's n per column and values equal to a hand computation on that subset; a peer
    run from before the date rule (its config without peer_candidates) still reads, labelled
    unfiltered, with a matched table of its own."""
    import sacrebleu
    import yaml

    cache = f"cache.path={tmp_path / 'calls.sqlite'}"
    evaluate(["method=peer", "dataset.limit=8", cache], out_dir=tmp_path / "peer")
    old = tmp_path / "old-peer"
    evaluate(["method=peer", "method.peer_candidates=any", "dataset.limit=8", cache], out_dir=old)
    config_path = old / ".hydra" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    del config["method"]["peer_candidates"]  # as a run made before the rule wrote it
    config_path.write_text(yaml.safe_dump(config))
    evaluate(
        ["method=nonp", "dataset.limit=6", cache],
        out_dir=tmp_path / "nonp",
        backends={"generator": Writer("Great album, lovely vocals and a fine band.")},
    )
    table = collect_runs([tmp_path], n_bootstrap=50)
    assert {r.status for r in table.runs} == {"complete"}
    report_dir = tmp_path / "report"
    paths, results = write_tables(table, report_dir, n_resamples=50)
    assert report_dir / "matched.csv" in paths
    assert {c.label for c in results.columns} == {"Non-P", "peer (human)", UNFILTERED_PEER_NAME}

    peer_rows = run_folder.read_predictions(tmp_path / "peer" / run_folder.PREDICTIONS)
    scored = [r.sample_id for r in peer_rows if r.status != "excluded"]
    assert len(scored) < 8  # the rule left some samples without a peer
    nonp_rows = {
        r.sample_id: r for r in run_folder.read_predictions(tmp_path / "nonp" / "predictions.jsonl")
    }
    subset = [nonp_rows[s] for s in scored if s in nonp_rows]
    assert 0 < len(subset) < len(scored)  # the method lacks some of the peer's samples

    tables = {t.peer_label: t for t in matched_tables(table, n_resamples=50)}
    assert set(tables) == {"peer (human)", UNFILTERED_PEER_NAME}
    matched = tables["peer (human)"]
    assert matched.n == len(scored) and matched.sample_ids == scored
    columns = {c.label: c for c in matched.columns}
    assert columns["Non-P"].n == len(subset) and columns["peer (human)"].n == len(scored)
    cells = columns["Non-P"].cells
    bleu = sacrebleu.corpus_bleu([r.prediction for r in subset], [[r.reference for r in subset]])
    assert cells["bleu"].value == pytest.approx(bleu.score, abs=1e-9)
    for metric in ("meteor", "rouge1", "rougeL"):
        by_hand = sum(getattr(r.scores, metric) for r in subset) / len(subset)
        assert cells[metric].value == pytest.approx(by_hand, abs=1e-12)
        assert cells[metric].low <= cells[metric].value <= cells[metric].high
    peer_meteor = [r.scores.meteor for r in peer_rows if r.scores is not None]
    assert columns["peer (human)"].cells["meteor"].value == pytest.approx(
        sum(peer_meteor) / len(peer_meteor), abs=1e-12
    )

    markdown = (report_dir / "results.md").read_text()
    assert "## Methods on the peer row's samples" in markdown
    assert f"the {len(scored)} samples `peer (human)` scored" in markdown
    assert f"Non-P n={len(subset)}" in markdown and f"| Non-P (n={len(subset)}) |" in markdown
    assert f"peer (human) n={len(scored)}" in markdown  # the main table's note says its n
    assert "unfiltered" in (report_dir / "results.tex").read_text()

"""``prompts_sha256``: it changes when a template a method renders changes (its own file, its
``.system`` part, a macro file it imports, a template an option names, its stages' options),
and not when an unrelated template or a setting that does not shape the text changes."""

from __future__ import annotations

import shutil
from pathlib import Path

from drp_bench.pipeline.prompts import PACKAGE_TEMPLATES
from drp_bench.run.prompts_fingerprint import prompts_fingerprint, used_templates
from tests.test_pipeline import _config

REPO = Path(__file__).resolve().parent.parent


def _with_edited(tmp_path: Path, name: str) -> Path:
    """A prompts.dir whose ``name`` is the package's template plus one line."""
    folder = tmp_path / "prompts"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    shutil.copyfile(PACKAGE_TEMPLATES / name, target)
    target.write_text(target.read_text() + "\nOne more line.\n")
    return folder


def _fingerprint(method: str, *overrides: str) -> str:
    return prompts_fingerprint(_config(method, *overrides))


def test_the_same_run_gives_the_same_fingerprint() -> None:
    first = _fingerprint("nonp")
    assert first.startswith("sha256:") and len(first) == 7 + 64
    assert _fingerprint("nonp") == first
    assert _fingerprint("nonp", "prompts.prefix_order=false", "seed=7") == first
    assert _fingerprint("rag") != first, "another method, other stages"


def test_a_template_the_method_renders_changes_it(tmp_path) -> None:
    today = _fingerprint("nonp")
    for name in ("generate.j2", "generate.system.j2", "_macros.j2"):
        folder = _with_edited(tmp_path / name, name)
        assert _fingerprint("nonp", f"prompts.dir={folder}") != today, name


def test_an_unrelated_template_does_not(tmp_path) -> None:
    folder = _with_edited(tmp_path, "summarize.j2")
    assert _fingerprint("nonp", f"prompts.dir={folder}") == _fingerprint("nonp")
    assert _fingerprint("drp", f"prompts.dir={folder}") != _fingerprint("drp")


def test_a_template_named_by_an_option_and_the_judge_count(tmp_path) -> None:
    assert "trsr_merge" in used_templates(_config("llm-trsr"))
    folder = _with_edited(tmp_path / "merge", "trsr_merge.j2")
    assert _fingerprint("llm-trsr", f"prompts.dir={folder}") != _fingerprint("llm-trsr")
    judge = _with_edited(tmp_path / "judge", "judge.j2")
    assert _fingerprint("nonp", f"prompts.dir={judge}") == _fingerprint("nonp")
    judged = ("metrics.judge=true", "metrics.judge_self=true")
    assert _fingerprint("nonp", *judged, f"prompts.dir={judge}") != _fingerprint("nonp", *judged)


def test_stage_options_and_prompt_settings_count() -> None:
    today = _fingerprint("rag")
    assert _fingerprint("rag", "+method.stages.0.options={max_past_reviews: 2}") != today
    assert _fingerprint("rag", "prompts.max_review_chars=100") != today
    assert _fingerprint("rag", "prompts.instructions_in=user") != today
    assert _fingerprint("rag", "generator.instructions_in=user") != today


def test_every_seeded_entry_records_todays_prompts() -> None:
    """The seeded leaderboard entries were made with today's prompts: their recorded
    fingerprint is the one their config has now (the board's Prompts column says "today's")."""
    import json

    from drp_bench.leaderboard.rerun_config import (
        prompts_status,
        rerun_config,
        todays_prompts_sha256,
    )

    entries = sorted((REPO / "results" / "leaderboard" / "entries").glob("*/submission.json"))
    assert len(entries) >= 4
    for path in entries:
        submission = json.loads(path.read_text(encoding="utf-8"))
        recorded = submission["prompts_sha256"]
        today = todays_prompts_sha256(rerun_config(submission["config"], Path("."), None))
        assert today == recorded, path.parent.name
        assert prompts_status(recorded, submission["config"]) == "current", path.parent.name

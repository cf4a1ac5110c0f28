"""The paper prompt set (drp_bench/prompts/paper/): inputs in the reference code's order, the
output formats the parsers need, the instruction in its own system part, and no leak of the
target review into a generation prompt. References: docs/fidelity.md."""

from __future__ import annotations

import pytest

from drp_bench.pipeline.parsing import parse_features
from drp_bench.pipeline.prompts import PACKAGE_TEMPLATES, PromptRenderer
from tests.conftest import review

FEATURE_FORMAT = "--- [Feature Name] Definition: ... Difference Description: ... ---"
EXTRACTION = ("drp_extract_auto", "drp_extract_fixed", "dpl_extract")
SUMMARY = ("drp_summarize", "dpl_summarize")
GENERATION = ("drp_generate", "dpl_generate")
ALL = (*EXTRACTION, "drp_validate", *SUMMARY, *GENERATION)
SECRET = "UNSEEN-TARGET-TEXT"


def _comparison(ds):
    """Item A, u1's review of it, then u2's and u3's reviews as representatives."""
    return {
        "item": ds.items["A"],
        "target": ds.samples[0].profile[0],
        "others": [ds.samples[1].profile[0], ds.samples[2].profile[0]],
    }


def _summary_vars(ds):
    return {
        "differences": [
            {"item": ds.items["A"], "text": "RAW-DIFFERENCES-OF-A"},
            {"item": ds.items["B"], "text": "RAW-DIFFERENCES-OF-B"},
        ],
        "past_reviews": list(ds.samples[0].profile[1:]),
        "items": ds.items,
    }


def _generation_vars(ds, summary="PROFILE-SUMMARY"):
    return {
        "item": ds.items["T"],
        "target": review("T", "Jazz again", SECRET, 4.0),
        "past_reviews": list(ds.samples[0].profile[1:]),
        "summary": summary,
        "items": ds.items,
    }


def _vars(name, ds):
    if name in EXTRACTION:
        return _comparison(ds)
    if name == "drp_validate":
        candidates = "--- [Tone] Definition: mood. Difference Description: gushier. ---"
        return {**_comparison(ds), "candidates": candidates}
    if name in SUMMARY:
        return _summary_vars(ds)
    return _generation_vars(ds)


def _in_order(text: str, *parts: str) -> None:
    positions = [text.find(p) for p in parts]
    assert all(pos >= 0 for pos in positions), dict(zip(parts, positions, strict=True))
    assert positions == sorted(positions), dict(zip(parts, positions, strict=True))


def _messages(name, ds, renderer=None):
    return (renderer or PromptRenderer()).messages(f"paper/{name}", **_vars(name, ds))


@pytest.mark.parametrize("name", ALL)
def test_instruction_is_the_system_message_and_material_the_user_turn(name, tiny_dataset):
    messages = _messages(name, tiny_dataset)
    assert [m["role"] for m in messages] == ["system", "user"]
    system, user = (m["content"] for m in messages)
    # the material is only in the user turn, the output format only in the instruction
    assert tiny_dataset.items["A" if name not in GENERATION else "T"].title in user
    assert tiny_dataset.items["A"].title not in system
    for marker in (FEATURE_FORMAT, "[Summary]:", "[Review]:"):
        assert marker not in user


@pytest.mark.parametrize("name", ALL)
def test_instructions_in_user_put_the_instruction_first_in_one_user_turn(name, tiny_dataset):
    system, user = (m["content"] for m in _messages(name, tiny_dataset))
    merged = _messages(name, tiny_dataset, PromptRenderer(instructions_in="user"))
    assert merged == [{"role": "user", "content": f"{system}\n\n{user}"}]


@pytest.mark.parametrize("name", (*EXTRACTION, "drp_validate"))
def test_comparison_material_is_item_then_target_then_each_representative(name, tiny_dataset):
    user = _messages(name, tiny_dataset)[1]["content"]
    _in_order(
        user,
        "Jazz at Dawn",
        "A smooth jazz album with saxophone and piano.",
        "[The current user's review]:",
        "Lovely jazz",
        "Smooth and warm saxophone.",
        "[Other user 1's review]:",
        "Great sax",
        "The saxophone sings throughout.",
        "[Other user 2's review]:",
        "Dull",
        "Background music, nothing more.",
    )
    # each review: rating, then title, then text
    _in_order(user, "- [Rating]: 5", "- [Title]: Lovely jazz", "- [Text]: Smooth and warm")


def test_validation_reads_the_extraction_output_verbatim_after_the_material(tiny_dataset):
    user = _messages("drp_validate", tiny_dataset)[1]["content"]
    raw = "--- [Tone] Definition: mood. Difference Description: gushier. ---"
    assert user.endswith("- [Text]: Background music, nothing more.\n" + raw)


def test_drp_instructions_ask_for_the_feature_format_the_parser_reads(tiny_dataset):
    for name in ("drp_extract_auto", "drp_validate"):
        system = _messages(name, tiny_dataset)[0]["content"]
        assert FEATURE_FORMAT in system
        assert parse_features(system.splitlines()[-1]).ok  # the format the parser reads
    auto = _messages("drp_extract_auto", tiny_dataset)[0]["content"]
    _in_order(auto, "[Writing Style]", "[Emotional Style]", "[Semantic Style]", "further")


def test_dpl_extraction_asks_for_three_aspects_and_no_fixed_format(tiny_dataset):
    for name in ("dpl_extract", "drp_extract_fixed"):
        system = _messages(name, tiny_dataset)[0]["content"]
        _in_order(system, "[Writing Style]", "[Emotional Style]", "[Semantic Style]")
        assert "Difference Description" not in system
        assert "2 other users' reviews" in system  # the number of representatives shown
    assert _messages("drp_extract_fixed", tiny_dataset) == _messages("dpl_extract", tiny_dataset)


@pytest.mark.parametrize("name", SUMMARY)
def test_summary_lists_each_item_with_its_differences_then_the_past_reviews(name, tiny_dataset):
    system, user = (m["content"] for m in _messages(name, tiny_dataset))
    assert system.endswith("[Summary]: <summary>")
    assert "2 items" in system
    _in_order(
        user,
        "Jazz at Dawn",
        "A smooth jazz album with saxophone and piano.",
        "RAW-DIFFERENCES-OF-A",
        "Metal Storm",
        "Heavy metal record with loud guitars and drums.",
        "RAW-DIFFERENCES-OF-B",
        "[The current user's past reviews]:",
        "[Past review 1]:",
        "Too loud",
        "Not my thing, the drums hurt.",
        "[Past review 2]:",
        "Nice folk",
        "Gentle acoustic stories.",
    )
    # a past review: its item's title and description, then rating, title and text
    _in_order(user, "- [Item]: Folk Tales", "Acoustic folk songs", "- [Rating]: 4", "Nice folk")


def test_summary_of_one_item_says_an_item(tiny_dataset):
    variables = _summary_vars(tiny_dataset)
    variables["differences"] = variables["differences"][:1]
    system = PromptRenderer().messages("paper/drp_summarize", **variables)[0]["content"]
    assert "of an item" in system and "1 items" not in system


@pytest.mark.parametrize("name", GENERATION)
def test_generation_shows_item_past_reviews_summary_then_rating_and_title(name, tiny_dataset):
    system, user = (m["content"] for m in _messages(name, tiny_dataset))
    assert system.endswith("[Review]: <review>")
    _in_order(
        user,
        "Jazz at Dusk",
        "A late-night jazz album with saxophone solos.",
        "[Past review 1]:",
        "Not my thing, the drums hurt.",
        "[Past review 2]:",
        "Gentle acoustic stories.",
        "PROFILE-SUMMARY",
        "[Rating of the review to write]: 4.0",
        "[Title of the review to write]: Jazz again",
    )


@pytest.mark.parametrize("name", GENERATION)
@pytest.mark.parametrize("summary", ["PROFILE-SUMMARY", ""])
def test_generation_never_shows_the_target_review_text(name, summary, tiny_dataset):
    messages = PromptRenderer().messages(f"paper/{name}", **_generation_vars(tiny_dataset, summary))
    assert all(SECRET not in m["content"] for m in messages)


def test_drp_and_dpl_generation_prompts_are_the_same(tiny_dataset):
    assert _messages("drp_generate", tiny_dataset) == _messages("dpl_generate", tiny_dataset)


def test_paper_prompts_truncate_reviews_and_descriptions_like_the_default_set(tiny_dataset):
    renderer = PromptRenderer(max_review_chars=10, max_description_chars=12)
    for name in ALL:
        user = _messages(name, tiny_dataset, renderer)[1]["content"]
        assert "Smooth and warm saxophone." not in user
        assert "A smooth jazz album with saxophone and piano." not in user
        assert "A late-night jazz album with saxophone solos." not in user
        assert " ..." in user


def test_every_paper_template_is_covered_and_has_a_system_part():
    folder = PACKAGE_TEMPLATES / "paper"
    names = {p.name.removesuffix(".j2") for p in folder.glob("*.j2")}
    stages = {n for n in names if not n.startswith("_") and not n.endswith(".system")}
    assert stages == set(ALL)
    assert {f"{n}.system" for n in stages} <= names

from pathlib import Path

import pytest

from drp_bench.pipeline.prompts import PACKAGE_TEMPLATES, PromptRenderer


def _vars(ds):
    s = ds.samples[0]
    return {"item": ds.items["A"], "target": s.profile[0], "others": list(ds.samples[1].profile)}


def _prompt(template: str, renderer: PromptRenderer | None = None, **variables) -> str:
    """The whole prompt of one call: the system message (the instruction), then the user turn."""
    messages = (renderer or PromptRenderer()).messages(template, **variables)
    return "\n\n".join(m["content"] for m in messages)


def test_extraction_prompt_shows_item_target_and_every_representative(tiny_dataset):
    text = _prompt("extract_auto", **_vars(tiny_dataset))
    assert "Jazz at Dawn" in text
    assert "Smooth and warm saxophone." in text
    assert "[Other user 1's review]" in text and "[Other user 2's review]" in text
    assert "--- [Feature Name] Definition:" in text


def test_fixed_dimension_prompt_names_the_three_dpl_dimensions(tiny_dataset):
    text = _prompt("extract_fixed", **_vars(tiny_dataset))
    for dim in ("Writing Style", "Emotional Style", "Semantic Style"):
        assert dim in text


def test_generation_prompt_without_personal_context_has_no_profile(tiny_dataset):
    s = tiny_dataset.samples[0]
    text = _prompt(
        "generate",
        item=tiny_dataset.items["T"],
        target=s.target,
        past_reviews=[],
        summary="",
        items=tiny_dataset.items,
    )
    assert "past reviews" not in text.lower()
    assert 'title is "Jazz again"' in text
    assert "[Review]:" in text


def test_long_texts_are_truncated_at_a_word_boundary(tiny_dataset):
    renderer = PromptRenderer(max_review_chars=10)
    text = renderer.render("extract_auto", **_vars(tiny_dataset))
    assert "Smooth and ..." in text
    assert "Smooth and warm saxophone." not in text


def test_user_template_folder_shadows_the_package_template(tmp_path, tiny_dataset):
    (tmp_path / "generate.j2").write_text("custom {{ target.title }}")
    s = tiny_dataset.samples[0]
    text = PromptRenderer(extra_dirs=[tmp_path]).render("generate", target=s.target)
    assert text == "custom Jazz again"


def test_missing_template_names_the_search_path():
    with pytest.raises(FileNotFoundError, match=r"nope\.j2"):
        PromptRenderer().render("nope")


# ---------------------------------------------------------------- layout for prefix caching

#: The package's own (non-paper) stage templates: each has an instruction part.
STAGE_TEMPLATES = sorted(
    p.name.removesuffix(".j2")
    for p in PACKAGE_TEMPLATES.glob("*.j2")
    if not p.name.startswith("_") and not p.name.endswith(".system.j2")
)


def test_every_stage_template_has_its_instruction_in_a_system_part() -> None:
    assert {"extract_auto", "generate", "judge", "normalize", "validate"} <= set(STAGE_TEMPLATES)
    missing = [t for t in STAGE_TEMPLATES if not (PACKAGE_TEMPLATES / f"{t}.system.j2").is_file()]
    assert missing == []


def _comparison(ds, target_user: int, others: list[int]) -> dict:
    return {
        "item": ds.items["A"],
        "target": ds.samples[target_user].profile[0],
        "others": [ds.samples[u].profile[0] for u in others],
        "candidates": "--- [Tone] Definition: mood. Difference Description: warmer. ---",
    }


@pytest.mark.parametrize("template", ["extract_auto", "extract_fixed", "validate"])
def test_per_item_prompts_share_the_instruction_and_the_item_then_differ(
    template: str, tiny_dataset
) -> None:
    """Two users compared on the same item: the same system message, and the user turns open
    with the item; the target's review comes after the others'."""
    first = PromptRenderer().messages(template, **_comparison(tiny_dataset, 0, [1]))
    second = PromptRenderer().messages(template, **_comparison(tiny_dataset, 1, [0, 2]))
    assert [m["role"] for m in first] == ["system", "user"]
    assert first[0] == second[0]
    item = "Item title: Jazz at Dawn\nItem description: A smooth jazz album"
    assert first[1]["content"].startswith(item) and second[1]["content"].startswith(item)
    user = first[1]["content"]
    assert user.index("[Other user 1's review]") < user.index("[Target user's review]")


def test_generation_prompt_opens_with_the_item_and_ends_with_the_particulars(tiny_dataset):
    s = tiny_dataset.samples[0]
    messages = PromptRenderer().messages(
        "generate",
        item=tiny_dataset.items["T"],
        target=s.target,
        past_reviews=list(s.profile),
        summary="A terse writer.",
        items=tiny_dataset.items,
    )
    system, user = (m["content"] for m in messages)
    assert "[Review]:" in system and "Jazz" not in system
    assert user.startswith("[Item]\nItem title: Jazz at Dusk")
    assert user.endswith('The review\'s rating is 5 and its title is "Jazz again".')


def test_instructions_in_user_puts_the_instruction_before_the_material(tiny_dataset) -> None:
    (only,) = PromptRenderer(instructions_in="user").messages("extract_auto", **_vars(tiny_dataset))
    assert only["role"] == "user"
    assert only["content"].index("Compare the target user's review") < only["content"].index(
        "Jazz at Dawn"
    )


def test_a_user_folder_template_without_system_part_keeps_the_configured_system(
    tmp_path: Path,
) -> None:
    (tmp_path / "mine.j2").write_text("Hello {{ name }}")
    messages = PromptRenderer([tmp_path], system_prompt="Be brief.").messages("mine", name="x")
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello x"},
    ]


def test_the_configured_system_text_opens_a_templates_own_instruction(tmp_path: Path) -> None:
    (tmp_path / "mine.j2").write_text("Hello {{ name }}")
    (tmp_path / "mine.system.j2").write_text("Answer in one word.")
    renderer = PromptRenderer([tmp_path], system_prompt="Be brief.")
    assert renderer.messages("mine", name="x") == [
        {"role": "system", "content": "Be brief.\n\nAnswer in one word."},
        {"role": "user", "content": "Hello x"},
    ]
    (only,) = renderer.messages("mine", instructions_in="user", name="x")
    assert only["content"] == "Be brief.\n\nAnswer in one word.\n\nHello x"

import pytest

from drp_bench.pipeline.prompts import PromptRenderer


def _vars(ds):
    s = ds.samples[0]
    return {"item": ds.items["A"], "target": s.profile[0], "others": list(ds.samples[1].profile)}


def test_extraction_prompt_shows_item_target_and_every_representative(tiny_dataset):
    text = PromptRenderer().render("extract_auto", **_vars(tiny_dataset))
    assert "Jazz at Dawn" in text
    assert "Smooth and warm saxophone." in text
    assert "[Other user 1's review]" in text and "[Other user 2's review]" in text
    assert "--- [Feature Name] Definition:" in text


def test_fixed_dimension_prompt_names_the_three_dpl_dimensions(tiny_dataset):
    text = PromptRenderer().render("extract_fixed", **_vars(tiny_dataset))
    for dim in ("Writing Style", "Emotional Style", "Semantic Style"):
        assert dim in text


def test_generation_prompt_without_personal_context_has_no_profile(tiny_dataset):
    s = tiny_dataset.samples[0]
    text = PromptRenderer().render(
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

"""UVQ: taxonomy, normaliser prompt, normaliser-output parser, per-user and per-run scores."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jinja2
import pytest

from drp_bench.data.types import Feature
from drp_bench.uvq import (
    CATEGORIES,
    TAXONOMY,
    NormalizeResult,
    Unit,
    UserUVQ,
    all_keys,
    canonical_key,
    opposite,
    parse_key,
    parse_units,
    prompt_variables,
    run_uvq,
    user_uvq,
    user_uvq_from_results,
)
from drp_bench.uvq.taxonomy import TaxonomyError, attribute_of

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "drp_bench" / "prompts"


def answer(*units: dict) -> str:
    return json.dumps({"units": list(units)})


def u(key: str | None, valid: bool = True, category: str | None = None, text: str = "x") -> dict:
    if category is None and key:
        category = key.split("/")[0].capitalize()
    return {"text": text, "category": category, "valid": valid, "key": key, "source_feature": "F"}


def units(*raw: dict) -> tuple[Unit, ...]:
    result = parse_units(answer(*raw))
    assert result.ok, result.error
    return result.units


# --- taxonomy -----------------------------------------------------------------------------


def test_taxonomy_has_five_categories_with_six_to_ten_attributes_each():
    assert tuple(TAXONOMY) == CATEGORIES
    assert all(6 <= len(attrs) <= 10 for attrs in TAXONOMY.values())


def test_every_attribute_has_two_opposite_directions():
    for attrs in TAXONOMY.values():
        for attr in attrs:
            a, b = attr.directions
            assert opposite(a) == b and opposite(b) == a


def test_keys_are_unique_lowercase_and_include_the_papers_examples():
    keys = all_keys()
    assert len(keys) == len(set(keys))
    assert all(k == k.lower() and " " not in k for k in keys)
    for example in (
        "writing/sentence-complexity/higher",
        "emotion/tone/positive/more",
        "semantics/info-density/higher",
        "structure/paragraphs/more",
        "pragmatics/rhetorical-questions/more",
    ):
        assert example in keys


def test_parse_key_splits_category_attribute_and_direction():
    assert parse_key("writing/formality/lower") == ("Writing", "formality", "lower")
    assert parse_key("emotion/tone/negative/more") == ("Emotion", "tone", "negative/more")
    assert attribute_of("emotion/tone/negative/more") == "emotion/tone"


@pytest.mark.parametrize(
    "bad", ["writing/formality", "writing/formality/more", "Writing/formality/lower", "", "x"]
)
def test_parse_key_rejects_keys_outside_the_taxonomy(bad):
    with pytest.raises(TaxonomyError, match="unknown UVQ key"):
        parse_key(bad)


def test_opposite_of_tone_polarity_and_unknown_direction():
    assert opposite("positive/more") == "negative/more"
    with pytest.raises(TaxonomyError, match="unknown direction"):
        opposite("sideways")


def test_docs_table_lists_exactly_the_taxonomy_attributes():
    doc = (ROOT / "docs" / "uvq.md").read_text()
    rows = re.findall(r"^\| (\w+) \| `([a-z-]+/[a-z-]+)` \|", doc, re.MULTILINE)
    documented = {attr for _, attr in rows}
    expected = {f"{c.lower()}/{a.name}" for c in CATEGORIES for a in TAXONOMY[c]}
    assert documented == expected


# --- prompt template ----------------------------------------------------------------------


def render(item_title, features) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PROMPTS)), undefined=jinja2.StrictUndefined
    )
    variables = prompt_variables(item_title, features)
    # the instruction (keys, JSON contract) is the system part, the differences the user turn
    parts = ("normalize.system.j2", "normalize.j2")
    return "\n\n".join(env.get_template(name).render(**variables) for name in parts)


def test_template_renders_features_every_key_and_the_json_contract():
    features = [
        Feature("Sentence Structure", "How sentences are built.", "Longer, complex sentences."),
        Feature("Exclamations", "", "Uses many exclamation marks!"),
    ]
    text = render("Abbey Road", features)
    assert "[Item]\nAbbey Road" in text
    assert "1. [Sentence Structure] Definition: How sentences are built." in text
    assert "Difference: Longer, complex sentences." in text
    assert "2. [Exclamations] Difference: Uses many exclamation marks!" in text
    lines = set(text.splitlines())
    assert all(key in lines for key in all_keys())
    assert '{"units": [{"text":' in text
    for field in ('"category"', '"valid"', '"key"', '"source_feature"'):
        assert field in text


def test_template_renders_with_no_features_and_no_title():
    text = render(None, [])
    assert "(none)" in text and "writing/formality/higher" in text


def test_template_renders_through_the_pipeline_renderer():
    from drp_bench.pipeline.prompts import PromptRenderer

    text = PromptRenderer().render(
        "normalize", **prompt_variables("T", [Feature("N", "D", "Diff")])
    )
    assert "1. [N] Definition: D Difference: Diff" in text


# --- parser -------------------------------------------------------------------------------


def test_parse_plain_json_answer():
    result = parse_units(answer(u("writing/formality/higher", text="More formal.")))
    assert result.ok and result.error is None and result.repairs == ()
    (unit,) = result.units
    assert unit == Unit(
        text="More formal.",
        category="Writing",
        valid=True,
        key="writing/formality/higher",
        reason=None,
        source_feature="F",
    )


def test_parse_fenced_json_after_reasoning_text():
    output = (
        "<think>The user uses {braces} and [brackets] in thought.</think>\n"
        "Here is the result:\n```json\n"
        + answer(u("structure/paragraphs/more"), u("emotion/tone/positive/more"))
        + "\n```\nDone."
    )
    result = parse_units(output)
    assert result.ok
    assert [x.key for x in result.units] == [
        "structure/paragraphs/more",
        "emotion/tone/positive/more",
    ]


def test_parse_takes_the_last_units_object_when_a_draft_precedes_it():
    output = (
        answer(u("writing/jargon/more")) + "\nWait, corrected:\n" + answer(u("writing/jargon/less"))
    )
    assert [x.key for x in parse_units(output).units] == ["writing/jargon/less"]


def test_parse_repairs_trailing_commas():
    output = (
        '{"units": [{"text": "a", "category": "Writing", "valid": true,'
        ' "key": "writing/jargon/more", "source_feature": "F",},],}'
    )
    result = parse_units(output)
    assert result.ok and result.repairs == ("trailing-commas",)
    assert result.units[0].valid


def test_parse_repairs_python_literal_answer():
    output = (
        "{'units': [{'text': 'a', 'category': 'Writing', 'valid': True,"
        " 'key': 'writing/jargon/more', 'source_feature': None}]}"
    )
    result = parse_units(output)
    assert result.ok and result.repairs == ("python-literal",)
    assert result.units[0].key == "writing/jargon/more"


def test_parse_salvages_complete_units_of_a_truncated_answer():
    full = answer(u("writing/jargon/more"), u("pragmatics/humor/more"))
    result = parse_units(full[:-30])  # cut inside the second unit
    assert result.ok and result.repairs == ("truncated",)
    assert [x.key for x in result.units] == ["writing/jargon/more"]


def test_parse_accepts_a_bare_list_of_units():
    result = parse_units(json.dumps([u("writing/jargon/more")]))
    assert result.ok and result.units[0].valid


@pytest.mark.parametrize(
    "output",
    [
        "",
        "I could not find any differences.",
        '{"units": [{"text": "a", "valid": tru',
        "{}",
        '{"units": "none"}',
        None,
    ],
)
def test_malformed_output_gives_not_ok_and_no_units_without_raising(output):
    result = parse_units(output)
    assert result.ok is False
    assert result.units == ()
    assert result.error


def test_parse_never_raises_on_any_prefix_of_an_answer():
    full = "```json\n" + answer(u("writing/jargon/more"), u("emotion/tone/positive/more")) + "\n```"
    for end in range(len(full) + 1):
        result = parse_units(full[:end])
        assert result.ok or (result.error and result.units == ())


def test_python_literal_values_that_are_not_json_make_a_malformed_unit():
    result = parse_units("{'units': [{'text': 'a', 'category': 'Writing', 'valid': {1}}]}")
    assert result.ok and result.units[0].reason.startswith("malformed-unit")


def test_empty_units_list_is_ok():
    result = parse_units('{"units": []}')
    assert result.ok and result.units == ()


def test_unit_marked_invalid_by_the_normaliser_keeps_its_reason():
    (unit,) = units({**u("writing/jargon/more", valid=False), "reason": "about content"})
    assert not unit.valid and unit.reason == "normaliser: about content"


def test_unknown_category_makes_the_unit_invalid():
    (unit,) = units(u("writing/jargon/more", category="Style"))
    assert not unit.valid and unit.reason.startswith("unknown-category")
    assert unit.category == "Style"


def test_category_is_case_insensitive_and_inferred_from_key_when_missing():
    a, b = units(
        u("writing/jargon/more", category="writing"), u("pragmatics/humor/more", category="")
    )
    assert (a.valid, a.category) == (True, "Writing")
    assert (b.valid, b.category) == (True, "Pragmatics")


def test_unknown_key_makes_the_unit_invalid_and_keeps_the_raw_key():
    (unit,) = units(u("writing/verbosity/higher"))
    assert not unit.valid and unit.reason == "unknown-key: 'writing/verbosity/higher'"
    assert unit.key == "writing/verbosity/higher"


def test_valid_unit_without_key_is_invalid():
    (unit,) = units(u(None, category="Writing"))
    assert not unit.valid and unit.reason.startswith("missing-key")


def test_key_of_another_category_is_a_mismatch():
    (unit,) = units(u("emotion/intensity/higher", category="Writing"))
    assert not unit.valid and unit.reason.startswith("category-mismatch")


def test_non_boolean_valid_flag_and_non_object_unit_are_malformed():
    bad_flag = {**u("writing/jargon/more"), "valid": "maybe"}
    flag_unit, list_unit = units(bad_flag, ["not", "a", "unit"])  # type: ignore[arg-type]
    assert flag_unit.reason.startswith("malformed-unit") and not flag_unit.valid
    assert list_unit.reason.startswith("malformed-unit") and not list_unit.valid


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Writing/Sentence Complexity/Higher", "writing/sentence-complexity/higher"),
        ("  `structure/paragraphs/fewer` ", "structure/paragraphs/less"),
        ("emotion/tone/positive", "emotion/tone/positive/more"),
        ("pragmatics/rhetorical_questions/more", "pragmatics/rhetorical-questions/more"),
        ("writing/sentence-complexity/up", None),
    ],
)
def test_canonical_key_repairs_case_spacing_and_known_aliases_only(raw, key):
    assert canonical_key(raw) == key


def test_normalize_result_round_trips_through_json():
    result = parse_units(answer(u("writing/jargon/more"), u("writing/nope/more")))
    again = NormalizeResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result


# --- per-user UVQ -------------------------------------------------------------------------


def test_duplicates_within_an_item_count_once():
    item = units(u("writing/jargon/more"), u("writing/jargon/more"), u("pragmatics/humor/more"))
    score = user_uvq([item])
    assert score.uvq == 2
    assert score.duplicate_units == 1
    assert score.total_units == 3


def test_same_key_on_several_items_counts_once():
    score = user_uvq([units(u("writing/jargon/more"))] * 3)
    assert score.uvq == 1
    assert score.keys == ("writing/jargon/more",)
    assert score.category_counts["Writing"] == 3  # per-item deduplicated units
    assert score.uvq_category_counts["Writing"] == 1


def test_conflicting_directions_across_items_drop_the_attribute():
    score = user_uvq(
        [
            units(u("writing/sentence-complexity/higher"), u("structure/paragraphs/more")),
            units(u("writing/sentence-complexity/lower")),
            units(u("writing/sentence-complexity/higher")),
        ]
    )
    assert score.keys == ("structure/paragraphs/more",)
    assert score.uvq == 1
    assert score.dropped_attributes == ("writing/sentence-complexity",)
    assert score.conflicts_dropped == 1


def test_positive_and_negative_tone_conflict():
    score = user_uvq(
        [units(u("emotion/tone/positive/more")), units(u("emotion/tone/negative/more"))]
    )
    assert score.uvq == 0 and score.dropped_attributes == ("emotion/tone",)


def test_invalid_units_are_not_counted_but_are_counted_as_invalid():
    item = units(
        u("writing/jargon/more"),
        u("writing/formality/higher", valid=False),
        u("writing/verbosity/more"),
    )
    score = user_uvq([item])
    assert score.uvq == 1
    assert (score.total_units, score.invalid_units, score.rejected_units) == (3, 2, 1)


def test_stored_valid_unit_with_a_key_outside_the_taxonomy_is_not_counted():
    stale = Unit("x", "Writing", True, "writing/old-attribute/more")
    score = user_uvq([[stale]])
    assert score.uvq == 0 and score.invalid_units == 1 and score.rejected_units == 1


def test_malformed_items_add_no_units_and_are_reported():
    results = [parse_units("not json"), parse_units(answer(u("writing/jargon/more")))]
    score = user_uvq_from_results(results)
    assert score.uvq == 1 and score.items == 2 and score.malformed_items == 1


def test_drp_reference_rule_needs_two_items_and_keeps_the_majority():
    one_item = [units(u("writing/jargon/more"))]
    assert user_uvq(one_item, rule="drp-reference").uvq == 0
    two_vs_one = [
        units(u("writing/jargon/more")),
        units(u("writing/jargon/more")),
        units(u("writing/jargon/less")),
    ]
    assert user_uvq(two_vs_one, rule="drp-reference").keys == ("writing/jargon/more",)
    assert user_uvq(two_vs_one).uvq == 0
    three_vs_two = [units(u("writing/jargon/more"))] * 3 + [units(u("writing/jargon/less"))] * 2
    assert user_uvq(three_vs_two, rule="drp-reference").uvq == 0


def test_unknown_rule_is_rejected():
    with pytest.raises(ValueError, match="unknown UVQ rule"):
        user_uvq([], rule="vote")  # type: ignore[arg-type]


def test_user_uvq_round_trips_through_json():
    score = user_uvq([units(u("writing/jargon/more"), u("x/y/z"))])
    again = UserUVQ.from_dict(json.loads(json.dumps(score.to_dict())))
    assert again == score


# --- per-run entry ------------------------------------------------------------------------


def test_run_uvq_mean_invalid_share_and_category_shares():
    alice = user_uvq(
        [
            units(u("writing/jargon/more"), u("emotion/intensity/higher")),
            units(u("writing/jargon/more"), u("semantics/coherence/higher", valid=False)),
        ]
    )  # uvq 2; 4 units, 1 invalid; per-item valid: Writing 2, Emotion 1
    bob = user_uvq(
        [units(u("structure/lists/more"), u("pragmatics/humor/more"), u("writing/nope/more"))]
    )  # uvq 2; 3 units, 1 invalid; Structure 1, Pragmatics 1
    entry = run_uvq([alice, bob])
    assert entry is not None
    assert entry["mean"] == pytest.approx(2.0)
    assert entry["invalid_share"] == pytest.approx(2 / 7)
    assert entry["categories"] == pytest.approx(
        {"Writing": 0.4, "Emotion": 0.2, "Semantics": 0.0, "Structure": 0.2, "Pragmatics": 0.2}
    )
    assert entry["uvq_categories"]["Writing"] == pytest.approx(0.25)
    assert entry["users"] == 2 and entry["units"] == 7
    json.dumps(entry)


def test_run_uvq_with_no_users_is_none_and_with_no_units_is_zero():
    assert run_uvq([]) is None
    entry = run_uvq([user_uvq([])])
    assert entry is not None
    assert entry["mean"] == 0.0 and entry["invalid_share"] == 0.0
    assert set(entry["categories"].values()) == {0.0}

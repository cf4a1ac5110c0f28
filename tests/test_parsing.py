import pytest

from drp_bench.backends.reasoning import split_reasoning, split_separated
from drp_bench.pipeline.parsing import format_features, parse_features, strip_answer_prefix


def test_features_in_the_requested_format_are_parsed():
    text = (
        "--- [Writing Style] Definition: word choice and syntax. "
        "Difference Description: uses shorter sentences than others. ---\n"
        "--- [Humour] Definition: jokes. Difference Description: jokes more often. ---"
    )
    parsed = parse_features(text)
    assert parsed.ok
    assert [f.name for f in parsed.features] == ["Writing Style", "Humour"]
    assert parsed.features[0].definition == "word choice and syntax."
    assert parsed.features[1].difference == "jokes more often."


def test_features_tolerate_markdown_line_breaks_and_missing_closing_dashes():
    text = (
        "Here are the features:\n--- [Emotional Style]\n**Definition:** sentiment tone\n"
        "**Difference Description:** more enthusiastic\n"
    )
    parsed = parse_features(text)
    assert [(f.name, f.definition, f.difference) for f in parsed.features] == [
        ("Emotional Style", "sentiment tone", "more enthusiastic")
    ]


def test_malformed_output_gives_no_features_and_does_not_raise():
    assert not parse_features("The user writes nicely.").ok
    assert not parse_features("--- [Name] Definition: only a definition ---").ok
    assert not parse_features("").ok


def test_formatted_features_parse_back_to_the_same_features():
    parsed = parse_features(
        "--- [A] Definition: d1 Difference Description: x1 ---"
        "--- [B] Definition: d2 Difference Description: x2 ---"
    )
    assert parse_features(format_features(parsed.features)).features == parsed.features


def test_answer_prefix_is_stripped_or_whole_text_kept():
    assert strip_answer_prefix("[Review]: Great album.", "Review") == "Great album."
    assert strip_answer_prefix("Sure!\n[review] : Fine.", "Review") == "Fine."
    assert strip_answer_prefix("No prefix here.", "Review") == "No prefix here."


def _reference_postprocess_output(output):
    """DRP utils/utils.py postprocess_output (commit 54c0adc, lines 81-85), verbatim."""
    prefix = "[Review]:"
    if output.startswith(prefix):
        return output[len(prefix) :].strip()
    return output


REVIEW_OUTPUTS = [
    "[Review]: Great album.",
    "[Review]:Great album.\n",
    "[Review]:   \n\nMulti\nline [Review]: kept  ",
    " [Review]: leading space",
    "[review]: lower case",
    "[ Review ] : spaced",
    "[Review] no colon",
    "Sure! Here it is.\n[Review]: Fine.",
    "No prefix at all ",
    "[Review]:",
    "",
]


@pytest.mark.parametrize("output", REVIEW_OUTPUTS)
def test_reference_mode_is_the_reference_postprocessing(output):
    assert strip_answer_prefix(output, "Review", mode="reference") == (
        _reference_postprocess_output(output)
    )


def test_reference_mode_strips_only_an_exact_prefix_at_the_very_start():
    assert strip_answer_prefix("[Review]: Great album. ", "Review", "reference") == "Great album."
    kept = ["Sure!\n[Review]: Fine.", " [Review]: x", "[review]: x", "No prefix "]
    assert [strip_answer_prefix(t, "Review", "reference") for t in kept] == kept
    # the lenient default finds the label anywhere, in any case, and strips
    assert [strip_answer_prefix(t, "Review") for t in kept] == ["Fine.", "x", "x", "No prefix"]
    summary = "[Summary]: Writes short, warm reviews."
    assert strip_answer_prefix(summary, "Summary", "reference") == "Writes short, warm reviews."


def test_unknown_prefix_mode_is_rejected():
    with pytest.raises(ValueError, match="mode: expected one of lenient, reference, found 'x'"):
        strip_answer_prefix("[Review]: a", "Review", mode="x")  # type: ignore[arg-type]


def test_reasoning_before_closing_think_tag_is_split_off():
    assert split_reasoning("<think>hmm, let me see</think>\n[Review]: ok", True) == (
        "hmm, let me see",
        "[Review]: ok",
        False,
    )
    assert split_reasoning("only closing tag here</think>answer", reasoning_model=True) == (
        "only closing tag here",
        "answer",
        False,
    )
    assert split_reasoning("plain answer") == (None, "plain answer", False)


def test_reasoning_model_cut_off_while_thinking_keeps_the_whole_text_flagged():
    # DRP 1_get_diff_outputs_deepseek.py: output = d when "</think>" is not in d
    assert split_reasoning(" still thinking ...\n", reasoning_model=True) == (
        None,
        "still thinking ...",
        True,
    )
    assert split_reasoning("<think>still", reasoning_model=True).answer == "<think>still"
    assert not split_reasoning("still thinking ...").truncated  # not a reasoning model


def test_a_non_reasoning_models_output_is_never_split():
    # DRP keeps Qwen outputs whole (1_get_diff_outputs_qwen.py:160-163, 184-188 at 54c0adc)
    text = " <think>hmm</think>\n[Review]: ok "
    assert split_reasoning(text) == (None, "<think>hmm</think>\n[Review]: ok", False)
    assert split_reasoning("a</think>b", reasoning_model=False).answer == "a</think>b"


def test_server_split_reasoning_cut_off_at_the_token_limit_becomes_the_answer():
    assert split_separated("", " Let me think", "length") == (None, "Let me think", True)
    assert split_separated("", "Let me think", "stop") == ("Let me think", "", False)
    assert split_separated(" ok ", "why", "length") == ("why", "ok", False)
    assert split_separated("ok", "  ", "stop") == (None, "ok", False)

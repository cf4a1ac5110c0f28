"""A method is a declared sequence of stages (docs/methods.md), checked when the config is read:
errors name the method and its file, the stage's index and kind, and the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from drp_bench.config.run_config import RunConfig
from drp_bench.methods.contracts import STAGE_KINDS, stage_kinds
from drp_bench.methods.spec import MethodSpec
from drp_bench.pipeline.kinds import KINDS, kinds
from drp_bench.resources import config_dir


def compose_cfg(*overrides: str) -> dict[str, Any]:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def method_of(*overrides: str) -> MethodSpec:
    return RunConfig.from_config(compose_cfg(*overrides)).method


def drp_node() -> dict[str, Any]:
    """DRP's resolved method node, to edit."""
    return copy.deepcopy(compose_cfg("method=drp")["method"])


def test_every_stage_kind_has_a_contract_and_an_implementation():
    assert set(KINDS) == set(STAGE_KINDS)
    assert set(kinds()) == set(stage_kinds())  # with the installed plugins' kinds, if any


@pytest.mark.parametrize("path", sorted((config_dir() / "method").glob("*.yaml")), ids=str)
def test_every_method_file_is_named_after_its_method_and_declares_stages(path):
    spec = method_of(f"method={path.stem}")
    assert spec.name == path.stem  # errors name the file by the method's name
    # the last stage writes the review (generate_review; CICL's one call contrast_generate;
    # peer's review is a real one)
    writers = ("generate_review", "contrast_generate", "peer")
    assert spec.stages[-1] == spec.output and spec.output.kind in writers


@pytest.mark.parametrize(
    ("overrides", "kinds"),
    [
        (["method=nonp"], ["generate_review"]),
        (["method=rag"], ["generate_review"]),
        (["method=dpl"], ["extract_differences", "summarize_differences", "generate_review"]),
        (
            ["method=drp"],
            [
                "extract_differences",
                "validate_differences",
                "summarize_differences",
                "generate_review",
            ],
        ),
        (
            ["method=drp", "uvq=true"],
            [
                "extract_differences",
                "validate_differences",
                "normalize_differences",
                "summarize_differences",
                "generate_review",
            ],
        ),
    ],
)
def test_the_settings_switch_stages_on_and_off(overrides, kinds):
    assert [s.kind for s in method_of(*overrides).stages] == kinds


def test_contexts_are_built_only_when_a_stage_reads_them():
    assert method_of("method=nonp").contexts == frozenset()
    assert method_of("method=rag").contexts == {"past_reviews"}
    assert method_of("method=drp").contexts == {"past_reviews", "comparisons"}
    rag = method_of("method=rag")
    assert rag.past_reviews and not rag.differences and rag.dimensions is None


def test_without_validation_what_read_the_validated_differences_reads_the_extracted_ones():
    spec = method_of("method=drp", "method.validate=false", "uvq=true")
    assert not spec.validate
    by_kind = {s.kind: s for s in spec.stages}
    assert by_kind["summarize_differences"].inputs["differences"] == "extracted"
    assert by_kind["normalize_differences"].inputs["differences"] == "extracted"


def test_a_stage_can_be_switched_off_directly():
    spec = method_of("method=drp", "method.stages.1.enabled=false")
    assert [s.kind for s in spec.stages][:2] == ["extract_differences", "summarize_differences"]


def test_summary_reads_and_handoff_reach_the_stages():
    spec = method_of("method=drp", "method.summary_reads=extracted", "method.handoff=raw")
    summarize = next(s for s in spec.stages if s.kind == "summarize_differences")
    assert summarize.inputs == {"differences": "extracted", "past_reviews": "past_reviews"}
    assert {s.options["handoff"] for s in spec.stages if "handoff" in s.options} == {"raw"}


def test_the_stages_feeding_the_review_are_its_context():
    spec = method_of("method=drp", "uvq=true")
    assert [s.record for s in spec.feeding(spec.output)] == ["extract", "validate", "summarize"]
    extracted = method_of("method=drp", "method.summary_reads=extracted")
    assert [s.record for s in extracted.feeding(extracted.output)] == ["extract", "summarize"]


def test_templates_follow_the_method_settings_and_presets():
    assert method_of("method=drp", "method.dimensions=fixed").stages[0].template == "extract_fixed"
    paper = method_of("+experiment=paper_table", "dataset=music_sample")
    assert [s.template for s in paper.stages] == [
        "paper/drp_extract_auto",
        "paper/drp_validate",
        "normalize",
        "paper/drp_summarize",
        "paper/drp_generate",
    ]


def test_a_stage_list_can_be_edited_from_the_command_line():
    spec = method_of("method=drp", "method.stages.4.reads=[summary]")
    assert spec.stages[-1].inputs == {"summary": "summary"}


def _error(node: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as info:
        MethodSpec.from_config(node)
    return str(info.value)


def _edit(index: int, **fields: Any) -> dict[str, Any]:
    node = drp_node()
    node["stages"][index].update(fields)
    return node


@pytest.mark.parametrize(
    ("index", "fields", "message"),
    [
        (3, {"kind": "summarise"}, "stages[3].kind: unknown stage kind 'summarise'"),
        (0, {"role": "writer"}, "stages[0] (extract_differences).role: expected one of"),
        (0, {"template": None}, "stages[0] (extract_differences).template"),
        (3, {"reads": ["validatd"]}, "stages[3] (summarize_differences).reads: 'validatd' is"),
        (4, {"reads": ["extracted"]}, "'extracted' is of type item_differences"),
        (3, {"reads": ["past_reviews"]}, "nothing fills its input(s) ['differences']"),
        (1, {"writes": "extracted"}, "stages[1] (validate_differences).writes: 'extracted'"),
        (1, {"options": {"handof": "raw"}}, "options: unknown option(s) ['handof']"),
        (1, {"options": {"handoff": "rw"}}, "options.handoff: expected one of"),
        (1, {"enabled": "no"}, "stages[1] (validate_differences).enabled"),
        (1, {"kidn": "x"}, "stages[1]: unknown field(s) ['kidn']"),
        (4, {"kind": "summarize_differences", "reads": ["validated"]}, "as 'summarize' too"),
    ],
)
def test_a_wrong_stage_is_a_clear_error_naming_file_stage_and_field(index, fields, message):
    error = _error(_edit(index, **fields))
    assert error.startswith("method 'drp' (method/drp.yaml): ")
    assert message in error


def test_an_edited_stage_list_is_a_method():
    spec = MethodSpec.from_config(_edit(2, enabled=True))  # normalisation on, without uvq
    assert spec.stages[2].kind == "normalize_differences"


def test_reading_the_output_of_a_disabled_stage_is_an_error():
    node = drp_node()
    node["stages"].insert(4, {**node["stages"][3], "writes": "again", "reads": ["units"]})
    node["stages"][4]["reads"] = ["units", "past_reviews"]
    assert "'units' is written by a disabled stage" in _error(node)


def test_a_method_must_write_exactly_one_review():
    node = drp_node()
    node["stages"] = node["stages"][:4]
    assert "exactly one enabled stage must write the review" in _error(node)
    assert "stages: expected a non-empty list" in _error({"name": "x", "stages": []})


def test_validate_true_on_a_method_without_validation_is_an_error():
    with pytest.raises(ValueError, match="no stage of kind validate_differences"):
        method_of("method=dpl", "method.validate=true")


def test_an_unknown_stage_field_in_a_method_file_is_rejected_by_the_schema(tmp_path):
    from hydra.errors import ConfigCompositionException

    (tmp_path / "method").mkdir()
    (tmp_path / "method" / "bad.yaml").write_text(
        "name: bad\nstages:\n  - {kind: generate_review, role: generator, template: generate,"
        " reads: [], writes: review, kidn: x}\n"
    )
    with pytest.raises(ConfigCompositionException) as info:
        compose_cfg(f"hydra.searchpath=[file://{tmp_path}]", "method=bad")
    assert "In 'method/bad'" in str(info.value) and "kidn" in str(info.value)


def test_a_new_method_is_a_yaml_file(tmp_path):
    (tmp_path / "method").mkdir()
    (tmp_path / "method" / "differences_only.yaml").write_text(
        "name: differences_only\n"
        "stages:\n"
        "  - {kind: extract_differences, role: extractor, template: extract_auto,"
        " reads: [comparisons], writes: extracted}\n"
        "  - {kind: summarize_differences, role: summarizer, template: summarize,"
        " reads: [extracted], writes: style}\n"
        "  - {kind: generate_review, role: generator, template: generate,"
        " reads: [style], writes: review}\n"
    )
    spec = method_of(f"hydra.searchpath=[file://{tmp_path}]", "method=differences_only")
    assert spec.differences and not spec.past_reviews
    assert spec.stages[-1].inputs == {"summary": "style"}


@pytest.mark.parametrize("value", [0, -1, "two", True])
def test_a_count_option_must_be_a_positive_integer_or_null(value):
    node = copy.deepcopy(compose_cfg("method=intsum")["method"])
    node["stages"][1]["options"]["max_past_reviews"] = value
    with pytest.raises(ValueError, match=r"stages\[1\] \(generate_review\)\.options\.max_past"):
        MethodSpec.from_config(node)
    node["stages"][1]["options"]["max_past_reviews"] = None
    assert MethodSpec.from_config(node).stages[1].options["max_past_reviews"] is None


def test_the_history_summary_reads_the_latest_reviews_oldest_first():
    from drp_bench.pipeline.kinds.history import recent
    from tests.conftest import review

    reviews = (review("A", "a", "", ts=3), review("B", "b", "", ts=1), review("C", "c", "", ts=3))
    assert [r.asin for r in recent(reviews, 2)] == ["A", "C"]
    assert [r.asin for r in recent(reviews, None)] == ["B", "A", "C"]


@pytest.mark.parametrize("method", ["nonp", "drp", "peer"])
def test_metrics_judge_appends_the_judge_scorer_after_the_methods_stages(method):
    plain = method_of(f"method={method}")
    judged = method_of(f"method={method}", "metrics.judge=true", "metrics.judge_self=true")
    assert plain.scorers == () and plain.own_stages == plain.stages
    assert judged.own_stages == plain.stages and judged.output == plain.output
    (judge,) = judged.scorers
    assert judged.stages[-1] == judge and judge.contract.scorer is not None
    assert (judge.kind, judge.record, judge.role, judge.template) == (
        "judge",
        "judge",
        "judge",
        "judge",
    )
    assert judge.reads == (plain.output.writes,) and judge.inputs == {"review": plain.output.writes}
    assert judge.index == plain.stages[-1].index + 1
    # what the method builds and reads is its own: the judge adds no context
    assert judged.contexts == plain.contexts and judged.feeding(judged.output) == plain.feeding(
        plain.output
    )


def test_a_method_cannot_declare_a_scorer_stage():
    node = drp_node()
    node["stages"].append({"kind": "judge", "role": "judge", "template": "judge"})
    error = _error(node)
    assert error.startswith("method 'drp' (method/drp.yaml): stages[5].kind: 'judge' is a scorer")
    assert "metrics.judge=true adds it" in error

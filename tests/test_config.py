import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from drp_bench.config.run_config import MethodSpec, RunConfig
from drp_bench.resources import config_dir


def _compose(overrides=()):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


def test_default_config_is_drp_on_the_bundled_sample_with_the_embedded_model():
    cfg = RunConfig.from_config(_compose())
    assert cfg.method.name == "drp" and cfg.method.dimensions == "auto" and cfg.method.validate
    assert cfg.dataset["name"] == "music_sample"
    assert cfg.roles["extractor"].backend == "llamacpp"
    assert (cfg.num_retrieved, cfg.num_users, cfg.seed) == (8, 4, 42)
    assert cfg.roles["extractor"].sampling.temperature == 0.0


@pytest.mark.parametrize("method", ["drp", "dpl", "rag", "nonp"])
def test_every_method_config_is_valid(method):
    cfg = RunConfig.from_config(_compose([f"method={method}"]))
    assert cfg.method.name == method


def test_validator_follows_the_extractor_and_summarizer_the_generator():
    cfg = RunConfig.from_config(
        _compose(["model@extractor=r1-distill-qwen-7b", "model@generator=qwen2.5-14b-instruct"])
    )
    assert cfg.roles["validator"].name == "DeepSeek-R1-Distill-Qwen-7B"
    assert cfg.roles["validator"].reasoning
    assert cfg.roles["summarizer"].name == "Qwen2.5-14B-Instruct"
    assert cfg.roles["generator"].tensor_parallel_size == 1


def test_every_registry_model_has_the_papers_sampling_defaults():
    for path in sorted((config_dir() / "model").glob("*.yaml")):
        cfg = RunConfig.from_config(_compose([f"model@extractor={path.stem}"]))
        spec = cfg.roles["extractor"]
        assert spec.sampling.temperature == 0.0 and spec.sampling.top_p == 0.95
        assert spec.sampling.seed == 42
        assert spec.family
        # an API model whose size its maker does not disclose says 0 (gpt-4o-mini)
        assert spec.params_b > 0 or spec.backend == "openai"


def test_bad_method_dimensions_is_a_clear_error():
    with pytest.raises(ValueError, match=r"method 'drp' \(method/drp\.yaml\): method\.dimensions"):
        RunConfig.from_config(_compose(["method.dimensions=many"]))


def test_method_missing_a_stage_template_is_a_clear_error():
    with pytest.raises(ValueError, match=r"stages\[0\] \(extract_differences\)\.template"):
        MethodSpec.from_config(
            {
                "name": "x",
                "stages": [
                    {"kind": "extract_differences", "role": "extractor", "reads": ["comparisons"],
                     "writes": "extracted"},
                ],
            }
        )  # fmt: skip


@pytest.mark.parametrize("limit", [0, -3])
def test_a_limit_that_keeps_no_sample_is_a_clear_error(limit):
    with pytest.raises(ValueError, match=r"dataset\.limit"):
        RunConfig.from_config(_compose([f"dataset.limit={limit}"]))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dataset.limit=ten", "Value 'ten' of type 'str' could not be converted to Integer"),
        ("num_users=two", "Value 'two' of type 'str' could not be converted to Integer"),
        ("extractor.sampling.top_p=high", "could not be converted to Float"),
        ("num_user=2", "Key 'num_user' not in 'RunConf'"),
        ("extractor.sampling.temprature=0", "Key 'temprature' not in 'SamplingConf'"),
        ("dataset.lmit=3", "Key 'lmit' not in 'DatasetConf'"),
    ],
)
def test_the_schema_rejects_wrong_types_and_unknown_keys_by_name(override, message):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException) as info:
        _compose([override])
    assert message in str(info.value) + str(info.value.__cause__)


def test_backend_options_stay_free_form():
    cfg = _compose(["+extractor.backend.options.base_url=http://127.0.0.1:8000/v1"])
    assert cfg["extractor"]["backend"]["options"]["base_url"] == "http://127.0.0.1:8000/v1"


def test_a_top_level_temperature_sets_every_roles_sampling():
    cfg = RunConfig.from_config(_compose(["temperature=0.8"]))
    analysis = ("normalizer", "judge")
    assert {cfg.roles[r].sampling.temperature for r in cfg.roles if r not in analysis} == {0.8}
    for role in analysis:  # analysis, not the method
        assert cfg.roles[role].sampling.temperature == 0.0
    assert {s.sampling.temperature for s in RunConfig.from_config(_compose()).roles.values()} == {
        0.0
    }

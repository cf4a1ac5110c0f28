"""Constrained decoding (``sampling.grammar``): the ``features`` grammar against the parser, the
config rules, the cache key, each backend's request; the embedded model and a real llama.cpp
server held to it."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from drp_bench.backends.base import ChatRequest, SamplingParams
from drp_bench.backends.cache import CallCache, sampling_key
from drp_bench.backends.grammar import FEATURES_GBNF, FIELD_CHARS, MAX_BLOCKS, admits
from drp_bench.backends.openai_compat import OpenAIBackend
from drp_bench.config.models import ModelSpec
from drp_bench.config.run_config import RunConfig
from drp_bench.data.types import Feature
from drp_bench.pipeline.parsing import parse_features
from tests.conftest import require
from tests.gbnf_sample import generate, parse_gbnf
from tests.servers import FaultProxy, LlamaServer
from tests.test_config import _compose

FIELDS = ("name", "definition", "difference")
GRAMMAR = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=24, seed=3, grammar="features")
MESSAGES = (
    {
        "role": "system",
        "content": "Answer in this format:\n"
        "--- [Feature Name] Definition: <...> Difference Description: <...> ---",
    },
    {"role": "user", "content": "Others: Great album.\nTarget: Muddy mix, but the vocals soar."},
)


def _norm(text: str) -> str:
    return " ".join(text.split())


# ---- the grammar and the parser ---------------------------------------------------------------


def test_every_answer_the_grammar_generates_parses_to_exactly_its_blocks() -> None:
    """Seeded strings drawn from the GBNF text itself (not from the parser's idea of it): each
    parses to one feature per block, with the fields the grammar wrote (whitespace runs as one
    space, as the parser keeps them), none empty."""
    grammar, rng = parse_gbnf(FEATURES_GBNF), random.Random(19)
    blocks_seen, longest = set(), dict.fromkeys(FIELDS, 0)
    for _ in range(400):
        text = generate(grammar, rng, capture=FIELDS)
        names, definitions, differences = (grammar.captured[f] for f in FIELDS)
        expected = tuple(
            Feature(_norm(n), _norm(d), _norm(x))
            for n, d, x in zip(names, definitions, differences, strict=True)
        )
        assert parse_features(text).features == expected, text
        assert all(f.name and f.definition and f.difference for f in expected)
        assert admits("features", text), text
        blocks_seen.add(len(expected))
        for f in FIELDS:
            longest[f] = max(longest[f], *(len(v) for v in grammar.captured[f]))
    assert blocks_seen >= {1, MAX_BLOCKS}  # both bounds were drawn
    assert all(longest[f] >= FIELD_CHARS[f] for f in FIELDS)  # the longest fields too


def test_the_grammar_is_bounded_in_blocks_and_in_field_length() -> None:
    assert f"{{0,{MAX_BLOCKS - 1}}}" in FEATURES_GBNF.splitlines()[0]
    block = "--- [N] Definition: d Difference Description: x ---"
    assert admits("features", "\n".join([block] * MAX_BLOCKS))
    assert not admits("features", "\n".join([block] * (MAX_BLOCKS + 1)))
    long_def = "a" * (2 * FIELD_CHARS["definition"])  # each step may add a dash: 2x chars
    assert not admits("features", block.replace(" d ", f" {long_def} "))
    assert not admits("features", "")


@pytest.mark.parametrize(
    "field",
    [
        "two: parts",  # a colon would let a label match inside a field
        "a -- b",  # never two dashes (no '---', no '--' before a bracket)
        "ends ---",
        "a [b] c",  # brackets start features
        "line\nbreak",
        " leading space",
        "**bold**",
    ],
)
def test_fields_the_parser_could_misread_are_outside_the_grammar(field: str) -> None:
    text = f"--- [Tone] Definition: {field} Difference Description: warmer ---"
    assert not admits("features", text)


# ---- config ---------------------------------------------------------------------------------


def test_the_grammar_is_null_by_default_and_a_hydra_override_of_the_extractor() -> None:
    default = RunConfig.from_config(_compose())
    assert all(spec.sampling.grammar is None for spec in default.roles.values())
    cfg = RunConfig.from_config(_compose(["extractor.sampling.grammar=features"]))
    grammars = {role: spec.sampling.grammar for role, spec in cfg.roles.items()}
    # the validator follows the extractor (validator: ${extractor}), the other roles do not
    assert grammars == {
        "extractor": "features", "validator": "features", "normalizer": None,
        "summarizer": None, "generator": None, "judge": None,
    }  # fmt: skip


def test_an_unknown_grammar_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"extractor\.sampling\.grammar.*'json'"):
        RunConfig.from_config(_compose(["extractor.sampling.grammar=json"]))


def test_a_grammar_on_a_role_that_does_not_write_features_is_a_config_error() -> None:
    # the normalizer follows the generator (normalizer: ${generator}): the first role named
    with pytest.raises(ValueError, match=r"(normalizer|generator)\.sampling\.grammar=features"):
        RunConfig.from_config(_compose(["generator.sampling.grammar=features"]))
    with pytest.raises(ValueError, match=r"only the extractor and validator write"):
        RunConfig.from_config(_compose(["generator.sampling.grammar=features"]))


def _entry(reasoning: bool, **sampling: Any) -> dict[str, Any]:
    return {
        "name": "m", "hub_id": "org/m", "family": "f", "params_b": 1.0,
        "reasoning": reasoning, "backend": {"kind": "openai"},
        "sampling": {"max_tokens": 64, **sampling},
    }  # fmt: skip


def test_a_reasoning_model_takes_a_grammar_only_with_a_reasoning_budget() -> None:
    with pytest.raises(ValueError, match=r"extractor\.sampling\.grammar.*reasoning_budget"):
        ModelSpec.from_config(_entry(True, grammar="features"), "extractor")
    spec = ModelSpec.from_config(
        _entry(True, grammar="features", reasoning_budget=256), "extractor"
    )
    assert (spec.sampling.grammar, spec.sampling.reasoning_budget) == ("features", 256)


# ---- cache key and identities -----------------------------------------------------------------

PLAIN = ChatRequest(
    ({"role": "user", "content": "Compare the reviews."},),
    SamplingParams(temperature=0.0, top_p=0.95, max_tokens=384, seed=42),
)
OPENAI = {"base_url": "http://127.0.0.1:8000", "model": "m"}


def test_without_a_grammar_keys_and_identities_are_those_of_main() -> None:
    """Keys computed with main's code (commit 35a969d) for the same request: a null grammar is
    not in the key, so every cached call and seeded entry stays where it was."""
    identity = OpenAIBackend.identity_for(**OPENAI)
    assert identity == {
        "backend": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "m",
        "revision": None, "reasoning": False,
    }  # fmt: skip
    assert CallCache.key(identity, PLAIN) == (
        "2ca845b35a541d30e14c9689d1513a846d14c8f6a679df6c1028b5ad5d92318d"
    )
    assert CallCache.key({"backend": "llamacpp", "model": "x.gguf"}, PLAIN) == (
        "285fe6380844851880192741bb6d00401c937bf45dc7245101724ec4bfffbc91"
    )
    assert "grammar" not in sampling_key(PLAIN.sampling)


def test_a_grammar_is_in_the_key_when_set() -> None:
    from dataclasses import replace

    held = replace(PLAIN, sampling=replace(PLAIN.sampling, grammar="features"))
    assert sampling_key(held.sampling)["grammar"] == "features"
    identity = OpenAIBackend.identity_for(**OPENAI)
    assert CallCache.key(identity, held) != CallCache.key(identity, PLAIN)
    # the request field is in the identity only away from its default
    other = OpenAIBackend.identity_for(**OPENAI, grammar_field="structured_outputs")
    assert other["grammar_field"] == "structured_outputs"
    assert OpenAIBackend.identity_for(**OPENAI, grammar_field="grammar") == identity


def test_a_leaderboard_entry_names_a_grammar_only_when_the_run_had_one() -> None:
    from drp_bench.leaderboard.entry import RoleModel
    from drp_bench.leaderboard.submit import _role_model

    def sampling(grammar: str | None) -> dict[str, Any]:
        block = {**_entry(False, grammar=grammar, reasoning_budget=None)}
        return _role_model("extractor", {"extractor": block})["sampling"]

    assert sampling(None) == {"max_tokens": 64}  # as entries were before the knob
    assert sampling("features") == {"max_tokens": 64, "grammar": "features"}
    model = _role_model("extractor", {"extractor": _entry(False, grammar="features")})
    assert RoleModel.model_validate(model).sampling["grammar"] == "features"


# ---- each backend's request -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("grammar", {"grammar": FEATURES_GBNF}),
        ("structured_outputs", {"structured_outputs": {"grammar": FEATURES_GBNF}}),
        ("guided_grammar", {"guided_grammar": FEATURES_GBNF}),
    ],
)
def test_the_openai_request_body_carries_the_grammar_in_the_servers_field(
    field: str, body: dict[str, Any]
) -> None:
    backend = OpenAIBackend(**OPENAI, grammar_field=field, extra_body={"top_k": 20})
    assert backend._body(GRAMMAR) == {"top_k": 20, **body}
    assert backend._body(SamplingParams()) == {"top_k": 20}
    backend.close()


def test_an_unknown_grammar_field_is_an_error_naming_the_option() -> None:
    with pytest.raises(ValueError, match=r"backend\.options\.grammar_field.*'grammer'"):
        OpenAIBackend(**OPENAI, grammar_field="grammer")


class _Params:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


def _scripted_vllm(structured: bool) -> SimpleNamespace:
    """The documented names only: ``SamplingParams`` and the grammar's parameter class of one
    vLLM generation (``StructuredOutputsParams`` from v0.11, else ``GuidedDecodingParams``)."""
    kind = "StructuredOutputsParams" if structured else "GuidedDecodingParams"
    return SimpleNamespace(
        SamplingParams=_Params,
        sampling_params=SimpleNamespace(**{kind: lambda grammar: (kind, grammar)}),
    )


@pytest.mark.parametrize(
    ("structured", "keyword"), [(True, "structured_outputs"), (False, "guided_decoding")]
)
def test_vllm_holds_the_answer_call_to_the_grammar_and_not_the_thinking(
    structured: bool, keyword: str
) -> None:
    from drp_bench.backends.vllm_offline import VLLMBackend
    from tests.test_reasoning_budget import _ScriptedLLM

    backend = object.__new__(VLLMBackend)  # no engine: the scripted one stands in
    llm = _ScriptedLLM([[("some thought", "length")], [("--- [A] ...", "length")]])
    backend._llm, backend._vllm = llm, _scripted_vllm(structured)
    backend.reasoning, backend.batch_size = True, 8
    budgeted = SamplingParams(max_tokens=6, reasoning_budget=4, grammar="features")
    (result,) = backend.chat([ChatRequest(MESSAGES, budgeted)])
    assert result.ok and result.budget is not None
    (_, (thinking,)), (_, (answer,)) = llm.batches
    assert keyword not in thinking
    kind = "StructuredOutputsParams" if structured else "GuidedDecodingParams"
    assert answer[keyword] == (kind, FEATURES_GBNF)


def test_vllm_chat_requests_without_a_grammar_get_no_grammar_parameter() -> None:
    from drp_bench.backends.vllm_offline import vllm_grammar_kwargs

    vllm = _scripted_vllm(True)
    assert vllm_grammar_kwargs(SamplingParams(), vllm) == {}
    assert vllm_grammar_kwargs(GRAMMAR, vllm) == {
        "structured_outputs": ("StructuredOutputsParams", FEATURES_GBNF)
    }


# ---- the embedded model -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend() -> Iterator[Any]:
    require("llama_cpp", "llama-cpp-python")
    from drp_bench.backends.llamacpp import LlamaCppBackend

    b = LlamaCppBackend(n_ctx=512, n_threads=1)
    yield b
    b.close()


def test_llama_cpp_parses_the_grammar_and_rejects_a_broken_one(backend: Any) -> None:
    import llama_cpp

    from drp_bench.backends.llamacpp import grammar_sampler

    llama_cpp.llama_sampler_free(grammar_sampler(backend._llm, FEATURES_GBNF))
    with pytest.raises(ValueError, match=r"llama\.cpp rejected the grammar"):
        grammar_sampler(backend._llm, FEATURES_GBNF.replace("step ::=", "step ::= (("))


@pytest.mark.slow
def test_the_greedy_fast_path_picks_the_tokens_llama_cpps_grammar_sampler_picks(
    backend: Any,
) -> None:
    """GreedyGrammar (one grammar check per token) against llama-cpp-python's ``grammar=``
    (the whole vocabulary checked each token): the same answer, in the grammar. Each call
    starts from an empty KV cache: a reused prefix changes the last bits of the logits."""
    from llama_cpp import LlamaGrammar

    backend._llm.reset()
    fast = backend.chat([ChatRequest(MESSAGES, GRAMMAR)])[0]
    backend._llm.reset()
    full = backend._llm.create_chat_completion(
        messages=[dict(m) for m in MESSAGES],
        temperature=0.0, top_p=1.0, max_tokens=24, seed=3, top_k=0, min_p=0.0,
        repeat_penalty=1.0, grammar=LlamaGrammar.from_string(FEATURES_GBNF, verbose=False),
    )  # fmt: skip
    assert fast.ok, fast.error
    assert fast.text == full["choices"][0]["message"]["content"].strip()
    assert fast.text.startswith("--- [") and fast.completion_tokens == 24


@pytest.mark.slow
def test_sampling_at_a_temperature_is_held_to_the_grammar_too(backend: Any) -> None:
    from dataclasses import replace

    hot = replace(GRAMMAR, temperature=1.5, top_p=1.0, max_tokens=16)
    for seed in (1, 2):
        (result,) = backend.chat([ChatRequest(MESSAGES, replace(hot, seed=seed))])
        assert result.ok and result.text.startswith("--- ["), result.text


# ---- a real llama.cpp server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    require("llama_cpp.server.app", "llama-cpp-python[server]")
    from drp_bench.backends.bundled import bundled_gguf_path

    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with LlamaServer(bundled_gguf_path(), n_ctx=2048, log_path=log) as server:
        yield server


@pytest.mark.slow
def test_the_llama_cpp_server_reads_the_grammar_field_of_the_request(
    llama_server: LlamaServer,
) -> None:
    with FaultProxy(llama_server.root_url) as proxy:
        backend = OpenAIBackend(proxy.base_url, model="smollm2")
        (result,) = backend.chat([ChatRequest(MESSAGES, GRAMMAR)])
        backend.close()
    assert json.loads(proxy.bodies[0])["grammar"] == FEATURES_GBNF
    assert result.ok, result.error
    assert result.text.startswith("--- [") and result.finish_reason == "length"


@pytest.mark.slow
def test_an_answer_outside_the_grammar_is_a_failed_call_naming_the_option(
    llama_server: LlamaServer,
) -> None:
    """A server that does not read the field answers unconstrained (as vLLM v0.12 on does
    with guided_grammar): an answer that ends outside the grammar fails, naming the option."""
    from dataclasses import replace

    hi = ChatRequest(({"role": "user", "content": "Say hello."},), replace(GRAMMAR, max_tokens=64))
    backend = OpenAIBackend(llama_server.base_url, model="smollm2", grammar_field="guided_grammar")
    (result,) = backend.chat([hi])
    backend.close()
    assert not result.ok and "backend.options.grammar_field" in (result.error or "")


@pytest.mark.parametrize("preset", ["paper_table", "dpl_paper"])
def test_the_paper_presets_decode_freely(preset: str) -> None:
    from tests.test_paper_presets import compose_cfg

    cfg = compose_cfg(f"+experiment={preset}", "dataset=music_sample")  # presets need one
    roles = ("extractor", "validator", "normalizer", "summarizer", "generator", "judge")
    assert all(cfg[role]["sampling"]["grammar"] is None for role in roles if role in cfg)

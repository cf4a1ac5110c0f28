"""Prompt tokens of chat messages, counted as the serving backend will count them.

- llama.cpp (GGUF): the GGUF's own tokenizer and chat template, through llama-cpp-python's own
  chat handler (the model is opened vocabulary-only: no weights are loaded), so the count is
  the ``prompt_tokens`` the backend reports.
- vLLM / OpenAI-compatible servers: the model's Hugging Face tokenizer and chat template
  (``apply_chat_template`` with the generation prompt, as vLLM renders chat requests), when its
  files are on this machine (a local folder or the Hugging Face cache; nothing is downloaded).
- Otherwise an approximation, said so in every count's ``method``: the bundled SmolLM2
  tokenizer and its (ChatML) template.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from drp_bench.backends.base import Message
from drp_bench.config.models import ModelSpec


class TokenCounter(Protocol):
    #: How the counts are made; starts with "approximate" when they are not the model's own.
    method: str

    @property
    def exact(self) -> bool: ...

    def count(self, messages: Sequence[Message]) -> int: ...


class MemoCounter:
    """A counter that counts each distinct prompt once: a sweep's jobs that differ only in
    the model or temperature render many identical prompts."""

    def __init__(self, inner: TokenCounter):
        self.inner = inner
        self.method = inner.method
        self._seen: dict[bytes, int] = {}

    @property
    def exact(self) -> bool:
        return self.inner.exact

    def count(self, messages: Sequence[Message]) -> int:
        key = hashlib.blake2b(
            json.dumps(list(messages), sort_keys=True).encode("utf-8"), digest_size=16
        ).digest()
        if key not in self._seen:
            self._seen[key] = self.inner.count(messages)
        return self._seen[key]


class _Counted(Exception):
    """Raised from inside llama-cpp-python's completion call, carrying the prompt's tokens."""

    def __init__(self, n_tokens: int):
        super().__init__(n_tokens)
        self.n_tokens = n_tokens


class GgufCounter:
    """The chat handler ``Llama.create_chat_completion`` uses (the GGUF's template), stopped
    when it hands the tokenized prompt to the completion: that length is what llama.cpp
    reports as ``prompt_tokens``."""

    def __init__(self, path: Path, method: str | None = None):
        import llama_cpp

        class _Counting(llama_cpp.Llama):  # type: ignore[misc]
            def create_completion(self, prompt: Any, *args: Any, **kwargs: Any) -> Any:
                if isinstance(prompt, str):
                    prompt = self.tokenize(prompt.encode("utf-8"), special=True)
                raise _Counted(len(prompt))

        self._llm = _Counting(model_path=str(path), vocab_only=True, verbose=False)
        self.method = method or f"the model's own tokenizer and chat template ({path.name})"

    @property
    def exact(self) -> bool:
        return not self.method.startswith("approximate")

    def tokenize(self, text: str) -> list[int]:
        """A text's tokens, without special tokens or BOS."""
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def count(self, messages: Sequence[Message]) -> int:
        try:
            self._llm.create_chat_completion(messages=[dict(m) for m in messages], max_tokens=1)
        except _Counted as counted:
            return counted.n_tokens
        raise RuntimeError("llama-cpp-python's chat handler did not reach the completion call")


class HfCounter:
    """A Hugging Face tokenizer's chat template with the generation prompt (as vLLM)."""

    def __init__(self, tokenizer: Any, name: str):
        self._tokenizer = tokenizer
        self.method = f"the model's own tokenizer and chat template ({name}, Hugging Face)"

    @property
    def exact(self) -> bool:
        return True

    def count(self, messages: Sequence[Message]) -> int:
        ids = self._tokenizer.apply_chat_template(
            [dict(m) for m in messages], add_generation_prompt=True, tokenize=True
        )
        if isinstance(ids, dict) or hasattr(ids, "keys"):  # a BatchEncoding
            ids = ids["input_ids"]
        return len(ids)


def _hf_tokenizer(spec: ModelSpec) -> Any | None:
    """The model's tokenizer from a local folder or the Hugging Face cache; None if absent."""
    try:
        from transformers import AutoTokenizer
    except ImportError:  # pragma: no cover - a dependency of sentence-transformers
        return None
    local = spec.backend_options.get("model") or spec.backend_options.get("model_path")
    source = local if local and Path(str(local)).is_dir() else spec.hub_id
    try:
        return AutoTokenizer.from_pretrained(
            source, revision=spec.revision, local_files_only=True, trust_remote_code=False
        )
    except Exception:  # not on this machine (or not a tokenizer folder)
        return None


#: GPT-2's pre-tokenizer (which SmolLM2's follows, digits apart): BPE never merges across
#: these pieces, so a text's tokens are about the sum of its pieces' tokens.
_PIECES = r"\p{N}|'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


class PieceCounter:
    """An approximate counter for long prompts at scale: the chat template's own tokens (the
    messages with empty contents, counted once per sequence of roles) plus each content's
    pre-tokenizer pieces, each distinct piece tokenized once. Within about 1% of the full
    tokenization on the bundled sample's prompts (tests/test_plan.py)."""

    def __init__(self, gguf: GgufCounter, method: str):
        import regex

        self._gguf = gguf
        self._pieces = regex.compile(_PIECES)
        self._piece_tokens: dict[str, int] = {}
        self._template_tokens: dict[tuple[str, ...], int] = {}
        self.method = method

    @property
    def exact(self) -> bool:
        return False

    def count(self, messages: Sequence[Message]) -> int:
        roles = tuple(m["role"] for m in messages)
        if roles not in self._template_tokens:
            empty = [{**dict(m), "content": ""} for m in messages]
            self._template_tokens[roles] = self._gguf.count(empty)
        return self._template_tokens[roles] + sum(self._text(m["content"]) for m in messages)

    def _text(self, text: str) -> int:
        total = 0
        for piece in self._pieces.findall(text):
            n = self._piece_tokens.get(piece)
            if n is None:
                n = len(self._gguf.tokenize(piece))
                self._piece_tokens[piece] = n
            total += n
        return total


@functools.lru_cache(maxsize=1)
def _approximate() -> PieceCounter:
    from drp_bench.backends.bundled import bundled_gguf_path

    return PieceCounter(
        GgufCounter(bundled_gguf_path()),
        method="approximate: the bundled SmolLM2-135M tokenizer and ChatML template, by "
        "pre-tokenizer pieces (the model's own tokenizer is not on this machine)",
    )


def counter_for(spec: ModelSpec) -> TokenCounter:
    """The most exact counter available offline for a registry entry."""
    if spec.backend == "llamacpp":
        from drp_bench.backends.bundled import bundled_gguf_path

        path = spec.backend_options.get("model_path")
        return _gguf(str(Path(path) if path else bundled_gguf_path()))
    return _hf_or_approximate(spec)


def _hf_or_approximate(spec: ModelSpec) -> TokenCounter:
    key = spec.serving_key()
    if key not in _HF_COUNTERS:
        tokenizer = _hf_tokenizer(spec)
        if tokenizer is not None and getattr(tokenizer, "chat_template", None):
            _HF_COUNTERS[key] = MemoCounter(HfCounter(tokenizer, spec.hub_id))
        else:
            _HF_COUNTERS[key] = _approximate()
    return _HF_COUNTERS[key]


_HF_COUNTERS: dict[str, TokenCounter] = {}


@functools.lru_cache(maxsize=8)
def _gguf(path: str) -> MemoCounter:
    return MemoCounter(GgufCounter(Path(path)))

"""Model backends behind one call: a batch of chat requests in, a batch of results out."""

from drp_bench.backends.base import Backend, ChatRequest, ChatResult, SamplingParams

__all__ = ["Backend", "ChatRequest", "ChatResult", "SamplingParams"]

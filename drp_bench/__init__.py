"""drp-bench: evaluation harness for difference-aware LLM personalization."""

__version__ = "0.1.0"

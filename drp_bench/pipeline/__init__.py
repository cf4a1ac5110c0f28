"""The DRP / DPL pipeline: context building, LLM stages and run orchestration."""

"""A drp-bench plugin: the ``summarize_keywords`` kind, the ``length_ratio`` metric and the
``echo`` backend, registered as entry points in pyproject.toml."""

"""The library entry point: one run from Python, as ``drp-bench run`` does it.

>>> from drp_bench import evaluate
>>> result = evaluate(["method=rag", "dataset.limit=2"])       # doctest: +SKIP
>>> result.status, result.scores["bleu"], result.run_dir        # doctest: +SKIP
"""

from __future__ import annotations

from drp_bench.config.compose import compose_run_config
from drp_bench.run.evaluate import RunResult, evaluate

__all__ = ["RunResult", "compose_run_config", "evaluate"]

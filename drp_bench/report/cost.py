"""What one run cost per sample: tokens (from metrics.json) and GPU-seconds (at the planner's
throughput figures, read from the run's own ``.hydra/config.yaml``).

Tokens per sample are metrics.json's ``compute.per_sample`` means: prompt + completion tokens
over every stage's calls (cached ones included, skipped ones not), reasoning tokens shown apart
(they are part of the completion tokens). GPU-seconds need no planner: each stage's tokens are
divided by its role's ``throughput`` (``prefill_tokens_per_s``, ``decode_tokens_per_s``) as the
run's config lists it, times the GPUs one replica holds (``tensor_parallel_size`` on a GPU, 0 on
a CPU): the same arithmetic as ``drp-bench plan``'s, on what the run actually spent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from drp_bench.methods.contracts import STAGE_RECORDS

#: metrics.json ``compute.per_sample`` key -> frame column.
TOKEN_COLUMNS: dict[str, str] = {
    "prompt_tokens": "prompt_tokens_per_sample",
    "completion_tokens": "completion_tokens_per_sample",
    "reasoning_tokens": "reasoning_tokens_per_sample",
}
#: The cost the frontier, the budget and the compute-matched pairs use.
COST = "tokens_per_sample"
GPU_COST = "gpu_s_per_sample"
#: A role given as another role's entry: ``${generator}``.
_ROLE_ALIAS = re.compile(r"\$\{(\w+)\}")


def _number(v: Any) -> float:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return math.nan


def token_costs(record: Mapping[str, Any]) -> dict[str, float]:
    """Prompt, completion and reasoning tokens per sample and their cost
    (``tokens_per_sample`` = prompt + completion), from metrics.json (NaN: not recorded)."""
    per_sample = (record.get("compute") or {}).get("per_sample") or {}
    out = {col: _number(per_sample.get(key)) for key, col in TOKEN_COLUMNS.items()}
    out[COST] = out["prompt_tokens_per_sample"] + out["completion_tokens_per_sample"]
    return out


def gpu_seconds_per_sample(record: Mapping[str, Any], config: Mapping[str, Any]) -> float:
    """GPU-seconds per sample at the throughput the run's config gives each role; NaN when a
    stage's role has no usable throughput figures (or the run recorded no samples)."""
    compute = record.get("compute") or {}
    n = _number((record.get("run") or {}).get("num_samples"))
    if not n or math.isnan(n):
        return math.nan
    total = 0.0
    for stage, counts in compute.items():
        if stage == "per_sample" or not isinstance(counts, Mapping):
            continue
        role = STAGE_RECORDS.get(stage)
        if role is None:
            continue
        seconds = _role_gpu_seconds(role_config(config, role), counts)
        if math.isnan(seconds):
            return math.nan
        total += seconds
    return total / n


def role_config(config: Mapping[str, Any], role: str) -> Any:
    """A role's model entry in a run's unresolved ``.hydra/config.yaml``: a role that names
    another (``summarizer: ${generator}``, ``validator: ${extractor}``, the defaults) is that
    role's entry; None when the chain is missing or loops."""
    value: Any = config.get(role)
    seen = {role}
    while isinstance(value, str):
        match = _ROLE_ALIAS.fullmatch(value.strip())
        if match is None or match.group(1) in seen:
            return None
        seen.add(match.group(1))
        value = config.get(match.group(1))
    return value


def _role_gpu_seconds(role_cfg: Any, counts: Mapping[str, Any]) -> float:
    if not isinstance(role_cfg, Mapping):
        return math.nan
    throughput = role_cfg.get("throughput") or {}
    prefill = _number(throughput.get("prefill_tokens_per_s"))
    decode = _number(throughput.get("decode_tokens_per_s"))
    if not (prefill > 0 and decode > 0):
        return math.nan
    if str(throughput.get("device") or "gpu") != "gpu":
        return 0.0
    gpus = _number(role_cfg.get("tensor_parallel_size"))
    gpus = 1.0 if math.isnan(gpus) or gpus < 1 else gpus
    seconds = _number(counts.get("prompt_tokens")) / prefill
    seconds += _number(counts.get("completion_tokens")) / decode
    return seconds * gpus

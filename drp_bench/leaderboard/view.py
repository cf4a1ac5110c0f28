"""The leaderboard as the page and the README show it: plain JSON-able data, no file access.

:func:`drp_bench.leaderboard.board.collect_board` builds a :class:`Board` from the entries,
the split registry and the paper's reported numbers; :mod:`drp_bench.leaderboard.build`
renders it. Everything a renderer needs is here, already formatted-neutral (numbers stay
numbers; ``None`` where a value does not exist, e.g. no CI for a reported row).
"""

from __future__ import annotations

from typing import Literal, TypedDict

from drp_bench.metrics.table import METRIC_LABELS

Trust = Literal["reproduced", "verified", "reported"]

#: The page's metric columns, paper order: key in ``RowMetrics`` -> label.
BOARD_METRICS: dict[str, str] = dict(METRIC_LABELS)


class MetricValue(TypedDict):
    value: float
    ci_low: float | None  # 95% bootstrap CI; None for reported rows
    ci_high: float | None


class RoleModel(TypedDict):
    name: str
    hub_id: str | None
    family: str | None
    params_b: float | None
    reasoning: bool | None
    revision: str | None
    sha256: str | None  # the GGUF's sha256 for llama.cpp models


class SamplePair(TypedDict):
    sample_id: str
    prediction: str
    reference: str | None  # None when the split's references are not public


class Row(TypedDict):
    id: str  # entry id (folder name under entries/); "paper:<dataset>:<method>:<model>" if reported
    split: str  # a Split id
    trust: Trust
    #: per split: reproduced entries first, then verified ones, each by ROUGE-L; None: not
    #: ranked (a suspect entry until it is reproduced, a reported row always)
    rank: int | None
    flags: list[str]  # why the entry is suspect (see leaderboard/trust.py); [] for most
    method: str  # method key, e.g. "drp"
    method_label: str  # e.g. "DRP"
    family: str | None  # the extractor's family (the generator's for methods without one)
    params_b: float | None  # the extractor's parameters, billions (same fallback)
    models: dict[str, RoleModel]  # role -> model
    metrics: dict[str, MetricValue]  # keys of BOARD_METRICS (a missing key: not reported)
    uvq: float | None  # unique valid difference features per sample
    tokens_per_sample: float | None  # prompt + completion tokens per sample, all stages
    calls_per_sample: float | None
    date: str  # YYYY-MM-DD
    submitter: str | None
    notes: str | None
    settings: dict[str, str]  # flat "key": "value" hyper-parameters for the detail view
    samples: list[SamplePair]  # a few predictions next to their references (detail view)
    source: str | None  # for reported rows: where the number comes from
    other_prompts: bool | None  # made with other prompts than today's; None: unknown/reported
    prompts_label: str | None  # e.g. "made with other prompts (commit 1a2b3c4)"; None: today's


class Split(TypedDict):
    id: str
    title: str
    description: str
    num_samples: int | None  # None for a paper split not registered here


class Board(TypedDict):
    title: str
    metrics: dict[str, str]  # BOARD_METRICS
    roles: list[str]  # the order the models' roles are shown in (DISPLAY_ROLES)
    splits: list[Split]  # in display order
    rows: list[Row]

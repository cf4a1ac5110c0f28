"""What every stage kind reads, writes and accepts as options, and the contexts a stage can read.

Values flow between stages by name; each name has a type. A context (built before any model
call) or an earlier stage's ``writes`` provides it. A kind's input slots accept one type each,
so a stage's ``reads`` list is matched to the slots by type. How a kind runs lives in
:mod:`drp_bench.pipeline.kinds`; a test checks both registries name the same kinds.

:data:`STAGE_KINDS` holds the built-in kinds; :func:`stage_kinds` adds those of installed
plugins (entry point group ``drp_bench.kinds``, docs/extending.md): every reader of the
vocabulary asks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from drp_bench import plugins

#: Every role a run gives a model, in the order runs, plans and entries list them. ``judge``
#: scores the predictions (``metrics.judge=true``); the others are the method's stages' roles.
ROLES = ("extractor", "validator", "normalizer", "summarizer", "generator", "judge")
#: Roles that analyse a run's output rather than produce it; a top-level temperature skips them.
ANALYSIS_ROLES = frozenset({"normalizer", "judge"})
#: Roles a run config may leave out (configs written before the role existed): role -> the
#: role whose model it then gets.
OPTIONAL_ROLES = {"judge": "generator"}

#: The stage records of a predictions.jsonl row (``stages``; a kind's ``record``), in pipeline
#: order, each with the role whose model answers it (None: no model call, e.g. ``peer``).
STAGE_RECORDS: dict[str, str | None] = {
    "extract": "extractor",
    "validate": "validator",
    "normalize": "normalizer",
    "summarize": "summarizer",
    "generate": "generator",
    "peer": None,
    "judge": "judge",
}
#: The records that hold model calls (what metrics.json counts calls and tokens of).
CALL_RECORDS: tuple[str, ...] = tuple(r for r, role in STAGE_RECORDS.items() if role)
#: The roles in the order a page or a table shows them: a run's producing roles in pipeline
#: order, then the analysis roles.
DISPLAY_ROLES: tuple[str, ...] = tuple(r for r in ROLES if r not in ANALYSIS_ROLES) + tuple(
    r for r in ROLES if r in ANALYSIS_ROLES
)

#: Method (its conf/method/*.yaml name) -> the name tables and pages show, as the DRP paper's
#: table spells it where the paper has the method (the paper's numbers are matched by it).
METHOD_NAMES: dict[str, str] = {
    "nonp": "Non-P",
    "rag": "RAG",
    "intsum": "IntSum",
    "llm-trsr": "LLM-TRSR",
    "cicl": "CICL",
    "cicl-two-call": "CICL (two calls)",
    "p-db": "P-DB",
    "dpl": "DPL",
    "drp": "DRP",
    "peer": "peer (human)",  # a human-written reference, not ranked (report.tables)
}

#: What later stages read of an earlier stage's output: parsed features re-formatted, or the
#: raw answer (the papers' code).
HANDOFFS = ("parsed", "raw")

# Value types.
REVIEWS = "reviews"  # the user's past reviews, BM25-ranked (num_retrieved)
COMPARISONS = "comparisons"  # profile items shared with others, each with its representatives
ITEM_DIFFERENCES = "item_differences"  # per comparison item: a model answer and its features
ITEM_UNITS = "item_units"  # per comparison item: UVQ units of the differences
TEXT = "text"  # per sample: one answer without its label (e.g. a profile summary)
REVIEW = "review"  # per sample: the generated review, the method's prediction
USERS = "users"  # other users of the pool, each with their reviews (P-DB's neighbours)
PEER_REVIEW = "peer_review"  # per sample: another user's review of the target item, or none
SCORE = "score"  # per sample: a scorer's score of the prediction (e.g. the LLM judge's 0-10)
NEGATIVES = "negatives"  # per positive example (a past review): the model's own generic review

#: Context name -> its type. Built for a run only when a stage reads it: ``past_reviews`` (BM25
#: top ``num_retrieved``), ``comparisons`` (difference items and representatives), ``profile``
#: (every past review of the user, as stored), ``neighbours`` (the ``method.neighbours`` other
#: users most similar by embedding, each with their reviews BM25-ranked against the target).
CONTEXTS: dict[str, str] = {
    "past_reviews": REVIEWS,
    "comparisons": COMPARISONS,
    "profile": REVIEWS,
    "neighbours": USERS,
    "peer": PEER_REVIEW,  # the other reviewer of the target item nearest to the user's history
}


@dataclass(frozen=True)
class Slot:
    """One input of a kind: the type it accepts; an optional slot may be left unread."""

    type: str
    required: bool = True


@dataclass(frozen=True)
class Option:
    """A per-stage option: its default and, when limited, the allowed values, or a count
    (``count=True``: null or an integer >= 1), or a number > 0 (``number=True``), or the name
    of a further prompt template the stage renders (``template=True``: checked to exist before
    the data is read). ``compute=True``: a compute knob (how many calls a stage makes and how
    they sample, not what a prompt says): left out of the prompts' fingerprint."""

    default: Any
    choices: tuple[Any, ...] | None = None
    count: bool = False
    template: bool = False
    number: bool = False
    compute: bool = False


@dataclass(frozen=True)
class Scorer:
    """What makes a kind a scorer: the run adds its stage after the method's stages when
    ``metrics.<kind name>`` is true (a method does not declare it), with this role and
    template."""

    role: str
    template: str


@dataclass(frozen=True)
class StageKind:
    """The contract of a kind of stage.

    ``record``: the key of its calls in predictions.jsonl's ``stages`` (one stage per key);
    ``model``: it calls a role's model with a template; ``passes_through``: disabled
    (``enabled: false``), its output is its input from this slot (a filter that keeps all);
    ``rounds``: its calls come in rounds (a call may need the answer of an earlier call of the
    same sample): the runner sends one batch per round, every sample's calls of that round
    together, until a round plans no call (docs/methods.md); ``scorer``: a scorer kind
    (:class:`Scorer`): it runs after the method's stages on each sample's predictions row,
    its entry joins the row's ``stages`` but not its status or ``failed_stages``, and its
    summary of the rows is metrics.json's section named after its ``record``; ``embeds``: it
    embeds texts while it runs (the run's embedding model, ``StageEnv.embed``).
    """

    name: str
    record: str
    reads: dict[str, Slot]
    writes: str
    doc: str
    model: bool = True
    options: dict[str, Option] = field(default_factory=dict)
    passes_through: str | None = None
    rounds: bool = False
    scorer: Scorer | None = None
    embeds: bool = False


_HANDOFF = Option("parsed", HANDOFFS)

STAGE_KINDS: dict[str, StageKind] = {
    kind.name: kind
    for kind in (
        StageKind(
            "extract_differences",
            record="extract",
            reads={"comparisons": Slot(COMPARISONS)},
            writes=ITEM_DIFFERENCES,
            doc="per comparison item: how the user's review differs from the representatives'; "
            "with samples > 1, that many calls at a temperature, their features merged by "
            "agreement (kept when at least agree of them state it; null: a majority)",
            options={
                "samples": Option(1, count=True, compute=True),
                "agree": Option(None, count=True, compute=True),
                "temperature": Option(0.7, number=True, compute=True),
            },
        ),
        StageKind(
            "validate_differences",
            record="validate",
            reads={"differences": Slot(ITEM_DIFFERENCES)},
            writes=ITEM_DIFFERENCES,
            doc="per comparison item: keeps the differences that hold (skipped when its input "
            "call failed); with rounds > 1, again on its own output, one round per call",
            options={"handoff": _HANDOFF, "rounds": Option(1, count=True, compute=True)},
            passes_through="differences",
            rounds=True,
        ),
        StageKind(
            "normalize_differences",
            record="normalize",
            reads={"differences": Slot(ITEM_DIFFERENCES)},
            writes=ITEM_UNITS,
            doc="per comparison item with an answer: UVQ taxonomy units (analysis only)",
            options={"handoff": _HANDOFF},
        ),
        StageKind(
            "summarize_differences",
            record="summarize",
            reads={"differences": Slot(ITEM_DIFFERENCES), "past_reviews": Slot(REVIEWS, False)},
            writes=TEXT,
            doc="per sample: a profile from the items' differences (failed items left out) "
            "and the past reviews",
            options={"handoff": _HANDOFF},
        ),
        StageKind(
            "summarize_history",
            record="summarize",
            reads={"history": Slot(REVIEWS)},
            writes=TEXT,
            doc="per sample: a task-aware summary of the user's reviews (IntSum); the same "
            "prompt for every sample of a user",
            options={"max_reviews": Option(None, count=True)},
        ),
        StageKind(
            "generate_review",
            record="generate",
            reads={
                "past_reviews": Slot(REVIEWS, False),
                "summary": Slot(TEXT, False),
                "neighbours": Slot(USERS, False),
            },
            writes=REVIEW,
            doc="per sample: the review (skipped when a text it reads failed)",
            options={
                "max_past_reviews": Option(None, count=True),
                "max_neighbour_reviews": Option(2, count=True),
            },
        ),
        StageKind(
            "summarize_blocks",
            record="summarize",
            reads={"history": Slot(REVIEWS)},
            writes=TEXT,
            doc="per sample: the user's latest block_size * max_blocks reviews in time order, "
            "cut into blocks from the oldest, summarised block by block, each call updating "
            "the previous summary (recurrent) or each block alone, then merged (hierarchical) "
            "(LLM-TRSR); one round per call, each of at most max_tokens new tokens",
            options={
                "mode": Option("recurrent", ("recurrent", "hierarchical")),
                "block_size": Option(5, count=True),
                "max_blocks": Option(5, count=True),
                "merge_template": Option("trsr_merge", template=True),
                "max_tokens": Option(150, count=True, compute=True),
            },
            rounds=True,
        ),
        StageKind(
            "contrast_reviews",
            record="summarize",
            reads={"comparisons": Slot(COMPARISONS), "past_reviews": Slot(REVIEWS, False)},
            writes=TEXT,
            doc="per sample: what distinguishes the user's reviews (positives) from other "
            "users' reviews of the same items (negatives) (CICL)",
        ),
        StageKind(
            "generate_negatives",
            record="summarize",
            reads={"positives": Slot(REVIEWS)},
            writes=NEGATIVES,
            doc="per sample: for each of the first max_reviews reviews it reads (positive "
            "examples), the review the model writes of the same item, rating and title without "
            "any personal context (a negative example, CICL)",
            options={"max_reviews": Option(None, count=True)},
        ),
        StageKind(
            "contrast_generate",
            record="generate",
            reads={"positives": Slot(REVIEWS), "negatives": Slot(NEGATIVES)},
            writes=REVIEW,
            doc="per sample: one call showing each positive example with its negative, asking "
            "first for an analysis of what distinguishes them, then for the review (CICL)",
        ),
        StageKind(
            "build_persona",
            record="summarize",
            reads={"history": Slot(REVIEWS)},
            writes=TEXT,
            doc="per sample: a persona database (P-DB): lines distilled from the user's "
            "reviews, then higher-level lines a second call adds reading the recent reviews "
            "and the first lines (two rounds); profile_categories lines are shown whole, the "
            "others are entries: without a call, the item_topk entries nearest the target item "
            "by embedding and, of the `collaborators` users of the run whose distilled profile "
            "is nearest, their item_topk_collab nearest entries",
            options={
                "max_reviews": Option(None, count=True),
                "refine_reviews": Option(None, count=True),
                "refine_template": Option("pdb_refine", template=True),
                "item_topk": Option(30, count=True),
                "collaborators": Option(3, count=True),
                "item_topk_collab": Option(10, count=True),
                "profile_categories": Option(["taste", "rating", "style", "analysis", "note"]),
            },
            rounds=True,
            embeds=True,
        ),
        StageKind(
            "peer",
            record="peer",
            reads={"peer": Slot(PEER_REVIEW)},
            writes=REVIEW,
            doc="per sample: the review is another real user's review of the same item (a "
            "human reference, no model call); excluded when nobody else reviewed it",
            model=False,
        ),
        StageKind(
            "judge",
            record="judge",
            reads={"review": Slot(REVIEW)},
            writes=SCORE,
            doc="per sample with a prediction: the LLM judge's 0-10 score of the review against "
            "the real one and the item (DPL's rubric); a scorer added by metrics.judge=true",
            scorer=Scorer(role="judge", template="judge"),
        ),
    )
}


@lru_cache(maxsize=1)
def stage_kinds() -> dict[str, StageKind]:
    """Every stage kind: the built-ins, then the plugins' (loaded on the first call)."""
    return plugins.merge(STAGE_KINDS, plugins.KINDS_GROUP, "stage kind", _plugin_contract)


plugins.on_reset(stage_kinds.cache_clear)


def _plugin_contract(plugin: plugins.Plugin) -> StageKind:
    """The contract of a plugin kind (its ``contract``), named as its entry point."""
    contract = getattr(plugin.load(), "contract", None)
    if not isinstance(contract, StageKind):
        raise plugins.PluginError(
            f"plugin {plugin.where}: expected a KindPlugin (drp_bench.pipeline.kinds.base) "
            f"whose contract is a StageKind, found contract {contract!r:.60}"
        )
    if contract.name != plugin.name:
        raise plugins.PluginError(
            f"plugin {plugin.where}: the entry point's name must be the kind's name, found "
            f"contract name {contract.name!r}"
        )
    return contract


def stage_kind(name: str) -> StageKind:
    """The contract of kind ``name`` (built-in or plugin)."""
    kinds = stage_kinds()
    if name not in kinds:
        raise KeyError(f"unknown stage kind {name!r}; known: {sorted(kinds)}")
    return kinds[name]

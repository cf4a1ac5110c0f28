"""``summarize_keywords``: a profile from the user's most frequent words (one model call)."""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from drp_bench.methods.contracts import REVIEWS, TEXT, Option, Slot, StageKind
from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.kinds.base import KindPlugin, Planned, StageEnv
from drp_bench.pipeline.kinds.summarize import SummaryStage
from drp_bench.pipeline.state import SampleState

WORD = re.compile(r"[a-z][a-z']+")
#: Function words left out of the counts.
_STOPWORDS = """
    of is to as it in on at by an be or so if my me we do no up the and for but not you your
    are was were this that with have has had its it's they them their there then than what
    when which who will would can could just very too all one out about from into more some
    also only been being our his her him she he i'm
"""
STOPWORDS = frozenset(_STOPWORDS.split())


def top_words(texts: Iterable[str], k: int) -> list[tuple[str, int]]:
    """The ``k`` most frequent words of ``texts`` (HTML entities decoded, lower-cased, 2+
    letters, no stopwords), with their counts; ties in order of first appearance."""
    counts = Counter(
        w for text in texts for w in WORD.findall(html.unescape(text).lower()) if w not in STOPWORDS
    )
    return counts.most_common(k)


class SummarizeKeywords(SummaryStage):
    """One call per sample: the words the user writes most (titles and texts of every review
    it reads) go to the summarizer, which writes the profile (``[Summary]:``)."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        reviews = sample.read(stage.inputs["history"])
        words = top_words((f"{r.title} {r.text}" for r in reviews), stage.options["top_k"])
        messages = env.render(stage.role, stage.template, words=words)
        return [Planned(None, messages)]


SUMMARIZE_KEYWORDS = KindPlugin(
    contract=StageKind(
        "summarize_keywords",
        record="summarize",  # predictions.jsonl: stages.summarize (the call and its summary)
        reads={"history": Slot(REVIEWS)},
        writes=TEXT,
        doc="per sample: a profile from the user's most frequent words (drp-bench-example)",
        options={"top_k": Option(10, count=True)},
    ),
    implementation=SummarizeKeywords(),
    templates=Path(__file__).resolve().parent / "templates",
)

"""P-DB's persona database (Persona-DB, arXiv 2402.11060; chenkaisun/Persona-DB at c6bb783):
a persona in two layers of lines (profile lines shown whole, entries retrieved per target
item), with the entries of the users whose persona is nearest."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.context import similar_users
from drp_bench.pipeline.kinds.base import Embed, Planned, StageEnv
from drp_bench.pipeline.kinds.history import recent
from drp_bench.pipeline.kinds.steps import StepStage, skip_rest
from drp_bench.pipeline.stages import StageCall
from drp_bench.pipeline.state import SampleState, StepsOutput

#: A leading list marker of an entry line: "-", "*", "•", "1.", "2)".
_MARKER = re.compile(r"^\s*(?:[-*•]+|\d+[.)])\s*")


#: The most words a bare heading has ("Views:", "Rating tendencies:"); a longer line ending in
#: a colon is a statement and kept.
HEADING_WORDS = 4


def parse_entries(text: str) -> list[str]:
    """The persona lines of an answer, one per line: list markers and markdown bold
    stripped; blank lines and bare headings (a short line ending in ``:``) left out."""
    entries = []
    for line in text.splitlines():
        entry = _MARKER.sub("", line.replace("**", "")).strip()
        if entry and not (entry.endswith(":") and len(entry.split()) <= HEADING_WORDS):
            entries.append(entry)
    return entries


def category(line: str) -> str:
    """A persona line's category: the words before its first colon, lower case ("" when
    none, or when they are more than three words: a sentence, not a category)."""
    head, colon, _ = line.partition(":")
    return head.strip().lower() if colon and len(head.split()) <= 3 else ""


@dataclass(frozen=True)
class Layer:
    """One call's persona: the lines of the profile categories (shown whole, as the source's
    structured profile) and the entries (every other line: retrieved per query)."""

    profile: tuple[str, ...] = ()
    entries: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, profile_categories: frozenset[str]) -> Layer:
        lines = parse_entries(text)
        profile = tuple(line for line in lines if category(line) in profile_categories)
        return cls(profile, tuple(line for line in lines if line not in profile))


@dataclass
class PersonaOutput(StepsOutput):
    """P-DB's stage output: its two calls (the distilled persona, then the refinement's added
    lines), and what the generation reads: the profile lines of both layers (``profile``,
    sorted as the source does), the user's entries nearest the target item (``retrieved``,
    best first) and the collaborators' (``collaborator_entries``: (user id, entry), best
    first); ``collaborators``: (user id, similarity) of the users matched."""

    profile: list[str] = field(default_factory=list)
    retrieved: list[str] = field(default_factory=list)
    collaborators: list[tuple[str, float]] = field(default_factory=list)
    collaborator_entries: list[tuple[str, str]] = field(default_factory=list)
    done: bool = False

    def layers(self, profile_categories: frozenset[str]) -> tuple[Layer, Layer]:
        """The distilled layer and the refinement's (empty where a call failed)."""
        texts = [text if call.ok else "" for call, text in self.steps]
        texts += [""] * (2 - len(texts))
        return Layer.parse(texts[0], profile_categories), Layer.parse(texts[1], profile_categories)

    @property
    def text(self) -> str:
        """What the generation reads as the persona: the profile lines, then the retrieved
        entries, one a line."""
        return "\n".join([*self.profile, *self.retrieved])

    def template_variables(self) -> dict[str, Any]:
        return {"collaborator_entries": [entry for _, entry in self.collaborator_entries]}

    def context(self) -> dict[str, Any]:
        """What the generation read, for the sample's ``context`` record."""
        return {
            "persona_profile": list(self.profile),
            "persona_entries": list(self.retrieved),
            "collaborators": [
                {
                    "user_id": user,
                    "similarity": round(similarity, 6),
                    "entries": [e for u, e in self.collaborator_entries if u == user],
                }
                for user, similarity in self.collaborators
            ],
        }


def top_k(embed: Embed, query: str, texts: list[str], k: int) -> list[int]:
    """Indices of the ``k`` texts most cosine-similar to ``query``, best first (ties: the
    earlier text)."""
    if not texts:
        return []
    vectors = embed([query, *texts]).astype(np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    norms[norms == 0] = 1.0
    unit = vectors / norms[:, None]
    scores = unit[1:] @ unit[0]
    return sorted(range(len(texts)), key=lambda i: (-scores[i], i))[:k]


def profile_categories(stage: StageSpec) -> frozenset[str]:
    """The stage's ``profile_categories``, lower case."""
    return frozenset(str(c).strip().lower() for c in stage.options["profile_categories"])


class BuildPersona(StepStage):
    """Round 1 distils a persona, one line each, from the user's ``max_reviews`` latest
    reviews (all when null), oldest first. Round 2 (``refine_template``) reads the
    ``refine_reviews`` latest reviews and every line of round 1 and adds higher-level lines
    (round 1's stay); skipped when round 1 failed or gave no line. Both calls are the same for
    every sample of a user. A line whose category (the words before its colon) is one of
    ``profile_categories`` is profile, shown whole; every other line is an entry. Round 3
    makes no call: each sample's query (the target item's title) retrieves the ``item_topk``
    nearest of the user's entries (both layers; cosine of embeddings by the run's model); the
    ``collaborators`` other users of the run whose round-1 profile is nearest (cosine of its
    embedding, one text a user; ties by user id) give the ``item_topk_collab`` nearest of their
    pooled entries. A user without round-1 profile lines gets no collaborators."""

    label = "Persona"

    def output(self, stage: StageSpec, sample: SampleState) -> PersonaOutput:
        if stage.writes not in sample.values:
            sample.values[stage.writes] = PersonaOutput(stage.record)
        return sample.values[stage.writes]

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        output = self.output(stage, sample)
        options = stage.options
        history = sample.read(stage.inputs["history"])
        n = len(output.steps)
        if n == 0:
            latest = recent(history, options["max_reviews"])
            return [
                Planned(0, env.render(stage.role, stage.template, history=latest, items=env.items))
            ]
        if n == 1:
            skipped = skip_rest(output, 2)
            if skipped:
                return skipped
            first = parse_entries(output.steps[0][1])
            if not first:
                return [Planned(1, skip=f"step 1 of this sample's {output.stage} gave no line")]
            messages = env.render(
                stage.role,
                options["refine_template"],
                history=recent(history, options["refine_reviews"]),
                entries=first,
                items=env.items,
            )
            return [Planned(1, messages)]
        if not output.done:  # every sample's calls are in: retrieve, no call
            self.retrieve(stage, sample, output, env)
        return []

    def store(
        self,
        stage: StageSpec,
        sample: SampleState,
        planned: Planned,
        call: StageCall,
        env: StageEnv,
    ) -> None:
        """The step's call; once both are in and succeeded, the user's persona joins the
        run's (``env.shared``), where round 3 finds the collaborators."""
        super().store(stage, sample, planned, call, env)
        output = self.output(stage, sample)
        if len(output.steps) == 2 and output.call.ok:
            personas = env.shared.setdefault(stage.record, {})
            user = sample.context.sample.user_id
            personas.setdefault(user, output.layers(profile_categories(stage)))

    def retrieve(
        self, stage: StageSpec, sample: SampleState, output: PersonaOutput, env: StageEnv
    ) -> None:
        """Round 3 of one sample: its profile, retrieved entries and collaborators."""
        output.done = True
        if not output.call.ok:
            return
        assert env.embed is not None, "build_persona embeds: the runner gives it the embedder"
        options = stage.options
        user = sample.context.sample.user_id
        query = env.items[sample.context.sample.target.asin].title
        first, second = output.layers(profile_categories(stage))
        output.profile = sorted([*first.profile, *second.profile])
        own = [*first.entries, *second.entries]
        output.retrieved = [own[i] for i in top_k(env.embed, query, own, options["item_topk"])]
        personas: dict[str, tuple[Layer, Layer]] = env.shared.get(stage.record, {})
        others = sorted(u for u, (layer, _) in personas.items() if u != user and layer.profile)
        if not others or not first.profile:
            return
        texts = ["\n".join(first.profile), *("\n".join(personas[u][0].profile) for u in others)]
        vectors = env.embed(texts).astype(np.float64)
        output.collaborators = similar_users(
            vectors[0], dict(zip(others, vectors[1:], strict=True)), options["collaborators"]
        )
        pooled = [
            (u, entry)
            for u, _ in output.collaborators
            for layer in personas[u]
            for entry in layer.entries
        ]
        best = top_k(env.embed, query, [e for _, e in pooled], options["item_topk_collab"])
        output.collaborator_entries = [pooled[i] for i in best]

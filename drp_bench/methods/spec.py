"""A method: its settings and the sequence of stages it runs, checked when the config is read.

Errors name the method and its file (``method/NAME.yaml`` in the config folder: a method file
is named after the method), the stage by its index in ``stages`` and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from drp_bench.methods.contracts import CONTEXTS, HANDOFFS, REVIEW, ROLES, StageKind, stage_kinds

DIMENSIONS = ("fixed", "auto")
SUMMARY_SOURCES = ("validated", "extracted")
#: Which other reviews of the target item the ``peer`` context may pick
#: (``method.peer_candidates``): ``before_target``, those dated strictly before the target
#: review (one written later may answer or quote it, and no prediction could have read it);
#: ``any``, every date: the rule of every peer run made before this setting existed.
PEER_CANDIDATE_RULES = ("before_target", "any")
STAGE_FIELDS = ("kind", "enabled", "role", "template", "reads", "writes", "options")


@dataclass(frozen=True)
class StageSpec:
    """One enabled stage, as the runner runs it.

    ``reads``: the names it reads (a disabled filter's output already replaced by its input);
    ``inputs``: the kind's input slot -> the name that fills it; ``options``: every option of
    the kind, defaults filled in.
    """

    index: int
    kind: str
    role: str | None
    template: str | None
    reads: tuple[str, ...]
    writes: str
    inputs: Mapping[str, str]
    options: Mapping[str, Any]

    @property
    def contract(self) -> StageKind:
        return stage_kinds()[self.kind]

    @property
    def record(self) -> str:
        """Its key in predictions.jsonl's ``stages`` (and in progress and compute reports)."""
        return self.contract.record


@dataclass(frozen=True)
class MethodSpec:
    """A method is data: its settings (which its stages refer to) and its enabled stages."""

    name: str
    stages: tuple[StageSpec, ...]
    dimensions: str | None = None
    summary_reads: str = "validated"
    handoff: str = "parsed"
    templates: Mapping[str, str] = field(default_factory=dict)
    neighbours: int = 2  # the neighbours context: how many most similar other users
    peer_candidates: str = "before_target"  # the peer context's rule (PEER_CANDIDATE_RULES)
    # the past_reviews context: the N latest profile reviews (LLM-TRSR); None: BM25's top
    recent_reviews: int | None = None

    @property
    def own_stages(self) -> tuple[StageSpec, ...]:
        """The stages the method declares: they make the prediction and the sample's status."""
        return tuple(s for s in self.stages if s.contract.scorer is None)

    @property
    def scorers(self) -> tuple[StageSpec, ...]:
        """The scorer stages the run added after them (:func:`scorer_stage`)."""
        return tuple(s for s in self.stages if s.contract.scorer is not None)

    @property
    def contexts(self) -> frozenset[str]:
        """The contexts its stages read (only these are built)."""
        return frozenset(n for s in self.stages for n in s.reads if n in CONTEXTS)

    @property
    def past_reviews(self) -> bool:
        return "past_reviews" in self.contexts

    @property
    def differences(self) -> bool:
        return "comparisons" in self.contexts

    @property
    def embeds(self) -> bool:
        """Whether it needs the embedding model: for its contexts (representatives, neighbours,
        peer) or a stage that embeds while it runs (P-DB's persona entries)."""
        return bool(self.contexts & {"comparisons", "neighbours", "peer"}) or any(
            s.contract.embeds for s in self.stages
        )

    @property
    def validate(self) -> bool:
        return any(s.kind == "validate_differences" for s in self.stages)

    @property
    def output(self) -> StageSpec:
        """The stage that writes the review (the prediction)."""
        return next(s for s in self.stages if s.contract.writes == REVIEW)

    def producer(self, name: str) -> StageSpec | None:
        """The stage that writes ``name`` (None for a context)."""
        return next((s for s in self.stages if s.writes == name), None)

    def feeding(self, stage: StageSpec) -> tuple[StageSpec, ...]:
        """The stages whose output ``stage`` reads, directly or through other stages."""
        found: dict[int, StageSpec] = {}
        todo = list(stage.reads)
        while todo:
            source = self.producer(todo.pop())
            if source is not None and source.index not in found:
                found[source.index] = source
                todo.extend(source.reads)
        return tuple(found[i] for i in sorted(found))

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], metrics: Mapping[str, Any] | None = None
    ) -> MethodSpec:
        """The method of a resolved ``method`` node; a clear ValueError when it is wrong.
        ``metrics``: the run's ``metrics`` node; each scorer kind it turns on
        (``metrics.judge=true``) is appended to the stages (:func:`scorer_stage`)."""
        name = str(cfg.get("name") or "?")
        where = f"method {name!r} (method/{name}.yaml)"
        dimensions = cfg.get("dimensions")
        summary_reads = cfg.get("summary_reads", "validated")
        handoff = cfg.get("handoff", "parsed")
        _check_setting(where, "dimensions", dimensions, (None, *DIMENSIONS))
        _check_setting(where, "summary_reads", summary_reads, SUMMARY_SOURCES)
        _check_setting(where, "handoff", handoff, HANDOFFS)
        peer_candidates = cfg.get("peer_candidates", "before_target")
        _check_setting(where, "peer_candidates", peer_candidates, PEER_CANDIDATE_RULES)
        neighbours = cfg.get("neighbours", 2)
        if not _is_count(neighbours):
            raise ValueError(
                f"{where}: method.neighbours: expected an integer >= 1, found {neighbours!r}"
            )
        recent_reviews = cfg.get("recent_reviews")
        if recent_reviews is not None and not _is_count(recent_reviews):
            raise ValueError(
                f"{where}: method.recent_reviews: expected null or an integer >= 1, found "
                f"{recent_reviews!r}"
            )
        builder = _Builder(where)
        stages = builder.build(cfg.get("stages"))
        spec = cls(
            name=name,
            stages=stages,
            dimensions=dimensions,
            summary_reads=summary_reads,
            handoff=handoff,
            templates=dict(cfg.get("templates") or {}),
            neighbours=neighbours,
            peer_candidates=peer_candidates,
            recent_reviews=recent_reviews,
        )
        if cfg.get("validate") and "validate_differences" not in builder.kinds:
            raise ValueError(
                f"{where}: method.validate is true but the method has no stage of kind "
                "validate_differences"
            )
        if not spec.differences:
            spec = replace(spec, dimensions=None)
        on = [
            name
            for name, kind in stage_kinds().items()
            if kind.scorer and (metrics or {}).get(name)
        ]
        added = tuple(scorer_stage(name, spec, where) for name in on)
        return replace(spec, stages=spec.stages + added) if added else spec


def scorer_stage(kind_name: str, method: MethodSpec, where: str) -> StageSpec:
    """The stage of scorer kind ``kind_name`` after ``method``'s stages: its role and template
    from the kind's contract, reading the method's review."""
    kind = stage_kinds()[kind_name]
    assert kind.scorer is not None, kind_name
    writes = f"{kind.name}:{kind.writes}"
    if method.producer(writes) is not None:
        raise ValueError(f"{where}: {writes!r} is written by the method and by the {kind_name}")
    review = method.output.writes
    (slot,) = (s for s, slot in kind.reads.items() if slot.type == REVIEW)
    return StageSpec(
        index=max(s.index for s in method.stages) + 1,
        kind=kind.name,
        role=kind.scorer.role,
        template=kind.scorer.template,
        reads=(review,),
        writes=writes,
        inputs={slot: review},
        options={key: option.default for key, option in kind.options.items()},
    )


def _check_setting(where: str, key: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        shown = tuple(a for a in allowed if a is not None)
        raise ValueError(f"{where}: method.{key}: expected one of {shown}, found {value!r}")


class _Builder:
    """Reads ``stages`` in order, tracking which names (contexts, outputs) are available."""

    def __init__(self, where: str):
        self.where = where
        self.types: dict[str, str] = dict(CONTEXTS)  # readable name -> type
        self.written: dict[str, int] = {}  # output name -> index of the stage writing it
        self.alias: dict[str, str] = {}  # a disabled filter's output -> its input
        self.disabled: set[str] = set()  # outputs of other disabled stages
        self.records: dict[str, int] = {}
        self.kinds: set[str] = set()  # every kind declared, enabled or not

    def build(self, raw: Any) -> tuple[StageSpec, ...]:
        if not isinstance(raw, list) or not raw:
            raise ValueError(
                f"{self.where}: stages: expected a non-empty list of stages, found {raw!r:.60} "
                "(docs/methods.md)"
            )
        stages = [s for i, entry in enumerate(raw) if (s := self.stage(i, entry)) is not None]
        writers = [s for s in stages if s.contract.writes == REVIEW]
        if len(writers) != 1:
            found = ", ".join(f"stages[{s.index}]" for s in writers) or "none"
            raise ValueError(
                f"{self.where}: stages: exactly one enabled stage must write the review (a "
                f"generate_review stage); found {found}"
            )
        return tuple(stages)

    def stage(self, index: int, raw: Any) -> StageSpec | None:
        at = f"{self.where}: stages[{index}]"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{at}: expected a mapping with {STAGE_FIELDS}, found {raw!r:.60}")
        unknown = sorted(set(raw) - set(STAGE_FIELDS))
        if unknown:
            raise ValueError(f"{at}: unknown field(s) {unknown}; a stage has {STAGE_FIELDS}")
        kind_name = raw.get("kind")
        known = stage_kinds()
        if kind_name not in known:
            raise ValueError(
                f"{at}.kind: unknown stage kind {kind_name!r}; known: {sorted(known)} "
                "(a plugin's kinds are known once its package is installed: docs/extending.md)"
            )
        kind = known[kind_name]
        if kind.scorer is not None:
            raise ValueError(
                f"{at}.kind: {kind_name!r} is a scorer: metrics.{kind_name}=true adds it after "
                "the method's stages"
            )
        self.kinds.add(kind_name)
        at = f"{at} ({kind_name})"
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ValueError(f"{at}.enabled: expected true or false, found {enabled!r}")
        role, template = self.model_fields(at, kind, raw.get("role"), raw.get("template"))
        reads = self.reads(at, raw.get("reads"))
        inputs = self.bind(at, kind, reads)
        writes = self.writes(at, raw.get("writes"))
        options = self.options(at, kind, raw.get("options"))
        if not enabled:
            if kind.passes_through:
                self.alias[writes] = inputs[kind.passes_through]
            else:
                self.disabled.add(writes)
            return None
        if kind.record in self.records:
            raise ValueError(
                f"{at}: stages[{self.records[kind.record]}] is recorded as {kind.record!r} "
                "too; predictions.jsonl keeps one stage per record"
            )
        self.records[kind.record] = index
        self.types[writes] = kind.writes
        self.written[writes] = index
        return StageSpec(index, kind.name, role, template, reads, writes, inputs, options)

    def model_fields(
        self, at: str, kind: StageKind, role: Any, template: Any
    ) -> tuple[str | None, str | None]:
        if not kind.model:
            if role is not None or template is not None:
                raise ValueError(f"{at}: a {kind.name} stage calls no model: no role or template")
            return None, None
        if role not in ROLES:
            raise ValueError(f"{at}.role: expected one of {ROLES}, found {role!r}")
        if not isinstance(template, str) or not template:
            raise ValueError(f"{at}.template: expected a template name, found {template!r}")
        return role, template

    def reads(self, at: str, raw: Any) -> tuple[str, ...]:
        raw = [] if raw is None else raw
        if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
            raise ValueError(f"{at}.reads: expected a list of names, found {raw!r:.60}")
        names = []
        for name in raw:
            target = self.alias.get(name, name)
            if target not in self.types:
                off = name in self.disabled
                disabled = f"; {name!r} is written by a disabled stage" if off else ""
                raise ValueError(
                    f"{at}.reads: {name!r} is neither a context ({', '.join(CONTEXTS)}) nor "
                    f"written by an earlier stage ({', '.join(self.written) or 'none'}){disabled}"
                )
            names.append(target)
        return tuple(names)

    def bind(self, at: str, kind: StageKind, names: tuple[str, ...]) -> dict[str, str]:
        """Each name fills the input slot of its type."""
        inputs: dict[str, str] = {}
        accepted = ", ".join(f"{s} ({slot.type})" for s, slot in kind.reads.items())
        for name in names:
            slots = [s for s, slot in kind.reads.items() if slot.type == self.types[name]]
            if not slots:
                raise ValueError(
                    f"{at}.reads: {name!r} is of type {self.types[name]}; {kind.name} reads "
                    f"{accepted}"
                )
            if slots[0] in inputs:
                raise ValueError(
                    f"{at}.reads: {inputs[slots[0]]!r} and {name!r} both fill its "
                    f"{slots[0]!r} input"
                )
            inputs[slots[0]] = name
        missing = [s for s, slot in kind.reads.items() if slot.required and s not in inputs]
        if missing:
            raise ValueError(
                f"{at}.reads: nothing fills its input(s) {missing}; it reads {accepted}"
            )
        return inputs

    def writes(self, at: str, name: Any) -> str:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{at}.writes: expected the name of its output, found {name!r}")
        if name in CONTEXTS or name in self.written or name in self.alias or name in self.disabled:
            raise ValueError(f"{at}.writes: {name!r} is already a context or an earlier output")
        return name

    def options(self, at: str, kind: StageKind, raw: Any) -> dict[str, Any]:
        raw = {} if raw is None else raw
        if not isinstance(raw, Mapping):
            raise ValueError(f"{at}.options: expected a mapping, found {raw!r:.60}")
        unknown = sorted(set(raw) - set(kind.options))
        if unknown:
            raise ValueError(
                f"{at}.options: unknown option(s) {unknown}; {kind.name} has "
                f"{sorted(kind.options) or 'none'}"
            )
        options = {}
        for key, option in kind.options.items():
            value = raw.get(key, option.default)
            if option.choices is not None and value not in option.choices:
                raise ValueError(
                    f"{at}.options.{key}: expected one of {option.choices}, found {value!r}"
                )
            if option.count and value is not None and not _is_count(value):
                raise ValueError(
                    f"{at}.options.{key}: expected null or an integer >= 1, found {value!r}"
                )
            if option.template and (not isinstance(value, str) or not value):
                raise ValueError(f"{at}.options.{key}: expected a template name, found {value!r}")
            if option.number and not _is_positive_number(value):
                raise ValueError(f"{at}.options.{key}: expected a number > 0, found {value!r}")
            options[key] = value
        agree, samples = options.get("agree"), options.get("samples")
        if agree is not None and samples is not None and agree > samples:
            raise ValueError(
                f"{at}.options.agree: {agree} of {samples} samples can never agree; expected "
                f"null (a majority) or 1..{samples}"
            )
        return options


def _is_positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1

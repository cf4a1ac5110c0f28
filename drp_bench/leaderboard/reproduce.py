"""``drp-bench leaderboard reproduce ENTRY``: re-run an entry's config, compare contexts, then
predictions.

The entry's resolved config is run again with the split's data and, by default, an empty call
cache of its own (so every call is made again, not read back). Where it runs: with this
checkout's code when the entry's prompts (``prompts_sha256``) are today's; at the entry's own
commit (a temporary ``git worktree``, removed afterwards) when they differ, or when they are
unknown and the entry was made by another commit; ``here=True`` forces this checkout's code.
The models must be the same (name, hub id, revision and, for GGUF files, sha256); for each
sample the contexts (retrieved reviews, representatives, neighbours, peer; when the entry has
them) are compared first, then the prediction, and the outcome says at which step a sample
diverged. The reproduction passes when none did. With ``record`` the outcome goes into
``reproductions.json``, with the commit it ran at.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drp_bench.leaderboard.records import REPRODUCTIONS, content_hashes, save_record
from drp_bench.leaderboard.rerun_config import (
    ReproduceError,
    rerun_config,
    todays_prompts_sha256,
)
from drp_bench.leaderboard.splits import resolve_data
from drp_bench.leaderboard.verify import verify_entry

log = logging.getLogger("drp_bench")

IDENTITY_FIELDS = ("name", "hub_id", "revision", "sha256")


@dataclass
class Reproduction:
    entry_id: str
    run_dir: Path
    samples: int
    differing: list[str] = field(default_factory=list)
    #: sample id -> the step it diverged at: "context (...)" or "prediction (...)"
    divergences: dict[str, str] = field(default_factory=dict)
    contexts_compared: bool = False  # False: the entry has no contexts (predictions only)
    model_mismatches: list[str] = field(default_factory=list)
    #: the re-run's stored per-sample scores that differ from the recomputed ones
    score_mismatches: list[str] = field(default_factory=list)
    wall_time_s: float | None = None
    entry_commit: str | None = None  # the drp-bench commit the entry was made with
    commit_here: str | None = None  # this checkout's
    ran_at: str | None = None  # the commit whose code re-ran it
    at_entry_commit: bool = False  # re-ran in a worktree of the entry's commit
    why: str = ""  # why it ran where it ran

    @property
    def identical(self) -> bool:
        return not self.differing and not self.model_mismatches and not self.score_mismatches

    @property
    def other_code(self) -> bool:
        """Made and re-run by different drp-bench commits (both known)."""
        ran_at = self.ran_at or self.commit_here
        return bool(self.entry_commit and ran_at) and self.entry_commit != ran_at


def where_to_run(
    entry_sha256: str | None,
    entry_commit: str | None,
    commit_here: str | None,
    today_sha256: str | None,
) -> tuple[str | None, str]:
    """``(commit, why)``: the entry's commit to re-run it at, or None for this checkout."""
    if entry_sha256 is not None:
        if entry_sha256 == today_sha256:
            return None, "its prompts are this checkout's"
        why = "it was made with other prompts than this checkout's"
    elif entry_commit is None or entry_commit == commit_here:
        return None, "its prompts are not recorded and it names no other commit"
    else:
        why = f"its prompts are not recorded and it was made at another commit ({entry_commit})"
    if entry_commit is None:
        raise ReproduceError(
            f"{why}, and the entry names no drp-bench commit: its code cannot be checked out; "
            "pass --here to re-run it with this checkout's code"
        )
    if entry_commit.endswith("+dirty"):
        raise ReproduceError(
            f"{why}, and it was made from a checkout with uncommitted changes "
            f"({entry_commit}): no commit holds its code; pass --here to re-run it with this "
            "checkout's code"
        )
    return entry_commit, why


# ---------------------------------------------------------------- a worktree of the entry's commit


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=120
    )


def code_repository() -> Path:
    """The git checkout this drp_bench runs from; ReproduceError when there is none."""
    from drp_bench.resources import checkout_root

    root = checkout_root()
    if root is None:
        raise ReproduceError(
            "drp_bench is not running from a source checkout (an installed package): an "
            "entry's own commit cannot be checked out; clone the repository, or pass --here"
        )
    try:
        done = _git(root, "rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError) as e:
        raise ReproduceError(f"{root}: cannot run git ({e}); pass --here") from e
    if done.returncode != 0:
        raise ReproduceError(
            f"{root}: not a git checkout ({done.stderr.strip()}): the entry's commit cannot be "
            "checked out; pass --here"
        )
    return Path(done.stdout.strip())


@contextlib.contextmanager
def worktree_at(repo: Path, commit: str, parent: Path) -> Iterator[Path]:
    """A temporary detached ``git worktree`` of ``commit`` under ``parent``, removed on exit
    (also when the body fails)."""
    if _git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        raise ReproduceError(
            f"commit {commit} is not in the history of {repo}; `git -C {repo} fetch` it (or "
            "the branch it is on), or pass --here"
        )
    tree = Path(tempfile.mkdtemp(prefix="drp-worktree-", dir=parent)) / "code"
    added = _git(repo, "worktree", "add", "--detach", str(tree), commit)
    if added.returncode != 0:
        shutil.rmtree(tree.parent, ignore_errors=True)
        raise ReproduceError(f"git worktree add {commit} failed: {added.stderr.strip()}")
    try:
        yield tree
    finally:
        _git(repo, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(tree.parent, ignore_errors=True)
        _git(repo, "worktree", "prune")


#: Run by the entry's commit's own code: its ``evaluate`` (the Python API every commit that
#: has a leaderboard offers) on the entry's config, as a JSON file.
_RUN_AT_COMMIT = (
    "import json, sys\n"
    "from drp_bench.api import evaluate\n"
    "with open(sys.argv[1], encoding='utf-8') as fh:\n"
    "    config = json.load(fh)\n"
    "evaluate(config=config, out_dir=sys.argv[2])\n"
)


def run_at_commit(repo: Path, commit: str, cfg: Mapping[str, Any], work: Path) -> Path:
    """Run ``cfg`` with the code of ``commit`` (this interpreter, ``PYTHONPATH`` the
    worktree); returns the run folder. The run's output goes to ``work/rerun.log``."""
    config_file = work / "entry_config.json"
    config_file.write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    out, log_file = work / "run", work / "rerun.log"
    with worktree_at(repo, commit, work) as tree:
        log.info("re-running at commit %s (worktree %s; output in %s)", commit, tree, log_file)
        env = {**os.environ, "PYTHONPATH": str(tree)}
        with log_file.open("w", encoding="utf-8") as fh:
            done = subprocess.run(
                [sys.executable, "-c", _RUN_AT_COMMIT, str(config_file), str(out)],
                env=env, cwd=work, stdout=fh, stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
    if done.returncode != 0:
        tail = log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        raise ReproduceError(
            f"the re-run at commit {commit} failed (exit {done.returncode}); the end of "
            f"{log_file}:\n    " + "\n    ".join(tail)
        )
    return out


# ---------------------------------------------------------------- comparing


def _ids(values: Any) -> str:
    return "[" + ", ".join(map(str, values)) + "]"


def context_divergence(entry: Mapping[str, Any], here: Mapping[str, Any]) -> str | None:
    """Where two recorded contexts of a sample differ, the first difference in pipeline order
    ("entry vs here"), or None when they are the same."""
    if entry.get("past_reviews") != here.get("past_reviews"):
        return (
            f"retrieved past reviews: {_ids(entry.get('past_reviews') or [])} vs "
            f"{_ids(here.get('past_reviews') or [])}"
        )
    mine, theirs = entry.get("comparisons") or [], here.get("comparisons") or []
    if [c["asin"] for c in mine] != [c["asin"] for c in theirs]:
        return (
            f"compared items: {_ids(c['asin'] for c in mine)} vs {_ids(c['asin'] for c in theirs)}"
        )
    changed = [(a, b) for a, b in zip(mine, theirs, strict=True) if a != b]
    if changed:
        (a, b), more = changed[0], len(changed) - 1
        return (
            f"representatives of item {a['asin']}: {_ids(a['representatives'])} vs "
            f"{_ids(b['representatives'])}" + (f" (and {more} more item(s))" if more else "")
        )
    mine, theirs = entry.get("neighbours") or [], here.get("neighbours") or []
    if [n["user_id"] for n in mine] != [n["user_id"] for n in theirs]:
        return (
            f"neighbours: {_ids(n['user_id'] for n in mine)} vs "
            f"{_ids(n['user_id'] for n in theirs)}"
        )
    for a, b in zip(mine, theirs, strict=True):
        if a != b:
            return (
                f"reviews of neighbour {a['user_id']}: {_ids(a['reviews'])} vs {_ids(b['reviews'])}"
            )
    if entry.get("peer") != here.get("peer"):
        who = [(p or {}).get("user_id") for p in (entry.get("peer"), here.get("peer"))]
        return f"peer: {who[0]} vs {who[1]}"
    return None


def divergences(
    sample_ids: list[str],
    entry_predictions: Mapping[str, str],
    entry_contexts: Mapping[str, Mapping[str, Any] | None] | None,
    predictions: Mapping[str, str],
    contexts: Mapping[str, Mapping[str, Any] | None],
) -> dict[str, str]:
    """sample id -> where it diverged: ``context (...)`` when its contexts differ (checked
    first), else ``prediction (same context)`` (or ``prediction`` when either side has no
    contexts); samples that did not diverge are absent."""
    out: dict[str, str] = {}
    for sid in sample_ids:
        mine = (entry_contexts or {}).get(sid)
        theirs = contexts.get(sid)
        if mine is not None and theirs is not None:
            where = context_divergence(mine, theirs)
            if where is not None:
                out[sid] = f"context ({where})"
                continue
        if predictions.get(sid) != entry_predictions[sid]:
            known = mine is not None and theirs is not None
            out[sid] = "prediction (same context)" if known else "prediction"
    return out


RunRows = tuple[
    dict[str, str], dict[str, dict[str, Any] | None], dict[str, dict[str, float] | None]
]


def _run_rows(run_dir: Path) -> RunRows:
    """A run folder's predictions, recorded contexts and stored per-sample scores (any
    readable schema version; None: not recorded)."""
    from drp_bench.run.folder import PREDICTIONS, read_predictions

    rows = read_predictions(run_dir / PREDICTIONS)
    return (
        {r.sample_id: r.prediction for r in rows},
        {r.sample_id: r.context.to_json_dict() if r.context else None for r in rows},
        {r.sample_id: r.scores.model_dump() if r.scores else None for r in rows},
    )


def stored_score_problems(
    run_dir: Path,
    stored: Mapping[str, Mapping[str, float] | None],
    predictions: Mapping[str, str],
    entry_predictions: Mapping[str, str],
    recomputed: Mapping[str, Mapping[str, float]],
) -> list[str]:
    """The re-run's stored per-sample scores against the ones ``verify`` recomputed from the
    entry's predictions, on the samples whose prediction is the same (the others differ
    anyway); a re-run that stores none (made by code before schema version 4) has none to
    check."""
    from drp_bench.leaderboard.scoring import sample_score_mismatches
    from drp_bench.run.folder import PREDICTIONS

    same = {
        sid: scores
        for sid, scores in stored.items()
        if predictions.get(sid) == entry_predictions.get(sid)
    }
    return sample_score_mismatches(same, recomputed, str(Path(run_dir) / PREDICTIONS))


# ---------------------------------------------------------------- reproduce


def reproduce_entry(
    entry_dir: Path,
    board: Path,
    *,
    data_paths: Mapping[str, Path] | None = None,
    settings: Mapping[str, Any] | None = None,
    work_dir: Path | None = None,
    use_cache: Path | None = None,
    record: bool = False,
    here: bool = False,
) -> Reproduction:
    """Re-run a verified entry (at its own commit when its code differs from this checkout's,
    unless ``here``) and compare its contexts, predictions and models with the entry's."""
    from drp_bench.leaderboard.submit import _role_model
    from drp_bench.provenance import git_commit

    entry_dir, board = Path(entry_dir), Path(board)
    checked = verify_entry(entry_dir, board, data_paths)
    if checked.problems:
        raise ReproduceError(
            f"entry {entry_dir.name} does not verify; fix that first:\n  - "
            + "\n  - ".join(checked.problems)
        )
    sub = checked.submission
    assert sub is not None and checked.split is not None and checked.predictions is not None
    if sub.source.get("kind") != "drp-bench run":
        raise ReproduceError(
            f"entry {sub.entry_id}: its predictions come from {sub.source.get('kind')}; "
            "re-run that tool to reproduce it"
        )
    data_path = resolve_data(checked.split, data_paths)
    if data_path is None:
        raise ReproduceError(f"split {checked.split.id}: pass --data {checked.split.id}=PATH")
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="drp-reproduce-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = use_cache if use_cache is not None else work / "calls.sqlite"
    cfg = rerun_config(sub.config, data_path, cache, settings)
    commit_here = git_commit()
    if here:
        commit, why = None, "--here"
    else:
        try:
            today: str | None = todays_prompts_sha256(cfg)
        except (ValueError, OSError) as e:
            log.info("the entry's config does not run with this checkout's code as it is: %s", e)
            today = None
        commit, why = where_to_run(sub.prompts_sha256, sub.git_commit, commit_here, today)
    started = dt.datetime.now()
    if commit is None:
        from drp_bench.api import evaluate

        run_dir = evaluate(config=cfg, out_dir=work / "run").run_dir
    else:
        own = rerun_config(sub.config, data_path, cache, settings, fill_defaults=False)
        run_dir = run_at_commit(code_repository(), commit, own, work)
    wall = (dt.datetime.now() - started).total_seconds()
    mismatches = []
    for role, claimed in sub.models.items():
        now = _role_model(role, cfg)
        for key in IDENTITY_FIELDS:
            if now.get(key) != getattr(claimed, key):
                mismatches.append(
                    f"{role}.{key}: entry {getattr(claimed, key)!r}, here {now.get(key)!r}"
                )
    predictions, contexts, stored_scores = _run_rows(run_dir)
    entry_contexts = (
        {s: c.model_dump() if c else None for s, c in checked.contexts.items()}
        if checked.contexts is not None
        else None
    )
    found = divergences(
        checked.split.sample_ids, checked.predictions, entry_contexts, predictions, contexts
    )
    outcome = Reproduction(
        entry_id=sub.entry_id,
        run_dir=run_dir,
        samples=len(checked.split.sample_ids),
        differing=[s for s in checked.split.sample_ids if s in found],
        divergences=found,
        contexts_compared=entry_contexts is not None,
        model_mismatches=mismatches,
        score_mismatches=stored_score_problems(
            run_dir, stored_scores, predictions, checked.predictions, checked.sample_scores
        ),
        wall_time_s=round(wall, 1),
        entry_commit=sub.git_commit,
        commit_here=commit_here,
        ran_at=commit or commit_here,
        at_entry_commit=commit is not None,
        why=why,
    )
    if record:
        _record(board, checked.raw or {}, outcome, fresh_cache=use_cache is None)
    return outcome


def _record(board: Path, raw: dict[str, Any], outcome: Reproduction, fresh_cache: bool) -> None:
    from drp_bench import __version__

    differing = outcome.differing
    save_record(
        board,
        REPRODUCTIONS,
        outcome.entry_id,
        {
            **content_hashes(raw),
            "identical": outcome.identical,
            "samples": outcome.samples,
            "differing": differing[:20],
            "differing_count": len(differing),
            "divergences": {s: outcome.divergences[s] for s in differing[:20]},
            "contexts_compared": outcome.contexts_compared,
            "model_mismatches": outcome.model_mismatches,
            **({"score_mismatches": outcome.score_mismatches} if outcome.score_mismatches else {}),
            "fresh_cache": fresh_cache,
            "date": dt.date.today().isoformat(),
            "drp_bench": __version__,
            "git_commit": outcome.commit_here,
            "ran_at_commit": outcome.ran_at,
            "at_entry_commit": outcome.at_entry_commit,
            "wall_time_s": outcome.wall_time_s,
        },
    )

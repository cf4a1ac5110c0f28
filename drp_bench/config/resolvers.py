"""drp-bench's OmegaConf resolvers: ``${drp_safe_dirname:...}`` (one folder name from any text,
for ``hydra.sweep.subdir``) and the dataset presets' ``${drp_dataset_name:...}``
(:mod:`drp_bench.data.naming`).

Registered whenever Hydra starts, by the ``hydra_plugins.drp_bench_config`` plugin (Hydra
imports every module of the ``hydra_plugins`` namespace when it scans for plugins, in the
driver and in every job process), and by :func:`drp_bench.config.compose.compose_run_config`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from omegaconf import OmegaConf

from drp_bench.data import naming

RESOLVER = "drp_safe_dirname"
#: Longest folder name the resolver returns, in UTF-8 bytes (file systems allow 255).
MAX_DIRNAME_BYTES = 200


# A backslash Hydra puts before a special character of an override value (its grammar's ESC).
_HYDRA_ESCAPE = re.compile(r"\\([\\()\[\]{}:=, \t])")


def _escape(char: str) -> str:
    if char in "/\\%" or ord(char) < 0x20 or ord(char) == 0x7F:
        return f"%{ord(char):02X}"
    return char


def safe_dirname(name: Any, max_bytes: int = MAX_DIRNAME_BYTES) -> str:
    """``name`` (Hydra's ``override_dirname``) as one folder name: never a path separator,
    never hidden, never too long.

    Hydra's escaping backslashes (before ``\\()[]{}:=,``, space, tab) are dropped; then ``/``,
    ``\\``, ``%``, NUL and other control characters become ``%XX``, a leading ``.`` becomes
    ``%2E``; a name longer than ``max_bytes`` (UTF-8) is cut and ends with ``~`` and 10 hex
    digits of the SHA-256 of ``name``.
    """
    text = str(name)
    out = "".join(_escape(c) for c in _HYDRA_ESCAPE.sub(r"\1", text))
    if out.startswith("."):
        out = "%2E" + out[1:]
    if len(out.encode("utf-8", "surrogatepass")) <= max_bytes:
        return out
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    head = out.encode("utf-8", "surrogatepass")[: max_bytes - 11].decode("utf-8", "ignore")
    return f"{re.sub(r'%[0-9A-F]?$', '', head)}~{digest}"


def register_resolvers() -> None:
    """Register ``${drp_safe_dirname:...}`` and the dataset presets' ``${drp_dataset_name:...}``
    (:mod:`drp_bench.data.naming`) with OmegaConf (once per process)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, safe_dirname)
    naming.register_resolver()

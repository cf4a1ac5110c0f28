"""plan.json: the one writer and reader of a plan (light: the report reads it without the
planner)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SCHEMA_VERSION = "1"
PLAN_FILE = "plan.json"


def write_plan(body: dict[str, Any], path: Path) -> Path:
    """plan.json, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_plan(path: Path) -> dict[str, Any]:
    """A plan.json, checked for the fields the report reads (errors name the file)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON (line {exc.lineno}): {exc.msg}") from exc
    if not isinstance(body, dict) or body.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"{path}: not a drp-bench plan (schema_version {SCHEMA_VERSION!r} expected)"
        )
    for n, job in enumerate(body.get("jobs") or []):
        for key in ("overrides", "stages", "totals"):
            if key not in job:
                raise ValueError(f"{path}: jobs[{n}] has no {key!r}")
    return body

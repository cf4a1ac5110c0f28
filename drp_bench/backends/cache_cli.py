"""`drp-bench cache stats|clear`: inspect the persistent call cache."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def default_cache_path() -> Path:
    """The cache a run would use: ``cache.path`` of the composed run config."""
    from drp_bench.config.compose import compose_run_config

    return Path(str(compose_run_config().cache.path)).expanduser()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drp-bench cache", description=__doc__)
    parser.add_argument("action", choices=["stats", "clear"])
    parser.add_argument("--path", type=Path, default=None, help="cache file (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print stats as JSON")
    args = parser.parse_args(argv)
    path = args.path or default_cache_path()
    if not path.exists():
        print(f"no cache at {path}")
        return 0
    from drp_bench.backends.cache import CallCache

    cache = CallCache(path)
    if args.action == "clear":
        cache.clear()
        print(f"cleared {path}")
        return 0
    stats = cache.stats()
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"cache: {path}")
    for key, value in stats.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}: {v}")
        else:
            print(f"{key}: {value}")
    return 0

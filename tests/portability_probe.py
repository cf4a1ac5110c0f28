"""What a run's contexts and prompts are on this process's CPU kernels, as hashes.

Run as ``python -m tests.portability_probe CACHE_DIR [num_users ...] [-- OVERRIDE ...]`` (with
``ATEN_CPU_CAPABILITY`` set or not): it builds DRP's inputs on the whole bundled sample with the
real bundled embedder (an empty embedding cache in ``CACHE_DIR``, so every vector is computed
here), runs the pipeline with a scripted model that records every prompt it is sent, and prints
one JSON object: per ``num_users``, the representatives (item -> user ids, per sample) and the
sha256 of every prompt in the order sent. tests/test_representatives_portability.py compares
the output of three processes with different torch CPU kernels.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from drp_bench.api import compose_run_config
from drp_bench.backends.pool import BackendPool
from drp_bench.config.run_config import RunConfig
from drp_bench.pipeline.runner import Pipeline
from drp_bench.run.inputs import build_run_inputs, make_renderer
from tests.test_pipeline import ScriptedModel


def probe(cache_dir: Path, num_users: int, overrides: list[str]) -> dict[str, Any]:
    """Representatives and prompt hashes of DRP on the bundled sample at ``num_users``."""
    cache = f"cache.path={cache_dir / 'calls.sqlite'}"
    composed = compose_run_config(["method=drp", f"num_users={num_users}", cache, *overrides])
    container = OmegaConf.to_container(composed, resolve=False)
    assert isinstance(container, dict)
    container.pop("hydra", None)
    cfg = RunConfig.from_config(OmegaConf.to_container(OmegaConf.create(container), resolve=True))
    inputs = build_run_inputs(cfg)
    representatives = {
        context.sample.sample_id: {
            item.review.asin: list(item.representative_users) for item in context.comparisons
        }
        for context in inputs.contexts
    }
    model = ScriptedModel()
    backends = BackendPool(None, opener=lambda spec: model).for_roles(cfg.roles)
    Pipeline(cfg, backends, make_renderer(cfg)).run(inputs.dataset, inputs.contexts)
    prompts = hashlib.sha256("\x00".join(model.prompts).encode()).hexdigest()
    return {"representatives": representatives, "prompts": prompts, "calls": len(model.prompts)}


def main(argv: list[str]) -> None:
    cut = argv.index("--") if "--" in argv else len(argv)
    args, overrides = argv[:cut], argv[cut + 1 :]
    cache_dir, *users = args
    out = {n: probe(Path(cache_dir), int(n), overrides) for n in users or ["1", "2", "4", "8"]}
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])

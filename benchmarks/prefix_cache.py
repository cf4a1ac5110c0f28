"""Prefix caching: the share of prompt tokens the backend serves from its KV cache, before and
after the prompt layout for prefix caching and the prefix-ordered batches.

Runs DRP on the bundled sample with the embedded llama.cpp model twice, each against a fresh
call cache (so every call reaches the model):

- before: the templates as they were before the layout (read from git at ``--before``, with
  the package's new ``NAME.system.j2`` parts masked by empty ones) and ``prompts.prefix_order=
  false`` (each stage's batch in plan order);
- after: the package's templates and ``prompts.prefix_order=true``.

It prints, per stage and in total, the calls, the prompt tokens, the prompt tokens served from
the prefix cache (``cached_prompt_tokens`` of each call in predictions.jsonl) and their share,
and the time spent in model calls (the sum of the calls' latencies). llama-cpp-python keeps the
KV cache of the previous call only, so what counts is the prefix each prompt shares with the
one sent just before it.

    python benchmarks/prefix_cache.py [--limit 6] [--max-tokens 16] [--keep DIR] [OVERRIDE ...]

On top of ``+experiment=demo``: ``num_retrieved=8`` (DRP's default; the demo's 3 compares no
item twice among the first 6 users, so batch order would have nothing to group) and texts cut
shorter (``prompts.max_review_chars=120``, ``max_description_chars=60``): 108 calls per run,
both runs about 21 minutes on a 2-core machine shared with other work (load 4-5); further Hydra
overrides apply to both runs (``--limit 3`` for a quicker look).

vLLM (not run here: it needs a GPU). Serve the model with prefix caching on, e.g.
``vllm serve Qwen/Qwen2.5-7B-Instruct --enable-prefix-caching``, run the two variants with
``model@extractor=...`` entries whose backend is ``openai`` at that server, and read the
server's Prometheus counters from ``GET http://HOST:PORT/metrics`` before and after each run:
``vllm:prefix_cache_queries`` (prompt tokens looked up in the prefix cache) and
``vllm:prefix_cache_hits`` (those found); the hit rate of a run is the difference of hits over
the difference of queries (both are exported with a ``_total`` suffix, one series per model).
The per-call figure is in predictions.jsonl as well: vLLM reports
``usage.prompt_tokens_details.cached_tokens`` (``--enable-prompt-tokens-details`` in releases
where it is not on by default), and the offline engine ``RequestOutput.num_cached_tokens``;
both land in ``cached_prompt_tokens``. Unlike llama.cpp, vLLM keeps many prefixes, so the
layout (shared material first) matters more there than the batch order.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from _common import REPO, drp_bench_run

#: This checkout's templates (the runs below use this checkout's code, as ``python -m``).
PACKAGE_TEMPLATES = REPO / "drp_bench" / "prompts"

#: The commit whose templates are the "before" layout (instruction at the top of the user turn).
BEFORE_COMMIT = "d19ae9e"
ONE_THREAD = ("extractor.backend.options.n_threads=1", "generator.backend.options.n_threads=1")


def old_templates(commit: str, folder: Path) -> Path:
    """The package's (non-paper) templates at ``commit`` in ``folder``; every ``NAME.system.j2``
    of the current package is masked by an empty one (an empty system part sends none)."""
    folder.mkdir(parents=True, exist_ok=True)
    listing = subprocess.run(
        ["git", "ls-tree", "--name-only", commit, "drp_bench/prompts/"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for path in listing:
        if path.endswith(".j2"):
            text = subprocess.run(
                ["git", "show", f"{commit}:{path}"], cwd=REPO, capture_output=True, check=True
            ).stdout
            (folder / Path(path).name).write_bytes(text)
    for part in PACKAGE_TEMPLATES.glob("*.system.j2"):
        if not (folder / part.name).exists():
            (folder / part.name).write_text("", encoding="utf-8")
    return folder


def stage_figures(run_dir: Path) -> dict[str, dict[str, float]]:
    """Per stage: calls, prompt tokens, cached prompt tokens, seconds in model calls."""
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    lines = (run_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines:
        for stage, entry in json.loads(line)["stages"].items():
            for call in entry if isinstance(entry, list) else [entry]:
                _add(totals[stage], stage, call, run_dir)
    return {stage: s for stage, s in totals.items() if s}


def _add(s: dict[str, float], stage: str, call: dict, run_dir: Path) -> None:
    """Count one call of ``stage`` (not a skipped or failed one, nor a stage without calls)."""
    if "prompt_tokens" not in call or call.get("skipped") or call.get("error") is not None:
        return
    if call.get("cached_prompt_tokens") is None:
        raise SystemExit(f"{run_dir}: a {stage} call without cached_prompt_tokens")
    s["calls"] += 1
    s["prompt"] += call["prompt_tokens"]
    s["cached"] += call["cached_prompt_tokens"]
    s["seconds"] += call["latency_s"]


def _row(name: str, s: dict[str, float]) -> str:
    share = s["cached"] / s["prompt"] if s["prompt"] else 0.0
    return (
        f"  {name:<10} {int(s['calls']):>5} {int(s['prompt']):>8} {int(s['cached']):>8} "
        f"{share:>7.1%} {s['seconds']:>9.1f}"
    )


def report(name: str, figures: dict[str, dict[str, float]], wall_s: float) -> dict[str, float]:
    """Print one variant's table; return its totals."""
    total: dict[str, float] = defaultdict(float)
    print(f"{name}: run wall time {wall_s:.1f} s")
    print(f"  {'stage':<10} {'calls':>5} {'prompt':>8} {'cached':>8} {'share':>7} {'model s':>9}")
    for stage, s in figures.items():
        print(_row(stage, s))
        for key, value in s.items():
            total[key] += value
    print(_row("total", total))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=6, help="samples of the bundled sample")
    parser.add_argument("--max-tokens", type=int, default=16, help="completion tokens per call")
    parser.add_argument("--before", default=BEFORE_COMMIT, help="commit of the old templates")
    parser.add_argument("--keep", type=Path, help="keep the run folders here")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for both runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        common = (
            "+experiment=demo",
            f"dataset.limit={args.limit}",
            f"extractor.sampling.max_tokens={args.max_tokens}",
            f"generator.sampling.max_tokens={args.max_tokens}",
            "num_retrieved=8",
            "prompts.max_review_chars=120",
            "prompts.max_description_chars=60",
            *ONE_THREAD,
            *args.overrides,
        )
        variants = {
            "before": (
                f"prompts.dir={old_templates(args.before, root / 'old_templates')}",
                "prompts.prefix_order=false",
            ),
            "after": ("prompts.prefix_order=true",),
        }
        shares = {}
        for name, overrides in variants.items():
            run_dir = root / name
            wall = drp_bench_run(
                *common,
                *overrides,
                f"cache.path={root / f'{name}-calls.sqlite'}",
                f"hydra.run.dir={run_dir}",
            )
            total = report(name, stage_figures(run_dir), wall)
            shares[name] = (total["cached"] / max(total["prompt"], 1), total["seconds"])
        (before, before_s), (after, after_s) = shares["before"], shares["after"]
        print(
            f"share of prompt tokens from the prefix cache: {before:.1%} before, {after:.1%} "
            f"after; model-call time {before_s:.1f} s -> {after_s:.1f} s"
        )


if __name__ == "__main__":
    main()

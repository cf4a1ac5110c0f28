"""Harness overhead: the share of the demo's wall time spent outside the model.

Runs the demo (``+experiment=demo``: DRP on 3 users of the bundled sample, embedded SmolLM2
model) twice in this process, as ``drp_bench.evaluate`` does it:

- first run: fresh call cache and fresh embedding cache (it loads the sentence-transformers
  model and embeds every review it compares; reported separately);
- second run, warm: a fresh call cache again (so every model call is really made and there is
  model time to compare with) but every other cache warm: the persistent embedding cache
  (``embeddings.sqlite``, next to the call cache), WordNet and the Punkt model loaded, modules
  imported, the OS file cache, the GGUF hash memo.

For each run: wall time (``evaluate`` from composing the config to writing metrics.json),
model-call time (the summed ``latency_s`` of predictions.jsonl: llama.cpp's
``create_chat_completion`` per call) and model load time (the ``llama_cpp.Llama`` constructor,
outside every call; the model's cost, not the harness's, so it is reported on its own line).
Harness overhead = (wall - model calls - model load) / wall; the target is under 3% on the
warm second run. Then the harness time is broken down by phase (inclusive wall time of named
functions, see ``_phases.py``). Imports before the first run (drp_bench, Hydra, NLTK,
scikit-learn: the benchmark imports the timed modules up front) are outside both runs.

Model time depends on llama.cpp's threads: with ``--threads 1`` (needed on a shared CPU) calls
are slower than the default, which lowers the overhead percentage; the figures say which.
Usage: python benchmarks/harness_overhead.py [--quick] [--threads N] [HYDRA OVERRIDES]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

START = time.perf_counter()

from _common import uptime  # noqa: E402  (first: this checkout's drp_bench)
from _phases import Phase, PhaseTimer  # noqa: E402

from drp_bench import evaluate  # noqa: E402
from drp_bench.run.metrics_file import stage_calls  # noqa: E402

TARGET_PCT = 3.0
PHASES = (
    Phase("compose config (Hydra compose API)", 0, ("drp_bench.api:compose_run_config",)),
    Phase("write .hydra files", 0, ("drp_bench.api:_write_hydra_files",)),
    Phase("prompt renderer + template check", 0, ("drp_bench.run.execute:make_renderer",)),
    Phase("data + contexts", 0, ("drp_bench.run.execute:build_run_inputs",)),
    Phase("load data", 1, ("drp_bench.run.inputs:load_run_dataset",)),
    Phase("contexts", 1, ("drp_bench.run.inputs:build_contexts",)),
    Phase("BM25", 2, ("drp_bench.pipeline.context:bm25_top",)),
    Phase("difference items (BM25)", 2, ("drp_bench.pipeline.context:difference_items",)),
    Phase("embedding cache reads", 2, ("drp_bench.pipeline.representatives:Embedder._read_cache",)),
    Phase("embed texts (cache misses)", 2, ("drp_bench.pipeline.representatives:Embedder._embed",)),
    Phase("load embedding model", 3, ("drp_bench.pipeline.representatives:Embedder._load",)),
    Phase("K-means", 2, ("drp_bench.pipeline.context:select_representatives",)),
    Phase(
        "pipeline (calls, rendering, parsing, call cache)",
        0,
        ("drp_bench.run.execute:Pipeline.run",),
    ),
    Phase("write predictions.jsonl", 0, ("drp_bench.run.folder:write_predictions",)),
    Phase(
        "metrics (score_records, summarize_run)",
        0,
        ("drp_bench.run.metrics_file:score_records", "drp_bench.run.metrics_file:summarize_run"),
    ),
    Phase("BLEU / METEOR / ROUGE", 1, ("drp_bench.metrics.text:score_samples",)),
    Phase("load WordNet", 2, ("drp_bench.metrics.wordnet_reader:load_english_wordnet",)),
    Phase("package versions", 0, ("drp_bench.run.execute:package_versions",)),
    Phase("git commit", 0, ("drp_bench.run.execute:git_commit",)),
    Phase("write metrics.json", 0, ("drp_bench.run.folder:write_metrics",)),
)
PIPELINE = "pipeline (calls, rendering, parsing, call cache)"


@dataclass
class RunFigures:
    """One run's wall time, model-call and model-load time, phases and results."""

    wall_s: float
    model_s: float
    calls: int
    timer: PhaseTimer
    predictions: list[str]
    scores: dict[str, float]

    @property
    def harness_s(self) -> float:
        return self.wall_s - self.model_s - self.timer.model_load_s

    @property
    def harness_pct(self) -> float:
        return 100 * self.harness_s / self.wall_s


def run_once(overrides: list[str], cache: Path, out_dir: Path) -> RunFigures:
    """One in-process run of the demo with the call cache ``cache``, timed by phase."""
    timer = PhaseTimer(PHASES)
    with timer.timing():
        start = time.perf_counter()
        result = evaluate(["+experiment=demo", f"cache.path={cache}", *overrides], out_dir=out_dir)
        wall = time.perf_counter() - start
    calls = [call for r in result.records for _, call in stage_calls(r)]
    if any(call.get("cached") for call in calls):
        raise SystemExit("a call came from the cache: the run has no model time to compare")
    model_s = sum(call.get("latency_s") or 0.0 for call in calls)
    return RunFigures(wall, model_s, len(calls), timer, result.predictions, result.scores)


def print_figures(first: RunFigures, second: RunFigures, imports_s: float) -> None:
    def row(label: str, a: str, b: str) -> None:
        print(f"{label:<52}{a:>14}{b:>18}")

    print(f"imports before the first run: {imports_s:.1f} s (outside both runs)")
    row("", "first run", "second run (warm)")
    row("run wall time", f"{first.wall_s:.1f} s", f"{second.wall_s:.1f} s")
    row(
        f"model calls ({first.calls} / {second.calls})",
        f"{first.model_s:.1f} s",
        f"{second.model_s:.1f} s",
    )
    row(
        "model load (llama.cpp, outside calls)",
        f"{first.timer.model_load_s:.2f} s",
        f"{second.timer.model_load_s:.2f} s",
    )
    row(
        "harness overhead (wall - calls - model load)",
        f"{first.harness_s:.2f} s {first.harness_pct:.1f}%",
        f"{second.harness_s:.2f} s {second.harness_pct:.1f}%",
    )
    print("breakdown (inclusive wall time; indented lines are part of the line above):")
    for phase in PHASES:
        a, b = (run.timer.seconds.get(phase.label, 0.0) for run in (first, second))
        if phase.label == PIPELINE:
            row("  pipeline outside calls and model load", *(_outside(r) for r in (first, second)))
            continue
        row("  " + "  " * phase.depth + phase.label, f"{a:.3f} s", f"{b:.3f} s")
    row("  other (not in a phase above)", *(f"{_other(r):.3f} s" for r in (first, second)))
    missing = sorted(set(first.timer.missing))
    if missing:
        print(f"not timed (functions not found, the code moved): {', '.join(missing)}")


def _outside(run: RunFigures) -> str:
    inside = run.timer.seconds.get(PIPELINE, 0.0)
    return f"{inside - run.model_s - run.timer.model_load_s:.3f} s"


def _other(run: RunFigures) -> float:
    top = sum(run.timer.seconds.get(p.label, 0.0) for p in PHASES if p.depth == 0)
    return run.wall_s - top


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 user instead of 3")
    parser.add_argument("--threads", type=int, help="llama.cpp n_threads for every role")
    return parser.parse_known_args(argv)


def main(argv: list[str]) -> int:
    imports_s = time.perf_counter() - START
    args, overrides = parse_args(argv)
    if args.quick:
        overrides.append("dataset.limit=1")
    if args.threads:
        overrides += [f"{role}.backend.options.n_threads={args.threads}" for role in ROLES]
    print(f"load at start: {uptime()}")
    print(f"overrides: +experiment=demo {' '.join(overrides)}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)  # calls-N.sqlite: a fresh call cache; embeddings.sqlite: shared
        first = run_once(overrides, root / "calls-1.sqlite", root / "run-1")
        second = run_once(overrides, root / "calls-2.sqlite", root / "run-2")
    print(f"load at end: {uptime()}")
    print_figures(first, second, imports_s)
    same = first.predictions == second.predictions and first.scores == second.scores
    print(f"identical predictions and scores in both runs: {'yes' if same else 'NO'}")
    verdict = "met" if second.harness_pct < TARGET_PCT else "NOT met"
    print(f"target (warm second run under {TARGET_PCT:.0f}%): {verdict}")
    return 0 if same else 1


ROLES = ("extractor", "generator")

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""The harness's own cost at 100 / 1,000 / 10,000 users: wall time and peak memory per phase.

Each size runs in its own process (so peak memory is per size): a dataset of N test users is
replicated from the bundled sample (``scaled_data.py``: shards with their own user and item
ids), then DRP (defaults: num_retrieved=8, num_users=4, uvq off) runs in-process through
``drp_bench.evaluate`` with a scripted backend for every role (fixed-length answers that parse;
no model), through a fresh call cache, then ``drp-bench report`` reads the run folder.
The embedding model's time is its own phase: it is model compute (a GPU's job), measured but
not counted as harness time.

Usage: python benchmarks/harness_scale.py [--users 100 1000 10000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the checkout's drp_bench, not an installed copy
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scaled_data import SOURCE, build_scaled_dataset, data_size_mb  # noqa: E402

# --- the model time to compare with: what `drp-bench plan` estimates for the same run with
# Qwen2.5-7B-Instruct in every role, on one GPU (the registry's throughput for it), with no
# record in the call cache: completion tokens at max_tokens (4096, the DRP paper's cap: an upper
# bound) and at an assumed 400 per call.
PLAN_MODEL = "qwen2.5-7b-instruct"
ASSUMED_COMPLETION_TOKENS = 400
CHARS_PER_TOKEN = 4.0  # the scripted backend's token counts: characters / 4
EMBED_DIM = 384  # the bundled embedder's (all-MiniLM-L6-v2) dimension

#: Phases in run order; "embedding" is the embedding model's compute, not harness time.
#: "index+bm25+other": building contexts (reviewer index, BM25, embedding-cache reads and
#: writes) apart from embedding and K-means; "run other": config, backends, renderer.
PHASES = ("load", "index+bm25+other", "embedding", "kmeans", "pipeline", "score", "write")
PHASES_ALL = (*PHASES, "run other", "report")
MODEL_PHASES = frozenset({"embedding"})

ANSWERS = {
    "extract": "\n".join(
        f"--- [Feature {i}] Definition: how the reviewer weighs aspect {i} of the album. "
        f"Difference Description: the target user stresses aspect {i} more than the others. ---"
        for i in (1, 2)
    ),
    "validate": (
        "--- [Feature 1] Definition: how the reviewer weighs aspect 1 of the album. "
        "Difference Description: the target user stresses aspect 1 more than the others. ---"
    ),
    "summarize": "[Summary]: " + "a terse writer who stresses production and lyrics " * 4,
    "generate": "[Review]: " + "Solid record with strong songs and clean production. " * 6,
}


class ScriptedBackend:
    """Every role: a fixed answer per stage (parses as the stage expects); no model."""

    def __init__(self) -> None:
        self.identity = {"backend": "scripted-scale", "version": 1}

    def chat(self, requests: Sequence[Any], on_result: Callable | None = None) -> list[Any]:
        from drp_bench.backends.base import ChatResult

        results = []
        for i, request in enumerate(requests):
            text = ANSWERS[request.stage]
            chars = sum(len(m["content"]) for m in request.messages)
            result = ChatResult(
                text=text,
                prompt_tokens=int(chars / CHARS_PER_TOKEN),
                completion_tokens=int(len(text) / CHARS_PER_TOKEN),
                finish_reason="stop",
            )
            if on_result:
                on_result(i, result)
            results.append(result)
        return results

    def close(self) -> None:
        pass


def scripted_vectors(self: Any, texts: list[str]) -> Any:
    """Stand-in for the embedding model's forward pass (``Embedder._embed``): a unit vector per
    text, seeded by the text's SHA-256. Everything around it (memory, the persistent embedding
    cache, K-means) runs as with the real model; only the model's compute is left out."""
    import hashlib

    import numpy as np

    out = np.empty((len(texts), EMBED_DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(EMBED_DIM)
        out[i] = vector / np.linalg.norm(vector)
    self.texts_encoded += len(texts)
    return out


def embedding_rate(texts: int = 64) -> float:
    """Texts per second of the real embedding model (the bundled one) on this machine,
    measured on the sample's first ``texts`` review texts."""
    import gzip

    from drp_bench.config.run_config import EmbedderSpec
    from drp_bench.pipeline.representatives import Embedder

    with gzip.open(SOURCE / "test.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    sample = [r["text"] for row in rows for r in row["profile"]][:texts]
    embedder = Embedder(EmbedderSpec())
    embedder._embed(sample[:2])  # load the model first
    start = time.perf_counter()
    embedder._embed(sample)
    return len(sample) / (time.perf_counter() - start)


# --- measuring -----------------------------------------------------------------------------


def _reset_peak() -> bool:
    """Reset the process's RSS high-water mark (Linux: /proc/self/clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    """RSS high-water mark since the last reset (VmHWM), else since the process started."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Phases:
    """Wall seconds and peak RSS (MB) per phase; a nested phase's time is taken out of its
    parent's (``stack``) so the phases add up."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES_ALL, 0.0))
    peak_mb: dict[str, float] = field(default_factory=dict)
    stack: list[str] = field(default_factory=list)

    def wrap(self, owner: Any, name: str, phase: str, top: bool = False) -> None:
        """Time every call of ``owner.name`` as ``phase`` (``top``: also its peak RSS)."""
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if top:
                _reset_peak()
            self.stack.append(phase)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                self.stack.pop()
                self.seconds[phase] += elapsed
                if self.stack:
                    self.seconds[self.stack[-1]] -= elapsed
                if top:
                    self.peak_mb[phase] = max(self.peak_mb.get(phase, 0.0), _peak_mb())

        setattr(owner, name, timed)


def instrument(phases: Phases) -> None:
    """Wrap the harness's functions at the names they are called by (timing only)."""
    import drp_bench.pipeline.context as context
    import drp_bench.run.execute as run
    import drp_bench.run.inputs as run_inputs
    import drp_bench.run.metrics_file as summary
    from drp_bench.pipeline.representatives import Embedder

    phases.wrap(run_inputs, "load_run_dataset", "load", top=True)
    phases.wrap(run_inputs, "build_contexts", "index+bm25+other", top=True)
    phases.wrap(Embedder, "_embed", "embedding")
    phases.wrap(context, "select_representatives", "kmeans")
    phases.wrap(run.Pipeline, "run", "pipeline", top=True)
    phases.wrap(summary, "score_records", "score", top=True)
    phases.wrap(summary, "summarize_run", "score", top=True)
    phases.wrap(run.run_folder, "stream_predictions", "write", top=True)
    phases.wrap(run.run_folder, "write_metrics", "write")


def measure_one(users: int, data_dir: Path, work: Path, embedder: str) -> dict[str, Any]:
    """Build the data, run DRP and the report on it; the figures of this size.

    ``embedder``: ``real`` (the bundled model) or ``scripted`` (:func:`scripted_vectors`)."""
    start = time.perf_counter()
    build_scaled_dataset(data_dir, users)
    build_s = time.perf_counter() - start
    import drp_bench
    from drp_bench import evaluate
    from drp_bench.pipeline.representatives import Embedder

    if embedder == "scripted":
        Embedder._embed = scripted_vectors  # type: ignore[method-assign]
    embedded = [0]
    model_embed = Embedder._embed

    def counted(self: Any, texts: list[str]) -> Any:
        embedded[0] += len(texts)
        return model_embed(self, texts)

    Embedder._embed = counted  # type: ignore[method-assign]
    phases = Phases()
    instrument(phases)
    backend = ScriptedBackend()
    roles = ("extractor", "validator", "normalizer", "summarizer", "generator")
    overrides = [
        "method=drp",
        f"dataset.path={data_dir}",
        f"dataset.meta_path={data_dir}",
        "dataset.name=scaled_music",
        f"cache.path={work / 'cache' / 'calls.sqlite'}",
    ]
    _reset_peak()
    start = time.perf_counter()
    result = evaluate(
        overrides, out_dir=work / "runs" / "run", backends=dict.fromkeys(roles, backend)
    )
    run_s = time.perf_counter() - start
    phases.seconds["run other"] = run_s - sum(phases.seconds[p] for p in PHASES)
    records = result.records
    calls, prompt_chars = _call_stats(records)
    del result, records

    code, phases.seconds["report"], phases.peak_mb["report"] = run_report(work)
    seconds, peak_mb = dict(phases.seconds), dict(phases.peak_mb)  # the plan is not the run
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    planned = plan_7b(overrides, work)
    predictions = work / "runs" / "run" / "predictions.jsonl"
    return {
        "users": users,
        "embedder": embedder,
        "texts_embedded": embedded[0],
        "drp_bench": drp_bench.__file__,
        "build_data_s": round(build_s, 3),
        "data_mb": round(data_size_mb(data_dir), 3),
        "predictions_mb": round(predictions.stat().st_size / 1e6, 3),
        "predictions": sum(1 for _ in predictions.open()),
        "report_exit": code,
        "report_files": sorted(p.name for p in (work / "report").iterdir()),
        "seconds": seconds,
        "peak_mb": peak_mb,
        "max_rss_mb": max_rss_mb,
        "calls": calls,
        "prompt_chars": prompt_chars,
        "plan": planned,
        "status": json.loads((work / "runs" / "run" / "metrics.json").read_text())["status"],
    }


def plan_7b(overrides: list[str], work: Path) -> dict[str, Any]:
    """``drp-bench plan`` of the same run with the 7B model in every role and an empty call
    cache: its calls, prompt tokens and hours (one GPU) at the max_tokens bound and at
    :data:`ASSUMED_COMPLETION_TOKENS` per call. Contexts are built once for both."""
    from omegaconf import OmegaConf

    from drp_bench.config.compose import compose_run_config
    from drp_bench.plan.engine import ContextMemo, plan_job
    from drp_bench.run.evaluate import _without_hydra

    job = [
        *[o for o in overrides if not o.startswith("cache.path=")],
        f"model@extractor={PLAN_MODEL}",
        f"model@generator={PLAN_MODEL}",
        f"cache.path={work / 'plan-cache' / 'calls.sqlite'}",
    ]
    cfg = OmegaConf.to_container(_without_hydra(compose_run_config(job)), resolve=True)
    memo = ContextMemo()
    start = time.perf_counter()
    bound = plan_job(job, cfg, memo)  # type: ignore[arg-type]
    per_call = ASSUMED_COMPLETION_TOKENS
    assumed = plan_job(job, cfg, memo, completion_tokens=per_call)  # type: ignore[arg-type]
    return {
        "model": PLAN_MODEL,
        "planning_s": round(time.perf_counter() - start, 3),
        "calls": bound.totals["calls"],
        "prompt_tokens": bound.totals["prompt_tokens"],
        "tokens_counted_with": bound.stages[0].prompt_tokens_method,
        "throughput": f"{bound.stages[0].prefill_tokens_per_s:g} prompt tok/s, "
        f"{bound.stages[0].decode_tokens_per_s:g} completion tok/s ({bound.stages[0].hardware})",
        "hours": {
            "max_tokens": bound.totals["gpu_hours"],
            f"{ASSUMED_COMPLETION_TOKENS}/call": assumed.totals["gpu_hours"],
        },
    }


def run_report(work: Path) -> tuple[int, float, float]:
    """``drp-bench report`` on the run, as a user runs it: its own process (start-up and
    imports included). Returns its exit code, wall seconds and peak RSS (MB)."""
    peak_file = work / "report-peak.txt"
    cmd = [sys.executable, __file__, "--report", str(work / "runs"), str(work / "report")]
    cmd += ["--peak-file", str(peak_file)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
    return proc.returncode, seconds, float(peak_file.read_text())


def report_process(runs: Path, out: Path, peak_file: Path) -> int:
    """The report's process: ``drp-bench report`` then its own peak RSS into ``peak_file``
    (a child's rusage would count the parent's memory copied at fork)."""
    from drp_bench.cli import main as cli_main

    code = cli_main(["report", str(runs), "--out", str(out), "--no-plots"])
    peak_file.write_text(f"{_peak_mb():.1f}")
    return code


def _call_stats(records: list[dict[str, Any]]) -> tuple[int, int]:
    """Calls made and the characters of every prompt sent."""
    from drp_bench.run.metrics_file import stage_calls

    calls = chars = 0
    for record in records:
        for _, call in stage_calls(record):
            if call.get("skipped"):
                continue
            calls += 1
            chars += sum(len(m["content"]) for m in call["messages"])
    return calls, chars


def harness_seconds(fig: dict[str, Any]) -> float:
    """Everything but the embedding model's compute."""
    return sum(s for p, s in fig["seconds"].items() if p not in MODEL_PHASES)


# --- running and printing -------------------------------------------------------------------


def run_size(users: int, root: Path, embedder: str) -> dict[str, Any]:
    """One size in a fresh process (its own peak memory)."""
    out = root / f"u{users}" / "figures.json"
    cmd = [sys.executable, __file__, "--one", str(users), "--root", str(root)]
    cmd += ["--embedder", embedder]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{users} users failed:\n{proc.stderr[-4000:]}")
    return json.loads(out.read_text())


def one(users: int, root: Path, embedder: str) -> None:
    work = root / f"u{users}"
    fig = measure_one(users, work / "data", work, embedder)
    (work / "figures.json").write_text(json.dumps(fig, indent=2))


def format_table(figs: list[dict[str, Any]]) -> str:
    head = f"{'users':>6} " + " ".join(f"{p[:16]:>16}" for p in PHASES_ALL)
    lines = [
        "wall s (s/user in ms) per phase; harness = all but embedding",
        head + f" {'harness':>16} {'peak MB':>8} {'data MB':>8}",
    ]
    for f in figs:
        n = f["users"]
        cells = [f"{f['seconds'][p]:7.2f} ({1e3 * f['seconds'][p] / n:5.2f})" for p in PHASES_ALL]
        h = harness_seconds(f)
        peak = max(f["peak_mb"].values())
        lines.append(
            f"{n:>6} "
            + " ".join(f"{c:>16}" for c in cells)
            + f" {h:7.2f} ({1e3 * h / n:5.2f}) {peak:8.1f} {f['data_mb']:8.1f}"
        )
    lines.append("peak RSS MB per phase: ")
    for f in figs:
        peaks = " ".join(f"{p}={v:.0f}" for p, v in f["peak_mb"].items())
        lines.append(f"  {f['users']:>6}: {peaks}")
    return "\n".join(lines)


def format_scaling(figs: list[dict[str, Any]]) -> str:
    small, large = figs[0], figs[-1]
    per_user = [harness_seconds(f) / f["users"] for f in (small, large)]
    peak = [max(f["peak_mb"].values()) for f in (small, large)]
    return (
        f"per-user harness time {large['users']} vs {small['users']} users: "
        f"{per_user[1] / per_user[0]:.2f}x (target <= 1.5x)\n"
        f"peak RSS growth {peak[1] / peak[0]:.2f}x for data growth "
        f"{large['data_mb'] / small['data_mb']:.2f}x (target: no faster than the data)"
    )


def format_model_estimate(fig: dict[str, Any], rate: float | None) -> str:
    plan = fig["plan"]
    lines = [
        f"model time by `drp-bench plan` at {fig['users']} users ({plan['model']} in every "
        f"role, one GPU at the registry's {plan['throughput']}; tokens counted with "
        f"{plan['tokens_counted_with']}): {plan['calls']:,} calls, "
        f"{plan['prompt_tokens'] / 1e6:,.1f} M prompt tokens "
        f"(planned in {plan['planning_s']:.0f} s)"
    ]
    harness = harness_seconds(fig)
    for label, hours in plan["hours"].items():
        model = hours * 3600
        lines.append(
            f"  completion {label}: model {model:,.0f} s ({hours:,.1f} GPU-h); harness "
            f"{harness:,.1f} s = {100 * harness / model:.2f}% of it (target < 5%)"
        )
    texts = fig["texts_embedded"]
    if rate is None:
        embed = f"{fig['seconds']['embedding']:,.1f} s measured"
    else:
        embed = f"~{texts / rate:,.0f} s estimated at the measured {rate:.1f} texts/s"
    lines.append(
        f"  embedding model (bundled MiniLM, this CPU): {texts} texts, {embed}; model compute, "
        "not counted as harness"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--keep", type=Path, help="keep data and runs in this folder")
    parser.add_argument(
        "--embedder",
        choices=("scripted", "real"),
        default="scripted",
        help="scripted (default): seeded vectors instead of the embedding model's forward pass, "
        "whose time is estimated from its measured rate; real: the bundled model (slow on CPU)",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--peak-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.report is not None:
        return report_process(*args.report, args.peak_file)
    if args.one is not None:
        one(args.one, args.root, args.embedder)
        return 0
    with tempfile.TemporaryDirectory(prefix="harness-scale-") as tmp:
        root = args.keep or Path(tmp)
        figs = []
        for users in args.users:
            fig = run_size(users, root, args.embedder)
            figs.append(fig)
            print(
                f"{users} users: {fig['predictions']} predictions, status {fig['status']}, "
                f"report exit {fig['report_exit']}, data built in {fig['build_data_s']:.1f} s "
                f"(load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
    print(f"drp_bench: {figs[0]['drp_bench']}")
    print(format_table(figs))
    if len(figs) > 1:
        print(format_scaling(figs))
    rate = embedding_rate() if args.embedder == "scripted" else None
    print(format_model_estimate(figs[-1], rate))
    print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

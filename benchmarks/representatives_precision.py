"""What CPU-independent representatives cost: agreement with the float32 choice, and time.

For each torch CPU kernel set (``ATEN_CPU_CAPABILITY``: the machine's own and ``default``) and
each ``embedding.precision`` (``float32``: the reference code's arithmetic, what drp-bench did
before; ``float64``: the default now), one process embeds the whole bundled sample with an
empty embedding cache and picks DRP's representatives for ``num_users`` 1, 2, 4 and 8
(``python -m tests.portability_probe``). It prints, per ``num_users``:

- whether float32 gives the same representatives and prompts on both kernel sets (it does not
  on an AVX-512 machine: that is the problem), and whether float64 does (it must);
- how many comparison items get the same representatives under float64 as under float32 (on the
  machine's kernels), and how many samples keep all of theirs: the price in agreement; next to
  it, the same count for float32 on the other kernels (what a change of CPU costs float32);
- the wall time of each process (embedding the sample dominates): the price in time.

    python benchmarks/representatives_precision.py [--capabilities native default]

Four processes of about 1 to 3 minutes each on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRECISIONS = ("float32", "float64")


def run_probe(capability: str, precision: str, folder: Path) -> tuple[dict, float]:
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    if capability != "native":
        env["ATEN_CPU_CAPABILITY"] = capability
    cache = folder / f"{capability}-{precision}"
    cache.mkdir()
    command = [sys.executable, "-m", "tests.portability_probe", str(cache), "1", "2", "4", "8"]
    start = time.perf_counter()
    out = subprocess.run(
        [*command, "--", f"embedding.precision={precision}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1]), time.perf_counter() - start


def agreement(a: dict, b: dict) -> tuple[int, int, int, int]:
    """(items with the same representatives, items, samples with all the same, samples)."""
    items = [(s, i) for s in a for i in a[s]]
    same_items = sum(a[s][i] == b[s][i] for s, i in items)
    same_samples = sum(a[s] == b[s] for s in a)
    return same_items, len(items), same_samples, len(a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capabilities", nargs=2, default=["native", "default"])
    args = parser.parse_args()
    first, second = args.capabilities
    results: dict[tuple[str, str], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in PRECISIONS:  # side by side: each precision on both kernel sets
            for capability in (first, second):
                out, seconds = run_probe(capability, precision, Path(tmp))
                results[capability, precision] = out
                print(f"{precision} on {capability} kernels: {seconds:.1f} s", flush=True)
    print()
    print(
        f"num_users  float32 {first}={second}  float64 {first}={second}  "
        f"float64 vs float32 ({first}): items  samples  "
        f"float32 {second} vs {first}: items  samples"
    )
    for n in results[first, "float32"]:
        f32a, f32b = results[first, "float32"][n], results[second, "float32"][n]
        f64a, f64b = results[first, "float64"][n], results[second, "float64"][n]

        def same(x: dict, y: dict) -> str:
            reps = x["representatives"] == y["representatives"]
            return "yes" if reps and x["prompts"] == y["prompts"] else "NO"

        items, n_items, samples, n_samples = agreement(
            f64a["representatives"], f32a["representatives"]
        )
        kernels = agreement(f32b["representatives"], f32a["representatives"])
        print(
            f"{n:>9}  {same(f32a, f32b):>18}  {same(f64a, f64b):>18}  "
            f"{items:>5}/{n_items} ({items / n_items:.1%})  {samples}/{n_samples}  "
            f"{kernels[0]:>5}/{kernels[1]} ({kernels[0] / kernels[1]:.1%})  "
            f"{kernels[2]}/{kernels[3]}"
        )


if __name__ == "__main__":
    main()

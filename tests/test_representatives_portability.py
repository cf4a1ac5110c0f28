"""Representatives and prompts do not depend on the CPU's vector kernels.

torch picks its CPU kernels by the CPU's vector width, and ``ATEN_CPU_CAPABILITY`` switches them
on one machine: a float32 forward pass then differs in the last bits of the vectors, K-means and
the closest-to-centre pick flip on near ties, and a representative (so a prompt) changes. With
``embedding.precision=float64`` (the default) every sample's representatives and every prompt of
DRP on the whole bundled sample must be identical under the ``default`` and ``avx2`` kernels
and the machine's own, for ``num_users`` 1, 2, 4 and 8.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CAPABILITIES = ("default", "avx2", None)  # None: the machine's own kernels (AVX-512 here)


def probe(tmp: Path, capability: str | None, *overrides: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    if capability:
        env["ATEN_CPU_CAPABILITY"] = capability
    cache = tmp / (capability or "native")  # an empty embedding cache: every vector made here
    cache.mkdir()
    command = [sys.executable, "-m", "tests.portability_probe", str(cache), "1", "2", "4", "8"]
    out = subprocess.run(
        [*command, "--", *overrides],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.timeout(1800)  # three processes embed the whole sample in float64 on 2 cores
def test_representatives_and_prompts_are_identical_across_torch_cpu_kernels(tmp_path):
    results = {cap: probe(tmp_path, cap) for cap in CAPABILITIES}
    native = results[None]
    assert set(native) == {"1", "2", "4", "8"}
    for num_users, expected in native.items():
        assert expected["calls"] > 0
        chosen = [u for items in expected["representatives"].values() for u in items.values()]
        assert chosen and all(len(users) <= int(num_users) for users in chosen)
        for capability in ("default", "avx2"):
            got = results[capability][num_users]
            assert got["representatives"] == expected["representatives"], (
                f"num_users={num_users}: representatives differ under {capability}"
            )
            assert got["prompts"] == expected["prompts"], (
                f"num_users={num_users}: prompts differ under {capability}"
            )

"""Progress of a stage: a bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger("drp_bench.pipeline.progress")  # a child: same handlers as the run


class StageProgress:
    """Counts finished calls and tokens of one stage and reports them while work goes on."""

    def __init__(
        self, stage: str, total: int, stream: TextIO | None = None, log_every_s: float = 10.0
    ):
        self.stage = stage
        self.total = total
        self.done = 0
        self.cached = 0
        self.failed = 0
        self.completion_tokens = 0
        self._start = time.perf_counter()
        self._last_log = self._start
        self._log_every_s = log_every_s
        stream = stream or sys.stderr
        self._bar = None
        if stream.isatty() and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=stage, unit="call", file=stream, leave=True)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self._start

    def update(self, completion_tokens: int, cached: bool, failed: bool) -> None:
        self.done += 1
        self.cached += int(cached)
        self.failed += int(failed)
        if not cached:
            self.completion_tokens += completion_tokens
        if self._bar is not None:
            self._bar.set_postfix_str(self._rate(), refresh=False)
            self._bar.update(1)
            return
        now = time.perf_counter()
        if now - self._last_log >= self._log_every_s or self.done == self.total:
            self._last_log = now
            log.info("%s", self.line())

    def _rate(self) -> str:
        elapsed = max(self.elapsed_s, 1e-9)
        return f"{self.completion_tokens / elapsed:.1f} tok/s, {self.cached} cached"

    def line(self) -> str:
        return (
            f"[{self.stage}] {self.done}/{self.total} calls, {self.elapsed_s:.1f}s elapsed, "
            f"{self._rate()}, {self.failed} failed"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self.total:
            log.info("%s (done)", self.line())

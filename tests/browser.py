"""Headless Chromium driven by Playwright, for the leaderboard page's tests and screenshots.

The browser is the system's (Debian's ``chromium``, installed by ``make browser``), or the
executable ``DRP_BENCH_CHROMIUM`` names (e.g. Chrome on macOS); Playwright's own browser
download (``playwright install``) is never used.

    python -m tests.browser PAGE.html OUT.png    # a full-page screenshot of PAGE.html
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: The browser: DRP_BENCH_CHROMIUM, else Debian's chromium.
CHROMIUM = Path(os.environ.get("DRP_BENCH_CHROMIUM") or "/usr/bin/chromium")
#: No sandbox (CI runs as root), no GPU, and none of Chromium's own background traffic.
#: Playwright adds --headless itself.
ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT = {"width": 1280, "height": 900}


@contextmanager
def open_page(width: int = VIEWPORT["width"], height: int = VIEWPORT["height"]) -> Iterator[Page]:
    """A blank page of a fresh headless Chromium (new profile folder, removed afterwards)."""
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="drp-bench-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=list(ARGS),
            viewport={"width": width, "height": height},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def screenshot(html: Path, out: Path, width: int = VIEWPORT["width"]) -> Path:
    """Save a full-page PNG screenshot of the local page ``html``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open_page(width=width) as page:
        page.goto(html.resolve().as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(out), full_page=True)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.browser PAGE.html OUT.png", file=sys.stderr)
        return 2
    print(screenshot(Path(argv[0]), Path(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Debian's Chromium driven by Playwright, and the pages' screenshots as test artifacts.

Playwright cannot download its own browser here, so the tests launch ``/usr/bin/chromium``
(``make test`` installs it with apt-get). A missing browser fails the tests with a message
that says how to get it: a browser test is never skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags, Chromium keeps calling out of a closed network.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "pages"
LAPTOP = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}


def require_chromium() -> Path:
    """Debian's Chromium, or a failed test saying how to install it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"The browser tests need Debian's Chromium at {CHROMIUM}, which is missing. "
            "Run `make test` (it installs it), or `apt-get install -y chromium` as root.",
            pytrace=False,
        )
    return CHROMIUM


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the duration of the block."""
    executable = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Screenshots:
    """Full-page screenshots under ``test-artifacts/pages``, numbered in the order taken."""

    folder: Path = ARTIFACTS
    taken: int = 0

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: Page, name: str) -> Path:
        """Save ``page`` as ``NN-name.png``."""
        self.taken += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        path = self.folder / f"{self.taken:02d}-{slug}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

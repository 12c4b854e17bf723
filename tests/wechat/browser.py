"""Debian's Chromium for the end-to-end test: found on PATH, or installed with apt-get when the
suite runs as root (CI's machines start without it). Playwright drives it through its
`executable_path`: Playwright's own browser download needs a CDN this suite cannot reach."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cdp.graphql.trusted import PAGES_MANIFEST
from tests.support.debian import apt_get

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, Request

NAMES = ("chromium", "chromium-browser")
# A CJK font so the screenshot shows the page's Chinese; the test passes without it.
FONT_PACKAGE = "fonts-wqy-zenhei"
LOCK = Path(tempfile.gettempdir()) / "cdp-chromium-install.lock"


def _found() -> str | None:
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def find_or_install_chromium() -> tuple[str | None, str]:
    """The Chromium binary, or None and why not."""
    path = _found()
    if path:
        return path, "found"
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None, "Chromium is not installed and apt-get cannot run here (not root?)"
    # Two test workers may get here at once: one installs, the other waits and finds it.
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = _found()
        if path is None:
            installed = apt_get("install", "-y", "-q", "chromium") or (
                apt_get("update", "-q") and apt_get("install", "-y", "-q", "chromium")
            )
            if installed:
                apt_get("install", "-y", "-q", FONT_PACKAGE)
            path = _found()
    if path is None:
        return None, "apt-get install chromium failed (no Debian mirror reachable?)"
    return path, "installed"


@asynccontextmanager
async def headless(chromium: str) -> AsyncIterator[Browser]:
    """Headless Chromium at `chromium`, closed on the way out (as every browser test runs it:
    no sandbox as root, no GPU)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[str]:
    """The Chromium every browser test drives; the tests are skipped, loudly, without one."""
    pytest.importorskip("playwright.async_api", reason="playwright is not installed (pip)")
    path, why = find_or_install_chromium()
    if path is None:
        bar = "!" * 78
        message = (
            f"\n{bar}\n!! Headless Chromium unavailable: the browser tests are SKIPPED."
            f"\n!! {why}\n{bar}"
        )
        warnings.warn(message, stacklevel=1)
        print(message)
        pytest.skip(why)
    yield path


def record_graphql(
    page: Page, sent: list[dict[str, object]] | None = None
) -> list[dict[str, object]]:
    """Every JSON body the page POSTs to /graphql (filled in as it runs; into `sent` if given)."""
    sent = [] if sent is None else sent

    def seen(request: Request) -> None:
        if request.method == "POST" and request.url.split("?")[0].endswith("/graphql"):
            sent.append(request.post_data_json)

    page.on("request", seen)
    return sent


def assert_trusted_only(sent: list[dict[str, object]]) -> None:
    """The page sent trusted documents of cdp's manifest by id, and never a document's text."""
    manifest = json.loads(PAGES_MANIFEST.read_text(encoding="utf-8"))
    assert sent, "the page sent nothing to /graphql"
    for body in sent:
        assert "query" not in body, f"the page sent a document's text: {body}"
        assert body.get("documentId") in manifest, f"not a trusted document of the pages: {body}"

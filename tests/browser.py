"""A real browser for the web-UI tests: headless Debian chromium driven by Playwright (the `browser` fixture, imported
by conftest.py).

Chromium is Debian's (`apt-get install chromium`; .ci/run installs it), never a downloaded browser: where it or
Playwright is missing the tests that use it skip, saying which. Host names other than 127.0.0.1 do not resolve.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def chromium_args() -> list[str]:
    args = ["--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
    args += ["--disable-default-apps", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    return args + (["--no-sandbox"] if os.geteuid() == 0 else [])  # chromium refuses its sandbox as root


@pytest.fixture
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")
    if not CHROMIUM.exists():
        pytest.skip(f"no Debian chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=chromium_args())
        yield browser
        browser.close()


def open_annotation_page(page, server, dataset_id, username: str = "owner", password: str | None = None) -> None:
    """Sign in to the Argilla web UI of `server` (tests.argilla_server.LocalArgilla) and open a dataset's queue."""
    page.goto(f"{server.url}/sign-in")
    page.fill("input[name=Username]", username)
    page.fill("input[name=Password]", password or server.password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda address: "/sign-in" not in address, timeout=60_000)
    page.goto(f"{server.url}/dataset/{dataset_id}/annotation-mode?status=pending")

"""A page in real Chromium (the build the service uses), for tests that act as a browser:
the playground, the API reference, a seed API's ``EventSource`` example."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from playwright.async_api import async_playwright

from screenshotd.settings import Settings


@contextlib.asynccontextmanager
async def watched_page() -> AsyncIterator[tuple[Any, list[str]]]:
    """A page in real Chromium, and the URL of every request it makes."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=Settings().resolve_chromium(),
            args=["--no-sandbox"] if os.geteuid() == 0 else [])
        try:
            page = await browser.new_page()
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            yield page, requested
        finally:
            await browser.close()

"""Playwright's driver, started ahead of the pool that will use it.

The driver is a Node.js process that loads Playwright's server before it answers: about 0.3 s,
five times what launching Chromium itself then takes (measured on the benchmark machine). A
command that captures once (``screenshotd shot``) starts it first and loads and validates the
rest of the service while Node.js boots, so that a one-page capture costs what a one-page
Playwright script costs. The pool takes it over in :meth:`~screenshotd.browser.pool.BrowserPool.open`
and stops it when it closes; a driver that no pool took is stopped by :meth:`Driver.close`.
"""

from __future__ import annotations

import asyncio
import contextlib

from playwright.async_api import Playwright, async_playwright

#: How long the driver may take to start, and to stop (as the pool allows its own).
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


class Driver:
    """Playwright's driver, starting from the moment this is made (on a running loop)."""

    def __init__(self) -> None:
        self._starting: asyncio.Task[Playwright] = asyncio.create_task(
            async_playwright().start(), name="playwright-driver")
        self._taken = False

    async def take(self) -> Playwright:
        """The started driver, for the pool that now owns it (waits for its start, within
        the launch timeout)."""
        self._taken = True
        return await asyncio.wait_for(asyncio.shield(self._starting), START_TIMEOUT_S)

    async def close(self) -> None:
        """Stop the driver unless a pool took it (then the pool stops it). A driver still
        starting is let finish first: cancelled half-way, its Node.js process would be left
        running until this process ends."""
        if self._taken:
            return
        self._taken = True
        try:
            playwright = await asyncio.wait_for(asyncio.shield(self._starting),
                                                START_TIMEOUT_S)
        except asyncio.CancelledError:
            self._starting.cancel()
            raise
        except Exception:  # noqa: BLE001 - it never started: nothing to stop
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(playwright.stop(), STOP_TIMEOUT_S)


async def start(driver: Driver | None) -> Playwright:
    """Playwright's driver for a pool: the one started ahead, else one started now."""
    if driver is not None:
        return await driver.take()
    return await asyncio.wait_for(async_playwright().start(), START_TIMEOUT_S)


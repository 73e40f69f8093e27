"""wait_until_stable(page, opts) -> (stable, waited_ms): the wait before the shot until the page
has stopped moving (``wait_for_stable``, on by default).

A still page pays one call: the page's own signals (:data:`~screenshotd.browser.scripts.QUIET`)
show no animation frame asked for and no finite animation running, and the shot goes ahead. A
page animating with JavaScript (a chart growing, a counter) or with finite CSS or Web Animations
is polled until it stops asking for frames, for up to half the budget. What the signals cannot
settle, an endless animation or frames asked for without end, is decided by pixels: small
lossless shots of what will be captured (the element or clip, the whole page for
``full_page``, else the viewport), until two in a row are identical. When the budget (``STABLE_BUDGET_MS``, within the request's time) runs
out, the answer is "not stable", and the shot is taken anyway.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from typing import Any

from playwright.async_api import CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from screenshotd.browser import scripts
from screenshotd.params.capture import RenderOptions

#: Between two shots compared, so that a slow change (an eased ending) shows as a difference.
SHOT_GAP_S = 0.1
#: How far past its budget the wait may run (a shot under way) before it is cut short.
OVERRUN_S = 0.5
#: The compared shots' longest side, in device pixels: a page taller than this is scaled down.
MAX_COMPARED_PX = 2000
#: The share of the budget the page's own signals may take before pixels decide: a page that
#: asks for frames for ever (a loop that draws nothing, or draws outside the element shot) is
#: then still found stable by its pixels.
SIGNAL_SHARE = 0.5
#: How long the element of a ``selector`` capture is looked for, to compare it alone.
BOX_TIMEOUT_MS = 500


async def settle(page: Page, opts: RenderOptions, budget_ms: int, left_ms: int,
                 session: CDPSession | None = None) -> tuple[bool | None, int]:
    """The wait for a capture: None (not asked for, or a video or PDF, which are not a frame)
    or whether it settled, within ``budget_ms`` and the ``left_ms`` of the request's time."""
    if not opts.wait_for_stable or opts.is_video or opts.format == "pdf" or budget_ms <= 0:
        return None, 0  # STABLE_BUDGET_MS=0 turns the wait off: not waited for, not unstable
    budget = min(budget_ms, left_ms)
    started = time.monotonic()
    try:  # every step is bounded; this bounds them all (a page busy navigating, say)
        return await asyncio.wait_for(wait_until_stable(page, opts, budget, session),
                                      budget / 1000 + OVERRUN_S)
    except TimeoutError:
        return False, _since(started)


async def wait_until_stable(page: Page, opts: RenderOptions, budget_ms: int,
                            session: CDPSession | None = None) -> tuple[bool, int]:
    """Whether the page settled within ``budget_ms``, and how long this waited (ms)."""
    started = time.monotonic()
    if budget_ms <= 0:
        return False, 0
    report = await page.evaluate(scripts.QUIET, budget_ms * SIGNAL_SHARE)
    if report["quiet"] and not report["endless"]:
        return True, _since(started)
    left = budget_ms / 1000 - (time.monotonic() - started)
    own = session is None
    cdp = session or await page.context.new_cdp_session(page)
    try:
        stable = await _same_twice(page, opts, cdp, left)
    finally:
        if own:
            with contextlib.suppress(Exception):
                await cdp.detach()
    return stable, _since(started)


async def _same_twice(page: Page, opts: RenderOptions, cdp: CDPSession, left: float) -> bool:
    end = time.monotonic() + left
    params = await _shot_params(page, opts)
    previous = await _shot(cdp, params)
    while time.monotonic() + SHOT_GAP_S < end:
        await asyncio.sleep(SHOT_GAP_S)
        current = await _shot(cdp, params)
        if current == previous:
            return True
        previous = current
    return False


async def _shot_params(page: Page, opts: RenderOptions) -> dict[str, Any]:
    """``Page.captureScreenshot`` arguments: the part of the page the capture will shoot (the
    element, the clip, the whole page for ``full_page``, else the viewport), at most
    :data:`MAX_COMPARED_PX` on its longest side."""
    params: dict[str, Any] = {"format": "png", "optimizeForSpeed": True}
    region = await _region(page, opts)
    if region is None and opts.full_page:
        width, height = await page.evaluate(scripts.PAGE_SIZE)
        region = {"x": 0, "y": 0, "width": width, "height": height}
    if region is not None:
        longest = max(region["width"], region["height"], 1) * (opts.device_scale_factor or 1)
        params["captureBeyondViewport"] = True
        params["clip"] = {**region, "scale": min(1.0, MAX_COMPARED_PX / longest)}
    return params


async def _region(page: Page, opts: RenderOptions) -> dict[str, float] | None:
    """The element (``selector``) or the clip the capture will shoot, in page coordinates;
    None for the viewport or the whole page, or while the element is not there to measure."""
    if opts.selector:
        try:
            box = await page.locator(opts.selector).first.bounding_box(timeout=BOX_TIMEOUT_MS)
        except PlaywrightError:
            return None  # not there yet (the capture waits for it): the viewport stands in
        if box is None or box["width"] < 1 or box["height"] < 1:
            return None
        region = {key: box[key] for key in ("x", "y", "width", "height")}
    elif opts.clip is not None:
        region = {key: float(value) for key, value in opts.clip.items()}
        if opts.full_page:
            return region  # a full-page clip is in page coordinates already
    else:
        return None
    scroll_x, scroll_y = await page.evaluate("() => [scrollX, scrollY]")
    return {**region, "x": region["x"] + scroll_x, "y": region["y"] + scroll_y}


async def _shot(cdp: CDPSession, params: dict[str, Any]) -> bytes:
    result = await cdp.send("Page.captureScreenshot", params)
    return base64.b64decode(result["data"])


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)

"""capture(context, opts) -> RawCapture: drive one page in a fresh context. Playwright only.

The steps, in order:

1. emulation on the page: viewport, colour scheme, reduced motion, media type; headers,
   cookies and geolocation on the context;
2. the request filter (``block_ads``, ``block_trackers``, ``block_requests``,
   ``block_resources``), the consent-banner sheet, ``local_storage`` and ``freeze_time``'s
   stopped clock (:mod:`.steps`); navigation (``url``) or rendering (``html``) until
   ``wait_until`` (``networkidle2``: at most two open requests for 500 ms); with
   ``freeze_time``, the page's clock is then run forward at once;
3. ``wait_for_selector``; ``styles`` and ``hide_selectors`` (a constructed style sheet, which a
   page's CSP does not block); element hiding; consent banners; ``scripts``; ``click``;
   ``actions``; for ``full_page``, a scroll through the page so lazy content loads;
   ``scroll_to``; ``delay``; anti-flicker snippets are undone, the caret hidden, animations
   settled (``animations``), fonts and images waited for (bounded); ``redact``; the HTML read;
4. the stability wait (:mod:`.stable`); the screenshot (or PDF): the element for ``selector``,
   the clip, or the viewport or full page with its height capped (a plain viewport shot of a
   warm page is one DevTools call on its own session); or a video (:mod:`.video`).

Playwright's errors are translated here, at the boundary: timeouts while the page gets ready are
``TIMEOUT``, ``net::ERR_*`` is ``NAVIGATION_FAILED``, a selector that never appears is
``SELECTOR_NOT_FOUND``. Nothing here knows about HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass
from typing import Any, Literal

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from screenshotd import errors
from screenshotd.blocking.lists import RequestFilter
from screenshotd.browser import pdf, reset, scripts, steps, video
from screenshotd.browser.lease import crashed, is_closed
from screenshotd.browser.stable import settle
from screenshotd.browser.steps import Deadline
from screenshotd.net.proxy import MARKER_LOWER, Channel
from screenshotd.params.capture import RenderOptions
from screenshotd.params.depth import FROZEN_RUN_MS

#: Time allowed for the screenshot or PDF itself, beyond the page's own ``timeout``.
SHOT_TIMEOUT_MS = 30000
#: Most time spent waiting for lazy images and fonts before a capture goes ahead without them.
SETTLE_TIMEOUT_MS = 3000


_NET_ERROR = re.compile(r"net::(ERR_[A-Z0-9_]+)")
#: ``wait_until`` as Playwright takes it; networkidle2 loads, then waits in its own tracker.
_NATIVE_WAIT_UNTIL: dict[str, Literal["domcontentloaded", "load", "networkidle"]] = {
    "load": "load", "domcontentloaded": "domcontentloaded",
    "networkidle0": "networkidle", "networkidle2": "load",
}


@dataclass
class RawCapture:
    """What Chromium produced, before any resize or re-encoding."""

    data: bytes
    kind: str  # "png", "jpeg", "pdf" or "video"
    truncated: bool
    final_url: str | None
    http_status: int | None
    #: The rendered page's HTML, when content or metadata was asked for.
    html: str | None = None
    #: A video's frame size (an image's is read from its bytes).
    size: tuple[int, int] | None = None
    #: Whether the page settled before the shot (None: not waited for), and the wait in ms.
    stable: bool | None = None
    stable_ms: int = 0


async def capture(
    context: BrowserContext,
    opts: RenderOptions,
    *,
    max_height: int,
    page: Page | None = None,
    channel: Channel | None = None,
    request_filter: RequestFilter | None = None,
    emulated: set[str] | None = None,
    session: CDPSession | None = None,
    stable_budget_ms: int = 0,
) -> RawCapture:
    """Render ``opts`` in ``context`` and return Chromium's bytes. The caller owns the context.

    ``page`` is a blank page already open in ``context`` (a warm lease), else one is opened.
    ``channel`` is the context's egress channel: when the main document ends at an address it
    refused (a redirect, a script or a meta refresh), the capture is that refusal's error.
    ``request_filter`` decides the page's requests and counts what it blocked. ``emulated``
    collects what was changed of the page's emulation (the lease's record, for page mode's
    reset). ``session`` is the warm page's own DevTools session: its media is emulated through
    it (see :func:`screenshotd.browser.reset.attach`), and a plain viewport shot is taken with it.
    ``stable_budget_ms``: the most ``wait_for_stable`` waits (:mod:`.stable`).
    """
    deadline = Deadline(opts.timeout or 30000)
    if page is None:
        page = await context.new_page()
    await _emulate(context, page, opts, set() if emulated is None else emulated, session)
    await steps.before_load(context, page, opts, request_filter)
    response = await _load(page, opts, deadline, channel)
    steps.check_status(opts, response)
    await steps.run_clock(page, opts, FROZEN_RUN_MS, deadline)
    for attempt in (1, 2):
        try:
            await _prepare(page, opts, deadline, max_height, request_filter)
            html = await steps.read_html(page) if opts.reads_page else None
            stable, stable_ms = await settle(page, opts, stable_budget_ms, deadline.ms(0),
                                             session)
            if opts.is_video:
                data, size = await video.record(page, opts, session)
                kind, truncated = "video", False
            else:
                data, kind, truncated = await _shoot(page, opts, max_height, deadline, session)
            break
        except PlaywrightError as exc:
            if not _navigated_away(exc):
                raise
            if attempt == 2:
                raise errors.NavigationFailed("the page kept navigating away while it was "
                                              f"being captured ({steps.RESTLESS})") from None
            # The page sent itself elsewhere (a script, a meta refresh) while it was being
            # prepared. Let the new document load, then prepare and capture that one.
            await _new_document(page, deadline, channel)
    _check_document(page, channel)
    return RawCapture(
        data=data,
        kind=kind,
        truncated=truncated,
        final_url=page.url if opts.url else None,
        http_status=response.status if response is not None else None,
        html=html,
        size=size if opts.is_video else None, stable=stable, stable_ms=stable_ms,
    )


async def _emulate(context: BrowserContext, page: Page, opts: RenderOptions,
                   emulated: set[str], session: CDPSession | None = None) -> None:
    """Set the page's emulation for ``opts``, and name in ``emulated`` what was changed."""
    assert opts.width and opts.height
    if (opts.width, opts.height) != (1280, 800):
        emulated.add("viewport")
        await page.set_viewport_size({"width": opts.width, "height": opts.height})
    printing = "print" if opts.format == "pdf" else "screen"  # what the shot uses by itself
    if opts.media_type != printing or opts.dark_mode or opts.reduced_motion:
        # A new page already has screen media, a light scheme and no motion preference, and
        # printing to PDF uses print media unless screen is asked for explicitly.
        emulated.add("media")
        if session is not None:
            await reset.emulate_media(session, opts.media_type, bool(opts.dark_mode),
                                      bool(opts.reduced_motion))
        else:
            await page.emulate_media(
                media=opts.media_type,
                color_scheme="dark" if opts.dark_mode else "light",
                reduced_motion="reduce" if opts.reduced_motion else "no-preference",
            )
    if opts.headers:
        emulated.add("headers")
        await page.set_extra_http_headers(opts.headers)
    if opts.cookies:
        try:
            # Playwright types cookies as its SetCookieParam TypedDict, which it does not export.
            await context.add_cookies([c.to_playwright(opts.url) for c in opts.cookies])  # type: ignore[misc]
        except PlaywrightError as exc:
            raise errors.ValidationError(f"cookies: {steps.page_error(exc)}", field="cookies") from None
    if opts.geolocation_latitude is not None and opts.geolocation_longitude is not None:
        emulated.add("geolocation")
        await context.grant_permissions(["geolocation"])
        await context.set_geolocation({
            "latitude": opts.geolocation_latitude,
            "longitude": opts.geolocation_longitude,
            "accuracy": opts.geolocation_accuracy,
        })


async def _load(
    page: Page, opts: RenderOptions, deadline: Deadline, channel: Channel | None
) -> Any:
    native = _NATIVE_WAIT_UNTIL[opts.wait_until]
    tracker = _InflightTracker(page) if opts.wait_until == "networkidle2" else None
    documents = steps.Documents(page)
    response = None
    try:
        if opts.url is not None:
            response = await page.goto(opts.url, wait_until=native, timeout=deadline.ms())
        else:
            await page.set_content(opts.html or "", wait_until=native, timeout=deadline.ms())
        if tracker is not None:
            await tracker.wait_idle(max_inflight=2, quiet_ms=500, timeout_ms=deadline.ms())
    except PlaywrightTimeout:
        raise documents.timed_out(opts) from None
    except PlaywrightError as exc:
        match = _NET_ERROR.search(str(exc))
        if match:
            # A document that never loaded requested nothing else: the proxy's latest refusal,
            # if any, is the navigation's own (the page's host or a redirect hop).
            refusal = channel.last_refusal() if channel is not None else None
            if refusal is not None:
                raise refusal.error() from None
            raise errors.NavigationFailed(
                f"the browser could not load the page: {match.group(1)}"
            ) from None
        raise
    finally:
        documents.detach()
        if tracker is not None:
            tracker.detach()
    if response is not None and channel is not None and MARKER_LOWER in response.headers:
        # Plain http: the proxy answered for the document (or its last redirect hop).
        refusal = channel.refused(response.url) or channel.last_refusal()
        if refusal is not None:
            raise refusal.error()
    return response


def _navigated_away(exc: PlaywrightError) -> bool:
    """Whether a step failed because the main frame was navigating (its document went away,
    or there was no frame to capture mid-navigation)."""
    text = str(exc).split("\n", 1)[0]
    return any(sign in text for sign in (
        "Execution context was destroyed", "navigat", "Unable to capture screenshot"))


async def _new_document(page: Page, deadline: Deadline, channel: Channel | None) -> None:
    try:
        await page.wait_for_load_state("load", timeout=deadline.ms())
    except PlaywrightTimeout:
        raise errors.CaptureTimeout("the page navigated away and the new page did not load") from None
    _check_document(page, channel)


def _check_document(page: Page, channel: Channel | None) -> None:
    """Refuse a main frame that the page sent to an address the guard refused (403
    ``BLOCKED``), or to one that did not load.

    The full browser shows its error page (``chrome-error:``) for the proxy's empty refusal;
    the headless shell shows the empty document at the refused URL itself, so a document whose
    host the guard blocked is refused too."""
    if not page.url.startswith("chrome-error:"):
        if channel is not None and page.url.startswith("http"):
            refusal = channel.refused(page.url)
            if refusal is not None and refusal.reason == "blocked":
                raise refusal.error()
        return
    refusal = channel.last_refusal() if channel is not None else None
    if refusal is not None:
        raise refusal.error()
    raise errors.NavigationFailed("the page navigated to an address that did not load")


async def _prepare(
    page: Page, opts: RenderOptions, deadline: Deadline, max_height: int,
    request_filter: RequestFilter | None = None,
) -> None:
    if opts.wait_for_selector:
        await _wait_visible(page, opts.wait_for_selector, deadline, "wait_for_selector")
    css = opts.styles or ""
    if opts.hide_selectors:
        css += "\n" + "\n".join(f"{s} {{ display: none !important; }}" for s in opts.hide_selectors)
    if css.strip():
        await page.evaluate(scripts.ADD_STYLE_SHEET, css)
    await steps.clean(page, opts, request_filter, scripts.ADD_STYLE_SHEET)
    if opts.scripts:
        try:
            await page.evaluate("async () => {\n" + opts.scripts + "\n}")
        except PlaywrightError as exc:
            if is_closed(exc) or crashed(exc):
                raise  # the lease reports a crash as such
            raise errors.ValidationError(
                f"scripts threw: {steps.page_error(exc)}", field="scripts"
            ) from None
    if opts.click:
        try:
            await page.locator(opts.click).first.click(timeout=min(deadline.ms(), 10000))
        except PlaywrightTimeout:
            raise errors.SelectorNotFound(
                f"click: no clickable element matches {opts.click!r}", field="click"
            ) from None
        except PlaywrightError as exc:
            _raise_bad_selector(exc, "click", opts.click)
            raise
    if opts.actions and not opts.is_video:  # a video replays them while it records
        await steps.run_actions(page, opts.actions, deadline)
    if opts.full_page:
        await _settle(page, scripts.SCROLL_THROUGH, min(deadline.ms(), 8000), max_height)
    if opts.scroll_to is not None:
        await page.evaluate("y => { window.scrollTo(0, y); }", opts.scroll_to)
    if opts.delay:
        await asyncio.sleep(opts.delay / 1000)
        await steps.run_clock(page, opts, opts.delay, deadline)  # the page's time passes too
    if _changed_after_load(opts):
        await _settle(page, scripts.SETTLE, min(deadline.ms(), SETTLE_TIMEOUT_MS), int(opts.full_page))
    await page.evaluate(scripts.READY, [min(deadline.ms(), SETTLE_TIMEOUT_MS),
                                        opts.caret == "hide" and opts.format != "pdf",
                                        opts.animations == "disabled", opts.full_page])
    if opts.redact:
        await steps.redact(page, opts.redact, opts.redact_mode)


def _changed_after_load(opts: RenderOptions) -> bool:
    """Whether images or fonts may still be loading when the capture is about to be taken.

    The load event already waited for the document's images and fonts; only what ran after it
    (or an earlier wait_until) can have started new ones.
    """
    return bool(
        opts.wait_until == "domcontentloaded" or opts.wait_for_selector or opts.styles
        or opts.scripts or opts.click or opts.full_page or opts.scroll_to is not None
        or opts.delay or opts.actions or opts.block_cookie_banners
    )


async def _settle(page: Page, script: str, budget_ms: int, arg: int) -> None:
    """Run a best-effort waiting script; a slow page goes ahead without it."""
    try:
        await asyncio.wait_for(page.evaluate(script, [arg, budget_ms]), budget_ms / 1000 + 1)
    except TimeoutError:
        pass
    except PlaywrightError as exc:
        if is_closed(exc):
            raise


async def _shoot(
    page: Page, opts: RenderOptions, max_height: int, deadline: Deadline,
    session: CDPSession | None = None,
) -> tuple[bytes, str, bool]:
    if opts.format == "pdf":
        return await pdf.render(page, opts), "pdf", False

    # Chromium encodes png and jpeg itself; webp and resized output are made from a png.
    direct_jpeg = opts.format == "jpeg" and not (opts.image_width or opts.image_height)
    kind = "jpeg" if direct_jpeg else "png"
    shot: dict[str, Any] = {"type": kind, "timeout": SHOT_TIMEOUT_MS, "caret": opts.caret,
                            "animations": opts.animations}  # READY settled them already
    if direct_jpeg:
        shot["quality"] = opts.quality
    elif opts.omit_background:
        shot["omit_background"] = True

    if session is not None and not (opts.selector or opts.clip or opts.full_page
                                    or opts.omit_background):
        return await _shoot_viewport(session, shot), kind, False
    if opts.selector:
        locator = page.locator(opts.selector).first
        await _wait_visible(page, opts.selector, deadline, "selector")
        return await locator.screenshot(**shot), kind, False

    truncated = False
    if opts.clip is not None:
        shot["clip"] = opts.clip
        shot["full_page"] = opts.full_page
    elif opts.full_page:
        width, height = await page.evaluate(scripts.PAGE_SIZE)
        shot["full_page"] = True
        if height > max_height:
            truncated = True
            shot["clip"] = {"x": 0, "y": 0, "width": width, "height": max_height}
    return await page.screenshot(**shot), kind, truncated


async def _shoot_viewport(session: CDPSession, shot: dict[str, Any]) -> bytes:
    """The viewport as Chromium encodes it, in one DevTools call.

    What Playwright's screenshot adds for the viewport (a layout query, hiding the caret and
    waiting for fonts in every frame, then showing the caret again) costs about a third of
    the shot; :data:`~screenshotd.browser.scripts.READY` already hid the caret and waited for
    the fonts, and the page is not used after the capture."""
    params: dict[str, Any] = {"format": shot["type"]}
    if "quality" in shot:
        params["quality"] = shot["quality"]
    try:
        result = await asyncio.wait_for(session.send("Page.captureScreenshot", params),
                                        SHOT_TIMEOUT_MS / 1000)
    except TimeoutError:
        raise errors.CaptureTimeout(
            f"the screenshot did not finish within {SHOT_TIMEOUT_MS // 1000} s") from None
    return base64.b64decode(result["data"])


async def _wait_visible(page: Page, selector: str, deadline: Deadline, field: str) -> None:
    try:
        await page.locator(selector).first.wait_for(state="visible", timeout=deadline.ms())
    except PlaywrightTimeout:
        raise errors.SelectorNotFound(
            f"{field}: no visible element matches {selector!r}", field=field
        ) from None
    except PlaywrightError as exc:
        _raise_bad_selector(exc, field, selector)
        raise


def _raise_bad_selector(exc: PlaywrightError, field: str, selector: str) -> None:
    if steps.is_bad_input(exc):
        raise errors.ValidationError(f"{field}: {steps.bad_selector(selector)}",
                                     field=field) from None


class _InflightTracker:
    """Counts the page's open requests, for ``networkidle2``."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.inflight = 0
        self.changed = asyncio.Event()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _started(self, _request: Any) -> None:
        self.inflight += 1
        self.changed.set()

    def _ended(self, _request: Any) -> None:
        self.inflight = max(0, self.inflight - 1)
        self.changed.set()

    async def wait_idle(self, *, max_inflight: int, quiet_ms: int, timeout_ms: int) -> None:
        async with asyncio.timeout(timeout_ms / 1000):
            while True:
                if self.inflight <= max_inflight:
                    self.changed.clear()
                    try:
                        await asyncio.wait_for(self._wait_above(max_inflight), quiet_ms / 1000)
                    except TimeoutError:
                        return  # quiet long enough
                else:
                    self.changed.clear()
                    await self.changed.wait()

    async def _wait_above(self, max_inflight: int) -> None:
        while self.inflight <= max_inflight:
            self.changed.clear()
            await self.changed.wait()

    def detach(self) -> None:
        self.page.remove_listener("request", self._started)
        self.page.remove_listener("requestfinished", self._ended)
        self.page.remove_listener("requestfailed", self._ended)

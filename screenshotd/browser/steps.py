"""The steps a capture may take on a page besides loading and shooting it: request filtering,
consent banners, ``local_storage``, ``actions``, ``redact``, and reading the page's HTML for
extraction. Playwright only; :mod:`screenshotd.browser.capture` calls them in order.

Errors are the spec's: an action's selector that never appears is ``SELECTOR_NOT_FOUND`` naming
the step (``actions[2] (click '#go')``), a malformed selector or key is a 400 naming it, and an
action that runs past the request's ``timeout`` is ``TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from playwright.async_api import BrowserContext, Page, WebSocketRoute
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from screenshotd import errors
from screenshotd.blocking import banners
from screenshotd.blocking.lists import RequestFilter
from screenshotd.browser.lease import crashed, is_closed
from screenshotd.content import marks
from screenshotd.params.capture import RenderOptions
from screenshotd.params.depth import fails
from screenshotd.params.parts import Action

log = logging.getLogger(__name__)

#: The longest an action waits for its element unless the step gives its own ``timeout``.
ACTION_TIMEOUT_MS = 10_000
#: The most HTML kept from the page for extraction; past it, the rest is cut.
MAX_PAGE_HTML = 10 * 1024 * 1024
#: A pause after a consent button is clicked, for the page to react (a re-render, a reload).
AFTER_CONSENT_CLICK_S = 0.15


class Deadline:
    """The request's time budget, shared by every step."""

    def __init__(self, timeout_ms: int) -> None:
        self.end = time.monotonic() + timeout_ms / 1000

    def ms(self, floor: int = 1) -> int:
        """Milliseconds left, at least ``floor`` so Playwright never gets 0 (= no timeout)."""
        return max(floor, int((self.end - time.monotonic()) * 1000))

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end


#: A main frame that began this many documents while its load was awaited, and never loaded,
#: belongs to a page that reloads or redirects itself without end.
RESTLESS_DOCUMENTS = 3
#: What a restless page is told, before or while it is captured.
RESTLESS = "a page that reloads or redirects itself without end"


class Documents:
    """Counts the documents the main frame parses (its ``DOMContentLoaded`` events) while the
    capture waits for the page to load, so that a load that never comes can say why. A page
    that sends itself elsewhere before each document can load is a 422, not a timeout."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.parsed = 0
        page.on("domcontentloaded", self._parsed)

    def _parsed(self, _: Any) -> None:
        self.parsed += 1

    def detach(self) -> None:
        self.page.remove_listener("domcontentloaded", self._parsed)

    def timed_out(self, opts: RenderOptions) -> errors.ScreenshotError:
        """The error of a load that ran out of time."""
        if self.parsed >= RESTLESS_DOCUMENTS:
            return errors.NavigationFailed(
                f"the page kept navigating away before it became ready ({opts.wait_until}): "
                f"{self.parsed} documents in {opts.timeout} ms ({RESTLESS})")
        return errors.CaptureTimeout(
            f"the page did not become ready ({opts.wait_until}) within {opts.timeout} ms")


async def before_load(context: BrowserContext, page: Page, opts: RenderOptions,
                      request_filter: RequestFilter | None) -> None:
    """What must be in place before the page's first request: the filter, the banner sheet
    and ``local_storage``."""
    if request_filter is not None and request_filter.active:
        await attach_filter(context, page, request_filter,
                            media=None if opts.media_type == "screen" else opts.media_type)
    if request_filter is not None and "websocket" in request_filter.resource_types:
        await page.route_web_socket("**/*", lambda socket: _refuse_socket(socket, request_filter))
    if opts.freeze_time is not None:  # the page loads with its clock stopped at that time
        # Paused first, then installed: a document replays the two in order, and installed
        # first, the real time between the calls would count as page time (performance.now).
        await page.clock.pause_at(opts.freeze_time)
        await page.clock.install(time=opts.freeze_time)
    if opts.block_cookie_banners:
        await page.add_init_script(banners.INIT_SCRIPT)
    if opts.local_storage:
        await page.add_init_script(local_storage_script(opts.local_storage))


async def run_clock(page: Page, opts: RenderOptions, page_ms: int, deadline: Deadline) -> None:
    """``freeze_time``: move the page's stopped clock ``page_ms`` forward at once, firing its
    timers and animation frames due by then in order, so what they draw is the same every time.

    Bounded by the request's time: a page whose timers never end is shot as far as they got.
    """
    if opts.freeze_time is None or page_ms <= 0:
        return
    try:
        await asyncio.wait_for(page.clock.run_for(page_ms), deadline.ms() / 1000)
    except TimeoutError:
        log.info("freeze_time: the page's timers ran past the request's time")
    except PlaywrightError as exc:
        if is_closed(exc) or crashed(exc):
            raise
        log.info("freeze_time: the page's timers stopped early: %s", page_error(exc))


async def attach_filter(context: BrowserContext, page: Page, request_filter: RequestFilter,
                        media: str | None = None) -> None:
    """Have Chromium pause every request of ``page`` for ``request_filter`` to decide.

    A CDP session of our own, not ``page.route``: Playwright's routing builds request and route
    objects on both sides for every request, and its patterns are matched in the driver, after
    the pause. Here Chromium itself matches :meth:`RequestFilter.url_patterns` and pauses only
    the requests that might be blocked. The session lives and dies with the page (the context
    closes it), and so do the answers still in flight.

    A second DevTools session on a page makes Chromium drop the emulated media type (set by
    Playwright's session) on the next navigation, so an emulated ``media`` is set through this
    session too.
    """
    session = await context.new_cdp_session(page)
    tree = await session.send("Page.getFrameTree")
    main_frame = tree["frameTree"]["frame"]["id"]
    answers: set[asyncio.Future[Any]] = set()

    def paused(event: dict[str, Any]) -> None:
        if request_filter.paused(event, main_frame) is None:
            answer = session.send("Fetch.continueRequest", {"requestId": event["requestId"]})
        else:
            answer = session.send("Fetch.failRequest", {"requestId": event["requestId"],
                                                        "errorReason": "BlockedByClient"})
        future = asyncio.ensure_future(answer)
        answers.add(future)
        future.add_done_callback(_answered(answers))

    session.on("Fetch.requestPaused", paused)
    await session.send("Fetch.enable", {"patterns": request_filter.fetch_patterns()})
    if media is not None:
        await session.send("Emulation.setEmulatedMedia", {"media": media})


async def _refuse_socket(socket: WebSocketRoute, request_filter: RequestFilter) -> None:
    """``block_resources=websocket``: the page's socket closes before it connects (CDP's
    ``Fetch`` cannot pause a WebSocket)."""
    request_filter.blocked["resources"] += 1
    await socket.close(code=1008, reason="blocked")


def check_status(opts: RenderOptions, response: Any) -> None:
    """``fail_on_status``: 422 ``UPSTREAM_STATUS`` when the main document's status is one it
    names."""
    status = response.status if response is not None else None
    if fails(opts.fail_on_status, status):
        raise errors.UpstreamStatus(
            f"the page answered HTTP {status}, which fail_on_status ({opts.fail_on_status}) "
            "fails", upstream_status=int(status or 0), field="fail_on_status")


def _answered(answers: set[asyncio.Future[Any]]) -> Callable[[asyncio.Future[Any]], None]:
    def done(future: asyncio.Future[Any]) -> None:
        answers.discard(future)
        if not future.cancelled() and future.exception() is not None:
            # The page went away first (a capture that ended, a context closed): nothing to do.
            log.debug("request answer not delivered: %r", future.exception())
    return done


def local_storage_script(items: dict[str, str]) -> str:
    """Sets ``items`` in the main frame's storage before any of the page's own scripts run,
    in whatever origin the page ends on (after redirects)."""
    return _LOCAL_STORAGE.replace("ITEMS", json.dumps(items))


_LOCAL_STORAGE = """
(() => {
  if (window.top !== window) return;
  const items = ITEMS;
  try { for (const [k, v] of Object.entries(items)) localStorage.setItem(k, v); } catch (e) {}
})();
"""


async def clean(page: Page, opts: RenderOptions, request_filter: RequestFilter | None,
                add_style_sheet: str) -> None:
    """After load: the elements whose requests were blocked are collapsed (no broken image or
    blocked frame left in their place), the filter lists' element hiding, then the consent
    banners."""
    if request_filter is not None and request_filter.blocked_urls:
        await page.evaluate(_COLLAPSE, request_filter.blocked_urls)
    if request_filter is not None and opts.block_ads:
        css = request_filter.hiding_css()
        if css:
            await page.evaluate(add_style_sheet, css)
    if opts.block_cookie_banners:
        report = await page.evaluate(banners.DISMISS_SCRIPT, json.loads(banners.RULES_JSON))
        log.debug("consent banners: %s", report)
        if report.get("clicked"):
            await asyncio.sleep(AFTER_CONSENT_CLICK_S)


async def run_actions(page: Page, actions: list[Action], deadline: Deadline) -> None:
    """Each step in order, after its ``delay``, each bounded by its own timeout and by what is
    left of the request's."""
    for index, action in enumerate(actions):
        name = action.describe(index)
        if action.delay:
            await asyncio.sleep(min(action.delay, deadline.ms(0)) / 1000)
        own = action.timeout or ACTION_TIMEOUT_MS
        left = deadline.ms()
        budget = min(own, left)
        try:
            await _act(page, action, budget, deadline)
        except PlaywrightTimeout:
            if left <= own or deadline.expired:  # the request's time ran out, not the step's
                raise errors.CaptureTimeout(f"{name} ran out of the request's time") from None
            raise errors.SelectorNotFound(
                f"{name}: no element matches {action.selector!r} (waited {budget} ms)",
                field="actions") from None
        except PlaywrightError as exc:
            if is_bad_input(exc):
                what = (f"{action.key!r} is not a key name" if action.type == "press"
                        else bad_selector(action.selector or ""))
                raise errors.ValidationError(f"{name}: {what}", field="actions") from None
            raise


async def _act(page: Page, action: Action, budget: int, deadline: Deadline) -> None:
    kind = action.type
    if kind == "wait":
        await asyncio.sleep(min(action.ms or 0, deadline.ms(0)) / 1000)
        if deadline.expired:
            raise PlaywrightTimeout("the wait used up the request's time")
        return
    if kind == "press":
        await page.keyboard.press(action.key or "")
        return
    if kind == "scroll" and action.selector is None:
        await page.evaluate("y => window.scrollTo(0, y)", action.y or 0)
        return
    assert action.selector is not None
    target = page.locator(action.selector).first
    if kind == "wait_for_selector":
        await target.wait_for(state="visible", timeout=budget)
    elif kind == "click":
        await target.click(timeout=budget)
    elif kind == "hover":
        await target.hover(timeout=budget)
    elif kind == "type":
        await target.press_sequentially(action.text or "", timeout=budget)
    elif kind == "scroll":
        await target.scroll_into_view_if_needed(timeout=budget)


#: Playwright's words for input it could not read: a malformed selector, an unknown key.
_BAD_INPUT = ("while parsing", "not a valid selector", "Unknown engine", "Unknown key",
              "Unexpected token")


def is_bad_input(exc: BaseException) -> bool:
    """Whether a Playwright error says the caller's selector or key was malformed."""
    return any(sign in str(exc) for sign in _BAD_INPUT)


def bad_selector(selector: str) -> str:
    """The message for a selector the browser could not parse, in our words."""
    return f"not a valid CSS selector: {selector[:200]!r}"


#: Playwright's prefixes on its errors (``Page.evaluate: ``, ``Locator.click: ``) and
#: Chromium's (``Protocol error (Storage.setCookies): ``).
_API_PREFIX = re.compile(
    r"^(?:[A-Z][A-Za-z]*\.[a-z][A-Za-z_]*: |Protocol error \([A-Za-z.]+\): )+")


def page_error(exc: BaseException) -> str:
    """What a page's own script threw (``Error: boom``), without the automation's words
    around it."""
    return _API_PREFIX.sub("", first_line(exc)) or "an error"


def first_line(exc: BaseException) -> str:
    """An error's first line, short enough for an answer."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


async def redact(page: Page, selectors: list[str], mode: str) -> int:
    """Mask every element each selector matches; returns how many were masked."""
    result = await page.evaluate(_REDACT, [selectors, mode, marks.DROP_ATTR])
    if result.get("bad") is not None:
        raise errors.ValidationError(
            f"redact: {result['bad']!r} is not a valid selector", field="redact")
    return int(result.get("count", 0))


async def read_html(page: Page) -> str:
    """The rendered page's HTML, with consent banners marked for extraction to drop."""
    await page.evaluate(marks.MARK_SCRIPT, list(marks.BANNER_SELECTORS))
    html = await page.content()
    return html[:MAX_PAGE_HTML]


_COLLAPSE = """
(urls) => {
  const blocked = new Set(urls);
  for (const el of document.querySelectorAll('img, iframe, frame, embed, object, video, audio')) {
    const src = el.currentSrc || el.src || el.data || '';
    if (blocked.has(src)) el.style.setProperty('display', 'none', 'important');
  }
}
"""

# Block: a black box over each element, drawn at its place in the document (so it stays in place
# in a full-page capture), and the element itself made invisible, so no part of it can overflow
# the box. Blur: the element blurred in place. Both mark what they masked, so that extraction
# leaves it out too.
_REDACT = """
([selectors, mode, mark]) => {
  let count = 0;
  for (const sel of selectors) {
    let found;
    try { found = document.querySelectorAll(sel); } catch (e) { return {bad: sel}; }
    for (const el of found) {
      count++;
      el.setAttribute(mark, '');
      if (mode === 'blur') {
        el.style.setProperty('filter', 'blur(16px)', 'important');
        continue;
      }
      const r = el.getBoundingClientRect();
      el.style.setProperty('visibility', 'hidden', 'important');
      if (!r.width || !r.height) continue;
      const box = document.createElement('div');
      box.setAttribute(mark, '');
      box.style.cssText = 'position:absolute;margin:0;padding:0;border:0;background:#000;' +
        'z-index:2147483647;pointer-events:none;' +
        `left:${r.left + window.scrollX}px;top:${r.top + window.scrollY}px;` +
        `width:${r.width}px;height:${r.height}px`;
      document.documentElement.appendChild(box);
    }
  }
  return {count};
}
"""

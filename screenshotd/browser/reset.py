"""Kept pages (``BROWSER_ISOLATION=caller``, the default, and ``page``): a context and its page
serve capture after capture, and :func:`reset` puts them back as a fresh one would be.

A new context's first page starts a renderer process, which costs more CPU than the capture
itself. So the page is kept instead, as long as nothing of one capture is seen by the next. Between captures the page goes to ``about:blank`` and loses:

- cookies (the context's);
- for every origin its frames visited: local storage, IndexedDB, Cache Storage, service worker
  registrations, file systems (``Storage.clearDataForOrigin``) and session storage
  (``DOMStorage.clear``);
- the HTTP cache (``Network.clearBrowserCache``), when the context has one: the guard's route
  turns it off (Playwright's request interception does), so with the guard on there is none;
- extra HTTP headers, emulated media and colour scheme, the viewport, and the geolocation
  permission with its emulated position, when the capture set them (the pool's lease records
  which; a page cannot grant itself a permission);
- what the egress channel recorded (refusals and blocked requests are counted per capture).

The reset goes through a DevTools session the kept page has for as long as it is kept (made
in :func:`keep`), not one opened and closed each time: three round trips fewer per capture.

What stays shared is the renderer process and its memory: a page that exploits the renderer
could see what a later page renders in it. So in caller mode a kept page is lent only to the
caller it first served (:mod:`screenshotd.browser.kept`); page mode, which lends it to anyone,
is for one tenant's own captures. A capture that sets context-level options (user agent,
locale, time zone, scale, mobile, stealth) or adds scripts that run before the page's own
(consent-banner rules, ``local_storage``, request filters) never takes a kept page: it gets a
fresh context, as in context mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import CDPSession, Page

from screenshotd.browser.chromium import BASE_CONTEXT_OPTIONS
from screenshotd.browser.lease import PoolContext

RESET_TIMEOUT_S = 5.0


class Resident:
    """A kept page's memory of where its frames went (the origins whose storage to clear), and
    the DevTools session of its own that resets it, open as long as the page is kept."""

    def __init__(self, page: Page, session: CDPSession) -> None:
        self.page = page
        self.session = session
        self.origins: set[str] = set()
        page.on("framenavigated", self._navigated)

    def _navigated(self, frame: Any) -> None:
        origin = _origin(frame.url)
        if origin:
            self.origins.add(origin)


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of an http(s) URL; '' for anything else."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname:
        return f"{parts.scheme}://{parts.netloc}"
    return ""


async def attach(owned: PoolContext) -> CDPSession:
    """Open the service's own DevTools session on a warm context's page
    (:attr:`~screenshotd.browser.lease.PoolContext.session`).

    A second session on a page makes Chromium drop the emulated media that Playwright's session
    set, at the next navigation: so the media of a page with this session is emulated through
    it (:func:`emulate_media`), never through Playwright's."""
    assert owned.page is not None
    owned.session = await owned.context.new_cdp_session(owned.page)
    return owned.session


async def keep(owned: PoolContext) -> Resident:
    """Make ``owned`` (a warm context with its page and session) a kept one."""
    assert owned.page is not None
    session = owned.session or await attach(owned)
    await session.send("DOMStorage.enable")
    resident = Resident(owned.page, session)
    owned.resident = resident
    return resident


async def emulate_media(session: CDPSession, media: str | None, dark: bool | None,
                        reduced_motion: bool | None) -> None:
    """Set (or with all None, clear) a kept page's emulated media type and preferences."""
    features = []
    if dark is not None:
        features.append({"name": "prefers-color-scheme", "value": "dark" if dark else "light"})
    if reduced_motion is not None:
        features.append({"name": "prefers-reduced-motion",
                         "value": "reduce" if reduced_motion else "no-preference"})
    await session.send("Emulation.setEmulatedMedia", {"media": media or "", "features": features})


class NotResettable(Exception):
    """The kept page cannot be proven clean: it is closed and replaced instead."""


async def reset(owned: PoolContext, emulated: set[str]) -> None:
    """Put a kept context and page back as a fresh one would be (the module's list). Raises
    (a closed or crashed page, a timeout, :class:`NotResettable`): the caller then closes the
    context and makes a fresh one.

    ``emulated`` names what the capture changed of the page's emulation (``viewport``,
    ``media``, ``headers``, ``geolocation``): only those are set back, since each is a round
    trip to Chromium. The page's own state (storage, cookies, cache) is cleared every time.

    Session storage belongs to the tab, and Chromium clears it only for an origin that still
    has a frame in it: a page whose frames left an origin during the capture (a script sent it
    elsewhere) cannot be proven clean, and is not kept."""
    resident = owned.resident
    assert resident is not None and owned.page is not None
    if owned.dead:
        raise NotResettable("the page crashed or was closed")
    async with asyncio.timeout(RESET_TIMEOUT_S):
        await _clear(owned, resident, resident.session, emulated)
    owned.refused_schemes = 0
    if owned.channel is not None:
        owned.channel.forget()


async def _clear(owned: PoolContext, resident: Resident, session: CDPSession,
                 emulated: set[str]) -> None:
    page, context = owned.page, owned.context
    assert page is not None
    if len(context.pages) > 1:
        raise NotResettable("the page opened other windows")
    present = {_origin(frame.url) for frame in page.frames}
    left = resident.origins - present
    if left:
        raise NotResettable(f"the page left {sorted(left)[0]} during the capture")
    origins = sorted(resident.origins)
    if origins:  # session storage, while its frames are there
        await asyncio.gather(*(session.send("DOMStorage.clear", {"storageId": {
            "securityOrigin": origin, "isLocalStorage": False}}) for origin in origins))
    # The page's scripts stop here, so nothing writes again what is cleared after this.
    await page.goto("about:blank")
    undo: list[Awaitable[Any]] = [
        session.send("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
        for origin in origins
    ]
    undo.append(context.clear_cookies())
    if owned.http_cache:  # with the guard's route on, the context has no HTTP cache to clear
        undo.append(session.send("Network.clearBrowserCache"))
    if "geolocation" in emulated:  # the one permission a capture grants, with its position
        undo += [context.clear_permissions(), context.set_geolocation(None)]
    if "headers" in emulated:
        undo.append(page.set_extra_http_headers({}))
    if "media" in emulated:
        undo.append(emulate_media(session, None, None, None))
    if "viewport" in emulated:
        undo.append(page.set_viewport_size(BASE_CONTEXT_OPTIONS["viewport"]))
    await asyncio.gather(*undo)
    resident.origins.clear()

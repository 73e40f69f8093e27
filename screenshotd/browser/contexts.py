"""Opening one browser context, with the guard's second layer on it.

Every context the pool makes (warm, kept or made to order) comes from :func:`open_context`.
Each gets a script that lets a document open at most :data:`MAX_WINDOWS` windows.
With the private-network guard on, the context gets an egress channel of its own (every request
it makes goes through the guard's proxy) and a route that refuses every scheme but http(s),
ws(s), ``data:``, ``blob:`` and ``about:``; the refusals are counted on its
:class:`~screenshotd.browser.lease.PoolContext`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from playwright.async_api import Browser, Route

from screenshotd.browser.chromium import NON_WEB_SCHEME
from screenshotd.browser.generations import CLOSE_TIMEOUT_S
from screenshotd.browser.lease import PoolContext
from screenshotd.browser.scripts import FRAME_WATCH
from screenshotd.net.proxy import EgressProxy

CONTEXT_TIMEOUT_S = 10.0
#: The most windows a document may open (``window.open``) before the call returns null.
MAX_WINDOWS = 5
#: Run before every document's own scripts: Chromium's headless shell has no popup blocker, and
#: a page that opens thousands of windows would keep its capture from ever loading.
WINDOW_LIMIT = """
(() => {
  const open = window.open;
  let left = MAX_WINDOWS;
  window.open = function (...args) {
    if (left <= 0) return null;
    left -= 1;
    return open.apply(this, args);
  };
})();
""".replace("MAX_WINDOWS", str(MAX_WINDOWS))


async def open_context(browser: Browser, kwargs: dict[str, Any], egress: EgressProxy | None,
                       spawn: Callable[[Coroutine[Any, Any, Any]], None],
                       upstream: str | None = None) -> PoolContext:
    """A new context of ``browser`` with ``kwargs``; with ``egress``, its own channel (given
    back when the context closes, through ``spawn``, and going out through the ``upstream``
    proxy named, if any) and the scheme route."""
    channel = await egress.channel(upstream) if egress is not None else None
    try:
        if channel is not None:
            kwargs = {**kwargs, **channel.context_options()}
        context = await asyncio.wait_for(browser.new_context(**kwargs), CONTEXT_TIMEOUT_S)
    except BaseException:
        if channel is not None and egress is not None:
            await egress.release(channel)
        raise
    owned = PoolContext(context, channel)
    try:
        await asyncio.wait_for(context.add_init_script(WINDOW_LIMIT + ";\n" + FRAME_WATCH),
                               CONTEXT_TIMEOUT_S)
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(context.close(), CLOSE_TIMEOUT_S)
        if channel is not None and egress is not None:
            await egress.release(channel)
        raise
    if channel is None or egress is None:
        return owned  # ALLOW_PRIVATE_HOSTS=*: the guard is off, both its layers
    context.once("close", lambda _c: spawn(egress.release(channel)))

    async def refuse(route: Route) -> None:
        owned.refused_schemes += 1
        await route.abort("blockedbyclient")

    try:
        await asyncio.wait_for(context.route(NON_WEB_SCHEME, refuse), CONTEXT_TIMEOUT_S)
        owned.http_cache = False  # a route turns Chromium's HTTP cache off for the context
    except BaseException:
        with contextlib.suppress(Exception):  # its channel goes with it ("close" above)
            await asyncio.wait_for(context.close(), CLOSE_TIMEOUT_S)
        raise
    return owned

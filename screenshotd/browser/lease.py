"""A lease: one capture's slot in the pool, with a fresh context in a live browser.

:class:`~screenshotd.browser.pool.BrowserPool` hands leases out; the capture runs its work
through :meth:`Lease.run`, which stops when the browser dies and keeps Playwright's error types
inside this package.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from screenshotd import errors
from screenshotd.net.proxy import Channel

if TYPE_CHECKING:
    from screenshotd.browser.reset import Resident

log = logging.getLogger(__name__)

T = TypeVar("T")


def crashed(exc: BaseException) -> bool:
    """Whether a Playwright error says the page's renderer crashed (or was killed)."""
    return "crash" in str(exc).split("\n", 1)[0].lower()


def is_closed(exc: BaseException) -> bool:
    """Whether a Playwright error says the page or its context went away."""
    return "closed" in str(exc).lower()


@dataclass(eq=False)
class PoolContext:
    """A browser context and what belongs to it: its egress channel, the page a warm context
    keeps open, the requests its scheme route refused, and in page mode what resets it."""

    context: BrowserContext
    channel: Channel | None
    page: Page | None = None
    refused_schemes: int = 0
    #: A DevTools session of the service's own on ``page``, opened when a warm context is made
    #: (off the capture path): the capture emulates media and takes a plain viewport shot
    #: through it. None for a context made to order.
    session: CDPSession | None = None
    #: Page mode: what the kept page needs to be reset (:mod:`screenshotd.browser.reset`).
    resident: Resident | None = None
    #: Set when its page's renderer dies (see :meth:`watch`).
    crashed: bool = False
    #: Whether Chromium's HTTP cache is on in it: a context with a route (the guard's scheme
    #: route) has it off, since Playwright's request interception disables it.
    http_cache: bool = True
    #: Page and caller modes: the caller a kept page belongs to (None until it is first lent),
    #: and when it was last put back (:class:`~screenshotd.browser.kept.KeptPages`).
    owner: str | None = None
    used: float = 0.0
    #: The pool's number for this context, in its record of leases (:attr:`BrowserPool.ledger`).
    serial: int = 0

    def watch(self, page: Page) -> None:
        """Keep ``page`` as this context's open page, and notice if its renderer dies."""
        self.page = page
        page.on("crash", self._crashed)

    def _crashed(self, _page: Any) -> None:
        self.crashed = True

    @property
    def dead(self) -> bool:
        """Whether its page is gone: closed, or its renderer crashed."""
        return self.page is not None and (self.crashed or self.page.is_closed())


@dataclass
class Lease:
    """A slot held by one capture: a fresh context in a live browser.

    A warm lease comes with a blank page already open in the context; otherwise ``page`` is
    None and the capture opens its own.
    """

    context: BrowserContext
    page: Page | None
    generation: int
    warm: bool
    #: How long the capture waited for its slot (the queue), in ms.
    waited_ms: float
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    #: The context's way out through the private-network guard (None when the guard is off).
    channel: Channel | None = None
    _owner: PoolContext | None = None
    #: What the capture changed of the page's emulation (``viewport``, ``media``, ``headers``,
    #: ``geolocation``): in page mode, what the reset must undo besides the page's own state.
    emulated: set[str] = field(default_factory=set)

    @property
    def session(self) -> CDPSession | None:
        """The warm page's own DevTools session (:attr:`PoolContext.session`), through which
        its media must be emulated (:func:`screenshotd.browser.reset.keep` says why); None
        for a context made to order."""
        return self._owner.session if self._owner is not None else None

    @property
    def blocked_requests(self) -> int:
        """Requests refused so far: by the guard, and by scheme (``file:`` and the like)."""
        refused = self._owner.refused_schemes if self._owner is not None else 0
        return refused + (self.channel.blocked if self.channel is not None else 0)

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Await ``work``, unless the browser goes away first. Playwright's own errors do not
        leave here: one that is not a closed page or context (which the pool reads as a crash)
        becomes :class:`~screenshotd.errors.NavigationFailed`.

        A killed Chromium does not always fail the call in flight (a wait inside the page, or
        one of ours, can outlive the connection), so the lease watches the disconnect itself:
        the work is cancelled and :class:`~screenshotd.errors.BrowserCrashed` raised at once.
        The caller bounds the time (``asyncio.timeout``); cancelling this cancels the work.
        """
        task = asyncio.ensure_future(work)
        watcher = asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if not self.lost.is_set() or not task.cancelled():
            try:
                return task.result()  # the work's own result, error or cancellation
            except PlaywrightError as exc:
                if (self._owner is not None and self._owner.crashed) or crashed(exc):
                    raise errors.RenderCrashed(
                        "the page's renderer crashed during the capture (it may have run out "
                        "of memory)") from exc
                if is_closed(exc):
                    raise  # BrowserPool.acquire tells a crash from a page closed under it
                log.warning("capture failed: %s", str(exc).splitlines()[0][:300])
                raise errors.NavigationFailed(
                    "the browser failed while rendering the page") from exc
        raise errors.BrowserCrashed(
            "the browser crashed during the capture; it is restarting, retry shortly",
            retry_after=2,
        )

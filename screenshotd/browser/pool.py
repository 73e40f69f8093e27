"""BrowserPool: one Chromium, a bounded number of capture slots, and pre-warmed contexts.

The pool knows nothing of HTTP. It owns Chromium's whole life:

- **Slots, and admission by expected wait.** At most ``slots`` captures hold a lease at once.
  A request waits (a coroutine, not a browser) when, at the measured capture time, a slot can
  be expected within ``queue_timeout``; otherwise :class:`~screenshotd.errors.PoolExhausted` is
  raised at once, with a ``retry_after`` of the seconds until one could
  (:class:`~screenshotd.concurrency.BoundedSlots`). ``queue_size`` is an optional hard cap.
- **Warm contexts and kept pages.** A few contexts with the default options, each with a blank
  page and a DevTools session of the service's own open, are created ahead of time; taking one
  costs nothing, and a background task refills them. In context mode each serves one capture
  and is closed. In caller mode (the default) a context is kept after its capture, reset
  (:mod:`screenshotd.browser.reset`), and lent again only to the caller it first served: one
  caller's captures never pay a renderer's start each, and two callers never share a context
  or a renderer (:mod:`screenshotd.browser.kept`: one kept page per slot and a spare, handed
  out by least recent use). Page mode keeps the same pages for every caller. Requests with
  context-level options (user agent, locale, time zone, scale, mobile) get a context made for
  them, closed after them. A slot is freed the moment its capture ends; the reset or the
  close runs in the background.
- **Generations** (:mod:`screenshotd.browser.generations`). Each launched Chromium is a generation.
  After ``recycle_after`` captures a new one is launched in the background while the old one
  keeps serving, and the old one is closed when its last lease ends. When Chromium disconnects
  or dies, a relaunch starts at once. A lease that was using the dead browser ends in
  :class:`~screenshotd.errors.BrowserCrashed`; the next request gets the new browser.
- **The guard's second layer.** With an :class:`~screenshotd.net.proxy.EgressProxy`, Chromium is
  launched with it as its proxy (loopback not exempt), and every context gets a channel of its
  own and a route that refuses non-web schemes. A lease carries the channel, so the capture
  knows what its page was refused.
- **Bounded closes.** Every close has a timeout. If a context's close hangs, the generation's
  process group is killed with SIGKILL, so shutdown leaves no browser processes behind.

States: ``UNOPENED -> OPEN -> CLOSED``. A closed pool cannot be reopened.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Playwright

from screenshotd import errors
from screenshotd.browser.chromium import (
    STEALTH_SCRIPT,
    context_kwargs,
    headful_user_agent,
)
from screenshotd.browser.driver import Driver
from screenshotd.browser.driver import start as driver_start
from screenshotd.browser.generations import CLOSE_TIMEOUT_S, Generation, Generations
from screenshotd.browser.lease import Lease, PoolContext
from screenshotd.browser.stock import Stock
from screenshotd.concurrency import BoundedSlots
from screenshotd.net.proxy import EgressProxy

log = logging.getLogger(__name__)

#: The isolation modes (``BROWSER_ISOLATION``), the default first.
ISOLATIONS = ("caller", "context", "page")
#: How many leases the pool's record (:attr:`BrowserPool.ledger`) keeps.
LEDGER_SIZE = 4096


class PoolState(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class BrowserPool(Stock):
    def __init__(
        self,
        *,
        executable_path: str | None,
        slots: int = 3,
        queue_size: int | None = None,
        queue_timeout: float = 60.0,
        recycle_after: int = 200,
        warm_contexts: int | None = None,
        extra_args: tuple[str, ...] = (),
        egress: EgressProxy | None = None,
        isolation: str = "caller",
        per_owner: int | None = None,
        driver: Driver | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {', '.join(ISOLATIONS)}")
        #: ``caller`` (kept pages, each lent only to the caller it first served, reset
        #: between captures), ``context`` (a fresh context per capture) or ``page`` (kept
        #: pages shared by every caller, reset between captures).
        self.isolation = isolation
        self.executable_path = executable_path
        self.slots = slots
        self.recycle_after = recycle_after
        #: Warm contexts to keep ready; in page and caller modes, the bound on kept pages:
        #: one per slot and a spare, so that a capture need not wait for the last one's page
        #: to be reset. Caller mode keeps one fresh page more, for a caller with none.
        self.warm_target = (slots + (isolation != "context") if warm_contexts is None
                            else warm_contexts)
        self.extra_args = extra_args
        #: Every request Chromium makes goes through this proxy, when it is given.
        self.egress = egress

        self._state = PoolState.UNOPENED
        #: Playwright's driver when it was started ahead (:mod:`screenshotd.browser.driver`).
        self._driver = driver
        self._playwright: Playwright | None = None
        self._generations = Generations(
            executable_path=executable_path, extra_args=extra_args, egress=egress,
            spawn=self._spawn, is_open=self._is_open,
            on_install=self._schedule_refill,
        )
        #: Who gets a slot and when: the bound, the wait, the fair share and each caller's cap
        #: (``admission.caps``).
        self.admission = BoundedSlots(slots, queue_size, queue_timeout, what="browser slot",
                                   per_owner=per_owner)
        if isolation == "caller":
            # A free slot goes first to a waiting caller whose kept page is ready.
            self.admission.prefer = self._has_kept_page
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refilling: set[int] = set()
        #: Used contexts whose close is still running (off the capture path).
        self.closing = 0
        #: Contexts made (warm or to order), and kept pages reset for another capture.
        self.contexts_made = 0
        self.resets = 0
        #: The last leases, as (context serial, caller): in caller mode no serial ever appears
        #: with two callers (the tests read it).
        self.ledger: deque[tuple[int, str]] = deque(maxlen=LEDGER_SIZE)
        self._serials = itertools.count(1)
        self.devices: dict[str, Any] = {}

    # ------------------------------------------------------------------ life cycle

    @property
    def state(self) -> PoolState:
        return self._state

    async def open(self) -> None:
        """Start Playwright and launch Chromium; warm contexts fill in the background."""
        if self._state is not PoolState.UNOPENED:
            raise RuntimeError(f"cannot open a pool that is {self._state.value}")
        self._state = PoolState.OPEN
        try:
            self._playwright = await driver_start(self._driver)
            self.devices = dict(self._playwright.devices)
            await self._generations.start(self._playwright)
        except BaseException:
            await self.close()
            raise

    async def close(self, grace: float = 10.0) -> None:
        """Stop leasing, give running captures ``grace`` seconds, then close everything.

        Every close is bounded; a Chromium that does not close in time is killed.
        """
        if self._state is PoolState.CLOSED:
            return
        self._state = PoolState.CLOSED
        if self.admission.in_use:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.admission.drained(), grace)
        await self._generations.stop_launching()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=CLOSE_TIMEOUT_S)
        await self._generations.close()
        if self._playwright is not None:
            try:
                await asyncio.wait_for(self._playwright.stop(), CLOSE_TIMEOUT_S)
            except (TimeoutError, Exception) as exc:  # noqa: BLE001
                log.warning("playwright driver did not stop cleanly: %r", exc)
            self._playwright = None

    # ------------------------------------------------------------------ leasing

    @contextlib.asynccontextmanager
    async def acquire(self, context_options: Mapping[str, Any] | None = None,
                      keepable: bool = True, owner: str = "") -> AsyncIterator[Lease]:
        """Lease a slot and a context for ``owner``'s capture; a context used once is closed
        when the block ends.

        In page and caller modes a capture with no context options that is ``keepable`` (it
        adds no scripts that outlive it) takes a kept page instead, which is reset and kept
        when the block ends (:mod:`screenshotd.browser.reset`): in caller mode one that only
        ``owner`` has ever used (:mod:`screenshotd.browser.kept`).

        ``owner`` is the caller the slot is for: slots are shared out fairly among callers
        (:class:`~screenshotd.concurrency.BoundedSlots`).

        Raises PoolExhausted when the queue is full or the wait runs out, and BrowserCrashed when
        Chromium dies under the block.
        """
        if self._state is not PoolState.OPEN:
            raise errors.PoolExhausted("the browser pool is shutting down", retry_after=5)
        started = time.monotonic()
        await self.admission.acquire(owner)
        waited_ms = (time.monotonic() - started) * 1000
        slot_owned = True
        try:
            generation = await self._generations.live()
            owned = await self._context_for(generation, context_options or {}, keepable,
                                            self._keeper(owner))
            kept = owned.resident is not None
            self.ledger.append((owned.serial, owner))
            context, page = owned.context, owned.page
            generation.leases += 1
            generation.captures += 1
            if generation.captures >= self.recycle_after:
                self._generations.recycle(generation)
            lease = Lease(context, page, generation.number, page is not None,
                          waited_ms, generation.disconnected,
                          owned.channel, owned)
            slot_owned = False  # _finish releases it
            begun = time.monotonic()
            spoiled = False  # the page may still be busy in a script: closed, never kept
            try:
                yield lease
            except (errors.CaptureTimeout, asyncio.CancelledError):
                spoiled = True
                raise
            except errors.ScreenshotError:
                raise
            except Exception as exc:
                if await self._generations.died(generation):
                    raise errors.BrowserCrashed(
                        "the browser crashed during the capture; it is restarting, retry shortly",
                        retry_after=2,
                    ) from exc
                raise
            finally:
                self.admission.observe(time.monotonic() - begun)
                # The slot goes back now: the next capture does not wait for this one's page
                # to be reset, or its context to close; both happen in the background.
                self.admission.release(owner)
                if kept and not spoiled:
                    # The page is reset, then kept for its caller's next capture. Until it
                    # is, the caller's other kept page (or the spare) serves.
                    generation.kept.reset_started(owned)
                    self._spawn(self._keep_or_close(generation, owned, lease.emulated))
                else:
                    # A page that ran out of time may still be running a script: it is
                    # closed, never kept.
                    generation.kept.disown(owned)
                    generation.returned.set()  # a capture waiting for this page stops waiting
                    self.closing += 1
                    self._spawn(self._finish(generation, context))
        finally:
            if slot_owned:
                self.admission.release(owner)

    def _keeper(self, owner: str) -> str:
        """Whose kept pages ``owner``'s captures take: its own in caller mode; in page mode
        everyone's are the one owner's, ``""``."""
        return owner if self.isolation == "caller" else ""

    def _has_kept_page(self, owner: str) -> bool:
        current = self._generations.current
        return current is not None and current.kept.has_idle(owner)

    async def _context_for(self, generation: Generation, options: Mapping[str, Any],
                           keepable: bool, keeper: str) -> PoolContext:
        """The context a capture runs in: a warm or kept one when its options allow it,
        else one made to order (closed after the capture)."""
        upstream = options.get("upstream")  # a warm context's own channel can go through it
        # Page and caller modes lend a kept page only to a capture that leaves nothing a reset
        # cannot take away; the others get a context of their own, closed after them.
        default = options.keys() <= {"upstream"}
        if default and (keepable or self.isolation == "context"):
            owned = (await self._kept_for(generation, keeper) if self.isolation != "context"
                     else self._warm(generation))
            if owned is not None:
                if upstream and owned.channel is not None and self.egress is not None:
                    owned.channel.upstream = self.egress.upstream(upstream)
                return owned
        kwargs = context_kwargs(options)
        if options.get("stealth") and "user_agent" not in kwargs:
            kwargs["user_agent"] = headful_user_agent(generation.browser.version)
        # A caller with no kept page, and none fresh to take (they are being made): the
        # context made for it now becomes its kept page (unless the pool keeps none: `shot`).
        adopt = (default and keepable and self.isolation != "context" and self.warm_target > 0
                 and generation.kept.owned[keeper] == 0)
        try:
            owned = await (self._make_warm(generation) if adopt
                           else self._new_context(generation, kwargs, upstream))
        except (TimeoutError, PlaywrightError) as exc:
            if await self._generations.died(generation):
                raise errors.BrowserCrashed("the browser crashed; retry shortly", retry_after=2) from exc
            raise
        if adopt:  # (a keepable capture has no upstream proxy: its page would outlive it)
            generation.kept.adopt(owned, keeper)
        if options.get("stealth"):
            await owned.context.add_init_script(STEALTH_SCRIPT)
        return owned

    def _is_open(self) -> bool:
        return self._state is PoolState.OPEN

    # ------------------------------------------------------------------ introspection

    @property
    def browser_pid(self) -> int | None:
        current = self._generations.current
        return current.pid if current else None

    @property
    def connected(self) -> bool:
        current = self._generations.current
        return bool(current and current.alive and current.browser.is_connected())

    @property
    def browser_version(self) -> str:
        return self._generations.browser_version

    @property
    def restarts(self) -> int:
        """Relaunches after a crash or disconnect."""
        return self._generations.restarts

    @property
    def recycles(self) -> int:
        """Planned relaunches after ``recycle_after`` captures."""
        return self._generations.recycles

    def stats(self) -> dict[str, Any]:
        current = self._generations.current
        return {
            "state": self._state.value,
            "isolation": self.isolation,
            "size": self.slots,
            "available": self.slots - self.admission.in_use,
            "in_use": self.admission.in_use,
            "waiting": self.admission.waiting,
            "queue_size": self.admission.max_waiting,
            "queue_timeout_s": self.admission.wait_s,
            "expected_wait_s": round(self.admission.expected_wait(), 2),
            "capture_s": round(self.admission.hold_s, 3),
            "refused": self.admission.refused,
            # ready to lend: fresh, and kept pages back from their reset
            "warm_contexts": len(current.warm) + current.kept.idle if current else 0,
            "warm_target": self.warm_target,
            "refilling": bool(current and current.number in self._refilling),
            "closing": self.closing,
            "contexts_made": self.contexts_made,
            "resets": self.resets,
            "kept_pages": current.kept.total if current else 0,
            "kept_idle": current.kept.idle if current else 0,
            "kept_callers": current.kept.owners if current else 0,
            "captures_this_browser": current.captures if current else 0,
            "recycle_after": self.recycle_after,
        }

"""The pool's stock of contexts (:class:`Stock`, a base of
:class:`~screenshotd.browser.pool.BrowserPool`): the warm contexts made ahead and their refill,
the kept pages lent to a caller (:mod:`screenshotd.browser.kept`) and their reset after each
capture, and the background closes of what is used up.

Everything here runs off the capture path, or takes what is ready without waiting, except
:meth:`Stock._kept_for`, which may wait for a caller's own page to come back (from its reset,
or, when every slot is busy, from the caller's other capture) rather than start a renderer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError

from screenshotd.browser.chromium import BASE_CONTEXT_OPTIONS
from screenshotd.browser.contexts import CONTEXT_TIMEOUT_S, open_context
from screenshotd.browser.generations import CLOSE_TIMEOUT_S, Generation, Generations
from screenshotd.browser.lease import PoolContext
from screenshotd.browser.reset import RESET_TIMEOUT_S, attach, keep, reset
from screenshotd.net.proxy import EgressProxy

if TYPE_CHECKING:
    from itertools import count

    from screenshotd.concurrency import BoundedSlots

log = logging.getLogger(__name__)

#: The longest a capture waits for its caller's page to come back from another capture (when
#: every slot is busy) before it gets a context made to order; less when captures are quicker.
LENT_WAIT_MAX_S = 1.0


class Stock:
    """The contexts a pool holds besides those in captures: what the pool sets up (its mode,
    its target, its generations) and the counts it reports."""

    isolation: str
    warm_target: int
    admission: BoundedSlots
    egress: EgressProxy | None
    closing: int
    contexts_made: int
    resets: int
    _generations: Generations
    _refilling: set[int]
    _serials: count[int]
    _tasks: set[asyncio.Task[Any]]

    def _is_open(self) -> bool:
        raise NotImplementedError

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background, owned by the pool (cancelled when it closes)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _warm(self, generation: Generation) -> PoolContext | None:
        """A fresh warm context, if one is ready. Its replacement is made when this lease
        ends (_finish), not now: a new renderer competes for the CPU."""
        while generation.warm:
            owned = generation.warm.popleft()
            if not owned.dead:
                return owned
            self._spawn(self._discard(generation, owned))  # its renderer died waiting
        return None

    async def _kept_for(self, generation: Generation, keeper: str) -> PoolContext | None:
        """A kept page for ``keeper``: one of its own that is ready; else a fresh one, while
        it has fewer than its allowance and there is room (a caller with none always may);
        else the moment one of its own comes back, which costs less than a new context's
        renderer: from its reset (milliseconds), or, when every slot is busy, from the caller's
        other capture (at most a typical capture's time, and :data:`LENT_WAIT_MAX_S`; with the
        CPU taken, the renderer's start would only slow every capture down). None: it gets a
        context made to order."""
        kept = generation.kept
        started = time.monotonic()
        deadline = started + RESET_TIMEOUT_S + 1
        lent_deadline = started + min(self.admission.hold_s, LENT_WAIT_MAX_S)
        while True:
            for dead in kept.dead():  # renderers that died while their pages waited
                self._spawn(self._discard(generation, dead))
            owned = kept.take(keeper)
            if owned is not None:
                return owned
            mine = kept.owned[keeper]
            if mine == 0 or (mine < kept.allowance(keeper, self.warm_target)
                             and kept.total < self.warm_target):
                fresh = self._warm(generation)
                if fresh is not None:
                    kept.adopt(fresh, keeper)
                    return fresh
            now = time.monotonic()
            coming = kept.resetting[keeper]
            if now < lent_deadline and self.admission.in_use >= self.admission.slots:
                coming += kept.lent(keeper)
            if coming <= kept.waiting[keeper] or now >= deadline:
                return None
            kept.waiting[keeper] += 1
            generation.returned.clear()
            try:
                with contextlib.suppress(TimeoutError):
                    until = lent_deadline if now < lent_deadline else deadline
                    await asyncio.wait_for(generation.returned.wait(), until - now)
            finally:
                kept.waiting[keeper] -= 1
                if kept.waiting[keeper] <= 0:
                    del kept.waiting[keeper]

    async def _new_context(self, generation: Generation, kwargs: dict[str, Any],
                           upstream: str | None = None) -> PoolContext:
        """A context (:func:`~screenshotd.browser.contexts.open_context`), counted; its
        channel goes out through the ``upstream`` proxy named, if any."""
        owned = await open_context(generation.browser, kwargs, self.egress, self._spawn,
                                   upstream)
        owned.serial = next(self._serials)
        self.contexts_made += 1
        return owned

    async def _keep_or_close(self, generation: Generation, owned: PoolContext,
                             emulated: set[str]) -> None:
        """After a capture on a kept page (its slot already free): reset it and keep it for
        its owner's next capture; a page that cannot be reset (it crashed, the browser died, a
        step hung) is closed and its place refilled with a fresh one. Past the bound of kept
        pages, one is closed (:meth:`~screenshotd.browser.kept.KeptPages.victim`)."""
        # In a task of its own, waited for with a bound: a DevTools call to a page whose
        # renderer died can hang without noticing cancellation, and the slot must come back.
        resetting = asyncio.ensure_future(reset(owned, emulated))
        resetting.add_done_callback(_retrieve)
        done, _ = await asyncio.wait({resetting}, timeout=RESET_TIMEOUT_S + 1)
        failure = (resetting.exception() if done and not resetting.cancelled()
                   else TimeoutError("the reset did not finish"))
        kept = generation.kept
        kept.reset_ended(owned)
        if not done:
            resetting.cancel()
        if failure is not None:
            log.info("kept page not reset (%s); a fresh one replaces it",
                     str(failure).splitlines()[0][:200] if str(failure) else type(failure).__name__)
        elif generation.alive and not generation.retiring and self._is_open():
            self.resets += 1
            kept.put_back(owned)
            generation.leases -= 1
            while (victim := kept.victim(self.warm_target)) is not None:
                self._spawn(self._discard(generation, victim))
            # A page made for a caller with none, while a refill was also making one, leaves
            # a fresh page too many: the oldest goes.
            while generation.warm and len(generation.warm) + kept.total > self._most():
                self._spawn(self._discard(generation, generation.warm.popleft()))
            generation.returned.set()
            return
        kept.disown(owned)
        generation.returned.set()  # a capture waiting for this page makes its own
        self.closing += 1
        await self._finish(generation, owned.context)

    async def _discard(self, generation: Generation, owned: PoolContext) -> None:
        """Close a warm context that was never leased, and make another."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(owned.context.close(), CLOSE_TIMEOUT_S)
        self._schedule_refill(generation)

    async def _finish(self, generation: Generation, context: BrowserContext) -> None:
        """Close a used context in the background, then refill. Closing a context ends its
        renderer even while a script holds the page's main thread (a capture that ran out of
        time); a close that does not finish in time takes the whole browser down instead, which
        the generations relaunch."""
        try:
            if generation.alive:
                await asyncio.wait_for(context.close(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.warning("context close timed out; killing browser generation %d", generation.number)
            self._generations.kill(generation)
        except Exception as exc:  # noqa: BLE001 - a dead browser's contexts fail to close
            log.debug("context close failed: %r", exc)
        finally:
            generation.leases -= 1
            self.closing -= 1
            if await self._generations.lease_ended(generation):
                self._schedule_refill(generation)

    # ------------------------------------------------------------------ warm contexts

    def _schedule_refill(self, generation: Generation) -> None:
        if (
            generation.number in self._refilling
            or not generation.alive
            or generation.retiring
            or not self._is_open()
            or not self._short(generation)
        ):
            return
        self._refilling.add(generation.number)
        self._spawn(self._refill(generation))

    def _most(self) -> int:
        """The most contexts held ready or kept at once: the target; in caller mode one more
        (a fresh page for a caller with none)."""
        return self.warm_target + (self.isolation == "caller")

    def _short(self, generation: Generation) -> bool:
        """Whether ``generation`` should make another fresh context: fewer than the target,
        counting the kept pages; in caller mode, also while none is fresh for a caller with
        no kept page, up to one more than the bound."""
        fresh, kept = len(generation.warm), generation.kept.total
        if fresh + kept < self.warm_target:
            return True
        return self.isolation == "caller" and fresh == 0 and kept < self._most()

    async def _make_warm(self, generation: Generation) -> PoolContext:
        """A context with the default options, its blank page and the service's DevTools
        session on it; in page and caller modes, ready to be kept."""
        owned = await self._new_context(generation, dict(BASE_CONTEXT_OPTIONS))
        context = owned.context
        try:
            owned.watch(await asyncio.wait_for(context.new_page(), CONTEXT_TIMEOUT_S))
            await asyncio.wait_for(attach(owned), CONTEXT_TIMEOUT_S)
            if self.isolation != "context":
                await asyncio.wait_for(keep(owned), CONTEXT_TIMEOUT_S)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(context.close(), CLOSE_TIMEOUT_S)
            raise
        return owned

    async def _refill(self, generation: Generation) -> None:
        try:
            while (
                generation.alive
                and not generation.retiring
                and self._is_open()
                and self._short(generation)
            ):
                owned = await self._make_warm(generation)
                if generation.alive and not generation.retiring:
                    generation.warm.append(owned)
                    generation.returned.set()  # a capture waiting for a page may take it
                else:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(owned.context.close(), CLOSE_TIMEOUT_S)
        except (TimeoutError, PlaywrightError) as exc:
            log.debug("warm context refill stopped: %r", exc)
        finally:
            self._refilling.discard(generation.number)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark an abandoned task's outcome as seen (it is logged where it matters)."""
    if not task.cancelled():
        task.exception()

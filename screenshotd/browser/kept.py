"""Kept pages and who they belong to (``BROWSER_ISOLATION=page`` and ``caller``).

A kept page is a context and page that serve capture after capture, reset between them
(:mod:`screenshotd.browser.reset`). Each belongs to one caller (an API key, or an address
without keys): it is made fresh, lent to a caller, and from then on lent only to that caller,
until it is closed. Page mode is the case of one caller for everyone (the owner ``""``).

:class:`KeptPages` keeps one generation's pages apart by owner, and decides three things:

- **Which page a capture takes** (:meth:`take`): the caller's own idle page, the one it used
  last (so its other pages age and are the first to go when room is needed).
- **How many a caller may have** (:meth:`allowance`): at most the bound, less one for each
  other caller that has pages. So a burst from one caller takes the free room, never every
  other caller's kept page.
- **Which page goes when there are too many** (:meth:`victim`): the bound is one page per slot
  and a spare; past it, an idle page of the caller that has the most, least recently used
  first. When every caller has one, the caller seen least recently loses its page.

It only counts: the pool lends, resets and closes the pages. No page is ever lent to two
callers, and every lease is recorded (:attr:`~screenshotd.browser.pool.BrowserPool.ledger`)
so that tests can prove it.
"""

from __future__ import annotations

import time
from collections import Counter

from screenshotd.browser.lease import PoolContext


class KeptPages:
    """One generation's kept pages, by owner: idle ones ready to lend, and counts of those
    lent out or being reset."""

    def __init__(self) -> None:
        #: Idle pages by owner, the most recently used last.
        self._idle: dict[str, list[PoolContext]] = {}
        #: Pages each owner has (idle, lent, or being reset).
        self.owned: Counter[str] = Counter()
        #: Pages of each owner being reset, and captures of each owner waiting for one.
        self.resetting: Counter[str] = Counter()
        self.waiting: Counter[str] = Counter()

    @property
    def total(self) -> int:
        """Pages owned by anyone (idle, lent or being reset)."""
        return sum(self.owned.values())

    @property
    def idle(self) -> int:
        return sum(len(pages) for pages in self._idle.values())

    @property
    def owners(self) -> int:
        return len(self.owned)

    def lent(self, owner: str) -> int:
        """How many of ``owner``'s pages are in captures now (neither idle nor being reset)."""
        return (self.owned[owner] - len(self._idle.get(owner, ()))
                - self.resetting[owner])

    def has_idle(self, owner: str) -> bool:
        """Whether ``owner`` has a page ready now (the admission serves such a caller first)."""
        return bool(self._idle.get(owner))

    def allowance(self, owner: str, bound: int) -> int:
        """How many pages ``owner`` may have: ``bound`` less one for every other owner that
        has any, and at least one."""
        others = len(self.owned) - (owner in self.owned)
        return max(1, bound - others)

    def take(self, owner: str) -> PoolContext | None:
        """``owner``'s idle page it used last (None if it has none ready). Dead pages found on
        the way are handed back by :meth:`dead` for closing."""
        pages = self._idle.get(owner)
        if not pages:
            return None
        page = pages.pop()
        if not pages:
            del self._idle[owner]
        return page

    def dead(self) -> list[PoolContext]:
        """Idle pages whose renderer died while they waited: taken out (and disowned), for
        the pool to close."""
        found = []
        for owner, pages in list(self._idle.items()):
            for page in [p for p in pages if p.dead]:
                pages.remove(page)
                self.disown(page)
                found.append(page)
            if not pages:
                self._idle.pop(owner, None)
        return found

    def adopt(self, page: PoolContext, owner: str) -> None:
        """``page`` (a fresh one) belongs to ``owner`` from now on."""
        assert page.owner is None, "a kept page never changes hands"
        page.owner = owner
        self.owned[owner] += 1

    def reset_started(self, page: PoolContext) -> None:
        """``page`` went to be reset after its capture."""
        self.resetting[page.owner or ""] += 1

    def reset_ended(self, page: PoolContext) -> None:
        """``page``'s reset ended (put back or disowned next)."""
        owner = page.owner or ""
        self.resetting[owner] -= 1
        if self.resetting[owner] <= 0:
            del self.resetting[owner]

    def put_back(self, page: PoolContext) -> None:
        """``page`` was reset and is ready for its owner again."""
        assert page.owner is not None
        page.used = time.monotonic()
        self._idle.setdefault(page.owner, []).append(page)

    def disown(self, page: PoolContext) -> None:
        """``page`` is being closed: its owner has one fewer."""
        if page.owner is None:
            return
        self.owned[page.owner] -= 1
        if self.owned[page.owner] <= 0:
            del self.owned[page.owner]

    def victim(self, bound: int) -> PoolContext | None:
        """When more than ``bound`` pages are owned, the idle page to close: of the owners
        with the most pages, the least recently used. Taken out and disowned; None when within
        the bound, or when no owner with the most has a page idle (one is looked for again
        whenever a page comes back: another caller's last page is never taken instead)."""
        if self.total <= bound or not self._idle:
            return None
        most = max(self.owned.values())
        candidates = [page for owner, pages in self._idle.items() if self.owned[owner] == most
                      for page in pages]
        if not candidates:
            return None
        page = min(candidates, key=lambda p: p.used)
        assert page.owner is not None
        pages = self._idle[page.owner]
        pages.remove(page)
        if not pages:
            del self._idle[page.owner]
        self.disown(page)
        return page

    def drain(self) -> list[PoolContext]:
        """Every idle page, taken out (the generation is closing)."""
        pages = [page for pages in self._idle.values() for page in pages]
        for page in pages:
            self.disown(page)
        self._idle.clear()
        return pages

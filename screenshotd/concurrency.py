"""The two ways work is shared and bounded, written once: :class:`SingleFlight` (identical work
in flight runs once) and :class:`BoundedSlots` (at most N at once, a bounded wait for a turn).

The capture road (:mod:`screenshotd.core.service`) and the diff (:mod:`screenshotd.core.diffs`)
share work through a :class:`SingleFlight`; the browser pool and the diff bound theirs with
:class:`BoundedSlots`. Both live on the event loop and take no lock.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from screenshotd import errors

T = TypeVar("T")


@dataclass(eq=False)
class _Flight(Generic[T]):
    task: asyncio.Task[T]
    waiters: int = 0
    #: Whether a waiter wants the work finished even if it goes away.
    detached: bool = False


class SingleFlight(Generic[T]):
    """Identical work in flight runs once; everyone who asks for it while it runs shares its
    result (or its error).

    The work runs in a task of its own. A waiter that goes away (its request was cancelled)
    leaves it running when any waiter so far asked for ``detach`` (an HTTP request, whose
    result is stored for the next one); otherwise the last waiter to leave cancels it, so the
    work stops when nobody wants it (a cancelled job).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._flights: dict[str, _Flight[T]] = {}

    def __contains__(self, key: str) -> bool:
        """Whether work for ``key`` is in flight (a caller joining it shares it)."""
        return key in self._flights

    def __len__(self) -> int:
        return len(self._flights)

    async def run(self, key: str, work: Callable[[], Coroutine[Any, Any, T]], *,
                  detach: bool = True) -> T:
        """The result of ``work()`` for ``key``: started now, or joined if already running."""
        flight = self._flights.get(key)
        if flight is None:
            task = asyncio.create_task(work(), name=f"{self.name}-{key[:12]}")
            flight = self._flights[key] = _Flight(task)
            task.add_done_callback(lambda done: self._landed(key, done))
        flight.waiters += 1
        flight.detached = flight.detached or detach
        try:
            return await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.detached:
                flight.task.cancel()
            raise
        finally:
            flight.waiters -= 1

    async def cancel_all(self, grace: float) -> None:
        """Cancel everything in flight and wait up to ``grace`` seconds for it to stop."""
        tasks = [flight.task for flight in self._flights.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace)

    def _landed(self, key: str, task: asyncio.Task[T]) -> None:
        flight = self._flights.get(key)
        if flight is not None and flight.task is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have gone


class BoundedSlots:
    """At most ``slots`` holders at once; at most ``waiting`` more may wait for a turn, each for
    at most ``wait_s`` seconds. Past either bound :class:`~screenshotd.errors.PoolExhausted`
    (503) is raised at once, with a ``Retry-After`` estimated from the measured hold time and
    the backlog. A waiter holds nothing but a coroutine.

    ``what`` names the slots in the error (``browser slot``, ``diff worker``).
    """

    def __init__(self, slots: int, waiting: int, wait_s: float, *, what: str,
                 typical_hold_s: float = 2.0) -> None:
        if slots < 1:
            raise ValueError("at least one slot")
        self.slots = slots
        self.max_waiting = waiting
        self.wait_s = wait_s
        self.what = what
        self._semaphore = asyncio.Semaphore(slots)
        self.waiting = 0
        self.in_use = 0
        #: An exponential moving average of how long a slot is held, for Retry-After.
        self.hold_s = typical_hold_s
        self._drained = asyncio.Event()
        self._drained.set()

    @property
    def full(self) -> bool:
        return self._semaphore.locked()

    async def acquire(self) -> None:
        """Take a slot, waiting within the bounds, or raise PoolExhausted."""
        if self._semaphore.locked() and self.waiting >= self.max_waiting:
            raise errors.PoolExhausted(
                f"every {self.what} is busy and the wait queue is full",
                retry_after=self.retry_after())
        self.waiting += 1
        try:
            async with asyncio.timeout(self.wait_s):
                await self._semaphore.acquire()
        except TimeoutError:
            raise errors.PoolExhausted(
                f"no {self.what} became free in time ({self.wait_s:g} s)",
                retry_after=self.retry_after()) from None
        finally:
            self.waiting -= 1
        self.in_use += 1
        self._drained.clear()

    def observe(self, seconds: float) -> None:
        """How long one piece of work held its slot: feeds the Retry-After estimate."""
        self.hold_s = 0.8 * self.hold_s + 0.2 * seconds

    def release(self) -> None:
        """Give a slot back."""
        self.in_use -= 1
        if self.in_use == 0:
            self._drained.set()
        self._semaphore.release()

    async def drained(self) -> None:
        """Wait until no slot is held."""
        await self._drained.wait()

    def retry_after(self) -> int:
        """Seconds until a request arriving now could expect a slot: the hold time times the
        backlog per slot, between 1 and 30."""
        backlog = (self.waiting + self.slots) / self.slots
        return max(1, min(30, math.ceil(self.hold_s * backlog)))

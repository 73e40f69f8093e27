"""The two ways work is shared and bounded, written once: :class:`SingleFlight` (identical work
in flight runs once) and :class:`BoundedSlots` (at most N at once, a bounded wait for a turn).

The capture road (:mod:`screenshotd.core.service`) and the diff (:mod:`screenshotd.core.diffs`)
share work through a :class:`SingleFlight`; the browser pool and the diff bound theirs with
:class:`BoundedSlots`. Both live on the event loop and take no lock.
"""

from __future__ import annotations

import asyncio
import math
import time
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


#: The most requests that may wait for a slot when no hard cap is set: each costs a coroutine
#: and a socket, not a browser, so thousands are fine.
MAX_WAITERS = 5000


class BoundedSlots:
    """At most ``slots`` holders at once; more wait for a turn, each for at most ``wait_s``
    seconds. A waiter holds nothing but a coroutine.

    Admission is by expected wait: a request waits when, at the measured hold time, the slots
    can take it within ``wait_s``; when they cannot, it gets
    :class:`~screenshotd.errors.PoolExhausted` (503) at once, with a ``Retry-After`` of the
    seconds until they could. ``waiting``, when given, is also a hard cap on waiters (for
    those who want one); without it the cap is :data:`MAX_WAITERS`.

    ``what`` names the slots in the error (``browser slot``, ``diff worker``).
    """

    def __init__(self, slots: int, waiting: int | None, wait_s: float, *, what: str,
                 typical_hold_s: float = 2.0) -> None:
        if slots < 1:
            raise ValueError("at least one slot")
        self.slots = slots
        #: The hard cap on waiters, when one was asked for.
        self.max_waiting = waiting
        self.wait_s = wait_s
        self.what = what
        self._semaphore = asyncio.Semaphore(slots)
        self.waiting = 0
        self.in_use = 0
        #: An exponential moving average of how long a slot is held.
        self.hold_s = typical_hold_s
        self.refused = 0
        #: When the last refused request was told to come back (monotonic seconds).
        self._promised = 0.0
        self._drained = asyncio.Event()
        self._drained.set()

    @property
    def full(self) -> bool:
        return self._semaphore.locked()

    def expected_wait(self) -> float:
        """Seconds a request arriving now would wait for a slot: 0 while one is free, else
        the requests ahead of it (and itself) per slot, times the measured hold time."""
        if not self._semaphore.locked():
            return 0.0
        return (self.waiting + 1) * self.hold_s / self.slots

    async def acquire(self) -> None:
        """Take a slot, waiting when one can be expected within ``wait_s``, or raise
        PoolExhausted."""
        if self._semaphore.locked():
            cap = MAX_WAITERS if self.max_waiting is None else self.max_waiting
            expected = self.expected_wait()
            if self.waiting >= cap:
                self.refused += 1
                raise errors.PoolExhausted(
                    f"every {self.what} is busy and the wait queue is full ({self.waiting} "
                    "waiting, the most allowed)", retry_after=self.retry_after())
            if expected > self.wait_s:
                self.refused += 1
                raise errors.PoolExhausted(
                    f"every {self.what} is busy: the wait would be about {expected:.0f} s, "
                    f"longer than the {self.wait_s:g} s a request may wait",
                    retry_after=self._ticket(expected))
        self.waiting += 1
        try:
            async with asyncio.timeout(self.wait_s):
                await self._semaphore.acquire()
        except TimeoutError:
            self.refused += 1
            raise errors.PoolExhausted(
                f"no {self.what} became free in time ({self.wait_s:g} s)",
                retry_after=self.retry_after()) from None
        finally:
            self.waiting -= 1
        self.in_use += 1
        self._drained.clear()

    def _ticket(self, expected: float) -> int:
        """The Retry-After of a request refused for a wait of ``expected`` seconds: when the
        backlog will have shrunk enough to take it, and no earlier than one hold time per slot
        after the request refused before it. The surplus of a burst is told to come back one
        after another, not all at the same second, so each is taken when it returns."""
        now = time.monotonic()
        retry_at = max(now + expected - self.wait_s, self._promised)
        self._promised = retry_at + self.hold_s / self.slots
        return max(1, math.ceil(retry_at - now))

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
        backlog per slot, at least 1."""
        backlog = (self.waiting + self.slots) / self.slots
        return max(1, math.ceil(self.hold_s * backlog))

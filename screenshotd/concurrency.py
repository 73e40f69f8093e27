"""The ways work is shared and bounded, written once: :class:`SingleFlight` (identical work in
flight runs once), :class:`FairQueue` (waiting work, served round-robin across callers) and
:class:`BoundedSlots` (at most N at once, a bounded wait for a turn, shared fairly).

The capture road (:mod:`screenshotd.core.service`) and the diff (:mod:`screenshotd.core.diffs`)
share work through a :class:`SingleFlight`; the browser pool and the diff bound theirs with
:class:`BoundedSlots`, whose waiters wait in a :class:`FairQueue`, as queued jobs wait for a
worker in one (:mod:`screenshotd.core.jobs.manager`). All live on the event loop and take no
lock.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
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


class FairQueue(Generic[T]):
    """Waiting items, one line per owner (an API key, or an address without keys), taken from
    the owners in turn: one caller's 500 waiting items do not delay another caller's one.

    :meth:`pop` takes the oldest item of the owner whose turn it is, then puts that owner at the
    back of the line if it has more. With a ``cap``, an owner that already holds ``cap`` (by
    ``held``) is passed over while another owner waits that holds fewer: when others are
    waiting, nobody holds more than their share. With ``limit``, an owner that holds its own
    limit is passed over even when nobody else waits: a hard cap, not a share.
    """

    def __init__(self) -> None:
        self._lines: dict[str, deque[T]] = {}
        self._turns: deque[str] = deque()  # owners with waiting items, in turn
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[tuple[str, T]]:
        """Every waiting (owner, item) (a copy: the queue may change while it is walked)."""
        return iter([(owner, item) for owner, line in self._lines.items() for item in line])

    def push(self, owner: str, item: T) -> None:
        line = self._lines.get(owner)
        if line is None:
            line = self._lines[owner] = deque()
            self._turns.append(owner)
        line.append(item)
        self._size += 1

    def waiting_for(self, owner: str) -> int:
        """How many items ``owner`` has waiting."""
        line = self._lines.get(owner)
        return len(line) if line is not None else 0

    def remove(self, owner: str, item: T) -> bool:
        """Take a waiting item out (it was cancelled, or gave up); False if it is not here."""
        line = self._lines.get(owner)
        if line is None or item not in line:
            return False
        line.remove(item)
        self._size -= 1
        if not line:
            del self._lines[owner]
            self._turns.remove(owner)
        return True

    def pop(self, held: Mapping[str, int] | None = None, cap: int | None = None,
            limit: Callable[[str], int | None] | None = None,
            prefer: Callable[[str], bool] | None = None) -> tuple[str, T] | None:
        """The next (owner, item), taking owners in turn; None when nothing waits, or when
        every owner that waits holds its ``limit``. With ``prefer``, the first owner it says
        yes to among those under their share goes before the one whose turn it is."""
        if not self._turns:
            return None
        turns: Sequence[str] = self._turns
        if limit is not None and held is not None:
            turns = [o for o in turns if not at_limit(held.get(o, 0), limit(o))]
            if not turns:
                return None
        owner, fair = turns[0], turns
        if cap is not None and held is not None and len(turns) > 1:
            under = [o for o in turns if held.get(o, 0) < cap]
            # Everyone at their share: the owner holding least, so no slot stays idle.
            owner = under[0] if under else min(turns, key=lambda o: held.get(o, 0))
            fair = under or [owner]
        if prefer is not None and len(fair) > 1 and not prefer(owner):
            owner = next((o for o in fair if prefer(o)), owner)
        self._turns.remove(owner)
        line = self._lines[owner]
        item = line.popleft()
        self._size -= 1
        if line:
            self._turns.append(owner)
        else:
            del self._lines[owner]
        return owner, item


def at_limit(held: int, limit: int | None) -> bool:
    """Whether an owner holding ``held`` may take no more under its ``limit`` (None: none)."""
    return limit is not None and held >= limit


#: How far past its expected wait a refused request may be told to come back, in queue
#: timeouts (the default queue timeout of 60 s: at most ten minutes).
RETRY_HORIZON = 10

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

    Fair: every holder and waiter has an owner (the caller: an API key, or an address without
    keys). A freed slot goes to the waiting owners in turn (a :class:`FairQueue`), not first
    come, and while others wait an owner that holds ``per_owner`` slots is passed over. So a
    flood from one caller cannot hold every slot, nor push another caller's request past its
    wait.

    Capped: :attr:`caps`, when set, gives an owner's own limit (a key's ``max_concurrent``, or
    ``MAX_CONCURRENT_PER_CALLER`` when the operator sets it). An owner never holds more slots
    than its limit, even while the others stand idle; its further requests wait for one of its
    own, and are refused when that wait would be too long.

    ``what`` names the slots in the error (``browser slot``, ``diff worker``).
    """

    def __init__(self, slots: int, waiting: int | None, wait_s: float, *, what: str,
                 typical_hold_s: float = 2.0, per_owner: int | None = None) -> None:
        if slots < 1:
            raise ValueError("at least one slot")
        self.slots = slots
        #: The hard cap on waiters, when one was asked for.
        self.max_waiting = waiting
        self.wait_s = wait_s
        self.what = what
        #: The most slots one owner holds while another owner waits (None: no limit).
        self.per_owner = per_owner
        #: An owner's hard limit of slots (None: no limit), read at every turn, so a changed
        #: keys file applies to the next one.
        self.caps: Callable[[str], int | None] | None = None
        #: Whether a waiting owner should be served first (its kept page is ready), among
        #: those under their share (None: strictly in turn).
        self.prefer: Callable[[str], bool] | None = None
        self._waiters: FairQueue[asyncio.Future[None]] = FairQueue()
        self._held: Counter[str] = Counter()
        self.in_use = 0
        #: An exponential moving average of how long a slot is held.
        self.hold_s = typical_hold_s
        self.refused = 0
        #: When the last refused request was told to come back (monotonic seconds).
        self._promised = 0.0
        self._drained = asyncio.Event()
        self._drained.set()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def full(self) -> bool:
        return self.in_use >= self.slots

    def held_by(self, owner: str) -> int:
        """How many slots ``owner`` holds now."""
        return self._held.get(owner, 0)

    def expected_wait(self) -> float:
        """Seconds a request arriving now would wait for a slot: 0 while one is free, else
        the requests ahead of it (and itself) per slot, times the measured hold time."""
        if not self.full:
            return 0.0
        return (self.waiting + 1) * self.hold_s / self.slots

    async def acquire(self, owner: str = "") -> None:
        """Take a slot for ``owner``, waiting when one can be expected within ``wait_s``, or
        raise PoolExhausted."""
        limit = self.caps(owner) if self.caps is not None else None
        capped = at_limit(self._held.get(owner, 0), limit)
        if not self.full and not self._waiters and not capped:
            self._take(owner)
            return
        cap = MAX_WAITERS if self.max_waiting is None else self.max_waiting
        expected = self.expected_wait()
        if capped and limit:
            # its own slots must free: its waiting requests, and itself, per slot it may hold
            mine = (self._waiters.waiting_for(owner) + 1) * self.hold_s / limit
            if mine > expected:
                expected = mine
                if mine > self.wait_s:
                    self.refused += 1
                    raise errors.PoolExhausted(
                        f"this caller may hold {limit} {self.what}"
                        f"{'s' if limit != 1 else ''} at once, and its requests already "
                        f"waiting would make this one wait about {mine:.0f} s, longer than "
                        f"the {self.wait_s:g} s a request may wait",
                        retry_after=max(1, math.ceil(mine - self.wait_s)))
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
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.push(owner, turn)
        self._hand_out()  # a slot may be free that only capped owners were waiting for
        try:
            async with asyncio.timeout(self.wait_s):
                await turn
        except BaseException as exc:
            if turn.done() and not turn.cancelled():
                self.release(owner)  # given a slot just as it gave up: pass it on
            else:
                self._waiters.remove(owner, turn)
            if isinstance(exc, TimeoutError):
                self.refused += 1
                raise errors.PoolExhausted(
                    f"no {self.what} became free in time ({self.wait_s:g} s)",
                    retry_after=self.retry_after()) from None
            raise

    def _take(self, owner: str) -> None:
        self.in_use += 1
        self._held[owner] += 1
        self._drained.clear()

    def _ticket(self, expected: float) -> int:
        """The Retry-After of a request refused for a wait of ``expected`` seconds: when the
        backlog will have shrunk enough to take it, and no earlier than one hold time per slot
        after the request refused before it. The surplus of a burst is told to come back one
        after another, not all at the same second, so each is taken when it returns.

        Never later than :data:`RETRY_HORIZON` queue timeouts past ``expected``: refused
        requests that never come back (a flood) do not push the next one's time out without
        end. (A horizon of one queue timeout is too short: the spacing of an ordinary burst
        reaches past it, and those sent back to the horizon all at once overflow it again.)"""
        now = time.monotonic()
        horizon = now + expected + RETRY_HORIZON * self.wait_s
        retry_at = min(max(now + expected - self.wait_s, self._promised), horizon)
        self._promised = retry_at + self.hold_s / self.slots
        return max(1, math.ceil(retry_at - now))

    def observe(self, seconds: float) -> None:
        """How long one piece of work held its slot: feeds the Retry-After estimate."""
        self.hold_s = 0.8 * self.hold_s + 0.2 * seconds

    def release(self, owner: str = "") -> None:
        """Give ``owner``'s slot back; it goes to the next waiter in turn."""
        self.in_use -= 1
        self._held[owner] -= 1
        if self._held[owner] <= 0:
            del self._held[owner]
        self._hand_out()
        if self.in_use == 0:
            self._drained.set()

    def _hand_out(self) -> None:
        """Give the free slots to the waiters in turn, passing over owners at their limit."""
        while self.in_use < self.slots:
            turn = self._waiters.pop(self._held, self.per_owner, self.caps, self.prefer)
            if turn is None:
                break
            next_owner, waiter = turn
            if waiter.done():  # it gave up and has not yet left the line
                continue
            self._take(next_owner)
            waiter.set_result(None)

    async def drained(self) -> None:
        """Wait until no slot is held."""
        await self._drained.wait()

    def retry_after(self) -> int:
        """Seconds until a request arriving now could expect a slot: the hold time times the
        backlog per slot, at least 1."""
        backlog = (self.waiting + self.slots) / self.slots
        return max(1, math.ceil(self.hold_s * backlog))

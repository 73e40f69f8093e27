"""Rate limits: ``MAX_REQUESTS_PER_MINUTE`` per caller (an API key, or an IP without keys).

The limit meters work that may render: a capture that misses the cache, an async submission,
each valid item of a batch, each page a diff captures. The service and the job manager charge
it through :meth:`~screenshotd.auth.callers.Caller.charge`. Cache hits, 304s and ``/images`` are never counted, so a page of many ``<img>`` thumbnails of
cached captures always loads.

A fixed one-minute window per caller: the units of the current minute, reset when the minute
turns. A request that would go over the limit gets ``429 RATE_LIMITED`` with ``Retry-After``
set to the seconds left in the window, and its units are not kept: a refused batch of 50 does
not use up the minute of a caller who then asks for one page.

- :class:`MemoryLimiter` is one dict lookup and an addition.
- :class:`RedisLimiter` shares the counts between replicas: one round trip (``INCRBY`` and
  ``EXPIRE`` in a pipeline) per metered request, and one more to give the units back when it
  is refused. Once a caller is known to be at its limit for this window, the replica refuses it
  without asking Redis again until the window turns. If Redis cannot be reached the request is
  let through (and logged, at most once a minute): a broken limiter must not take the service
  down with it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

WINDOW_S = 60
#: How long one Redis round trip of the limiter may take before the request goes on unlimited.
REDIS_TIMEOUT_S = 0.5
#: After a Redis failure, how long requests go unlimited before Redis is tried again.
RETRY_REDIS_S = 5.0


class RateLimiter(Protocol):
    limit: int
    #: Requests refused since the start.
    refused: int

    async def hit(self, caller: str, units: int = 1, limit: int | None = None) -> int:
        """Count ``units`` of work; 0 when they are allowed, else the seconds until they
        would be (and then they are not counted). ``limit`` replaces the limiter's own for
        this caller (a named key's); 0 is no limit."""

    async def used(self, caller: str) -> int:
        """Units counted for ``caller`` in this window."""

    async def close(self) -> None: ...

    def health(self) -> dict[str, object]: ...


def _window(now: float) -> tuple[int, int]:
    """(this window's number, seconds until the next one; at least 1)."""
    window = int(now // WINDOW_S)
    return window, max(1, math.ceil((window + 1) * WINDOW_S - now))


class MemoryLimiter:
    """The counts of this process. Memory is bounded by the callers seen in one minute."""

    def __init__(self, limit: int, clock: Callable[[], float] | None = None) -> None:
        self.limit = limit
        self.clock = clock or time.time  # a test may freeze it
        self._window = -1
        self._counts: dict[str, int] = {}
        self.refused = 0

    async def hit(self, caller: str, units: int = 1, limit: int | None = None) -> int:
        limit = self.limit if limit is None else limit
        if limit <= 0:
            return 0
        window, left = _window(self.clock())
        if window != self._window:
            self._window = window
            self._counts = {}
        count = self._counts.get(caller, 0) + units
        if count <= limit:
            self._counts[caller] = count
            return 0
        self.refused += 1
        return left

    async def used(self, caller: str) -> int:
        window, _ = _window(self.clock())
        return self._counts.get(caller, 0) if window == self._window else 0

    async def close(self) -> None:
        self._counts = {}

    def health(self) -> dict[str, object]:
        return {"backend": "memory", "limit": self.limit, "callers": len(self._counts),
                "refused": self.refused}


class RedisLimiter:
    """Counts shared by every replica that uses the same Redis."""

    def __init__(self, limit: int, url: str, prefix: str = "screenshotd:rl:",
                 clock: Callable[[], float] | None = None) -> None:
        import redis.asyncio as redis

        self.limit = limit
        self._client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S,
                                            socket_connect_timeout=REDIS_TIMEOUT_S)
        self._prefix = prefix
        self.clock = clock or time.time  # a test may freeze it
        self._window = -1
        #: Callers known to be over the limit in the current window: refused without Redis.
        self._over: set[str] = set()
        self.refused = 0
        self.errors = 0
        self._last_error_log = 0.0
        self._down_until = 0.0

    async def hit(self, caller: str, units: int = 1, limit: int | None = None) -> int:
        limit = self.limit if limit is None else limit
        if limit <= 0:
            return 0
        window, left = _window(self.clock())
        if window != self._window:
            self._window = window
            self._over = set()
        elif caller in self._over:
            self.refused += 1
            return left
        if self._down_until and time.monotonic() < self._down_until:
            return 0
        key = f"{self._prefix}{caller}:{window}"
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                pipe = self._client.pipeline(transaction=False)
                pipe.incrby(key, units)
                pipe.expire(key, WINDOW_S + 5, nx=True)
                count, _ = await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - any Redis failure: let the request through
            self.errors += 1
            now = time.monotonic()
            self._down_until = now + RETRY_REDIS_S
            if now - self._last_error_log > WINDOW_S:
                self._last_error_log = now
                log.warning("rate limiter: Redis failed (%s); requests go unlimited",
                            type(exc).__name__)
            return 0
        if int(count) <= limit:
            return 0
        self.refused += 1
        if int(count) - units >= limit:
            self._over.add(caller)  # full before this request: nothing more fits this minute
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                await self._client.decrby(key, units)
        except Exception:  # noqa: BLE001 - the count stays high until the window turns
            self.errors += 1
        return left

    async def used(self, caller: str) -> int:
        window, _ = _window(self.clock())
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                return int(await self._client.get(f"{self._prefix}{caller}:{window}") or 0)
        except Exception:  # noqa: BLE001 - a report: unknown is 0
            return 0

    async def close(self) -> None:
        await self._client.aclose()

    def health(self) -> dict[str, object]:
        return {"backend": "redis", "limit": self.limit, "refused": self.refused,
                "errors": self.errors}


def make_limiter(limit: int, redis_url: str, per_key: bool = False) -> RateLimiter | None:
    """The limiter the settings ask for: None when ``limit`` is 0 (off), unless keys may have
    limits of their own (``per_key``: ``API_KEYS_FILE``)."""
    if limit <= 0 and not per_key:
        return None
    if redis_url:
        return RedisLimiter(limit, redis_url)
    return MemoryLimiter(limit)

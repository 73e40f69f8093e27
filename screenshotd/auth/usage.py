"""What each named key used: renders today and this month, cache hits this month, and the
monthly quota that renders count against (``monthly_quota`` in ``API_KEYS_FILE``).

Renders are what the rate limit meters (a capture that misses the cache, a job, a batch item,
a diff's page); hits are the captures served from the cache, which cost no quota. Months and
days are UTC calendar ones.

- :class:`MemoryUsage` counts in this process (a restart starts again from 0; with several
  replicas, each counts its own).
- :class:`RedisUsage` counts in Redis, so every replica shares one quota: one ``INCRBY`` per
  charge, checked against the quota in the same script. Hits are counted in memory and added to
  Redis every few seconds, so a cache hit costs no round trip. If Redis cannot be reached a
  render is let through (and logged at most once a minute), as the rate limiter does.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Protocol

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 0.5
FLUSH_EVERY_S = 5.0

#: KEYS: month, day. ARGV: units, quota (-1: none), month ttl, day ttl. Returns the month's
#: count after the charge, or -1 when the quota would be exceeded (and nothing is counted).
_CHARGE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local quota = tonumber(ARGV[2])
if quota >= 0 and used + tonumber(ARGV[1]) > quota then return -1 end
local month = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('INCRBY', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return month
"""


def periods(now: float) -> tuple[str, str, float]:
    """(this month ``YYYYMM``, today ``YYYYMMDD``, when the month ends as Unix seconds)."""
    moment = datetime.fromtimestamp(now, UTC)
    days = calendar.monthrange(moment.year, moment.month)[1]
    end = moment.replace(day=days, hour=0, minute=0, second=0, microsecond=0).timestamp() + 86400
    return moment.strftime("%Y%m"), moment.strftime("%Y%m%d"), end


class Usage(Protocol):
    #: Renders and hits counted by this process, by key name (for /metrics).
    renders: Counter[str]
    hits: Counter[str]

    async def charge(self, name: str, units: int, quota: int | None) -> int | None:
        """Count ``units`` renders; the month's count after them, or None when they would go
        over ``quota`` (and then nothing is counted)."""

    async def refund(self, name: str, units: int) -> None:
        """Take back renders charged for work that was then refused."""

    def hit(self, name: str) -> None: ...

    async def report(self, name: str) -> dict[str, int]:
        """``renders_today``, ``renders_month``, ``hits_month``."""

    async def close(self) -> None: ...


class MemoryUsage:
    def __init__(self, clock: Any = time.time) -> None:
        self.clock = clock
        self.renders: Counter[str] = Counter()
        self.hits: Counter[str] = Counter()
        self._counts: Counter[tuple[str, str, str]] = Counter()  # (name, kind, period)

    async def charge(self, name: str, units: int, quota: int | None) -> int | None:
        month, day, _ = periods(self.clock())
        used = self._counts[name, "m", month]
        if quota is not None and used + units > quota:
            return None
        self._counts[name, "m", month] += units
        self._counts[name, "d", day] += units
        self.renders[name] += units
        return used + units

    async def refund(self, name: str, units: int) -> None:
        month, day, _ = periods(self.clock())
        self._counts[name, "m", month] -= units
        self._counts[name, "d", day] -= units
        self.renders[name] -= units

    def hit(self, name: str) -> None:
        month, _, _ = periods(self.clock())
        self._counts[name, "h", month] += 1
        self.hits[name] += 1

    async def report(self, name: str) -> dict[str, int]:
        month, day, _ = periods(self.clock())
        return {"renders_today": self._counts[name, "d", day],
                "renders_month": self._counts[name, "m", month],
                "hits_month": self._counts[name, "h", month]}

    async def close(self) -> None:
        return None


class RedisUsage:
    def __init__(self, url: str, prefix: str = "screenshotd:usage:", clock: Any = time.time):
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S,
                                            socket_connect_timeout=REDIS_TIMEOUT_S)
        self._charge = self._client.register_script(_CHARGE)
        self.prefix = prefix
        self.clock = clock
        self.renders: Counter[str] = Counter()
        self.hits: Counter[str] = Counter()
        self._unflushed: Counter[str] = Counter()
        self._flusher: asyncio.Task[None] | None = None
        self._last_error_log = 0.0

    def _keys(self, name: str) -> tuple[str, str, str]:
        month, day, _ = periods(self.clock())
        base = f"{self.prefix}{name}:"
        return base + f"m:{month}", base + f"d:{day}", base + f"h:{month}"

    def _failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_error_log > 60:
            self._last_error_log = now
            log.warning("usage: Redis failed (%s); renders go uncounted", type(exc).__name__)

    async def charge(self, name: str, units: int, quota: int | None) -> int | None:
        month, day, _ = self._keys(name)
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                count = int(await self._charge(keys=[month, day], args=[
                    units, -1 if quota is None else quota, 40 * 86400, 2 * 86400]))
        except Exception as exc:  # noqa: BLE001 - any Redis failure: let the render through
            self._failed(exc)
            return 0
        if count < 0:
            return None
        self.renders[name] += units
        return count

    async def refund(self, name: str, units: int) -> None:
        month, day, _ = self._keys(name)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                pipe = self._client.pipeline(transaction=False)
                pipe.decrby(month, units)
                pipe.decrby(day, units)
                await pipe.execute()
        self.renders[name] -= units

    def hit(self, name: str) -> None:
        self.hits[name] += 1
        self._unflushed[name] += 1
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_EVERY_S)
        await self._flush()

    async def _flush(self) -> None:
        pending, self._unflushed = self._unflushed, Counter()
        if not pending:
            return
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S * 4):
                pipe = self._client.pipeline(transaction=False)
                for name, count in pending.items():
                    key = self._keys(name)[2]
                    pipe.incrby(key, count)
                    pipe.expire(key, 40 * 86400)
                await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - hits are a report; they are kept for later
            self._unflushed.update(pending)
            self._failed(exc)

    async def report(self, name: str) -> dict[str, int]:
        month, day, hits = self._keys(name)
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                values = await self._client.mget([day, month, hits])
        except Exception as exc:  # noqa: BLE001 - /me still answers, with what is known here
            self._failed(exc)
            values = [None, None, None]
        today, this_month, hit_count = (int(v or 0) for v in values)
        return {"renders_today": today, "renders_month": this_month,
                "hits_month": hit_count + self._unflushed[name]}

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        with contextlib.suppress(Exception):
            await self._flush()
        await self._client.aclose()


def make_usage(redis_url: str) -> MemoryUsage | RedisUsage:
    return RedisUsage(redis_url) if redis_url else MemoryUsage()

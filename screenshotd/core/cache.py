"""The capture cache: one small interface, an in-memory backend and a Redis backend.

An :class:`Entry` is the bytes of a capture plus a JSON-able ``meta`` dict that the service
writes and reads; the cache itself knows nothing of captures. Keys are the hex SHA-256 from
:meth:`~screenshotd.params.capture.CaptureOptions.cache_key`.

The cache is an optimisation, never a dependency: a backend that fails answers "not cached"
and "not stored", so a request falls through to a capture. Nothing here raises to a caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import cachetools

from screenshotd.core.nearcache import NearCache, Tracker

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Bytes an entry is charged on top of its data: the meta dict and the bookkeeping.
ENTRY_OVERHEAD = 512

#: Redis: the socket timeout behind every call's own, shorter deadline.
SOCKET_TIMEOUT_S = 10.0
#: Redis: the transfer rate below which a large capture's write counts as a failure.
MIN_TRANSFER_BYTES_PER_S = 20e6


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached capture. ``stored_at`` is wall-clock seconds; ``ttl`` is seconds from then."""

    data: bytes
    meta: dict[str, Any]
    ttl: int
    stored_at: float = field(default_factory=time.time)

    @property
    def size(self) -> int:
        return len(self.data) + ENTRY_OVERHEAD

    def age(self, now: float | None = None) -> int:
        """Whole seconds since the entry was stored (the HTTP ``Age``)."""
        return max(0, int((time.time() if now is None else now) - self.stored_at))


class Cache(Protocol):
    """What the service needs from a backend. No method raises on a backend failure."""

    backend: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, key: str) -> Entry | None:
        """The entry with its bytes, or None when absent, expired or unreachable."""

    async def head(self, key: str) -> Entry | None:
        """The entry's meta, ttl and age; ``data`` may be empty. For 304s: no bytes moved."""

    async def set(self, key: str, entry: Entry) -> bool:
        """Store (or replace) an entry for ``entry.ttl`` seconds. False if it was not stored."""

    def health(self) -> dict[str, Any]: ...


# --------------------------------------------------------------------------- memory


class MemoryCache:
    """cachetools TLRU: a per-entry TTL, and a bound in bytes with least-recently-used eviction.

    Everything runs on the event loop, so there is no lock; each operation is a dict lookup.
    ``timer`` is the monotonic clock the expiry uses (injectable for tests).
    """

    backend = "memory"

    def __init__(self, max_bytes: int, timer: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._entries: cachetools.TLRUCache[str, Entry] = cachetools.TLRUCache(
            maxsize=max_bytes,
            ttu=lambda _key, entry, now: now + entry.ttl,
            timer=timer,
            getsizeof=lambda entry: entry.size,
        )

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()

    async def get(self, key: str) -> Entry | None:
        return self._entries.get(key)

    async def head(self, key: str) -> Entry | None:
        return self._entries.get(key)

    async def set(self, key: str, entry: Entry) -> bool:
        self._entries.pop(key, None)  # a refresh replaces, and is charged once
        try:
            self._entries[key] = entry
        except ValueError:  # larger than the whole cache
            log.info("capture of %d bytes is larger than CACHE_MAX_BYTES; not cached", entry.size)
            return False
        return True

    @property
    def entries(self) -> int:
        self._entries.expire()
        return len(self._entries)

    @property
    def bytes(self) -> int:
        self._entries.expire()
        return int(self._entries.currsize)

    def health(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "state": "ok",
            "entries": self.entries,
            "bytes": self.bytes,
            "max_bytes": self.max_bytes,
        }


# --------------------------------------------------------------------------- redis

def _pack_meta(entry: Entry) -> bytes:
    return json.dumps(
        {"meta": entry.meta, "ttl": entry.ttl, "stored_at": entry.stored_at},
        separators=(",", ":"),
    ).encode("utf-8")


def _unpack(meta_blob: bytes, data: bytes) -> Entry:
    record = json.loads(meta_blob)
    return Entry(data=data, meta=record["meta"], ttl=int(record["ttl"]),
                 stored_at=float(record["stored_at"]))


def redacted_url(url: str) -> str:
    """``redis://host:port/db`` with any user name and password removed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class RedisCache:
    """Redis (redis.asyncio): each entry is two keys with the same TTL, ``…:m`` (meta) and
    ``…:d`` (bytes), so a 304 reads a few hundred bytes and a hit reads both in one ``MGET``.

    Every call has a short timeout. A failure marks the backend degraded; while it is degraded
    requests skip Redis at once (no timeout paid per request) and a monitor task pings it every
    ``probe_interval`` seconds, so the backend recovers by itself when Redis returns.

    With ``near_max_bytes``, hot entries are also kept in memory (:class:`NearCache`), and
    Redis invalidates them when any replica changes them (:class:`Tracker`): a hit on this
    replica then costs no round trip.
    """

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        op_timeout: float = 0.5,
        probe_interval: float = 1.0,
        prefix: str = "screenshotd:capture:",
        max_connections: int = 64,
        near_max_bytes: int = 0,
    ) -> None:
        self.url = url
        self.near = NearCache(near_max_bytes) if near_max_bytes > 0 else None
        self._tracker = Tracker(url, prefix, self.near) if self.near is not None else None
        self.op_timeout = op_timeout
        self.probe_interval = probe_interval
        self.prefix = prefix
        self.max_connections = max_connections
        self.state = "starting"
        self.last_error: str | None = None
        self.degraded_since: float | None = None
        self.failures = 0
        self._client: Any = None
        self._monitor: asyncio.Task[None] | None = None

    async def open(self) -> None:
        from redis.asyncio import BlockingConnectionPool, Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError

        pool = BlockingConnectionPool.from_url(
            self.url,
            max_connections=self.max_connections,
            timeout=self.op_timeout,  # waiting for a free connection
            socket_connect_timeout=self.op_timeout,
            # Only a backstop: each call's own deadline (in _call) grows with the size of the
            # capture it moves, which a fixed socket timeout cannot.
            socket_timeout=SOCKET_TIMEOUT_S,
            # One immediate retry on a fresh connection: after a Redis restart every pooled
            # connection is dead, and the first command on each must not count as an outage.
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        self._client = Redis(connection_pool=pool)
        if await self._ping():
            log.info("cache: Redis at %s", redacted_url(self.url))
        else:
            log.warning("cache: Redis at %s is unreachable (%s); captures go uncached until "
                        "it answers", redacted_url(self.url), self.last_error)
        self._monitor = asyncio.create_task(self._watch(), name="redis-cache-monitor")
        if self._tracker is not None:
            self._tracker.start()

    async def close(self) -> None:
        if self._tracker is not None:
            await self._tracker.stop()
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        if self._client is not None:
            client, self._client = self._client, None
            try:
                async with asyncio.timeout(2):
                    await client.aclose()
                    await client.connection_pool.disconnect()
            except Exception as exc:  # closing must not stop the rest of the shutdown
                log.warning("cache: closing the Redis client failed: %s", exc)

    def _key(self, key: str, part: str) -> str:
        return f"{self.prefix}{key}:{part}"

    async def get(self, key: str) -> Entry | None:
        near = self.near
        if near is not None and self.state == "ok":
            entry = near.get(key)
            if entry is not None:
                return entry
        generation = near.generation if near is not None else 0
        # The size is not known before the read: allow for a large full-page capture.
        found = await self._call(lambda c: c.mget(self._key(key, "m"), self._key(key, "d")),
                                 extra_time=0.5)
        if not found or found[0] is None or found[1] is None:
            return None
        entry = self._decode(key, found[0], found[1])
        if entry is not None and near is not None:
            near.keep(key, entry, generation)
        return entry

    async def head(self, key: str) -> Entry | None:
        if self.near is not None and self.state == "ok":
            entry = self.near.get(key)
            if entry is not None:
                return entry
        meta = await self._call(lambda c: c.get(self._key(key, "m")))
        return self._decode(key, meta, b"") if meta else None

    async def set(self, key: str, entry: Entry) -> bool:
        meta = _pack_meta(entry)

        async def write(client: Any) -> bool:
            async with client.pipeline(transaction=True) as pipe:
                pipe.set(self._key(key, "d"), entry.data, ex=entry.ttl)
                pipe.set(self._key(key, "m"), meta, ex=entry.ttl)
                await pipe.execute()
            return True

        # A large capture takes longer to send, which is not an outage.
        return bool(await self._call(write, extra_time=len(entry.data) / MIN_TRANSFER_BYTES_PER_S))

    def _decode(self, key: str, meta: bytes, data: bytes) -> Entry | None:
        try:
            return _unpack(meta, data)
        except (ValueError, KeyError, TypeError):
            log.warning("cache: unreadable meta for %s; treated as a miss", key[:12])
            return None

    async def _call(
        self, operation: Callable[[Any], Awaitable[T]], extra_time: float = 0.0
    ) -> T | None:
        """Run one Redis operation under the timeout; None (and degraded) on any failure."""
        if self.state != "ok" or self._client is None:
            return None
        try:
            # Two attempts (one retry) of op_timeout each, plus slack: the ceiling of one call.
            async with asyncio.timeout(self.op_timeout * 2 + 0.25 + extra_time):
                return await operation(self._client)
        except Exception as exc:  # RedisError, OSError, TimeoutError: all mean "not now"
            self._fail(exc)
            return None

    async def _ping(self) -> bool:
        try:
            async with asyncio.timeout(self.op_timeout * 2 + 0.25):
                await self._client.ping()
        except Exception as exc:
            self._fail(exc)
            return False
        if self.state != "ok":
            if self.degraded_since is not None:
                log.warning("cache: Redis is back after %.1f s",
                            time.monotonic() - self.degraded_since)
            self.state = "ok"
            self.last_error = None
            self.degraded_since = None
        return True

    def _fail(self, exc: BaseException) -> None:
        if self.near is not None:  # its invalidations may not have come through either
            self.near.flush(live=self.near.live)
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__
        if self.state != "degraded":
            log.warning("cache: Redis failed (%s); serving uncached until it recovers",
                        self.last_error)
            self.state = "degraded"
            self.degraded_since = time.monotonic()

    async def _watch(self) -> None:
        """Ping while degraded (to recover) and now and then while healthy (to notice)."""
        while True:
            healthy_interval = max(self.probe_interval * 5, 5.0)
            await asyncio.sleep(self.probe_interval if self.state != "ok" else healthy_interval)
            await self._ping()

    def health(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "backend": self.backend,
            "state": self.state if self.state == "ok" else "degraded",
            "url": redacted_url(self.url),
        }
        if self.state != "ok":
            report["error"] = self.last_error
            if self.degraded_since is not None:
                report["degraded_for_s"] = round(time.monotonic() - self.degraded_since, 1)
        if self.near is not None:
            report["near"] = self.near.health()
        return report


def make_cache(redis_url: str, max_bytes: int, near_max_bytes: int = 0) -> MemoryCache | RedisCache:
    """The backend the settings ask for: Redis when ``REDIS_URL`` is set (with a near cache of
    ``near_max_bytes``), else memory."""
    if redis_url:
        return RedisCache(redis_url, near_max_bytes=near_max_bytes)
    return MemoryCache(max_bytes)

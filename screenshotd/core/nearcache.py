"""The near cache: hot entries of the shared Redis cache kept in each replica's memory, and
the connection through which Redis says which of them changed.

:class:`~screenshotd.core.cache.RedisCache` reads through a :class:`NearCache` when
``CACHE_NEAR_MAX_BYTES`` is set; a :class:`Tracker` keeps it right with Redis's server-assisted
client-side caching.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import cachetools

if TYPE_CHECKING:
    from screenshotd.core.cache import Entry

log = logging.getLogger(__name__)

#: The channel Redis sends a tracking connection's invalidations to, under RESP2.
INVALIDATIONS = "__redis__:invalidate"


class NearCache:
    """Hot entries of the shared Redis cache, kept in this replica's memory (bounded in bytes)
    and dropped when Redis says their keys changed (:class:`Tracker`).

    Correctness rests on one rule: an entry read from Redis is kept only if no invalidation
    arrived while it was being read (:attr:`generation` unchanged), since the invalidation of a
    write that raced the read may come in on the tracking connection before the read's answer
    does. While the tracking connection is down, nothing is kept or served (:attr:`live`).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: cachetools.LRUCache[str, Entry] = cachetools.LRUCache(
            maxsize=max_bytes, getsizeof=lambda entry: entry.size)
        #: Rises with every invalidation: a read that saw it change keeps nothing.
        self.generation = 0
        self.live = False
        self.counts = {"hits": 0, "invalidations": 0, "flushes": 0}

    def get(self, key: str) -> Entry | None:
        if not self.live:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.stored_at + entry.ttl <= time.time():
            self._entries.pop(key, None)
            return None
        self.counts["hits"] += 1
        return entry

    def keep(self, key: str, entry: Entry, generation: int) -> None:
        """Keep an entry read (or written) when the generation was ``generation``."""
        if self.live and generation == self.generation and entry.size <= self.max_bytes // 8:
            self._entries[key] = entry

    def invalidate(self, key: str) -> None:
        self.generation += 1
        self.counts["invalidations"] += 1
        self._entries.pop(key, None)

    def flush(self, live: bool) -> None:
        """Forget everything (the tracking connection was lost, or Redis was flushed)."""
        self.generation += 1
        self.counts["flushes"] += 1
        self._entries.clear()
        self.live = live

    def health(self) -> dict[str, Any]:
        return {"live": self.live, "entries": len(self._entries),
                "bytes": int(self._entries.currsize), "max_bytes": self.max_bytes,
                **self.counts}


class Tracker:
    """Redis server-assisted client-side caching for a :class:`NearCache`: one connection of
    its own with ``CLIENT TRACKING ON REDIRECT <itself> BCAST PREFIX <prefix>``, subscribed to
    ``__redis__:invalidate``. Redis then names every key under the prefix that any client
    changes, deletes or lets expire, and the near cache drops it. A lost connection empties
    the near cache, which serves nothing until tracking is back."""

    def __init__(self, url: str, prefix: str, near: NearCache, retry_s: float = 1.0) -> None:
        self.url = url
        self.prefix = prefix
        self.near = near
        self.retry_s = retry_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="near-cache-tracker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.near.flush(live=False)

    async def _run(self) -> None:
        while True:
            try:
                await self._track()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: forget, wait, reconnect
                if self.near.live:
                    log.warning("cache: near cache off until Redis tracking is back (%s)",
                                f"{type(exc).__name__}: {exc}"[:200])
            self.near.flush(live=False)
            await asyncio.sleep(self.retry_s)

    async def _track(self) -> None:
        from redis.asyncio import Redis

        # RESP2: invalidations then come as messages on __redis__:invalidate, which this same
        # connection (the REDIRECT target) subscribes to. (Under RESP3, redis-py takes them as
        # push messages of its own.)
        client = Redis.from_url(self.url, protocol=2, socket_connect_timeout=2)
        pubsub = client.pubsub()
        try:
            async with asyncio.timeout(5):
                await pubsub.execute_command("CLIENT", "ID")
                own_id = await pubsub.parse_response(block=True, timeout=2)
                await pubsub.execute_command("CLIENT", "TRACKING", "ON", "REDIRECT", own_id,
                                             "BCAST", "PREFIX", self.prefix)
                reply = await pubsub.parse_response(block=True, timeout=2)
                if reply not in (b"OK", "OK"):
                    raise RuntimeError(f"CLIENT TRACKING answered {reply!r}"[:200])
                await pubsub.subscribe(INVALIDATIONS)
                confirmed = await pubsub.get_message(timeout=2)
            if not confirmed or confirmed.get("type") != "subscribe":
                raise RuntimeError(f"unexpected reply to SUBSCRIBE: {confirmed!r}"[:200])
            self.near.flush(live=True)
            while True:
                message = await pubsub.get_message(timeout=30)
                if message is None or message.get("type") != "message":
                    continue
                keys = message.get("data")
                if keys is None:  # FLUSHDB / FLUSHALL: every key is gone
                    self.near.flush(live=True)
                    continue
                for raw in keys if isinstance(keys, list) else [keys]:
                    name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                    if name.startswith(self.prefix):
                        self.near.invalidate(name[len(self.prefix):].rsplit(":", 1)[0])
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
                    await client.aclose()

"""The cache backends on their own: the byte bound, LRU order, TTLs, and Redis failing."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from screenshotd.core.cache import ENTRY_OVERHEAD, Entry, MemoryCache, RedisCache, redacted_url
from tests.support.servers import RedisServer

MB = 1024 * 1024


def entry(size: int, ttl: int = 3600, **meta) -> Entry:
    return Entry(b"x" * size, {"format": "png", **meta}, ttl)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- memory


async def test_memory_charges_an_entry_its_bytes():
    cache = MemoryCache(25 * MB)
    assert await cache.set("a", entry(10 * MB))
    assert cache.bytes == 10 * MB + ENTRY_OVERHEAD and cache.entries == 1
    assert await cache.set("b", entry(10 * MB))
    assert await cache.set("c", entry(10 * MB))  # 30 MB > 25 MB: the oldest goes
    assert cache.entries == 2 and cache.bytes <= 25 * MB
    assert await cache.get("a") is None
    assert (await cache.get("c")).data == b"x" * (10 * MB)


async def test_memory_evicts_the_least_recently_used():
    cache = MemoryCache(3 * (1000 + ENTRY_OVERHEAD))
    for key in "abc":
        await cache.set(key, entry(1000))
    assert await cache.get("a") is not None  # a is now the most recently used
    await cache.set("d", entry(1000))
    assert await cache.get("b") is None
    assert all([await cache.get(key) for key in "acd"])


async def test_memory_refuses_an_entry_larger_than_the_bound():
    cache = MemoryCache(1 * MB)
    assert await cache.set("small", entry(1000))
    assert not await cache.set("huge", entry(2 * MB))
    assert await cache.get("huge") is None
    assert await cache.get("small") is not None  # nothing was evicted for it


async def test_memory_zero_bytes_caches_nothing():
    cache = MemoryCache(0)
    assert not await cache.set("a", entry(10))
    assert cache.health()["entries"] == 0


async def test_memory_refresh_replaces_and_is_charged_once():
    cache = MemoryCache(10 * MB)
    await cache.set("a", entry(1000, n=1))
    await cache.set("a", entry(2000, n=2))
    assert cache.entries == 1 and cache.bytes == 2000 + ENTRY_OVERHEAD
    assert (await cache.get("a")).meta["n"] == 2


async def test_memory_ttl_expiry_per_entry():
    clock = Clock()
    cache = MemoryCache(10 * MB, timer=clock)
    await cache.set("short", entry(10, ttl=60))
    await cache.set("long", entry(10, ttl=3600))
    clock.now += 59
    assert await cache.get("short") is not None
    clock.now += 2
    assert await cache.get("short") is None and await cache.head("short") is None
    assert await cache.get("long") is not None
    assert cache.entries == 1 and cache.bytes == 10 + ENTRY_OVERHEAD
    clock.now += 3600
    assert await cache.get("long") is None
    assert cache.health() == {"backend": "memory", "state": "ok", "entries": 0, "bytes": 0,
                              "max_bytes": 10 * MB}


def test_entry_age():
    stored = Entry(b"", {}, 60, stored_at=time.time() - 42.5)
    assert stored.age() == 42


def test_redacted_url_hides_credentials():
    assert redacted_url("redis://user:hunter2@cache.internal:6380/2") == "redis://cache.internal:6380/2"
    assert "hunter2" not in redacted_url("rediss://:hunter2@[::1]:6379")


# --------------------------------------------------------------------------- redis


@pytest.fixture
async def redis_cache(redis_server: RedisServer):
    cache = RedisCache(redis_server.url, prefix=f"test:{time.monotonic_ns()}:")
    await cache.open()
    try:
        yield cache
    finally:
        await cache.close()


async def test_redis_round_trip(redis_cache: RedisCache, redis_server: RedisServer):
    stored = Entry(b"\x89PNG bytes", {"format": "png", "width": 10}, ttl=120)
    assert await redis_cache.get("k") is None
    assert await redis_cache.set("k", stored)
    got = await redis_cache.get("k")
    assert got == stored
    head = await redis_cache.head("k")
    assert head.data == b"" and head.meta == stored.meta and head.ttl == 120
    raw = Redis.from_url(redis_server.url)
    try:
        for part in "md":
            assert 110 <= await raw.ttl(f"{redis_cache.prefix}k:{part}") <= 120
    finally:
        await raw.aclose()
    assert redis_cache.health()["state"] == "ok"


async def test_redis_with_its_bytes_evicted_is_a_miss(redis_cache: RedisCache,
                                                        redis_server: RedisServer):
    """maxmemory-policy allkeys-lru may evict one of an entry's two keys: never a broken hit."""
    assert await redis_cache.set("k", Entry(b"data", {"format": "png"}, ttl=60))
    raw = Redis.from_url(redis_server.url)
    try:
        await raw.delete(f"{redis_cache.prefix}k:d")
    finally:
        await raw.aclose()
    assert await redis_cache.get("k") is None
    assert (await redis_cache.head("k")).meta == {"format": "png"}  # the 304 stays truthful


async def test_redis_unreadable_meta_is_a_miss(redis_cache: RedisCache, redis_server: RedisServer):
    raw = Redis.from_url(redis_server.url)
    try:
        await raw.set(f"{redis_cache.prefix}k:m", b"not json", ex=60)
        await raw.set(f"{redis_cache.prefix}k:d", b"data", ex=60)
    finally:
        await raw.aclose()
    assert await redis_cache.get("k") is None and await redis_cache.head("k") is None
    assert redis_cache.health()["state"] == "ok"  # bad data is not an outage


async def test_redis_ttl_expiry(redis_cache: RedisCache):
    assert await redis_cache.set("k", Entry(b"data", {}, ttl=1))
    assert await redis_cache.get("k") is not None
    await asyncio.sleep(1.3)
    assert await redis_cache.get("k") is None
    assert await redis_cache.head("k") is None


async def test_redis_down_at_start_then_recovers(own_redis: RedisServer):
    own_redis.kill()
    cache = RedisCache(own_redis.url, probe_interval=0.2)
    await cache.open()
    try:
        assert cache.health()["state"] == "degraded"
        assert "error" in cache.health()
        started = time.monotonic()
        assert await cache.get("k") is None
        assert not await cache.set("k", entry(10))
        assert time.monotonic() - started < 0.1  # degraded: no Redis call at all
        own_redis.start()
        await wait_for_state(cache, "ok")
        assert await cache.set("k", entry(10))
        assert (await cache.get("k")).data == b"x" * 10
    finally:
        await cache.close()


async def test_redis_slow_times_out_then_recovers(own_redis: RedisServer):
    cache = RedisCache(own_redis.url, op_timeout=0.3, probe_interval=0.2)
    await cache.open()
    try:
        assert await cache.set("k", entry(10))
        own_redis.pause()
        started = time.monotonic()
        assert await cache.get("k") is None
        assert time.monotonic() - started < 2.0  # bounded by the call's deadline
        assert cache.health()["state"] == "degraded"
        own_redis.resume()
        await wait_for_state(cache, "ok")
        assert (await cache.get("k")).data == b"x" * 10
    finally:
        own_redis.resume()
        await cache.close()


async def test_redis_restart_is_survived(own_redis: RedisServer):
    cache = RedisCache(own_redis.url, probe_interval=0.2)
    await cache.open()
    try:
        assert await cache.set("k", entry(10))
        own_redis.kill()
        own_redis.start()  # same port, empty: every pooled connection is now dead
        assert await cache.get("k") is None
        await wait_for_state(cache, "ok")
        assert await cache.set("k", entry(10))
        assert await cache.get("k") is not None
    finally:
        await cache.close()


async def wait_for_state(cache: RedisCache, state: str, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while cache.health()["state"] != state:
        assert time.monotonic() < deadline, cache.health()
        await asyncio.sleep(0.05)

"""Monitors on Redis, shared by every replica: the same interface as
:class:`~screenshotd.core.monitors.store.MonitorStore`.

- **The schedule** is a sorted set of monitor ids by due time. A due monitor is claimed by one
  Lua call that takes a lease (``SET NX PX``) and moves the monitor's score to the lease's end,
  so no other replica takes it and no scheduler spins on it; the monitor's record keeps its due
  time. The check's replica renews the lease while it runs; if the replica dies, the lease runs
  out, the monitor is due again, and any replica runs the check.
- **Checks** are records by id, and a sorted set of ids by time for each monitor. A check's id
  is made from the monitor and the due time it serves, so a check run again after a replica
  died mid-way replaces its first record instead of adding a second.
- **Uptime** is counted in hourly buckets (a hash a monitor), so 30 days are 720 fields.
- **Images** are kept in Redis beside the records (the baseline, the latest, changes and
  failures: a few per monitor), deleted with their checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from screenshotd import errors
from screenshotd.core.monitors.model import Check, Monitor, Widget
from screenshotd.core.monitors.store import _CHECK_FIELDS, _check, _monitor

PREFIX = "screenshotd:{mon}:"
OP_TIMEOUT_S = 5.0

_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
local lease_end = tonumber(ARGV[1]) + tonumber(ARGV[2]) / 1000
for _, id in ipairs(ids) do
  if redis.call('SET', ARGV[4] .. id, ARGV[5], 'NX', 'PX', ARGV[2]) then
    redis.call('ZADD', KEYS[1], lease_end, id)
    table.insert(out, id)
  end
end
return out
"""

_FINISH = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[3])
  return 0
end
redis.call('SET', KEYS[2], ARGV[1])
if ARGV[3] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[4])
else
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
end
redis.call('DEL', KEYS[3])
return 1
"""


class RedisMonitorStore:
    """Monitors, checks, widgets and images in Redis (``REDIS_URL``)."""

    def __init__(self, redis_url: str, owner_name: str = "") -> None:
        self.redis_url = redis_url
        self.holder = owner_name or "replica"
        self.redis: Any = None
        self._claim: Any = None
        self._finish: Any = None

    async def open(self) -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(self.redis_url, protocol=2, socket_connect_timeout=2,
                                    socket_timeout=OP_TIMEOUT_S)
        self._claim = self.redis.register_script(_CLAIM)
        self._finish = self.redis.register_script(_FINISH)
        await self._do(self.redis.ping())

    async def close(self) -> None:
        if self.redis is not None:
            redis, self.redis = self.redis, None
            await redis.aclose()

    async def _do(self, awaitable: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            async with asyncio.timeout(OP_TIMEOUT_S):
                return await awaitable
        except (RedisError, OSError, TimeoutError) as exc:
            raise errors.StorageUnavailable(f"the monitors' Redis failed: {exc}") from None

    # ---------------------------------------------------------------- monitors

    async def save(self, monitor: Monitor) -> None:
        leased = await self._do(self.redis.exists(f"{PREFIX}lease:{monitor.id}"))
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(f"{PREFIX}m:{monitor.id}", json.dumps(asdict(monitor)))
        pipe.zadd(f"{PREFIX}owner:{monitor.owner}", {monitor.id: monitor.created_at})
        if monitor.paused:
            pipe.zrem(f"{PREFIX}due", monitor.id)
        elif not leased:
            # a leased monitor keeps its lease's score: the check that runs sets the next one
            pipe.zadd(f"{PREFIX}due", {monitor.id: monitor.next_check_at})
        await self._do(pipe.execute())

    async def get(self, owner: str | None, monitor_id: str) -> Monitor:
        record = await self._do(self.redis.get(f"{PREFIX}m:{monitor_id}"))
        monitor = None if record is None else _monitor(record.decode())
        if monitor is None or (owner is not None and monitor.owner != owner):
            raise errors.NotFound(f"no monitor {monitor_id[:64]}")
        return monitor

    async def of_owner(self, owner: str) -> list[Monitor]:
        ids = await self._do(self.redis.zrevrange(f"{PREFIX}owner:{owner}", 0, -1))
        if not ids:
            return []
        records = await self._do(self.redis.mget([f"{PREFIX}m:{i.decode()}" for i in ids]))
        return [_monitor(r.decode()) for r in records if r is not None]

    async def count(self, owner: str) -> int:
        return int(await self._do(self.redis.zcard(f"{PREFIX}owner:{owner}")))

    async def delete(self, monitor_id: str) -> None:
        monitor = await self.get(None, monitor_id)
        checks = await self._do(self.redis.zrange(f"{PREFIX}c:{monitor_id}", 0, -1))
        tokens = await self._do(self.redis.smembers(f"{PREFIX}ws:{monitor_id}"))
        keys = [f"{PREFIX}m:{monitor_id}", f"{PREFIX}c:{monitor_id}", f"{PREFIX}up:{monitor_id}",
                f"{PREFIX}ws:{monitor_id}", f"{PREFIX}lease:{monitor_id}"]
        for check_id in (c.decode() for c in checks):
            keys += [f"{PREFIX}ck:{check_id}", *self._image_keys(monitor_id, check_id)]
        keys += [f"{PREFIX}w:{t.decode()}" for t in tokens]
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(f"{PREFIX}due", monitor_id)
        pipe.zrem(f"{PREFIX}owner:{monitor.owner}", monitor_id)
        pipe.delete(*keys)
        await self._do(pipe.execute())

    # ---------------------------------------------------------------- the schedule

    async def claim_due(self, now: float, lease_s: float, limit: int) -> list[Monitor]:
        ids = await self._do(self._claim(
            keys=[f"{PREFIX}due"],
            args=[now, int(lease_s * 1000), limit, f"{PREFIX}lease:", self.holder]))
        found = []
        for monitor_id in (i.decode() for i in ids):
            try:
                found.append(await self.get(None, monitor_id))
            except errors.NotFound:
                await self._do(self.redis.zrem(f"{PREFIX}due", monitor_id))
        return found

    async def claim(self, monitor_id: str, now: float, lease_s: float) -> bool:
        """Lease one monitor now, due or not (a check asked for); False while one runs."""
        taken = await self._do(self.redis.set(f"{PREFIX}lease:{monitor_id}", self.holder,
                                              nx=True, px=int(lease_s * 1000)))
        if taken:
            await self._do(self.redis.zadd(f"{PREFIX}due", {monitor_id: now + lease_s},
                                           xx=True))
        return bool(taken)

    async def renew(self, monitor_id: str, lease_s: float, now: float) -> None:
        """Keep a running check's lease (and its score) from running out."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.pexpire(f"{PREFIX}lease:{monitor_id}", int(lease_s * 1000))
        pipe.zadd(f"{PREFIX}due", {monitor_id: now + lease_s}, xx=True)
        await self._do(pipe.execute())

    async def next_due(self) -> float | None:
        first = await self._do(self.redis.zrange(f"{PREFIX}due", 0, 0, withscores=True))
        return float(first[0][1]) if first else None

    async def complete(self, monitor: Monitor, fields: tuple[str, ...]) -> None:
        """A check of ``monitor`` ended: its ``fields`` (and next time) written over the
        monitor as it is now, and the lease off."""
        try:
            current = await self.get(None, monitor.id)
        except errors.NotFound:
            await self._do(self.redis.delete(f"{PREFIX}lease:{monitor.id}"))
            return
        for name in fields:
            setattr(current, name, getattr(monitor, name))
        await self.finish(current)

    async def forget_image(self, monitor_id: str, check_id: str) -> None:
        check = await self.check(monitor_id, check_id)
        if check is not None:
            check.has_image = False
            await self.update_check(check)
        await self.drop_image(monitor_id, check_id, "shot")

    async def finish(self, monitor: Monitor) -> None:
        await self._do(self._finish(
            keys=[f"{PREFIX}due", f"{PREFIX}m:{monitor.id}", f"{PREFIX}lease:{monitor.id}"],
            args=[json.dumps(asdict(monitor)), monitor.next_check_at, int(monitor.paused),
                  monitor.id]))

    # ---------------------------------------------------------------- checks

    async def add_check(self, check: Check) -> None:
        hour = int(check.at // 3600)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(f"{PREFIX}ck:{check.id}", self._record(check))
        pipe.zadd(f"{PREFIX}c:{check.monitor_id}", {check.id: check.at})
        pipe.hincrby(f"{PREFIX}up:{check.monitor_id}", f"{hour}:t", 1)
        if check.ok:
            pipe.hincrby(f"{PREFIX}up:{check.monitor_id}", f"{hour}:g", 1)
        await self._do(pipe.execute())

    async def update_check(self, check: Check) -> None:
        await self._do(self.redis.set(f"{PREFIX}ck:{check.id}", self._record(check), xx=True))

    @staticmethod
    def _record(check: Check) -> str:
        return json.dumps({k: v for k, v in asdict(check).items() if k in _CHECK_FIELDS})

    async def check(self, monitor_id: str, check_id: str) -> Check | None:
        record = await self._do(self.redis.get(f"{PREFIX}ck:{check_id}"))
        found = None if record is None else _check(record.decode())
        return found if found is not None and found.monitor_id == monitor_id else None

    async def checks(self, monitor_id: str, limit: int, before: float | None = None,
                     status: str | None = None) -> list[Check]:
        top = f"({before}" if before is not None else "+inf"
        found: list[Check] = []
        offset = 0
        while len(found) < limit:
            ids = await self._do(self.redis.zrevrangebyscore(
                f"{PREFIX}c:{monitor_id}", top, "-inf", start=offset, num=limit * 2))
            if not ids:
                break
            offset += len(ids)
            records = await self._do(self.redis.mget([f"{PREFIX}ck:{i.decode()}" for i in ids]))
            for record in records:
                if record is not None:
                    check = _check(record.decode())
                    if status is None or check.status == status:
                        found.append(check)
        return found[:limit]

    async def uptime(self, monitor_id: str, now: float) -> dict[str, float | None]:
        hour = int(now // 3600)
        counts = await self._do(self.redis.hgetall(f"{PREFIX}up:{monitor_id}"))
        buckets: dict[int, list[int]] = {}
        for field, value in counts.items():
            stamp, kind = field.decode().split(":")
            buckets.setdefault(int(stamp), [0, 0])[0 if kind == "t" else 1] = int(value)
        shares: dict[str, float | None] = {}
        for name, hours in (("24h", 24), ("7d", 7 * 24), ("30d", 30 * 24)):
            total = sum(t for h, (t, _) in buckets.items() if h > hour - hours)
            good = sum(g for h, (_, g) in buckets.items() if h > hour - hours)
            shares[name] = round(good / total, 6) if total else None
        return shares

    async def referenced(self) -> set[str]:
        kept: set[str] = set()
        async for key in self.redis.scan_iter(match=f"{PREFIX}m:*", count=500):
            record = await self._do(self.redis.get(key))
            if record is not None:
                monitor = _monitor(record.decode())
                kept.update(c for c in (monitor.baseline_check, monitor.last_check,
                                        monitor.last_change) if c)
        return kept

    async def prune(self, before: float, keep: set[str]) -> int:
        gone = 0
        async for key in self.redis.scan_iter(match=f"{PREFIX}c:*", count=500):
            monitor_id = key.decode()[len(f"{PREFIX}c:"):]
            old = await self._do(self.redis.zrangebyscore(key, "-inf", f"({before}"))
            for check_id in (c.decode() for c in old if c.decode() not in keep):
                pipe = self.redis.pipeline(transaction=True)
                pipe.zrem(key, check_id)
                pipe.delete(f"{PREFIX}ck:{check_id}", *self._image_keys(monitor_id, check_id))
                await self._do(pipe.execute())
                gone += 1
        return gone

    # ---------------------------------------------------------------- widgets

    async def add_widget(self, widget: Widget) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(f"{PREFIX}w:{widget.token}", json.dumps(asdict(widget)))
        pipe.sadd(f"{PREFIX}ws:{widget.monitor_id}", widget.token)
        await self._do(pipe.execute())

    async def widgets(self, monitor_id: str) -> list[Widget]:
        tokens = await self._do(self.redis.smembers(f"{PREFIX}ws:{monitor_id}"))
        found = [await self.widget(t.decode()) for t in tokens]
        return sorted((w for w in found if w is not None), key=lambda w: w.created_at)

    async def widget(self, token: str) -> Widget | None:
        record = await self._do(self.redis.get(f"{PREFIX}w:{token}"))
        return None if record is None else Widget(**json.loads(record))

    async def revoke(self, monitor_id: str, token: str) -> bool:
        widget = await self.widget(token)
        if widget is None or widget.monitor_id != monitor_id:
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(f"{PREFIX}w:{token}")
        pipe.srem(f"{PREFIX}ws:{monitor_id}", token)
        await self._do(pipe.execute())
        return True

    # ---------------------------------------------------------------- events

    async def publish(self, monitor_id: str, event: str, data: dict[str, Any]) -> None:
        await self._do(self.redis.publish(f"{PREFIX}events",
                                          json.dumps([monitor_id, event, data])))

    async def subscribe(self) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
        """Every replica's monitor events, as they are published."""
        from redis.exceptions import RedisError

        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await self._do(pubsub.subscribe(f"{PREFIX}events"))
            while True:
                try:
                    message = await pubsub.get_message(timeout=1.0)
                except (RedisError, OSError) as exc:
                    raise errors.StorageUnavailable(f"the monitors' Redis failed: {exc}") \
                        from None
                if message is not None and message.get("type") == "message":
                    monitor_id, event, data = json.loads(message["data"])
                    yield monitor_id, event, data
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    # ---------------------------------------------------------------- images

    @staticmethod
    def _image_keys(monitor_id: str, check_id: str) -> list[str]:
        return [f"{PREFIX}img:{monitor_id}:{check_id}:{kind}" for kind in ("shot", "diff")]

    async def put_image(self, monitor_id: str, check_id: str, kind: str, data: bytes) -> None:
        await self._do(self.redis.set(f"{PREFIX}img:{monitor_id}:{check_id}:{kind}", data))

    async def image(self, monitor_id: str, check_id: str, kind: str) -> bytes | None:
        data: bytes | None = await self._do(
            self.redis.get(f"{PREFIX}img:{monitor_id}:{check_id}:{kind}"))
        return data

    async def drop_image(self, monitor_id: str, check_id: str, kind: str) -> None:
        await self._do(self.redis.delete(f"{PREFIX}img:{monitor_id}:{check_id}:{kind}"))

"""Jobs in Redis: the client, the atomic scripts, and reading and writing job records.

:class:`RedisJobStore` is the one place that touches the keys of
:mod:`~screenshotd.core.jobs.scripts`; :class:`~screenshotd.core.jobs.replica.Replica` (this
process's workers and loops) and :class:`~screenshotd.core.jobs.distributed.RedisJobManager` (the
API) go through it. Every call has a deadline; Redis unreachable is ``503 JOBS_UNAVAILABLE``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

from screenshotd import errors
from screenshotd.core.jobs import codec
from screenshotd.core.jobs.records import Batch, Job, JobState
from screenshotd.core.jobs.scripts import (
    CANCEL_RUNNING,
    EXPIRE,
    FINISH,
    PICK,
    PREFIX,
    RENEW,
    REQUEUE,
    SUBMIT,
)
from screenshotd.core.results import CaptureResult
from screenshotd.core.service import ScreenshotService

TICKETS, WORKERS = "tickets", "workers"
WEBHOOKS, HOOKS = "webhooks", "hooks"
#: A worker's ``XREADGROUP`` blocks this long, then looks at the state and blocks again.
BLOCK_MS = 2000
#: Each Redis call but the blocking reads gets this long.
OP_TIMEOUT_S = 3.0
#: A job whose replica died this many times fails instead of being run again.
MAX_ATTEMPTS = 3


class RedisJobStore:
    """The jobs' Redis: ``open`` makes the client and the consumer groups, ``close`` lets go."""

    def __init__(self, service: ScreenshotService, redis_url: str, *, ttl: float,
                 max_bytes: int, replica_id: str, counts: Counter[str]) -> None:
        self.service = service
        self.redis_url = redis_url
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.replica_id = replica_id
        #: Shared with the manager: ``completed``, ``failed``, ``cancelled`` are counted here.
        self.counts = counts
        self.clock = time.time
        self.redis: Any = None
        self.scripts: dict[str, Any] = {}

    async def open(self) -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(self.redis_url, protocol=2, socket_connect_timeout=2,
                                    socket_timeout=BLOCK_MS / 1000 + OP_TIMEOUT_S)
        for name, lua in (("submit", SUBMIT), ("pick", PICK), ("finish", FINISH),
                          ("expire", EXPIRE), ("cancel", CANCEL_RUNNING),
                          ("requeue", REQUEUE), ("renew", RENEW)):
            self.scripts[name] = self.redis.register_script(lua)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

    async def groups(self) -> None:
        from redis.exceptions import ResponseError

        for stream, group in ((TICKETS, WORKERS), (WEBHOOKS, HOOKS)):
            try:
                await self.redis.xgroup_create(PREFIX + stream, group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def call(self, name: str, *args: Any) -> Any:
        """One script, within :data:`OP_TIMEOUT_S`; Redis unreachable is JOBS_UNAVAILABLE."""
        from redis.exceptions import RedisError

        try:
            async with asyncio.timeout(OP_TIMEOUT_S):
                return await self.scripts[name](keys=[PREFIX + "seq"], args=[PREFIX, *args])
        except (RedisError, OSError, TimeoutError) as exc:
            raise _unavailable(exc) from None

    async def do(self, awaitable: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            async with asyncio.timeout(OP_TIMEOUT_S):
                return await awaitable
        except (RedisError, OSError, TimeoutError) as exc:
            raise _unavailable(exc) from None

    async def load(self, job_id: str, owner: str | None = None,
                    data: bool = True) -> Job | None:
        fields = codec.FIELDS if data else codec.FIELDS[:-1]
        values = await self.do(self.redis.hmget(f"{PREFIX}job:{job_id}", fields))
        job = codec.load(values, self.service.limits)
        if job is None or (owner is not None and job.owner != owner):
            return None
        if data and job.result is not None and not job.result.data and job.stored is not None:
            await self._stored_bytes(job)
        return job

    async def _stored_bytes(self, job: Job) -> None:
        """A stored result's bytes come from the result storage, not from Redis."""
        assert job.result is not None and job.stored is not None
        results = self.service.results
        if results is not None:
            read = await results.read(job.stored["result_id"], "screenshot")
            if read is not None:
                job.result.data = read

    async def room(self, owner: str) -> tuple[int, int]:
        """``owner``'s pending submissions, and the jobs queued in all."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hlen(f"{PREFIX}pending:{owner}")
            pipe.get(PREFIX + "queued")
            pending, queued = await self.do(pipe.execute())
        return int(pending), int(queued or 0)

    async def fetch(self, owner: str, job_id: str) -> Job:
        job = await self.load(job_id, owner)
        if job is None:
            raise errors.NotFound(f"no job {job_id[:64]}; it may have expired")
        return job

    async def fetch_batch(self, owner: str | None, batch_id: str) -> Batch:
        """``owner``'s batch (None: whoever owns it, for its callback), with its jobs."""
        raw_owner, raw, hook = await self.do(self.redis.hmget(
            f"{PREFIX}batch:{batch_id}", ["owner", "record", "callback"]))
        if raw is None or (owner is not None and raw_owner.decode() != owner):
            raise errors.NotFound(f"no batch {batch_id[:64]}; it may have expired")
        owner = raw_owner.decode()
        rec = json.loads(raw)
        batch = Batch(rec["id"], owner, rec["base_url"], rec["created_at"],
                      callback=codec.delivery_from_json(json.loads(hook)) if hook else None)
        for job_id in rec["jobs"]:
            job = await self.load(job_id, owner, data=False)
            if job is None:
                job = Job(job_id, owner, None, None, rec["base_url"], rec["created_at"], 0)
                job.forgotten = True
            batch.jobs.append(job)
        return batch

    async def fetch_jobs(self, owner: str, status: JobState | None, page: int,
                         per_page: int) -> tuple[list[Job], int]:
        index = f"{PREFIX}owner:{owner}"
        ids = [i.decode() for i in await self.do(self.redis.zrevrange(index, 0, -1))]
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(f"{PREFIX}job:{job_id}", "status")
            states = await self.do(pipe.execute())
        gone = [job_id for job_id, state in zip(ids, states, strict=True) if state is None]
        if gone:  # expired or evicted: the index forgets them too
            await self.do(self.redis.zrem(index, *gone))
        matching = [job_id for job_id, state in zip(ids, states, strict=True) if state is not None
                    and (status is None or state.decode() == status.value)]
        start = (page - 1) * per_page
        jobs = [job for job_id in matching[start:start + per_page]
                if (job := await self.load(job_id, owner, data=False)) is not None]
        return jobs, len(matching)

    async def finish(self, job: Job, status: JobState, *, result: CaptureResult | None = None,
                      error: errors.ScreenshotError | None = None, expect: str = "processing",
                      replica: str | None = None) -> bool:
        now = self.clock()
        job.status, job.result, job.error = status, result, error
        job.completed_at, job.expires_at = now, now + self.ttl
        data = b""
        weight = len(job.opts.html or "") if job.opts is not None else 0
        if result is not None:
            weight += len(result.content or "") + sum(map(len, result.contents.values()))
            if job.stored is None:
                data = result.data
                weight += len(data)
        done = await self.call(
            "finish", job.id, expect, replica or self.replica_id, status.value,
            codec.record(job), data, int(self.ttl), weight, self.max_bytes, repr(now),
            "1" if job.webhook is not None else "0", job.unit, job.batch_id or "")
        if done:
            self.counts[status.value] += 1
        return bool(done)

    async def requeue(self, ticket: str | bytes) -> str:
        """Give a claim back; a cancelled job, or one run too often, finishes instead."""
        answer = await self.call("requeue", ticket, MAX_ATTEMPTS)
        outcome: str = answer[0].decode()
        if outcome in ("cancel", "fail"):
            job = await self.load(answer[1].decode())
            if job is not None:
                error: errors.ScreenshotError = errors.JobCancelled(
                    "the job was cancelled while it ran") if outcome == "cancel" else (
                    errors.RenderCrashed(f"the job was started {MAX_ATTEMPTS} times and its "
                                         "replica stopped answering each time"))
                status = JobState.CANCELLED if outcome == "cancel" else JobState.FAILED
                await self.finish(job, status, error=error, replica=answer[2].decode())
        return outcome


def _unavailable(exc: BaseException) -> errors.JobsUnavailable:
    return errors.JobsUnavailable(
        f"the job queue (Redis) cannot be reached: {type(exc).__name__}; synchronous "
        "captures still work", retry_after=2)

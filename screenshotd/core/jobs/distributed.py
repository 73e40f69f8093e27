"""Jobs on Redis (``JOB_BACKEND=redis``): N replicas behind any load balancer act as one service.

The same API as :class:`~screenshotd.core.jobs.manager.JobManager`; what differs is where a job
lives. Records, the fair queue, batches and events are in Redis (the keys and the atomic
scripts that change them are in :mod:`~screenshotd.core.jobs.scripts`):

- **The queue is a Redis Stream with a consumer group.** Each queued job adds one entry to
  ``tickets``. A replica's worker with a free slot reads one (``XREADGROUP``); a script then
  picks *which* job it runs, fairly across callers. The entry stays in the replica's pending
  list while the job runs: that is its claim.
- **Heartbeats and takeover.** Every replica renews its claims and its heartbeat every third
  of ``JOB_CLAIM_TIMEOUT_SECONDS``. A replica killed mid-job stops renewing; after the timeout
  another takes its entries (``XAUTOCLAIM``) and puts their jobs back at the head of the
  queue. A job whose replicas died three times fails rather than kill a fourth.
- **Graceful stop hands work back.** On SIGTERM a replica takes no more tickets, gives its
  running jobs ``grace`` seconds, then puts the rest back in the queue for the others.
- **Every replica answers everything.** Status, results and lists are read from Redis; a
  status change is published on a channel that every replica listens to, so a stream of
  events opened on one replica follows a job running on another, and a cancel reaches the
  replica running the job, which stops its browser work.
- **Webhooks once.** A finished job with a webhook adds an entry to the ``webhooks`` stream;
  one replica reads it and delivers it, with the job's one ``webhook-id``. If that replica
  dies, another takes the entry over and delivers it with the same id.
- **Shared bounds.** ``MAX_PENDING_JOBS`` and ``MAX_QUEUED_JOBS`` are checked and counted in the
  submitting script, for all replicas at once. Results are kept in the result storage when it
  is on, else in Redis, bounded by ``JOB_MAX_BYTES`` (oldest first).

When Redis cannot be reached, submitting a job answers ``503 JOBS_UNAVAILABLE`` with a
``Retry-After``; synchronous captures do not need it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
import time
from collections import Counter
from typing import Any

from screenshotd import errors
from screenshotd.auth.callers import Caller
from screenshotd.core.jobs import codec
from screenshotd.core.jobs.lifecycle import DrainingLifecycle
from screenshotd.core.jobs.records import Batch, Job, JobState, new_id, replica_name
from screenshotd.core.jobs.redis_store import RedisJobStore
from screenshotd.core.jobs.replica import CANCEL_WAIT_S, Replica
from screenshotd.core.jobs.scripts import PREFIX
from screenshotd.core.jobs.webhooks import Delivery, WebhookSender
from screenshotd.core.service import ScreenshotService
from screenshotd.params.capture import CaptureOptions

log = logging.getLogger(__name__)

#: A waiter reads the job again at least this often, even without news on the channel.
RECHECK_S = 2.0


class RedisJobManager(DrainingLifecycle):
    """The job API on Redis; :class:`~screenshotd.core.jobs.replica.Replica` does this
    replica's share of the work, :class:`~screenshotd.core.jobs.redis_store.RedisJobStore`
    keeps the records.

    States: ``new -> open -> closing -> closed``, as the memory manager's.
    """

    backend = "redis"

    def __init__(self, service: ScreenshotService, redis_url: str, *, workers: int, ttl: float,
                 max_pending: int, max_queued: int, max_bytes: int, grace: float,
                 claim_timeout: float, per_owner: int | None = None,
                 replica_id: str | None = None) -> None:
        self.service = service
        self.workers = workers
        self.ttl = ttl
        self.max_pending = max_pending
        self.max_queued = max_queued
        self.replica_id = replica_id or replica_name()
        self.clock = time.time
        self.webhooks = WebhookSender(service.guard)
        self.state = "new"
        self.counts: Counter[str] = Counter()
        self._secret = ""
        self.store = RedisJobStore(service, redis_url, ttl=ttl, max_bytes=max_bytes,
                                   replica_id=self.replica_id, counts=self.counts)
        self.replica = Replica(self.store, service, workers=workers, per_owner=per_owner,
                               claim_timeout=claim_timeout, grace=grace,
                               webhooks=self.webhooks, counts=self.counts)
        self._drain: asyncio.Task[None] | None = None

    async def open(self) -> None:
        if self.state != "new":
            raise RuntimeError(f"cannot open a job manager that is {self.state}")
        await self.store.open()
        try:
            await self.store.groups()
            self.replica.seen["redis"] = "ok"
        except errors.JobsUnavailable as exc:  # the loops keep trying; nothing is lost meanwhile
            self.replica.seen["redis"] = "degraded"
            log.warning("jobs: %s; jobs wait until it answers", exc.message)
        self.state = "open"
        self.replica.start()
        log.info("jobs: Redis backend, replica %s, %d workers", self.replica_id, self.workers)

    async def _drain_all(self) -> None:
        try:
            await self.replica.drain()
        finally:
            await self.store.close()
            self.state = "closed"

    async def submit(self, caller: Caller, opts: CaptureOptions, base_url: str,
                     style: str = "") -> Job:
        """Queue one capture for ``caller`` (see :meth:`JobManager.submit`)."""
        await self.service.admit(caller, [opts])
        await self._room(caller.id, 1)
        await caller.charge()
        job = self._new_job(caller.id, opts, base_url, style=style)
        await self._submit(caller.id, job.unit, [job])
        return job

    async def submit_batch(self, caller: Caller,
                           items: list[CaptureOptions | errors.ScreenshotError],
                           base_url: str, callback: Delivery | None = None,
                           style: str = "") -> Batch:
        pages = [item if isinstance(item, CaptureOptions) else None for item in items]
        await self.service.admit(caller, pages, batch=True)
        renders = sum(page is not None for page in pages)
        await self._room(caller.id, renders)
        if renders:
            await caller.charge(renders)
        batch = Batch(new_id(), caller.id, base_url, self.clock(), callback=callback)
        if callback is not None:
            callback.message_id = f"msg_{batch.id}"
        for item in items:
            if isinstance(item, CaptureOptions):
                batch.jobs.append(self._new_job(caller.id, item, base_url, batch.id, style))
            else:
                job = self._new_job(caller.id, None, base_url, batch.id)
                job.status, job.error = JobState.FAILED, item
                job.completed_at = job.created_at
                job.done.set()
                batch.jobs.append(job)
        record = json.dumps({"id": batch.id, "base_url": base_url, "created_at": batch.created_at,
                             "jobs": [job.id for job in batch.jobs]})
        hook = "" if callback is None else json.dumps(codec.delivery_to_json(callback))
        await self._submit(caller.id, batch.id, batch.jobs, batch.id, record, hook)
        return batch

    def _new_job(self, owner: str, opts: CaptureOptions | None, base_url: str,
                 batch_id: str | None = None, style: str = "") -> Job:
        job = Job.new(owner, opts, base_url, self.clock(), self.ttl, batch_id, style)
        return job

    async def _room(self, owner: str, jobs: int) -> None:
        """The early refusal, before a render is charged; the submitting script checks again."""
        if self.state != "open":
            raise errors.ShuttingDown("the server is shutting down; submit again later",
                                      retry_after=5)
        pending, queued = await self.store.room(owner)
        self._refuse("pending", pending + 1, jobs)
        self._refuse("queued", queued + jobs, jobs)

    def _refuse(self, what: str, count: int, jobs: int) -> None:
        if what == "pending" and count > self.max_pending:
            raise errors.RateLimited(
                f"{count - 1} of your submissions are queued or processing, the most allowed "
                f"is {self.max_pending}; wait for one to finish",
                retry_after=math.ceil(self.replica.avg_job_s))
        if what == "queued" and count > self.max_queued:
            waiting = count - jobs
            raise errors.PoolExhausted(
                f"the job queue is full ({waiting} jobs wait)",
                retry_after=max(1, math.ceil(self.replica.avg_job_s * waiting / max(1, self.workers))))

    async def _submit(self, owner: str, unit: str, jobs: list[Job], batch_id: str = "",
                      batch_record: str = "", batch_callback: str = "") -> None:
        args: list[Any] = [owner, unit, self.max_pending, self.max_queued, int(self.ttl),
                           batch_id, batch_record, len(jobs), batch_callback]
        for job in jobs:
            args += [job.id, codec.record(job), job.status.value, int(job.created_at * 1000)]
        answer = await self.store.call("submit", *args)
        if answer[0] == b"pending":
            self._refuse("pending", int(answer[1]) + 1, 0)
        if answer[0] == b"queued":
            queueing = sum(job.status is JobState.QUEUED for job in jobs)
            self._refuse("queued", int(answer[1]) + queueing, queueing)
        self.counts["submitted"] += sum(job.status is JobState.QUEUED for job in jobs)

    async def shared_secret(self) -> str:
        """A random secret shared by every replica on this Redis (the first to ask makes it):
        it signs the links that the faces hand out when no ``SIGNING_SECRET`` is set, so that
        a link made on one replica opens on any."""
        if not self._secret:
            key = f"{PREFIX}link-secret"
            await self.store.do(self.store.redis.set(key, secrets.token_hex(32), nx=True))
            value = await self.store.do(self.store.redis.get(key))
            self._secret = value.decode("ascii") if isinstance(value, bytes) else str(value)
        return self._secret

    async def pending(self, owner: str) -> int:
        """``owner``'s submissions queued or processing, on every replica."""
        return (await self.store.room(owner))[0]

    async def fetch(self, owner: str, job_id: str) -> Job:
        return await self.store.fetch(owner, job_id)

    async def fetch_batch(self, owner: str, batch_id: str) -> Batch:
        return await self.store.fetch_batch(owner, batch_id)

    async def fetch_jobs(self, owner: str, status: JobState | None, page: int,
                         per_page: int) -> tuple[list[Job], int]:
        """A page of ``owner``'s jobs, newest first, and how many match in all."""
        return await self.store.fetch_jobs(owner, status, page, per_page)

    async def wait(self, job: Job, within: float) -> Job:
        """``job`` once it finished, or as it is after ``within`` seconds, on any replica."""
        return (await self.wait_all([job], within))[0]

    async def wait_all(self, jobs: list[Job], within: float) -> list[Job]:
        deadline = time.monotonic() + within
        news = asyncio.Event()
        waiting = {job.id for job in jobs if not job.finished}
        for job_id in waiting:
            self.replica.waiters.setdefault(job_id, set()).add(news)
        try:
            while waiting:
                for index, job in enumerate(jobs):
                    if job.id in waiting:
                        fresh = await self.store.load(job.id, job.owner)
                        if fresh is not None:
                            jobs[index] = fresh
                        if fresh is None or fresh.finished:
                            waiting.discard(job.id)
                left = deadline - time.monotonic()
                if not waiting or left <= 0:
                    break
                news.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(news.wait(), min(left, RECHECK_S))
        finally:
            for job in jobs:
                listeners = self.replica.waiters.get(job.id)
                if listeners is not None:
                    listeners.discard(news)
                    if not listeners:
                        del self.replica.waiters[job.id]
        return jobs

    async def cancel(self, owner: str, job_id: str) -> Job:
        """Cancel a queued or running job, wherever it runs; a running one's capture stops."""
        job = await self.fetch(owner, job_id)
        if job.finished:
            raise errors.JobFinished(f"job {job.id} is already {job.status.value}")
        if job.status is JobState.QUEUED:
            error = errors.JobCancelled("the job was cancelled before it started")
            if await self.store.finish(job, JobState.CANCELLED, error=error, expect="queued"):
                return await self.fetch(owner, job_id)
        status = await self.store.call("cancel", job_id)
        if status == b"processing":
            job = await self.fetch(owner, job_id)
            return await self.wait(job, CANCEL_WAIT_S)
        return await self.fetch(owner, job_id)

    def state_counts(self) -> dict[str, int]:
        """Jobs queued and processing on every replica, as the last heartbeat saw them."""
        return {"queued": self.replica.seen["queued"], "processing": self.replica.seen["processing"]}

    def health(self) -> dict[str, Any]:
        return {
            "backend": "redis",
            "state": self.state,
            "redis": self.replica.seen["redis"],
            "replica_id": self.replica_id,
            "replicas": self.replica.seen["replicas"],
            "workers": self.workers,
            "queued": self.replica.seen["queued"],
            "processing": self.replica.running,
            "processing_all": self.replica.seen["processing"],
            **{name: self.counts[name] for name in (
                "submitted", "completed", "failed", "cancelled", "expired", "claims",
                "takeovers", "handed_back", "webhook_takeovers")},
            "evicted": self.replica.seen.get("evicted", 0),
            "webhooks": {**self.webhooks.counts, "in_flight": self.replica.delivering},
        }

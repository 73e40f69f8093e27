"""This replica's share of the work on Redis: its workers, its heartbeat, takeover, the listener
and the webhook reader.

- **Workers.** As many as pool slots. A free worker reads one entry of the ``tickets`` stream
  (``XREADGROUP``, blocking), the pick script chooses the fair next job, and the job runs as a
  task of its own. The entry stays in this replica's pending list while it runs: the claim.
- **Heartbeat.** Every third of ``claim_timeout``: this replica's beat (a key with a TTL, and
  its place in ``replicas``), its claims renewed (only those still its own), expired results
  forgotten, and the claims of replicas that stopped renewing taken over (``XAUTOCLAIM``): their
  jobs go back to the head of the queue, their webhooks are delivered from here.
- **The listener.** One pub/sub connection: a status change wakes this replica's waiters (events
  streams, synchronous batches, cancels); a cancel stops the job if it runs here.
- **Webhooks.** A reader takes entries of the ``webhooks`` stream (at most 16 deliveries at once)
  and delivers each with the job's one ``webhook-id``.
- **Drain** (SIGTERM): no more tickets, running jobs get ``grace`` seconds, then every claim
  still held goes back to the queue and undelivered webhooks back to their stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from typing import Any

from screenshotd import errors
from screenshotd.core.jobs import codec, road
from screenshotd.core.jobs.records import Job, JobState
from screenshotd.core.jobs.redis_store import (
    BLOCK_MS,
    HOOKS,
    OP_TIMEOUT_S,
    TICKETS,
    WEBHOOKS,
    WORKERS,
    RedisJobStore,
)
from screenshotd.core.jobs.scripts import PREFIX
from screenshotd.core.jobs.webhooks import Delivery, WebhookSender
from screenshotd.core.results import CaptureResult
from screenshotd.core.service import ScreenshotService

log = logging.getLogger(__name__)

CANCEL_WAIT_S = 5.0
WEBHOOK_DRAIN_S = 10.0


class Replica:
    """The loops of one replica; :meth:`start` starts them, :meth:`drain` ends them."""

    def __init__(self, store: RedisJobStore, service: ScreenshotService, *, workers: int,
                 per_owner: int | None, claim_timeout: float, grace: float,
                 webhooks: WebhookSender, counts: Counter[str]) -> None:
        self.store = store
        self.service = service
        self.replica_id = store.replica_id
        self.workers = workers
        self.per_owner = per_owner
        self.claim_timeout = claim_timeout
        self.grace = grace
        self.ttl = store.ttl
        self.webhooks = webhooks
        self.counts = counts
        self.clock = store.clock
        #: False once the drain begins: no worker takes another ticket.
        self.taking = True
        #: Seconds a job takes here, smoothed (for honest ``Retry-After`` values).
        self.avg_job_s = 2.0
        #: What the heartbeat last saw: the replicas alive, the queue, Redis's state.
        self.seen: dict[str, Any] = {"replicas": [], "queued": 0, "processing": 0,
                                     "evicted": 0, "redis": "starting"}
        #: Events streams and waits on this replica, by job id: set when the job changes.
        self.waiters: dict[str, set[asyncio.Event]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running: dict[str, tuple[asyncio.Task[None], str]] = {}  # job id -> task, ticket
        self._cancelled: set[str] = set()  # running here, cancelled by their owner
        self._handing_back = False
        self._deliveries: dict[asyncio.Task[None], bytes] = {}  # task -> its stream entry
        self._delivery_slots = asyncio.Semaphore(16)

    def _taking(self) -> bool:
        return self.taking

    @property
    def running(self) -> int:
        """Jobs running on this replica now."""
        return len(self._running)

    @property
    def delivering(self) -> int:
        return len(self._deliveries)

    def start(self) -> None:
        for n in range(self.workers):
            self._spawn(self._work(), f"job-worker-{n}")
        self._spawn(self._listen(), "job-listener")
        self._spawn(self._beat(), "job-heartbeat")
        self._spawn(self._read_webhooks(), "job-webhooks")

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.add(asyncio.create_task(coro, name=name))

    async def drain(self) -> None:
        """Stop reading, give running jobs ``grace`` seconds, hand the rest back, then let go."""
        self.taking = False
        readers = [t for t in self._tasks if t.get_name().startswith(("job-worker", "job-webhooks"))]
        for task in readers:  # the jobs they run are tasks of their own, and go on
            task.cancel()
        running = [task for task, _ in self._running.values()]
        if running:
            _, late = await asyncio.wait(running, timeout=self.grace)
            if late:
                self._handing_back = True
                for task in late:
                    task.cancel()
                await asyncio.wait(late, timeout=CANCEL_WAIT_S)
        await asyncio.wait(readers, timeout=CANCEL_WAIT_S)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(OP_TIMEOUT_S * 2):
                await self._hand_back()
        self.webhooks.closing.set()
        if self._deliveries:
            _, late = await asyncio.wait(list(self._deliveries), timeout=WEBHOOK_DRAIN_S)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=CANCEL_WAIT_S)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(OP_TIMEOUT_S):
                await self._leave()
        for task in self._tasks:
            task.cancel()
        await asyncio.wait(self._tasks, timeout=CANCEL_WAIT_S)

    async def _hand_back(self) -> None:
        """Every ticket this replica still holds goes back to the queue, for the others."""
        pending = await self.store.redis.xpending_range(
            PREFIX + TICKETS, WORKERS, "-", "+", 1000, consumername=self.replica_id)
        for entry in pending:
            outcome = await self.store.requeue(entry["message_id"])
            if outcome == "requeued":
                self.counts["handed_back"] += 1
        if pending:
            log.info("jobs: handed %d claim(s) back to the other replicas", len(pending))

    async def _leave(self) -> None:
        """Undelivered webhooks (still pending here) go back to the stream, for another
        replica; the heartbeat and the consumers go."""
        entries = await self.store.redis.xpending_range(
            PREFIX + WEBHOOKS, HOOKS, "-", "+", 1000, consumername=self.replica_id)
        for entry in entries:
            fields = await self.store.redis.xrange(
                PREFIX + WEBHOOKS, entry["message_id"], entry["message_id"])
            await self.store.redis.xack(PREFIX + WEBHOOKS, HOOKS, entry["message_id"])
            await self.store.redis.xdel(PREFIX + WEBHOOKS, entry["message_id"])
            if fields:  # back in the stream, for another replica to deliver
                await self.store.redis.xadd(PREFIX + WEBHOOKS, fields[0][1])
        await self.store.redis.delete(f"{PREFIX}replica:{self.replica_id}")
        await self.store.redis.zrem(PREFIX + "replicas", self.replica_id)
        for stream, group in ((TICKETS, WORKERS), (WEBHOOKS, HOOKS)):
            await self.store.redis.xgroup_delconsumer(PREFIX + stream, group, self.replica_id)

    async def _work(self) -> None:
        """Read a ticket when this worker is free, pick the fair next job, run it."""
        from redis.exceptions import RedisError, ResponseError

        while self.taking:
            try:
                reply = await self.store.redis.xreadgroup(
                    WORKERS, self.replica_id, {PREFIX + TICKETS: ">"}, count=1, block=BLOCK_MS)
                if not reply or not reply[0][1]:
                    continue
                ticket = reply[0][1][0][0].decode()
                job_id = await self.store.call(
                    "pick", self.replica_id, ticket, self.per_owner or 0, repr(self.clock()))
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis lost its data (restarted without it)
                    with contextlib.suppress(RedisError, OSError):
                        await self.store.groups()
                else:
                    log.warning("jobs: %s", exc)
                await asyncio.sleep(1)
                continue
            except (RedisError, OSError, TimeoutError, errors.ScreenshotError):
                await asyncio.sleep(1)
                continue
            if job_id is None:  # its job was cancelled while queued
                with contextlib.suppress(RedisError, OSError):
                    await self.store.redis.xack(PREFIX + TICKETS, WORKERS, ticket)
                    await self.store.redis.xdel(PREFIX + TICKETS, ticket)
                continue
            self.counts["claims"] += 1
            await self._run_claim(job_id.decode(), ticket)

    async def _run_claim(self, job_id: str, ticket: str) -> None:
        task = asyncio.create_task(self._run(job_id), name=f"job-{job_id[:12]}")
        self._running[job_id] = (task, ticket)

        def ended(_: asyncio.Task[None]) -> None:
            self._running.pop(job_id, None)
            self._cancelled.discard(job_id)

        task.add_done_callback(ended)
        # The job is its own task: cancelling this worker (at shutdown) never cancels it.
        await asyncio.wait([task])

    async def _run(self, job_id: str) -> None:
        started = time.monotonic()
        job: Job | None = None
        try:
            job = await self.store.load(job_id)
            if job is None or job.opts is None:
                return
            result = await road.capture(self.service, job.opts, job.owner, self._taking)
            if self.service.results is not None:
                job.stored, job.storage_error = await road.store(
                    self.service, result, job.owner, job.opts, job.base_url, job.id, self._taking)
        except asyncio.CancelledError:
            if job_id in self._cancelled:
                await self._finish_quietly(job_id, JobState.CANCELLED, errors.JobCancelled(
                    "the job was cancelled while it ran"))
            elif not self._handing_back:
                raise
            return  # handed back at shutdown: another replica runs it
        except errors.ScreenshotError as exc:
            await self._finish_quietly(job_id, JobState.FAILED, exc, job)
        except Exception:
            log.exception("job %s failed unexpectedly", job_id)
            await self._finish_quietly(job_id, JobState.FAILED, errors.InternalError(
                f"an internal error occurred; the server log has it under job {job_id}"))
        else:
            await self._finish_quietly(job_id, JobState.COMPLETED, None, job, result)
        self.avg_job_s = 0.8 * self.avg_job_s + 0.2 * (time.monotonic() - started)

    async def _finish_quietly(self, job_id: str, status: JobState,
                              error: errors.ScreenshotError | None, job: Job | None = None,
                              result: CaptureResult | None = None) -> None:
        """Finish a job this replica ran; a Redis outage is waited out (the result is kept
        here meanwhile), and a job taken over meanwhile is left to its new replica."""
        for pause in (0.5, 1, 2, 4, 8, 15, 30):
            try:
                if job is None:
                    job = await self.store.load(job_id)
                    if job is None:
                        return
                await self.store.finish(job, status, result=result, error=error)
                return
            except errors.ScreenshotError:
                await asyncio.sleep(pause)
        log.error("job %s: could not record that it %s; another replica will run it again",
                  job_id, status.value)

    async def _listen(self) -> None:
        """Status changes wake this replica's waiters; a cancel stops a job running here."""
        while True:
            pubsub = self.store.redis.pubsub()
            try:
                await pubsub.subscribe(PREFIX + "events", PREFIX + "control")
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=BLOCK_MS / 1000)
                    if message is None:
                        continue
                    job_id = message["data"].decode()
                    if message["channel"].endswith(b"control"):
                        running = self._running.get(job_id)
                        if running is not None:
                            self._cancelled.add(job_id)
                            running[0].cancel()
                    for news in self.waiters.get(job_id, ()):
                        news.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("jobs: listener lost Redis (%s); waiters read again", exc)
                for listeners in list(self.waiters.values()):
                    for news in listeners:
                        news.set()
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _beat(self) -> None:
        """Every third of the claim timeout: the heartbeat, this replica's claims renewed,
        dead replicas' claims taken over, and expired results forgotten."""
        every = max(0.2, self.claim_timeout / 3)
        while True:
            try:
                async with asyncio.timeout(max(OP_TIMEOUT_S, every * 2)):
                    await self._heartbeat()
                    await self._take_over()
                self.seen["redis"] = "ok"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.seen["redis"] == "ok":
                    log.warning("jobs: Redis unreachable (%s)", exc)
                self.seen["redis"] = "degraded"
            await asyncio.sleep(every)

    async def _heartbeat(self) -> None:
        now = self.clock()
        beat = json.dumps({"replica_id": self.replica_id, "workers": self.workers,
                           "processing": len(self._running), "at": now})
        async with self.store.redis.pipeline(transaction=False) as pipe:
            pipe.set(f"{PREFIX}replica:{self.replica_id}", beat,
                     px=int(self.claim_timeout * 1000))
            pipe.zadd(PREFIX + "replicas", {self.replica_id: now})
            pipe.zremrangebyscore(PREFIX + "replicas", "-inf", now - 10 * self.claim_timeout)
            pipe.zrangebyscore(PREFIX + "replicas", now - self.claim_timeout, "+inf")
            pipe.get(PREFIX + "queued")
            pipe.hvals(PREFIX + "running")
            pipe.get(PREFIX + "evicted")
            replies = await pipe.execute()
        self.seen.update(replicas=sorted(r.decode() for r in replies[3]),
                         queued=int(replies[4] or 0),
                         processing=sum(int(v) for v in replies[5]),
                         evicted=int(replies[6] or 0))
        tickets = [ticket for _, ticket in self._running.values()]
        if tickets:
            await self.store.scripts["renew"](
                keys=[PREFIX + "seq"], args=[PREFIX, TICKETS, WORKERS, self.replica_id, *tickets])
        entries = list(self._deliveries.values())
        if entries:
            await self.store.scripts["renew"](
                keys=[PREFIX + "seq"], args=[PREFIX, WEBHOOKS, HOOKS, self.replica_id, *entries])
        expired = await self.store.scripts["expire"](
            keys=[PREFIX + "seq"], args=[PREFIX, repr(now - self.ttl)])
        self.counts["expired"] += int(expired)

    async def _take_over(self) -> None:
        """Claims idle past the timeout belong to a replica that died: their jobs go back to
        the queue, their webhooks are delivered from here."""
        if not self.taking:
            return
        idle_ms = int(self.claim_timeout * 1000)
        tickets = await self.store.redis.xautoclaim(
            PREFIX + TICKETS, WORKERS, self.replica_id, idle_ms, "0-0", count=50, justid=True)
        for ticket in tickets:
            if await self.store.requeue(ticket) == "requeued":
                self.counts["takeovers"] += 1
                log.warning("jobs: took over a job from a replica that stopped answering")
        entries = await self.store.redis.xautoclaim(
            PREFIX + WEBHOOKS, HOOKS, self.replica_id, idle_ms, "0-0", count=50, justid=True)
        for entry in entries:
            values = await self.store.redis.xrange(PREFIX + WEBHOOKS, entry, entry)
            if values:
                self.counts["webhook_takeovers"] += 1
                await self._delivery_slots.acquire()
                self._deliver_in_background(entry, values[0][1])

    async def _read_webhooks(self) -> None:
        from redis.exceptions import RedisError, ResponseError

        while self.taking:
            await self._delivery_slots.acquire()
            try:
                reply = await self.store.redis.xreadgroup(
                    HOOKS, self.replica_id, {PREFIX + WEBHOOKS: ">"}, count=1, block=BLOCK_MS)
            except ResponseError as exc:
                self._delivery_slots.release()
                if "NOGROUP" in str(exc):
                    with contextlib.suppress(RedisError, OSError):
                        await self.store.groups()
                await asyncio.sleep(1)
                continue
            except (RedisError, OSError, TimeoutError):
                self._delivery_slots.release()
                await asyncio.sleep(1)
                continue
            except BaseException:
                self._delivery_slots.release()
                raise
            if not reply or not reply[0][1]:
                self._delivery_slots.release()
                continue
            entry, fields = reply[0][1][0]
            self._deliver_in_background(entry, fields)

    def _deliver_in_background(self, entry: bytes, fields: dict[bytes, bytes]) -> None:
        """Deliver an entry of the ``webhooks`` stream: a job's (``job``) or a batch's
        (``batch``, its ``callback_url``)."""
        if b"batch" in fields:
            coro = self._deliver_batch(entry, fields[b"batch"].decode())
        else:
            coro = self._deliver(entry, fields[b"job"].decode())
        task = asyncio.create_task(coro, name=f"webhook-{entry.decode()}")
        self._deliveries[task] = entry
        task.add_done_callback(self._delivered)

    def _delivered(self, task: asyncio.Task[None]) -> None:
        self._deliveries.pop(task, None)
        self._delivery_slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery crashed", exc_info=task.exception())

    async def _deliver(self, entry: bytes, job_id: str) -> None:
        """Deliver one finished job's webhook, with the job's one ``webhook-id``."""
        job = await self.store.load(job_id, data=False)
        if job is not None and job.webhook is not None and job.webhook.state not in (
                "delivered", "failed"):
            sent = job.to_json()
            del sent["webhook"]
            body = self.webhooks.body(job.webhook, job, sent)
            await self.webhooks.deliver(job.webhook, body)
            if self._stopping_before(job.webhook):
                return  # still pending here: _leave puts it back for another replica
            await self.store.do(self.store.redis.hset(
                f"{PREFIX}job:{job_id}", "webhook",
                json.dumps(codec.delivery_to_json(job.webhook))))
        await self._done_with(entry)

    async def _deliver_batch(self, entry: bytes, batch_id: str) -> None:
        """Deliver a finished batch to its ``callback_url``, with the batch's one
        ``webhook-id``."""
        try:
            batch = await self.store.fetch_batch(None, batch_id)
        except errors.NotFound:
            batch = None
        if batch is not None and batch.callback is not None and batch.callback.state not in (
                "delivered", "failed"):
            sent = batch.to_json()
            del sent["callback"]
            body = self.webhooks.body(batch.callback, batch, sent)
            await self.webhooks.deliver(batch.callback, body)
            if self._stopping_before(batch.callback):
                return
            await self.store.do(self.store.redis.hset(
                f"{PREFIX}batch:{batch_id}", "callback",
                json.dumps(codec.delivery_to_json(batch.callback))))
        await self._done_with(entry)

    def _stopping_before(self, delivery: Delivery) -> bool:
        """A delivery cut short by this replica's stop (its retries not spent): not a failure
        to record, but one for another replica to finish."""
        return self.webhooks.closing.is_set() and delivery.state != "delivered"

    async def _done_with(self, entry: bytes) -> None:
        await self.store.do(self.store.redis.xack(PREFIX + WEBHOOKS, HOOKS, entry))
        await self.store.do(self.store.redis.xdel(PREFIX + WEBHOOKS, entry))

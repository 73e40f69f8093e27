"""Async jobs: the in-memory job table, a fair queue, workers, webhooks, expiry and shutdown.

A job is one capture that the caller does not wait for::

    queued -> processing -> completed | failed | cancelled

- **The same road.** A worker runs a job through :meth:`ScreenshotService.screenshot`, so jobs
  share the cache, singleflight, the pool and the private-network guard with synchronous
  captures. There are as many workers as pool slots, so jobs alone never overflow the pool's
  wait queue; a job that still meets a full pool (synchronous traffic) waits and tries again.
- **Fair.** Each caller (an API key, or an IP without keys) has its own queue, and the workers
  take from the callers in turn: one caller's 500 queued jobs do not delay another's one; while
  another caller's jobs wait, one caller's take at most ``per_owner`` workers (the same
  :class:`~screenshotd.concurrency.FairQueue` shares out the browser slots).
- **Bounded.** A caller may have ``max_pending`` submissions queued or processing (a batch
  counts as one); the next is ``429 RATE_LIMITED``. At most ``max_queued`` jobs wait in all;
  past that, ``503 POOL_EXHAUSTED``. Finished jobs are forgotten ``ttl`` seconds after they
  finish, or earlier, oldest first, when their results (and ``html``) hold more than
  ``max_bytes``.
- **Cancellation stops the browser.** Cancelling a running job cancels its capture unless a
  synchronous request is waiting for the same capture.
- **Shutdown loses nothing silently.** Queued jobs fail at once with ``SHUTDOWN``; running ones
  get ``grace`` seconds, then fail with ``SHUTDOWN``. Every one of them fires its webhook.

The records (:class:`~screenshotd.core.jobs.records.Job`, :class:`~screenshotd.core.jobs.records.Batch`) are
in :mod:`~screenshotd.core.jobs.records`, the waiting line in a :class:`~screenshotd.concurrency.FairQueue`,
and the kept jobs and their expiry in :mod:`~screenshotd.core.jobs.table`. Nothing here knows
HTTP; :mod:`screenshotd.http.job_routes` does.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from screenshotd import errors
from screenshotd.auth.callers import Caller
from screenshotd.concurrency import FairQueue
from screenshotd.core.jobs import road
from screenshotd.core.jobs.lifecycle import DrainingLifecycle
from screenshotd.core.jobs.records import Batch, Job, JobState, new_id, replica_name, wait_finished
from screenshotd.core.jobs.table import JobTable
from screenshotd.core.jobs.webhooks import Delivery, WebhookSender
from screenshotd.core.results import CaptureResult
from screenshotd.core.service import ScreenshotService
from screenshotd.params.capture import CaptureOptions

log = logging.getLogger(__name__)

#: How long a cancelled running job may take to stop, and shutdown waits for webhooks.
CANCEL_WAIT_S = 5.0
WEBHOOK_DRAIN_S = 10.0
SWEEP_EVERY_S = 30.0


class JobManager(DrainingLifecycle):
    """Owns the job table, the queue, the workers and the webhook deliveries.

    States: ``new -> open -> closing -> closed``; :meth:`open` starts the workers,
    :meth:`begin_shutdown` stops taking work and starts the drain, :meth:`close` awaits it.
    """

    def __init__(
        self,
        service: ScreenshotService,
        *,
        workers: int,
        ttl: float,
        max_pending: int,
        max_queued: int,
        max_bytes: int,
        grace: float,
        per_owner: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.replica_id = replica_name()
        self.workers = workers
        #: The most workers one owner's jobs take while another owner's jobs wait.
        self.per_owner = per_owner
        self.ttl = ttl
        self.max_pending = max_pending
        self.max_queued = max_queued
        self.max_bytes = max_bytes
        self.grace = grace
        self._clock = clock
        self.webhooks = WebhookSender(service.guard, clock=clock)
        self.state = "new"
        self.counts: Counter[str] = Counter()
        self._table = JobTable(ttl, max_bytes, clock, self.counts)
        self._queue: FairQueue[Job] = FairQueue()
        self._processing = 0
        self._running: Counter[str] = Counter()  # owner -> jobs processing
        self._ready = asyncio.Semaphore(0)
        self._pending: dict[str, dict[str, int]] = {}  # owner -> unit -> unfinished jobs
        self._avg_job_s = 2.0
        self._tasks: set[asyncio.Task[Any]] = set()  # workers and the sweeper
        self._deliveries: dict[asyncio.Task[None], Job] = {}
        self._drain: asyncio.Task[None] | None = None
        self._secret = ""

    backend = "memory"

    def _open(self) -> bool:
        return self.state == "open"

    @property
    def clock(self) -> Callable[[], float]:
        """Wall-clock seconds; injected (a test moves time forward without sleeping)."""
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self._clock = self._table.clock = clock

    # ------------------------------------------------------------------ life cycle

    async def open(self) -> None:
        if self.state != "new":
            raise RuntimeError(f"cannot open a job manager that is {self.state}")
        self.state = "open"
        for n in range(self.workers):
            self._tasks.add(asyncio.create_task(self._work(), name=f"job-worker-{n}"))
        self._tasks.add(asyncio.create_task(self._sweep(), name="job-sweeper"))

    async def _drain_all(self) -> None:
        for owner, job in self._queue:
            self._queue.remove(owner, job)
            self._finish(job, JobState.FAILED, error=errors.ShuttingDown(
                "the server shut down before the job started", retry_after=5))
        running = [job.task for job in self._table.all_jobs()
                   if job.status is JobState.PROCESSING and job.task is not None]
        if running:
            _, late = await asyncio.wait(running, timeout=self.grace)
            for task in late:
                task.cancel()  # the job fails with SHUTDOWN (see _run)
            if late:
                await asyncio.wait(late, timeout=CANCEL_WAIT_S)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=CANCEL_WAIT_S)
        self.webhooks.closing.set()
        if self._deliveries:
            _, late = await asyncio.wait(list(self._deliveries), timeout=WEBHOOK_DRAIN_S)
            for task in late:
                job = self._deliveries[task]
                log.warning("webhook for job %s (%s) not delivered: the server shut down",
                            job.id, job.status.value)
                task.cancel()
        self.state = "closed"

    # ------------------------------------------------------------------ submitting

    async def submit(self, caller: Caller, opts: CaptureOptions, base_url: str,
                     style: str = "") -> Job:
        """Queue one capture for ``caller``: the service's door (domains, the guard for the
        page and the webhook), room for it, then one render charged. Raises what refuses it:
        DomainNotAllowed, Blocked, RateLimited, PoolExhausted or ShuttingDown. ``style``: the
        face whose webhook the job sends (:class:`~screenshotd.core.jobs.webhooks.WebhookStyle`)."""
        await self.service.admit(caller, [opts])
        self._room(caller.id, units=1, jobs=1)
        await caller.charge()
        self._room(caller.id, units=1, jobs=1)  # again: others may have come in during the charge
        job = self._new_job(caller.id, opts, base_url, style=style)
        self._enqueue(job)
        return job

    async def submit_batch(
        self, caller: Caller, items: list[CaptureOptions | errors.ScreenshotError],
        base_url: str, callback: Delivery | None = None, style: str = "",
    ) -> Batch:
        """Queue a batch (one submission for the pending limit). Every page and webhook URL
        goes through the service's door first, at once; one refused refuses the whole batch,
        named by its index. Each valid item is then charged as one render. An item that is an error becomes
        a job that failed with it, so that every item has its place in the answer."""
        pages = [item if isinstance(item, CaptureOptions) else None for item in items]
        await self.service.admit(caller, pages, batch=True)
        renders = sum(page is not None for page in pages)
        self._room(caller.id, units=1, jobs=renders)
        if renders:  # an invalid item renders nothing and costs nothing
            await caller.charge(renders)
            self._room(caller.id, units=1, jobs=renders)
        owner = caller.id
        batch = Batch(new_id(), owner, base_url, self.clock(), callback=callback)
        if callback is not None:
            callback.message_id = f"msg_{batch.id}"
        self._table.add_batch(batch)
        for item in items:
            if isinstance(item, CaptureOptions):
                job = self._new_job(owner, item, base_url, batch.id, style)
                batch.jobs.append(job)
                self._enqueue(job)
            else:
                job = self._new_job(owner, None, base_url, batch.id)
                batch.jobs.append(job)
                self._finish(job, JobState.FAILED, error=item, last=False)
        self._batch_done(batch)  # every item was invalid: nothing will finish later
        return batch

    def _room(self, owner: str, units: int, jobs: int) -> None:
        """Refuse a submission that does not fit: the caller's pending bound, the queue's."""
        if self.state != "open":
            raise errors.ShuttingDown("the server is shutting down; submit again later",
                                      retry_after=5)
        self._table.expire()
        pending = len(self._pending.get(owner, ()))
        if pending + units > self.max_pending:
            raise errors.RateLimited(
                f"{pending} of your submissions are queued or processing, the most allowed is "
                f"{self.max_pending}; wait for one to finish",
                retry_after=math.ceil(self._avg_job_s),
            )
        if len(self._queue) + jobs > self.max_queued:
            raise errors.PoolExhausted(
                f"the job queue is full ({len(self._queue)} jobs wait)",
                retry_after=max(1, math.ceil(self._avg_job_s * len(self._queue) / self.workers)),
            )

    def _new_job(self, owner: str, opts: CaptureOptions | None, base_url: str,
                 batch_id: str | None = None, style: str = "") -> Job:
        job = Job.new(owner, opts, base_url, self.clock(), self.ttl, batch_id, style)
        self._table.add(job)
        units = self._pending.setdefault(owner, {})
        units[job.unit] = units.get(job.unit, 0) + 1
        self.counts["submitted"] += 1
        return job

    # ------------------------------------------------------------------ reading

    def get(self, owner: str, job_id: str) -> Job:
        """``owner``'s job; anyone else's, or an expired one, is NOT_FOUND."""
        return self._table.get(owner, job_id)

    def get_batch(self, owner: str, batch_id: str) -> Batch:
        return self._table.get_batch(owner, batch_id)

    def list_jobs(self, owner: str, status: JobState | None, page: int,
                  per_page: int) -> tuple[list[Job], int]:
        """A page of ``owner``'s jobs, newest first, and how many match in all."""
        return self._table.list_jobs(owner, status, page, per_page)

    # The reading API both backends share (the routes use it); here nothing needs awaiting.

    async def fetch(self, owner: str, job_id: str) -> Job:
        return self.get(owner, job_id)

    async def fetch_batch(self, owner: str, batch_id: str) -> Batch:
        return self.get_batch(owner, batch_id)

    async def fetch_jobs(self, owner: str, status: JobState | None, page: int,
                         per_page: int) -> tuple[list[Job], int]:
        return self.list_jobs(owner, status, page, per_page)

    async def wait(self, job: Job, within: float) -> Job:
        """``job`` once it finished, or as it is after ``within`` seconds."""
        await wait_finished(job, within)
        return job

    async def wait_all(self, jobs: list[Job], within: float) -> list[Job]:
        waiting = [asyncio.ensure_future(job.done.wait()) for job in jobs if not job.finished]
        if waiting:
            try:
                await asyncio.wait(waiting, timeout=within)
            finally:
                for waiter in waiting:
                    waiter.cancel()
        return jobs

    async def pending(self, owner: str) -> int:
        """``owner``'s submissions queued or processing (a batch counts once)."""
        return len(self._pending.get(owner, ()))

    def state_counts(self) -> dict[str, int]:
        """Jobs kept now, by state (for metrics)."""
        counts = Counter(job.status.value for job in self._table.all_jobs())
        return {state.value: counts.get(state.value, 0) for state in JobState}

    # ------------------------------------------------------------------ cancelling

    async def cancel(self, owner: str, job_id: str) -> Job:
        """Cancel a queued or running job; a running one's capture stops."""
        job = self.get(owner, job_id)
        if job.finished:
            raise errors.JobFinished(f"job {job.id} is already {job.status.value}")
        job.cancel_requested = True
        if job.status is JobState.QUEUED:
            self._queue.remove(job.owner, job)
            self._finish(job, JobState.CANCELLED,
                         error=errors.JobCancelled("the job was cancelled before it started"))
        elif job.task is not None:
            job.task.cancel()
            await asyncio.wait([job.task], timeout=CANCEL_WAIT_S)
        return job

    # ------------------------------------------------------------------ the queue

    def _enqueue(self, job: Job) -> None:
        self._queue.push(job.owner, job)
        self._ready.release()

    async def _work(self) -> None:
        while True:
            await self._ready.acquire()
            if self.state != "open":
                return
            turn = self._queue.pop(self._running, self.per_owner)
            if turn is None:
                continue  # it was cancelled while queued
            job = turn[1]
            self._running[job.owner] += 1
            job.status = JobState.PROCESSING
            job.started_at = self.clock()
            self._processing += 1
            job.task = asyncio.create_task(self._run(job), name=f"job-{job.id[:12]}")
            job.task.add_done_callback(functools.partial(self._task_ended, job))
            await asyncio.wait([job.task])  # a cancelled job never cancels its worker

    def _task_ended(self, job: Job, task: asyncio.Task[Any]) -> None:
        self._running[job.owner] -= 1
        if self._running[job.owner] <= 0:
            del self._running[job.owner]
        self._interrupted(job)

    def _interrupted(self, job: Job) -> None:
        """Settle a job whose task ended without finishing it: it was cancelled, by the
        caller or by shutdown (perhaps before it even started)."""
        if job.finished:
            return
        if job.cancel_requested:
            self._finish(job, JobState.CANCELLED,
                         error=errors.JobCancelled("the job was cancelled while it ran"))
        else:
            self._finish(job, JobState.FAILED, error=errors.ShuttingDown(
                "the server shut down before the job finished", retry_after=5))

    async def _run(self, job: Job) -> None:
        assert job.opts is not None
        started = time.monotonic()
        try:
            result = await road.capture(self.service, job.opts, job.owner, self._open)
            if self.service.results is not None:
                job.stored, job.storage_error = await road.store(
                    self.service, result, job.owner, job.opts, job.base_url, job.id, self._open)
        except errors.ScreenshotError as exc:
            self._finish(job, JobState.FAILED, error=exc)
        except Exception:
            log.exception("job %s failed unexpectedly", job.id)
            self._finish(job, JobState.FAILED, error=errors.InternalError(
                f"an internal error occurred; the server log has it under job {job.id}"))
        else:
            self._finish(job, JobState.COMPLETED, result=result)
        self._avg_job_s = 0.8 * self._avg_job_s + 0.2 * (time.monotonic() - started)

    def _finish(self, job: Job, status: JobState, *, result: CaptureResult | None = None,
                error: errors.ScreenshotError | None = None, last: bool = True) -> None:
        if job.finished:
            return
        if job.status is JobState.PROCESSING:
            self._processing -= 1
        now = self.clock()
        # A copy: the job keeps the code and message for an hour, not the traceback and the
        # frames (a page, a context) it holds.
        job.status, job.result, job.error = status, result, copy.copy(error)
        job.completed_at = now
        job.expires_at = now + self.ttl
        units = self._pending.get(job.owner, {})
        if job.unit in units:
            units[job.unit] -= 1
            if units[job.unit] <= 0:
                del units[job.unit]
            if not units:
                self._pending.pop(job.owner, None)
        self.counts[status.value] += 1
        job.done.set()
        if job.webhook is not None:
            sent = job.to_json()
            del sent["webhook"]  # the delivery's own state is not news to its receiver
            self._send(job.webhook, self.webhooks.body(job.webhook, job, sent), job)
        batch = self._table.batch_of(job)
        self._table.finished(job)
        if batch is not None and last:
            self._batch_done(batch)

    def _batch_done(self, batch: Batch) -> None:
        """A batch whose last item just finished: its ``callback_url`` gets the batch, once."""
        if batch.callback is not None and batch.callback.state == "pending" and batch.finished:
            sent = batch.to_json()
            del sent["callback"]
            self._send(batch.callback, self.webhooks.body(batch.callback, batch, sent),
                       batch.jobs[-1])

    def _send(self, delivery: Delivery, body: bytes, job: Job) -> None:
        delivery.state = "delivering"
        task = asyncio.create_task(self.webhooks.deliver(delivery, body),
                                   name=f"webhook-{delivery.message_id[4:16]}")
        self._deliveries[task] = job
        task.add_done_callback(self._delivered)

    def _delivered(self, task: asyncio.Task[None]) -> None:
        self._deliveries.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery crashed", exc_info=task.exception())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(SWEEP_EVERY_S, self.ttl))
            self._table.expire()

    async def shared_secret(self) -> str:
        """A random secret made once for this process: it signs the links that the faces
        hand out when no ``SIGNING_SECRET`` is set (they last no longer than the jobs, which
        end with the process here)."""
        if not self._secret:
            self._secret = secrets.token_hex(32)
        return self._secret

    def all_jobs(self) -> list[Job]:
        """Every job kept now, of every caller (for metrics)."""
        return self._table.all_jobs()

    def health(self) -> dict[str, Any]:
        return {
            "backend": "memory",
            "state": self.state,
            "replica_id": self.replica_id,
            "replicas": [self.replica_id],
            "workers": self.workers,
            "queued": len(self._queue),
            "processing": self._processing,
            "kept": len(self._table),
            "result_bytes": self._table.bytes,
            **{name: self.counts[name] for name in (
                "submitted", "completed", "failed", "cancelled", "expired", "evicted")},
            "webhooks": {**self.webhooks.counts, "in_flight": len(self._deliveries)},
        }

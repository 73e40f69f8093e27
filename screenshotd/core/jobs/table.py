"""JobTable: every job and batch kept, by id and by owner, and when each is forgotten.

A job is kept while it runs and for ``ttl`` seconds after it finishes; earlier, oldest first,
when the finished jobs' results (and ``html``) weigh more than ``max_bytes``. A batch is
forgotten with its last job. Lookups are by owner: another caller's job is missing, exactly
like one that never existed.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable

from screenshotd import errors
from screenshotd.core.jobs.records import Batch, Job, JobState


class JobTable:
    def __init__(self, ttl: float, max_bytes: int, clock: Callable[[], float],
                 counts: Counter[str]) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.clock = clock
        #: Shared with the manager: ``expired`` and ``evicted`` are counted here.
        self.counts = counts
        self._jobs: dict[str, Job] = {}
        self._batches: dict[str, Batch] = {}
        self._by_owner: dict[str, dict[str, Job]] = {}  # creation order
        self._finished: deque[Job] = deque()  # finishing order: expiry and eviction
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._jobs)

    def all_jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def add(self, job: Job) -> None:
        self._jobs[job.id] = job
        self._by_owner.setdefault(job.owner, {})[job.id] = job

    def add_batch(self, batch: Batch) -> None:
        self._batches[batch.id] = batch

    def finished(self, job: Job) -> None:
        """``job`` has just finished: its weight counts now, and its time starts."""
        self.bytes += job.weight
        self._finished.append(job)
        self.expire()

    def get(self, owner: str, job_id: str) -> Job:
        """``owner``'s job; anyone else's, or an expired one, is NOT_FOUND."""
        self.expire()
        job = self._jobs.get(job_id)
        if job is None or job.owner != owner:
            raise errors.NotFound(f"no job {job_id[:64]}; it may have expired")
        return job

    def batch_of(self, job: Job) -> Batch | None:
        return self._batches.get(job.batch_id) if job.batch_id is not None else None

    def get_batch(self, owner: str, batch_id: str) -> Batch:
        self.expire()
        batch = self._batches.get(batch_id)
        if batch is None or batch.owner != owner:
            raise errors.NotFound(f"no batch {batch_id[:64]}; it may have expired")
        return batch

    def list_jobs(self, owner: str, status: JobState | None, page: int,
                  per_page: int) -> tuple[list[Job], int]:
        """A page of ``owner``'s jobs, newest first, and how many match in all."""
        self.expire()
        jobs = [job for job in reversed(self._by_owner.get(owner, {}).values())
                if status is None or job.status is status]
        start = (page - 1) * per_page
        return jobs[start:start + per_page], len(jobs)

    def expire(self) -> None:
        """Forget finished jobs past their time, then the oldest while over ``max_bytes``."""
        now = self.clock()
        while self._finished and self._finished[0].expires_at <= now:
            self._forget(self._finished.popleft(), "expired")
        while self.bytes > self.max_bytes and len(self._finished) > 1:
            self._forget(self._finished.popleft(), "evicted")

    def _forget(self, job: Job, why: str) -> None:
        if job.forgotten:
            return
        job.forgotten = True
        self.counts[why] += 1
        self.bytes -= job.weight
        self._jobs.pop(job.id, None)
        owned = self._by_owner.get(job.owner)
        if owned is not None:
            owned.pop(job.id, None)
            if not owned:
                del self._by_owner[job.owner]
        batch = self._batches.get(job.batch_id or "")
        if batch is not None and all(j.forgotten for j in batch.jobs):
            del self._batches[batch.id]

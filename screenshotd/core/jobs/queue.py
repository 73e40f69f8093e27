"""FairQueue: the jobs waiting for a worker, one queue per owner, taken from the owners in turn.

One caller's 500 queued jobs do not delay another caller's one: :meth:`FairQueue.pop` takes the
oldest job of the owner whose turn it is, then puts that owner at the back of the line if it
has more. Pushing, removing a cancelled job and popping are O(1) apart from the removal's scan
of one owner's queue.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from screenshotd.core.jobs.records import Job


class FairQueue:
    def __init__(self) -> None:
        self._queues: dict[str, deque[Job]] = {}
        self._turns: deque[str] = deque()  # owners with queued jobs, in turn
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Job]:
        """Every queued job (a copy: the queue may change while it is walked)."""
        return iter([job for queue in self._queues.values() for job in queue])

    def push(self, job: Job) -> None:
        queue = self._queues.get(job.owner)
        if queue is None:
            queue = self._queues[job.owner] = deque()
            self._turns.append(job.owner)
        queue.append(job)
        self._size += 1

    def remove(self, job: Job) -> None:
        """Take a queued job out (it was cancelled)."""
        queue = self._queues[job.owner]
        queue.remove(job)
        self._size -= 1
        if not queue:
            del self._queues[job.owner]
            self._turns.remove(job.owner)

    def pop(self) -> Job | None:
        """The next job, taking owners in turn; None when nothing waits."""
        if not self._turns:
            return None
        owner = self._turns.popleft()
        queue = self._queues[owner]
        job = queue.popleft()
        self._size -= 1
        if queue:
            self._turns.append(owner)
        else:
            del self._queues[owner]
        return job

"""The two job backends behind one API, and the choice between them (``JOB_BACKEND``).

- ``memory`` (:class:`~screenshotd.core.jobs.manager.JobManager`): one process, nothing to run
  beside it; jobs end with the process.
- ``redis`` (:class:`~screenshotd.core.jobs.distributed.RedisJobManager`): any number of
  replicas on one Redis act as one service; jobs outlive every replica.

The routes use only what both offer: ``submit``, ``submit_batch``, ``fetch``, ``fetch_batch``,
``fetch_jobs``, ``cancel``, ``wait``, ``wait_all``, ``health`` and ``state_counts``.
"""

from __future__ import annotations

from typing import Any

from screenshotd.core.jobs.distributed import RedisJobManager
from screenshotd.core.jobs.manager import JobManager
from screenshotd.core.service import ScreenshotService
from screenshotd.settings import Settings

Jobs = JobManager | RedisJobManager


def make_jobs(settings: Settings, service: ScreenshotService) -> Jobs:
    common: dict[str, Any] = {
        "workers": settings.browser_max_concurrent,
        "ttl": settings.job_ttl_seconds,
        "max_pending": settings.max_pending_jobs,
        "max_queued": settings.max_queued_jobs,
        "max_bytes": settings.job_max_bytes,
        "grace": settings.shutdown_grace_seconds,
        "per_owner": settings.per_caller_slots,
    }
    if settings.jobs_kind == "redis":
        return RedisJobManager(service, settings.redis_url,
                               claim_timeout=settings.job_claim_timeout_seconds, **common)
    return JobManager(service, **common)

"""The road every job takes, whichever backend keeps it: the capture, then the result storage.

Both :class:`~screenshotd.core.jobs.manager.JobManager` (in memory) and
:class:`~screenshotd.core.jobs.distributed.RedisJobManager` (on Redis) run a job through
:func:`capture` and :func:`store`; only where the job is kept and queued differs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from screenshotd import errors
from screenshotd.auth.callers import Caller
from screenshotd.core.results import CaptureResult
from screenshotd.core.service import ScreenshotService
from screenshotd.params.capture import CaptureOptions

log = logging.getLogger(__name__)

#: How long a job keeps trying when the pool is full of synchronous captures.
POOL_PATIENCE_S = 600.0
#: Pauses between a job's attempts to store its result, when the store fails.
STORE_BACKOFF_S = (0.5, 1.0, 2.0, 4.0)


async def capture(service: ScreenshotService, opts: CaptureOptions, owner: str,
                  still_open: Callable[[], bool]) -> CaptureResult:
    """A capture through the service; a full pool or one crash is waited out and retried.
    The job was admitted and charged when it was submitted: it runs as its owner, unmetered."""
    caller = Caller(owner)  # no domains and no limiter: both were applied at submission
    give_up = time.monotonic() + POOL_PATIENCE_S
    crashed = False
    while True:
        try:
            return await service.screenshot(opts, caller, detach=False)
        except errors.PoolExhausted as exc:
            if not still_open() or time.monotonic() + exc.retry_after > give_up:
                raise
            await asyncio.sleep(exc.retry_after)
        except errors.BrowserCrashed:
            if crashed or not still_open():
                raise
            crashed = True
            await asyncio.sleep(1)


async def store(service: ScreenshotService, result: CaptureResult, owner: str,
                opts: CaptureOptions, base_url: str, job_id: str,
                still_open: Callable[[], bool]) -> tuple[dict[str, Any] | None, str | None]:
    """Keep a job's result in the result storage, retrying with backoff: ``(links, None)``.
    When the store stays down the job still completes, with its result where the backend keeps
    results, and ``(None, why)``."""
    why: str | None = None
    for attempt, pause in enumerate((*STORE_BACKOFF_S, None)):
        try:
            return await service.store(result, owner, opts, base_url), None
        except errors.StorageUnavailable as exc:
            why = exc.message
            if pause is None or not still_open():
                log.warning("job %s: result not stored after %d attempts: %s",
                            job_id, attempt + 1, exc.message)
                return None, why
            await asyncio.sleep(pause)
    return None, why

"""The records of async work: a job, a batch, their states and their JSON.

:class:`~screenshotd.core.jobs.manager.JobManager` owns and changes them; the routes and the webhooks read
them. Times are Unix seconds from the manager's clock, shown as ISO 8601 in UTC.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from screenshotd import errors
from screenshotd.core.jobs.webhooks import Delivery
from screenshotd.core.results import CaptureResult
from screenshotd.core.storage import CONTENT_TYPES
from screenshotd.params.capture import CaptureOptions


class JobState(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})


def iso(timestamp: float | None) -> str | None:
    """A Unix time as ISO 8601 in UTC, to the millisecond: ``2026-11-21T15:41:45.123Z``."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def replica_name() -> str:
    """This process's name among replicas: the host name (a pod's name on Kubernetes), the
    process id and a random tail."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def new_id() -> str:
    """122 random bits: job and batch ids are not guessable."""
    return uuid.uuid4().hex


@dataclass(eq=False)
class Job:
    id: str
    owner: str
    opts: CaptureOptions | None  # None: a batch item that did not validate
    url: str | None
    base_url: str
    created_at: float
    expires_at: float
    batch_id: str | None = None
    status: JobState = JobState.QUEUED
    started_at: float | None = None
    completed_at: float | None = None
    result: CaptureResult | None = None
    error: errors.ScreenshotError | None = None
    webhook: Delivery | None = None
    cancel_requested: bool = False
    forgotten: bool = False
    #: The result's links in the result storage (``STORAGE_TYPE``), once stored, and why it
    #: is not stored when the store failed.
    stored: dict[str, Any] | None = None
    storage_error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @classmethod
    def new(cls, owner: str, opts: CaptureOptions | None, base_url: str, now: float,
            ttl: float, batch_id: str | None = None, style: str = "") -> Job:
        """A job just submitted (``opts`` None: a batch item that did not validate), with its
        webhook's one message id (shaped and signed as the face ``style`` does)."""
        job = cls(new_id(), owner, opts, opts.url if opts is not None else None, base_url,
                  created_at=now, expires_at=now + ttl, batch_id=batch_id)
        if opts is not None and opts.webhook_url:
            job.webhook = Delivery(opts.webhook_url, opts.webhook_secret, f"msg_{job.id}",
                                   style=style)
        return job

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def unit(self) -> str:
        """What counts against the pending limit: the batch, or the job itself."""
        return self.batch_id or self.id

    @property
    def weight(self) -> int:
        """The bytes a finished job holds: its result (and extracted content), and its
        ``html`` if it had one."""
        html = self.opts.html if self.opts is not None and self.opts.html else ""
        result = self.result
        if result is None:
            return len(html)
        return result.size + len(result.content or "") + len(html)

    @property
    def status_url(self) -> str:
        return f"{self.base_url}/jobs/{self.id}"

    @property
    def result_url(self) -> str | None:
        """Where the result is: in the result storage once stored (it outlives the job, the
        cache and the process), else the job's own ``/result``."""
        if self.stored is not None:
            url: str = self.stored["outputs"]["screenshot"]["result_url"]
            return url
        return f"{self.status_url}/result" if self.result is not None else None

    def outputs(self) -> dict[str, Any] | None:
        """Each output (``screenshot``, the content under its format's name, ``metadata``):
        its content type, size, ``result_url`` and ``storage_url``."""
        result = self.result
        if result is None:
            return None
        if self.stored is not None:
            return {name: {key: info[key] for key in (
                "content_type", "size", "result_url", "storage_url", "signed_url") if key in info}
                for name, info in self.stored["outputs"].items()}
        outputs: dict[str, Any] = {"screenshot": {
            "content_type": result.content_type, "size": result.size,
            "result_url": f"{self.status_url}/result/screenshot", "storage_url": None}}
        for content_format, text in result.contents.items():
            outputs[content_format] = {
                "content_type": CONTENT_TYPES[content_format], "size": len(text.encode("utf-8")),
                "result_url": f"{self.status_url}/result/{content_format}", "storage_url": None}
        if result.metadata is not None:
            outputs["metadata"] = {
                "content_type": CONTENT_TYPES["metadata"], "size": None,
                "result_url": f"{self.status_url}/result/metadata", "storage_url": None}
        return outputs

    def storage_json(self) -> dict[str, Any]:
        """``result_id``, ``storage_url`` and ``signed_url`` of a stored result, or its
        ``storage_error``; nothing when storage is off."""
        if self.stored is not None:
            shot = self.stored["outputs"]["screenshot"]
            return {"result_id": self.stored["result_id"], "storage_url": shot["storage_url"],
                    **({"signed_url": shot["signed_url"]} if "signed_url" in shot else {})}
        if self.storage_error is not None:
            return {"result_id": None, "storage_url": None, "storage_error": self.storage_error}
        return {}

    def error_json(self) -> dict[str, Any] | None:
        """``{"code", "message"}`` (and ``field`` for a validation error), or None."""
        if self.error is None:
            return None
        error = {"code": self.error.code, "message": self.error.message}
        if self.error.field is not None:
            error["field"] = self.error.field
        return error

    def to_json(self) -> dict[str, Any]:
        """The job as the API shows it (and as its webhook sends it)."""
        result = self.result
        return {
            "id": self.id,
            "status": self.status.value,
            "url": self.url,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "expires_at": iso(self.expires_at),
            "status_url": self.status_url,
            "result_url": self.result_url,
            "error": self.error_json(),
            "metadata": None if result is None else {
                "width": result.width, "height": result.height, "format": result.format,
                "size": result.size, "content_type": result.content_type,
                "cache_key": result.cache_key, "cached": result.cached,
                "render_time_ms": result.render_time_ms, "truncated": result.truncated,
                "blocked_requests": result.blocked_requests, "blocked": result.blocked,
            },
            "outputs": self.outputs(),
            **self.storage_json(),
            "batch_id": self.batch_id,
            "webhook": None if self.webhook is None else self.webhook.to_json(iso),
            **({"client_metadata": self.opts.client_metadata}
               if self.opts is not None and self.opts.client_metadata is not None else {}),
        }


@dataclass(eq=False)
class Batch:
    id: str
    owner: str
    base_url: str
    created_at: float
    jobs: list[Job] = field(default_factory=list)
    #: ``callback_url``: the whole batch POSTed once, when its last item finishes.
    callback: Delivery | None = None

    def counts(self) -> dict[str, int]:
        counts = {state.value: 0 for state in JobState}
        for job in self.jobs:
            counts[job.status.value] += 1
        return counts

    @property
    def finished(self) -> bool:
        return all(job.finished for job in self.jobs)

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.id,
            "status": "completed" if self.finished else "processing",
            "created_at": iso(self.created_at),
            "total": len(self.jobs),
            "counts": self.counts(),
            "poll_url": f"{self.base_url}/batch/{self.id}",
            "jobs": [job.to_json() if not job.forgotten else {"id": job.id, "status": "expired"}
                     for job in self.jobs],
            **({"callback": self.callback.to_json(iso)} if self.callback is not None else {}),
        }


async def wait_finished(job: Job, within: float) -> bool:
    """Wait until ``job`` finishes or ``within`` seconds pass; whether it finished."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(job.done.wait(), within)
    return job.finished

"""A job as Redis keeps it: one hash per job, read back into the same :class:`Job` records.

The hash ``job:{id}`` holds:

- ``record``: the job's JSON, written when it is submitted and again when it finishes (its
  options, its result's metadata, its error, its storage links);
- ``status``, ``started_at``, ``replica``, ``ticket``, ``attempts``, ``cancel``: what changes
  while it runs, each changed by one Redis script so that replicas never race on them;
- ``data``: the result's bytes, when the result is not in the result storage;
- ``webhook``: the delivery's state, updated by the replica delivering it.
"""

from __future__ import annotations

import json
from typing import Any

from screenshotd import errors
from screenshotd.core.jobs.records import Job, JobState
from screenshotd.core.jobs.webhooks import Attempt, Delivery
from screenshotd.core.results import CaptureResult
from screenshotd.params.capture import CaptureOptions, ParseLimits

#: The fields read for a job; ``data`` is last, so that it can be left out.
FIELDS = ("record", "status", "started_at", "replica", "attempts", "cancel", "webhook", "data")


def _error_classes() -> dict[str, type[errors.ScreenshotError]]:
    found: dict[str, type[errors.ScreenshotError]] = {}
    stack: list[type[errors.ScreenshotError]] = [errors.ScreenshotError]
    while stack:
        cls = stack.pop()
        found.setdefault(cls.code, cls)
        stack.extend(cls.__subclasses__())
    return found


_ERRORS = _error_classes()


def error_to_json(error: errors.ScreenshotError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"code": error.code, "message": error.message, "field": error.field,
            "retry_after": getattr(error, "retry_after", None)}


def error_from_json(raw: dict[str, Any] | None) -> errors.ScreenshotError | None:
    if raw is None:
        return None
    cls = _ERRORS.get(raw["code"], errors.InternalError)
    if issubclass(cls, errors.RetryableError):
        return cls(raw["message"], field=raw.get("field"), retry_after=raw.get("retry_after") or 1)
    return cls(raw["message"], field=raw.get("field"))


def delivery_to_json(delivery: Delivery) -> dict[str, Any]:
    return {"url": delivery.url, "secret": delivery.secret, "message_id": delivery.message_id,
            "state": delivery.state,
            "attempts": [{"number": a.number, "at": a.at, "status": a.status, "error": a.error,
                          "duration_ms": a.duration_ms} for a in delivery.attempts],
            **({"style": delivery.style} if delivery.style else {})}


def delivery_from_json(raw: dict[str, Any]) -> Delivery:
    return Delivery(raw["url"], raw.get("secret"), raw["message_id"], raw.get("state", "pending"),
                    [Attempt(**a) for a in raw.get("attempts") or []], raw.get("style", ""))


def record(job: Job) -> bytes:
    """The job's ``record`` field: everything but its bytes and what scripts change."""
    result = job.result
    return json.dumps({
        "id": job.id, "owner": job.owner,
        "opts": None if job.opts is None else _options(job.opts),
        "url": job.url, "base_url": job.base_url, "batch_id": job.batch_id,
        "created_at": job.created_at, "expires_at": job.expires_at,
        "started_at": job.started_at, "completed_at": job.completed_at,
        "result": None if result is None else {
            **result.to_meta(), "cached": result.cached, "stored": result.stored,
            "ttl": result.ttl},
        "error": error_to_json(job.error),
        "webhook": None if job.webhook is None else delivery_to_json(job.webhook),
        "stored": job.stored, "storage_error": job.storage_error,
    }, separators=(",", ":")).encode("utf-8")


def _options(opts: CaptureOptions) -> dict[str, Any]:
    """The options as JSON: what differs from the defaults, and what the request set even at
    its default (a face reads whether a request gave a field, such as ``000``'s
    ``signed_link_expires_in``, on whichever replica reads the job)."""
    given = opts.model_dump(mode="json", by_alias=True, exclude_none=True,
                            include=set(opts.model_fields_set))
    return {**opts.model_dump(mode="json", by_alias=True, exclude_none=True,
                              exclude_defaults=True), **given}


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8")


def load(values: list[bytes | None], limits: ParseLimits) -> Job | None:
    """A job from its hash's :data:`FIELDS` (``data`` may be missing); None when it is gone."""
    fields = dict(zip(FIELDS, values, strict=False))
    raw_record = fields.get("record")
    if raw_record is None:
        return None
    rec = json.loads(raw_record)
    opts = None if rec["opts"] is None else CaptureOptions.parse(rec["opts"], limits)
    job = Job(rec["id"], rec["owner"], opts, rec["url"], rec["base_url"],
              created_at=rec["created_at"], expires_at=rec["expires_at"],
              batch_id=rec["batch_id"])
    job.status = JobState(_text(fields.get("status")) or "queued")
    started = fields.get("started_at")
    job.started_at = float(started) if started else rec["started_at"]
    job.completed_at = rec["completed_at"]
    job.cancel_requested = fields.get("cancel") == b"1"
    job.error = error_from_json(rec["error"])
    job.stored, job.storage_error = rec["stored"], rec["storage_error"]
    hook = fields.get("webhook")
    if hook:
        job.webhook = delivery_from_json(json.loads(hook))
    elif rec["webhook"] is not None:
        job.webhook = delivery_from_json(rec["webhook"])
    meta = rec["result"]
    if meta is not None and job.status is JobState.COMPLETED:
        meta = {k: v for k, v in meta.items() if k != "kind"}
        job.result = CaptureResult(data=fields.get("data") or b"", **meta)
    if job.finished:
        job.done.set()
    return job

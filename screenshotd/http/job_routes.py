"""HTTP for jobs and batches: status, results, cancel, listing, Server-Sent Events, batch.

Every handler acts for :func:`~screenshotd.http.routes.caller`: another caller's job or batch is a
404, exactly like one that never existed. What may be submitted, and what it costs, is decided by
:class:`~screenshotd.core.jobs.manager.JobManager` for that caller.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from screenshotd import errors
from screenshotd.core.jobs.backends import Jobs
from screenshotd.core.jobs.records import Job, JobState
from screenshotd.core.jobs.webhooks import Delivery
from screenshotd.core.results import CaptureResult
from screenshotd.core.storage import CONTENT_TYPES, SANDBOXED
from screenshotd.http.routes import (
    base_url,
    caller,
    describe,
    image_url,
    in_thread_if_large,
    json_body,
    query_params,
    render,
)
from screenshotd.params.batch import parse_batch

#: Server-Sent Events: a heartbeat this often, and the stream ends after this long.
HEARTBEAT_S = 2.0
EVENTS_TIMEOUT_S = 60.0
#: How long a synchronous batch waits for its items; what is still running is reported as such.
SYNC_BATCH_WAIT_S = 300.0
PER_PAGE_DEFAULT, PER_PAGE_MAX = 20, 100

_ID = re.compile(r"[0-9a-f]{32}")


def _jobs(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


async def _job(request: Request) -> Job:
    job_id = request.path_params["job_id"]
    if not _ID.fullmatch(job_id):
        raise errors.NotFound(f"{job_id[:64]!r} is not a job id")
    return await _jobs(request).fetch(caller(request).id, job_id)


async def job_status(request: Request) -> Response:
    return JSONResponse((await _job(request)).to_json())


def finished_result(job: Job) -> CaptureResult:
    """A completed job's result; otherwise the error that says why there is none."""
    if job.status is JobState.COMPLETED and job.result is not None:
        return job.result
    if not job.finished:
        raise errors.NotReady(f"job {job.id} is {job.status.value}; try again shortly",
                              retry_after=1)
    assert job.error is not None
    raise copy.copy(job.error)  # a fresh one: raising the stored one would grow its traceback


async def job_result(request: Request) -> Response:
    """The result as the job asked for it: the bytes, or base64 or metadata JSON."""
    job = await _job(request)
    result = finished_result(job)
    assert job.opts is not None
    return await render(result, job.opts, image_url(request, result))


#: A job's outputs, and what asks for each (``content`` is ``extract_content``'s format).
OUTPUTS = {"screenshot": None, "content": "extract_content=true",
           "markdown": "outputs=markdown", "html": "outputs=html", "text": "outputs=text",
           "metadata": "metadata=true"}


async def job_output(request: Request) -> Response:
    """One output of a finished job: ``screenshot`` (always the bytes), ``content`` or
    ``metadata`` (when the job asked for them)."""
    job = await _job(request)
    output = request.path_params["output"]
    if output not in OUTPUTS:
        raise errors.NotFound(f"no output {output[:64]!r}: use one of {', '.join(OUTPUTS)}")
    result = finished_result(job)
    if output == "screenshot":
        return Response(result.data, media_type=result.content_type)
    if output == "metadata" and result.metadata is not None:
        return JSONResponse(result.metadata)
    assert job.opts is not None
    content_format = job.opts.content_format if output == "content" else output
    text = result.contents.get(content_format) if (
        output != "content" or job.opts.extract_content) else None
    if text is not None:
        # The page's own markup, served from this origin: never run as a page here.
        return Response(text, headers={"Content-Type": CONTENT_TYPES[content_format],
                                       **SANDBOXED})
    raise errors.NotFound(f"job {job.id} did not ask for {output} ({OUTPUTS[output]})")


async def cancel_job(request: Request) -> Response:
    job = await _job(request)
    job = await _jobs(request).cancel(caller(request).id, job.id)
    return JSONResponse(job.to_json())


async def list_jobs(request: Request) -> Response:
    """``GET /jobs?status=&page=&per_page=``: the caller's jobs, newest first."""
    params = query_params(request)
    unknown = set(params) - {"status", "page", "per_page", "api_key"}
    if unknown:
        name = sorted(unknown)[0]
        raise errors.ValidationError(f"unknown parameter {name!r}: use status, page, per_page",
                                     field=name)
    status = None
    if params.get("status"):
        try:
            status = JobState(params["status"])
        except ValueError:
            states = ", ".join(s.value for s in JobState)
            raise errors.ValidationError(f"status must be one of {states}",
                                         field="status") from None
    page = bounded_int(params, "page", 1, 1, 1_000_000)
    per_page = bounded_int(params, "per_page", PER_PAGE_DEFAULT, 1, PER_PAGE_MAX)
    jobs, total = await _jobs(request).fetch_jobs(caller(request).id, status, page, per_page)
    return JSONResponse({
        "jobs": [job.to_json() for job in jobs],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": -(-total // per_page),
    })


def bounded_int(params: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """A query parameter that is an integer from ``lo`` to ``hi`` (``default`` when absent)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise errors.ValidationError(f"{name} must be an integer from {lo} to {hi}", field=name)
    return int(raw)


# --------------------------------------------------------------------------- events


async def job_events(request: Request) -> Response:
    """Server-Sent Events: ``connected``, a ``heartbeat`` every 2 s, then ``completed`` or
    ``failed`` (a cancelled job is ``failed`` with status ``cancelled``) with the job JSON, or
    ``timeout`` after 60 s."""
    return event_stream(_jobs(request), await _job(request))


def native_event(name: str, job: Job) -> dict[str, Any]:
    """What each event of ``/jobs/{id}/events`` carries."""
    if name in ("completed", "failed"):
        return job.to_json()
    return {"job_id": job.id, "status": job.status.value}


async def events(jobs: Jobs, job: Job,
                 shape: Callable[[str, Job], dict[str, Any]] = native_event,
                 ) -> AsyncIterator[str]:
    """The events of one job: ``connected``; a ``heartbeat`` every 2 s while it runs; then
    ``completed`` or ``failed``, or ``timeout`` after 60 s. ``shape`` gives each event's data
    (a face shapes them as its document does)."""
    yield _event("connected", shape("connected", job))
    deadline = time.monotonic() + EVENTS_TIMEOUT_S
    while not job.finished:
        left = deadline - time.monotonic()
        if left <= 0:
            yield _event("timeout", shape("timeout", job))
            return
        job = await jobs.wait(job, min(HEARTBEAT_S, left))
        if not job.finished and left > HEARTBEAT_S:
            yield _event("heartbeat", shape("heartbeat", job))
    name = "completed" if job.status is JobState.COMPLETED else "failed"
    yield _event(name, shape(name, job))


def event_stream(jobs: Jobs, job: Job,
                 shape: Callable[[str, Job], dict[str, Any]] = native_event) -> Response:
    """The :func:`events` of ``job`` as a ``text/event-stream`` answer."""
    return StreamingResponse(
        events(jobs, job, shape), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


# --------------------------------------------------------------------------- batch


async def create_batch(request: Request) -> Response:
    """``POST /batch``: check every URL at the door, then queue the items as one submission.
    Synchronous by default (the answer waits for the items); ``async: true`` answers 202."""
    service = request.app.state.service
    parsed = parse_batch(await json_body(request), service.parse)
    if parsed.response_type == "paths" and service.results is None:
        raise errors.ValidationError(
            "response_type=paths names objects in the result storage, which is off here "
            "(STORAGE_TYPE=none)", field="response_type")
    callback = None
    if parsed.callback_url is not None:
        try:
            await service.guard.check_url(parsed.callback_url)
        except errors.Blocked as exc:
            raise exc.naming("callback_url") from None
        callback = Delivery(parsed.callback_url, parsed.callback_secret)
    batch = await _jobs(request).submit_batch(caller(request), parsed.items, base_url(request),
                                              callback)
    if parsed.async_:
        body = {
            "batch_id": batch.id,
            "total": len(batch.jobs),
            "jobs": [{"job_id": job.id, "url": job.url, "status": job.status.value,
                      "status_url": job.status_url} for job in batch.jobs],
            "poll_url": f"{base_url(request)}/batch/{batch.id}",
        }
        return JSONResponse(body, status_code=202)
    done = await _jobs(request).wait_all(batch.jobs, SYNC_BATCH_WAIT_S)
    results = [_item(request, index, job, parsed.urls[index], parsed.response_type)
               for index, job in enumerate(done)]
    body = {"batch_id": batch.id, "total": len(results),
            "succeeded": sum(r["ok"] for r in results),
            "failed": sum(not r["ok"] for r in results), "results": results}
    size = sum(job.result.size for job in done if job.result is not None)
    payload = await in_thread_if_large(size, _dumps, body)
    return Response(payload, media_type="application/json")


def _item(request: Request, index: int, job: Job, given_url: str | None,
          response_type: str) -> dict[str, Any]:
    item: dict[str, Any] = {"index": index, "url": job.url or given_url, "ok": False,
                            "job_id": job.id, "status": job.status.value}
    if job.status is JobState.COMPLETED and job.result is not None:
        assert job.opts is not None
        cached_url = image_url(request, job.result)
        item.update(describe(job.result, cached_url))
        item.update(ok=True, url=job.url, result_url=job.result_url, **job.storage_json())
        if response_type == "base64":
            item["data"] = base64.b64encode(job.result.data).decode("ascii")
        elif response_type == "image_urls":
            # the stored result when there is one (it lasts), else the cache's copy
            item["image_url"] = job.result_url if job.stored is not None else cached_url
        elif response_type == "paths":
            results = request.app.state.service.results
            item["path"] = (results.object_name(job.stored["result_id"], "screenshot")
                            if job.stored is not None and results is not None else None)
    elif job.error is not None:
        item["error"] = job.error_json()
    else:
        item["error"] = {"code": "TIMEOUT", "message": (
            f"still {job.status.value} after {SYNC_BATCH_WAIT_S:g} s; follow it at "
            f"{job.status_url}")}
    return item


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


async def batch_status(request: Request) -> Response:
    batch_id = request.path_params["batch_id"]
    if not _ID.fullmatch(batch_id):
        raise errors.NotFound(f"{batch_id[:64]!r} is not a batch id")
    return JSONResponse((await _jobs(request).fetch_batch(caller(request).id, batch_id)).to_json())


routes = [
    Route("/jobs", list_jobs, methods=["GET"]),
    Route("/jobs/{job_id}", job_status, methods=["GET"]),
    Route("/jobs/{job_id}", cancel_job, methods=["DELETE"]),
    Route("/jobs/{job_id}/result", job_result, methods=["GET"]),
    Route("/jobs/{job_id}/result/{output}", job_output, methods=["GET"]),
    Route("/jobs/{job_id}/events", job_events, methods=["GET"]),
    Route("/batch", create_batch, methods=["POST"]),
    Route("/batch/{batch_id}", batch_status, methods=["GET"]),
]

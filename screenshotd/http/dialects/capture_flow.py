"""Seed ``001``, a capture flow: submit, poll, download, with ``X-API-KEY``.

Every answer is ``{"status": "OK", "data": {...}}`` (an error: ``{"status": "ERROR", "error":
{"code", "message"}}``), a capture's id is ``cap_`` and the job's 32 hex digits, its ``state``
``PENDING``, ``PROCESSING``, ``COMPLETED`` or ``FAILED``. The image comes as an attachment from
``imageUrl`` (an absolute URL, opened with the key); ``callbackUrl`` receives the poll's answer
when the capture ends.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from screenshotd import errors
from screenshotd.core.jobs.records import Job, JobState, iso
from screenshotd.core.jobs.webhooks import WebhookStyle
from screenshotd.http.dialects import base
from screenshotd.http.dialects.base import (
    BOOLEAN,
    IMAGES,
    JSON,
    STRING,
    Face,
    Operation,
    between,
    obj,
)
from screenshotd.http.job_routes import finished_result
from screenshotd.http.routes import json_body

PREFIX = "/api/screenshot/capture"
STATES = {JobState.QUEUED: "PENDING", JobState.PROCESSING: "PROCESSING",
          JobState.COMPLETED: "COMPLETED", JobState.FAILED: "FAILED",
          JobState.CANCELLED: "FAILED"}
#: The request's fields, and their native names.
FIELDS = {"url": "url", "viewportWidth": "width", "viewportHeight": "height",
          "fullPage": "full_page", "delay": "delay", "userAgent": "user_agent",
          "deviceScaleFactor": "device_scale_factor", "callbackUrl": "webhook_url"}
NAMES = {native: name for name, native in FIELDS.items()}


def error_body(error: errors.ScreenshotError) -> tuple[int, dict[str, Any]]:
    detail: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field is not None:
        detail["field"] = error.field
    return error.status, {"status": "ERROR", "error": detail}


OPERATIONS = (
    Operation("post", PREFIX, "Submit a capture request",
              body=obj({"url": STRING, "viewportWidth": between(100, 4000),
                        "viewportHeight": between(100, 4000), "fullPage": BOOLEAN,
                        "delay": between(0, 10000), "userAgent": STRING,
                        "deviceScaleFactor": {"type": "number", "minimum": 1, "maximum": 4},
                        "callbackUrl": STRING}, ("url",)),
              answers={202: JSON}),
    Operation("get", f"{PREFIX}/{{id}}", "A capture's state"),
    Operation("get", f"{PREFIX}/{{id}}/image", "The captured image, as an attachment",
              answers={200: IMAGES}),
)


def make() -> Face:
    face: Face

    def data(job: Job) -> dict[str, Any]:
        result = base.result_of(job)
        capture_id = face.public_id(job.id)
        return base.drop_none({
            "captureId": capture_id, "state": face.state(job), "url": job.url,
            "createdAt": iso(job.created_at), "startedAt": iso(job.started_at),
            "imageUrl": f"{job.base_url}{PREFIX}/{capture_id}/image" if result else None,
            "fileSize": result.size if result else None,
            "width": result.width if result else None,
            "height": result.height if result else None,
            "completedAt": iso(job.completed_at),
            "error": {"code": job.error.code, "message": job.error.message}
            if job.error is not None else None,
        })

    async def submit(request: Request) -> Response:
        given = await json_body(request)
        base.refuse_unknown(given, set(FIELDS))
        if "url" not in given:
            raise errors.ValidationError("url is required", field="url")
        opts = base.parse(request, {FIELDS[name]: value for name, value in given.items()})
        job = await base.submit(request, face, opts)
        return JSONResponse({"status": "OK", "data": {
            "captureId": face.public_id(job.id), "state": face.state(job),
            "createdAt": iso(job.created_at)}}, status_code=202)

    async def status(request: Request) -> Response:
        job = await base.find(request, face, request.path_params["id"], )
        return JSONResponse({"status": "OK", "data": data(job)})

    async def image(request: Request) -> Response:
        job = await base.find(request, face, request.path_params["id"])
        result = finished_result(job)
        return base.attachment(result.data, result.content_type,
                               f"{face.public_id(job.id)}.{base.EXTENSIONS[result.format]}")

    face = Face(
        name="001", title="Capture flow", prefixes=(PREFIX,), id_prefix="cap_", dashed=False,
        states=STATES, error_body=error_body,
        routes=[
            Route(PREFIX, submit, methods=["POST"]),
            Route(f"{PREFIX}/{{id}}", status, methods=["GET"]),
            Route(f"{PREFIX}/{{id}}/image", image, methods=["GET"]),
        ],
        webhook=WebhookStyle(lambda job, native: {"status": "OK", "data": data(job)}),
        names=NAMES,
        operations=OPERATIONS,
    )
    return face

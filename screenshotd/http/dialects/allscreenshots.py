"""Seed ``003``, allscreenshots: ``/v1/screenshots`` (synchronous) and async jobs, with
``X-API-Key``.

A job's id is its 32 hex digits, its ``status`` ``QUEUED``, ``PROCESSING``, ``COMPLETED``,
``FAILED`` or ``CANCELLED``; a failed one has ``errorCode`` and ``errorMessage``. ``resultUrl``
opens with the key and answers as ``responseType`` said (``binary`` or ``url``: the bytes;
``base64``: JSON). ``outputs`` asks for more than the screenshot from the one page load. A
webhook's body is ``{"event", "status", "jobId", "data": {the job}}``, signed
``X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` and the Standard Webhooks
headers.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from screenshotd import errors
from screenshotd.core.jobs.records import Job, JobState, iso
from screenshotd.core.jobs.webhooks import WebhookStyle, hex_signature
from screenshotd.core.results import CaptureResult
from screenshotd.core.storage import CONTENT_TYPES, SANDBOXED
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
from screenshotd.http.job_routes import OUTPUTS, finished_result
from screenshotd.http.routes import in_thread_if_large, json_body

PREFIX = "/v1/screenshots"
STATES = {JobState.QUEUED: "QUEUED", JobState.PROCESSING: "PROCESSING",
          JobState.COMPLETED: "COMPLETED", JobState.FAILED: "FAILED",
          JobState.CANCELLED: "CANCELLED"}
#: The request's fields that are native ones under another name.
FIELDS = {
    "url": "url", "html": "html", "device": "device", "format": "format", "quality": "quality",
    "fullPage": "full_page", "selector": "selector", "delay": "delay",
    "waitForSelector": "wait_for_selector", "timeout": "timeout", "darkMode": "dark_mode",
    "blockAds": "block_ads", "blockTrackers": "block_trackers",
    "blockCookieBanners": "block_cookie_banners", "hideSelectors": "hide_selectors",
    "customCss": "styles", "customJs": "scripts", "userAgent": "user_agent",
    "headers": "headers", "cookies": "cookies", "webhookUrl": "webhook_url",
    "webhookSecret": "webhook_secret"}
OTHER = {"viewport", "waitUntil", "responseType", "outputs"}
NAMES = {native: name for name, native in FIELDS.items()} | {
    "width": "viewport.width", "height": "viewport.height",
    "device_scale_factor": "viewport.deviceScaleFactor", "wait_until": "waitUntil",
    "response_type": "responseType"}
RESPONSE_TYPES = {"binary": "image", "url": "json", "base64": "base64"}
WAIT_UNTIL = {"load": "load", "domcontentloaded": "domcontentloaded",
              "networkidle": "networkidle0", "networkidle0": "networkidle0",
              "networkidle2": "networkidle2"}


def error_body(error: errors.ScreenshotError) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"errorCode": error.code, "errorMessage": error.message}
    if error.field is not None:
        body["field"] = error.field
    return error.status, body


def params_of(given: dict[str, Any]) -> dict[str, Any]:
    """The native parameters of a request body."""
    base.refuse_unknown(given, set(FIELDS) | OTHER)
    if "url" not in given and "html" not in given:
        raise errors.ValidationError("url is required", field="url")
    params = {FIELDS[name]: value for name, value in given.items() if name in FIELDS}
    viewport = given.get("viewport")
    if viewport is not None:
        base.expect(viewport, dict, "viewport", "an object with width and height")
        base.refuse_unknown(viewport, {"width", "height", "deviceScaleFactor"}, "viewport.")
        params.update({native: viewport[name] for name, native in (
            ("width", "width"), ("height", "height"),
            ("deviceScaleFactor", "device_scale_factor")) if name in viewport})
    if "waitUntil" in given:
        if not isinstance(given["waitUntil"], str) or given["waitUntil"] not in WAIT_UNTIL:
            raise errors.ValidationError(
                "waitUntil must be load, domcontentloaded or networkidle", field="waitUntil")
        params["wait_until"] = WAIT_UNTIL[given["waitUntil"]]
    kind = given.get("responseType", "binary")
    if not isinstance(kind, str) or kind not in RESPONSE_TYPES:
        raise errors.ValidationError("responseType must be binary, url or base64",
                                     field="responseType")
    params["response_type"] = RESPONSE_TYPES[kind]
    if "outputs" in given:
        outputs = base.expect(given["outputs"], list, "outputs", "a list of outputs")
        names = []
        for index, entry in enumerate(outputs):
            name = entry.get("type") if isinstance(entry, dict) else entry
            if not isinstance(name, str) or name not in OUTPUTS or name == "content":
                raise errors.ValidationError(
                    "each output is screenshot, markdown, html, text or metadata",
                    field=f"outputs.{index}")
            names.append(name)
        params["outputs"] = names
    return params


OUTPUT_NAMES = ["screenshot", "markdown", "html", "text", "metadata"]
REQUEST = obj({
    "url": STRING, "html": STRING, "device": STRING,
    "viewport": obj({"width": between(100, 4000), "height": between(100, 4000),
                     "deviceScaleFactor": {"type": "number", "minimum": 1, "maximum": 4}}),
    "format": {"enum": ["png", "jpeg", "jpg", "webp", "pdf"]}, "quality": between(1, 100),
    "fullPage": BOOLEAN, "selector": STRING, "delay": between(0, 10000),
    "waitUntil": {"enum": list(WAIT_UNTIL)}, "waitForSelector": STRING,
    "timeout": between(1000, 60000), "darkMode": BOOLEAN, "blockAds": BOOLEAN,
    "blockTrackers": BOOLEAN, "blockCookieBanners": BOOLEAN,
    "hideSelectors": {"type": "array", "items": STRING}, "customCss": STRING,
    "customJs": STRING, "userAgent": STRING,
    "headers": {"type": "object", "additionalProperties": STRING},
    "cookies": {"type": "array", "items": {"type": "object"}},
    "responseType": {"enum": list(RESPONSE_TYPES)}, "webhookUrl": STRING,
    "webhookSecret": STRING,
    "outputs": {"type": "array", "items": {"anyOf": [
        {"enum": OUTPUT_NAMES}, obj({"type": {"enum": OUTPUT_NAMES}}, ("type",))]}}})
RESULTS = (*IMAGES, "application/json")
OPERATIONS = (
    Operation("post", PREFIX, "Take a screenshot and wait for it", body=REQUEST,
              answers={200: RESULTS, 202: JSON}),
    Operation("post", f"{PREFIX}/async", "Create an async job", body=REQUEST,
              answers={202: JSON}),
    Operation("get", f"{PREFIX}/jobs/{{id}}", "A job's status"),
    Operation("get", f"{PREFIX}/jobs/{{id}}/result", "A job's result, as responseType said",
              answers={200: RESULTS}),
    Operation("get", f"{PREFIX}/jobs/{{id}}/result/{{output}}", "One output of a job",
              answers={200: (*RESULTS, "text/markdown", "text/html", "text/plain")}),
)


def make() -> Face:
    face: Face

    def job_url(job: Job) -> str:
        return f"{job.base_url}{PREFIX}/jobs/{job.id}"

    def multi(job: Job) -> bool:
        return job.opts is not None and any(name != "screenshot"
                                            for name in job.opts.outputs or ())

    def outputs(job: Job) -> dict[str, Any] | None:
        native = job.outputs()
        if native is None or not multi(job):
            return None
        return {name: base.drop_none({
            "type": name, "contentType": info["content_type"], "size": info["size"],
            "resultUrl": f"{job_url(job)}/result/{name}", "storageUrl": info.get("storage_url")})
            for name, info in native.items()}

    def job_json(job: Job) -> dict[str, Any]:
        result = base.result_of(job)
        stored = job.stored["outputs"]["screenshot"] if job.stored else {}
        return base.drop_none({
            "id": job.id, "status": face.state(job), "url": job.url,
            "resultUrl": (f"{job_url(job)}/result/screenshot" if multi(job)
                          else f"{job_url(job)}/result") if result else None,
            "storageUrl": stored.get("storage_url"),
            "errorCode": job.error.code if job.error else None,
            "errorMessage": job.error.message if job.error else None,
            "createdAt": iso(job.created_at), "startedAt": iso(job.started_at),
            "completedAt": iso(job.completed_at),
            # when resultUrl stops answering: the job is forgotten (a stored copy may last
            # longer, at storageUrl)
            "expiresAt": iso(job.expires_at) if result else None,
            "metadata": {"width": result.width, "height": result.height,
                         "format": "MULTI" if multi(job) else result.format.upper(),
                         "size": result.size + sum(
                             len(text.encode("utf-8")) for text in result.contents.values())
                         if multi(job) else result.size} if result else None,
            "outputs": outputs(job),
        })

    async def submit(request: Request) -> Job:
        given = await json_body(request)
        params = params_of(given)
        try:
            opts = base.parse(request, params)
        except errors.ScreenshotError as exc:
            if exc.field is not None:
                exc.field = NAMES.get(exc.field, exc.field)
            raise
        return await base.submit(request, face, opts)

    async def create_async(request: Request) -> Response:
        job = await submit(request)
        return JSONResponse({"id": job.id, "status": face.state(job), "statusUrl": job_url(job),
                             "createdAt": iso(job.created_at)}, status_code=202)

    async def create_sync(request: Request) -> Response:
        job = await base.finish(request, await submit(request))
        if not job.finished:
            return JSONResponse({"id": job.id, "status": face.state(job),
                                 "statusUrl": job_url(job), "createdAt": iso(job.created_at)},
                                status_code=202)
        result = finished_result(job)
        assert job.opts is not None
        if job.opts.response_type == "json":
            return JSONResponse(job_json(job))
        return await answer(job, result, "screenshot", result.data, result.content_type)

    async def status(request: Request) -> Response:
        return JSONResponse(job_json(await _job(request)))

    async def _job(request: Request) -> Job:
        return await base.find(request, face, request.path_params["id"], "job id")

    async def answer(job: Job, result: CaptureResult, output: str, data: bytes,
                     content_type: str) -> Response:
        """An output as the job's ``responseType`` asks: the bytes, or base64 JSON."""
        assert job.opts is not None
        headers = {"Cache-Control": "private, max-age=0"}
        if job.opts.response_type != "base64":
            if output != "screenshot":
                headers.update(SANDBOXED)
            return Response(data, media_type=content_type, headers=headers)
        body = {"url": job.url, "format": result.format if output == "screenshot" else output,
                "contentType": content_type, "width": result.width, "height": result.height,
                "size": len(data), "renderTimeMs": result.render_time_ms,
                "encoding": "base64",
                "data": (await in_thread_if_large(len(data), base64.b64encode, data)).decode()}
        return JSONResponse(body, headers=headers)

    async def result(request: Request) -> Response:
        job = await _job(request)
        done = finished_result(job)
        return await answer(job, done, "screenshot", done.data, done.content_type)

    async def output(request: Request) -> Response:
        job = await _job(request)
        name = request.path_params["output"]
        done = finished_result(job)
        if name == "screenshot":
            return await answer(job, done, name, done.data, done.content_type)
        assert job.opts is not None
        if name == "metadata" and done.metadata is not None:
            return await answer(job, done, name, json.dumps(done.metadata).encode(),
                                CONTENT_TYPES["metadata"])
        text = done.contents.get(name) if name in ("markdown", "html", "text") else None
        if text is None:
            raise errors.NotFound(f"job {job.id} has no output {name[:40]!r}: ask for it in "
                                  "outputs")
        return await answer(job, done, name, text.encode("utf-8"), CONTENT_TYPES[name])

    def webhook_body(job: Any, native: dict[str, Any]) -> dict[str, Any]:
        data = {"jobId": job.id, **job_json(job)}
        event = "screenshot.completed" if job.status is JobState.COMPLETED else \
            "screenshot.failed"
        return {"event": event, "status": data["status"], "jobId": job.id, "data": data}

    face = Face(
        name="003", title="allscreenshots", prefixes=(PREFIX,), id_prefix="", dashed=False,
        states=STATES, error_body=error_body,
        routes=[
            Route(PREFIX, create_sync, methods=["POST"]),
            Route(f"{PREFIX}/async", create_async, methods=["POST"]),
            Route(f"{PREFIX}/jobs/{{id}}", status, methods=["GET"]),
            Route(f"{PREFIX}/jobs/{{id}}/result", result, methods=["GET"]),
            Route(f"{PREFIX}/jobs/{{id}}/result/{{output}}", output, methods=["GET"]),
        ],
        webhook=WebhookStyle(webhook_body, lambda secret, body: [
            ("X-Webhook-Signature", "sha256=" + hex_signature(secret, body))]),
        names=NAMES,
        operations=OPERATIONS,
    )
    return face

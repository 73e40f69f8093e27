"""Seed ``004``, sessionshot: ``/api/captures`` with ``Authorization: Bearer``.

The nested body (``output``, ``auth``, ``actions``, ``redaction``, ``metadata``) is checked
against the document's bounds, and any field it does not name is refused, then read as the flat
parameters it means (:func:`~screenshotd.params.shapes.flatten`). A capture's id is ``cap_``
and the job's id as a UUID; its status ``queued``, ``processing``, ``completed`` or ``failed``.
A completed capture's ``result.url`` is a signed link of ten minutes, minted again on each read.
Errors are ``{"error": {"code", "message"}}`` with the document's codes.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from screenshotd import errors
from screenshotd.core.jobs.records import Job, JobState, iso
from screenshotd.http.dialects import base
from screenshotd.http.dialects.base import (
    BOOLEAN,
    JSON,
    STRING,
    Face,
    Links,
    Operation,
    between,
    obj,
)
from screenshotd.http.routes import json_body
from screenshotd.params.shapes import flatten

PREFIX = "/api/captures"
STATES = base.LOWERCASE
#: How long a ``result.url`` opens.
LINK_S = 600
SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "set-cookie",
                               "host"})
#: Each action the document has: its fields and their bounds (None: a string).
ACTIONS: dict[str, dict[str, tuple[int, int] | None]] = {
    "waitForSelector": {"selector": None, "timeout": (1, 15000)},
    "click": {"selector": None},
    "type": {"selector": None, "text": (0, 1000)},
    "scroll": {"y": (0, 50000)},
    "wait": {"ms": (0, 10000)},
}
#: Failure codes as the document spells them.
FAILURES = {"TIMEOUT": ("NAVIGATION_TIMEOUT",
                        "Target page did not become ready within the time limit")}


def error_body(error: errors.ScreenshotError) -> tuple[int, dict[str, Any]]:
    status, code = _code(error)
    detail = {"code": code, "message": error.message}
    if error.field is not None and code == "VALIDATION_ERROR":
        detail["field"] = error.field
    return status, {"error": detail}


def _code(error: errors.ScreenshotError) -> tuple[int, str]:
    if isinstance(error, errors.ValidationError | errors.InvalidURL):
        return 400, "VALIDATION_ERROR"
    if isinstance(error, errors.Unauthorized):
        return 401, "UNAUTHENTICATED"
    if isinstance(error, errors.DomainNotAllowed | errors.Blocked):
        return 403, "DOMAIN_NOT_ALLOWED"
    if isinstance(error, errors.NotFound):
        return 404, "NOT_FOUND"
    if isinstance(error, errors.PayloadTooLarge):
        return 413, "PAYLOAD_TOO_LARGE"
    if isinstance(error, errors.RetryableError):  # a limit, a full queue: back off, retry
        return 429, "RATE_LIMITED"
    if error.status < 500:
        return 400, "VALIDATION_ERROR"
    return 500, "INTERNAL"


def check(body: dict[str, Any]) -> None:
    """The document's rules for the body, field by field; unknown fields are refused."""
    base.refuse_unknown(body, {"url", "output", "auth", "actions", "redaction", "metadata"})
    url = body.get("url")
    if not isinstance(url, str) or not url:
        raise errors.ValidationError("url is required", field="url")
    # The document asks for HTTPS; plain http is captured as safely (docs/compat.md).
    if not url.lower().startswith(("https://", "http://")):
        raise errors.ValidationError("url must be an https URL", field="url")
    output = body.get("output", {})
    base.expect(output, dict, "output", "an object")
    base.refuse_unknown(output, {"format", "fullPage", "width", "height", "quality"}, "output.")
    if output.get("format", "png") not in ("png", "jpeg", "pdf"):
        raise errors.ValidationError('output.format must be "png", "jpeg" or "pdf"',
                                     field="output.format")
    for name, lo, hi in (("width", 320, 3840), ("height", 240, 4320), ("quality", 1, 100)):
        if name in output:
            base.bounded(output[name], f"output.{name}", lo, hi)
    auth = body.get("auth", {})
    base.expect(auth, dict, "auth", "an object")
    base.refuse_unknown(auth, {"cookies", "localStorage", "headers"}, "auth.")
    for name in ("cookies", "localStorage"):
        if name in auth:
            items = base.expect(auth[name], list, f"auth.{name}", "an array")
            if len(items) > 50:
                raise errors.ValidationError(f"auth.{name} has at most 50 entries",
                                             field=f"auth.{name}")
    for index, entry in enumerate(auth.get("localStorage", [])):
        where = f"auth.localStorage.{index}"
        base.expect(entry, dict, where, "an object with key and value")
        base.refuse_unknown(entry, {"key", "value"}, f"{where}.")
    headers = auth.get("headers", {})
    base.expect(headers, dict, "auth.headers", "an object")
    if len(headers) > 20:
        raise errors.ValidationError("auth.headers has at most 20 keys", field="auth.headers")
    for name in headers:
        if name.lower() in SENSITIVE_HEADERS:
            raise errors.ValidationError(
                f"auth.headers may not set {name}: use auth.cookies, or leave it out",
                field="auth.headers")
    actions = body.get("actions", [])
    base.expect(actions, list, "actions", "an array")
    if len(actions) > 20:
        raise errors.ValidationError("actions has at most 20 steps", field="actions")
    for index, step in enumerate(actions):
        where = f"actions.{index}"
        base.expect(step, dict, where, "an object")
        kind = step.get("type")
        if not isinstance(kind, str) or kind not in ACTIONS:
            raise errors.ValidationError(f"{where}.type must be one of {', '.join(ACTIONS)}",
                                         field=f"{where}.type")
        base.refuse_unknown(step, {"type", *ACTIONS[kind]}, f"{where}.")
        for name, bounds in ACTIONS[kind].items():
            if name not in step:
                if name != "timeout":
                    raise errors.ValidationError(f"a {kind} step needs {name}",
                                                 field=f"{where}.{name}")
            elif bounds is None:
                base.expect(step[name], str, f"{where}.{name}", "a string")
            elif name == "text":
                base.expect(step[name], str, f"{where}.{name}", "a string")
                if len(step[name]) > bounds[1]:
                    raise errors.ValidationError(f"{where}.text is at most {bounds[1]} characters",
                                                 field=f"{where}.text")
            else:
                base.bounded(step[name], f"{where}.{name}", *bounds)
    redaction = body.get("redaction", {})
    base.expect(redaction, dict, "redaction", "an object")
    base.refuse_unknown(redaction, {"selectors", "mode"}, "redaction.")
    if len(base.expect(redaction.get("selectors", []), list, "redaction.selectors",
                       "an array")) > 50:
        raise errors.ValidationError("redaction.selectors has at most 50 selectors",
                                     field="redaction.selectors")
    if redaction.get("mode", "block") not in ("block", "blur"):
        raise errors.ValidationError('redaction.mode must be "block" or "blur"',
                                     field="redaction.mode")
    if "metadata" in body:
        base.expect(body["metadata"], dict, "metadata", "an object")


REQUEST = obj({
    "url": STRING,
    "output": obj({"format": {"enum": ["png", "jpeg", "pdf"]}, "fullPage": BOOLEAN,
                   "width": between(320, 3840), "height": between(240, 4320),
                   "quality": between(1, 100)}),
    "auth": obj({
        "cookies": {"type": "array", "maxItems": 50, "items": obj(
            {"name": STRING, "value": STRING, "domain": STRING, "path": STRING,
             "url": STRING, "expires": {"type": "number"}, "httpOnly": BOOLEAN,
             "secure": BOOLEAN, "sameSite": {"enum": ["Strict", "Lax", "None"]}},
            ("name", "value"))},
        "localStorage": {"type": "array", "maxItems": 50,
                         "items": obj({"key": STRING, "value": STRING}, ("key", "value"))},
        "headers": {"type": "object", "maxProperties": 20, "additionalProperties": STRING}}),
    "actions": {"type": "array", "maxItems": 20, "items": {"oneOf": [
        obj({"type": {"const": "waitForSelector"}, "selector": STRING,
             "timeout": between(1, 15000)}, ("type", "selector")),
        obj({"type": {"const": "click"}, "selector": STRING}, ("type", "selector")),
        obj({"type": {"const": "type"}, "selector": STRING,
             "text": {"type": "string", "maxLength": 1000}}, ("type", "selector", "text")),
        obj({"type": {"const": "scroll"}, "y": between(0, 50000)}, ("type", "y")),
        obj({"type": {"const": "wait"}, "ms": between(0, 10000)}, ("type", "ms"))]}},
    "redaction": obj({"selectors": {"type": "array", "maxItems": 50, "items": STRING},
                      "mode": {"enum": ["block", "blur"]}}),
    "metadata": {"type": "object", "description": "Your own JSON, at most 1 KB."}},
    ("url",))
OPERATIONS = (
    Operation("post", PREFIX, "Create a capture", body=REQUEST, answers={202: JSON}),
    Operation("get", f"{PREFIX}/{{id}}", "A capture's status, with a fresh signed result URL"),
)


def make(links: Links) -> Face:
    face: Face

    def status_url(job: Job) -> str:
        return f"{job.base_url}{PREFIX}/{face.public_id(job.id)}"

    async def create(request: Request) -> Response:
        body = await json_body(request)
        check(body)
        params = flatten(body)
        if "local_storage" in params:
            params["local_storage"] = {entry["key"]: entry["value"]
                                       for entry in params["local_storage"]}
        opts = base.parse(request, params)
        job = await base.submit(request, face, opts)
        answer: dict[str, Any] = {"id": face.public_id(job.id), "status": face.state(job),
                                  "createdAt": iso(job.created_at), "statusUrl": status_url(job)}
        if opts.client_metadata is not None:
            answer["metadata"] = opts.client_metadata
        return JSONResponse(answer, status_code=202)

    async def read(request: Request) -> Response:
        job = await base.find(request, face, request.path_params["id"], "capture id")
        answer: dict[str, Any] = {
            "id": face.public_id(job.id), "status": face.state(job),
            "createdAt": iso(job.created_at),
            "updatedAt": iso(job.completed_at or job.started_at or job.created_at)}
        result = base.result_of(job)
        if result is not None:
            answer["completedAt"] = iso(job.completed_at)
            expires = time.time() + LINK_S
            answer["result"] = {"url": links.job(job, expires), "expiresAt": iso(expires),
                                "format": result.format, "bytes": result.size,
                                "width": result.width, "height": result.height}
        elif job.error is not None:
            code, message = FAILURES.get(job.error.code, (job.error.code, job.error.message))
            answer["error"] = {"code": code, "message": message}
        elif job.status is JobState.CANCELLED:
            answer["error"] = {"code": "CANCELLED", "message": "the capture was cancelled"}
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    face = Face(
        name="004", title="sessionshot", prefixes=(PREFIX,), id_prefix="cap_", dashed=True,
        states=STATES, error_body=error_body,
        routes=[Route(PREFIX, create, methods=["POST"]),
                Route(f"{PREFIX}/{{id}}", read, methods=["GET"])],
        names={"full_page": "output.fullPage", "width": "output.width",
               "height": "output.height", "format": "output.format",
               "quality": "output.quality", "redact": "redaction.selectors",
               "redact_mode": "redaction.mode", "client_metadata": "metadata",
               "cookies": "auth.cookies", "local_storage": "auth.localStorage",
               "headers": "auth.headers"},
        operations=OPERATIONS,
    )
    return face

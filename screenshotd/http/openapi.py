"""The OpenAPI 3.1 document.

:func:`document` builds ``/openapi.json`` from the same definitions the code validates with:
the capture parameters from :class:`~screenshotd.params.capture.CaptureOptions` (names, types, bounds,
defaults, descriptions), the diff's from :class:`~screenshotd.params.diff.DiffParams`, and every
error status and code from the tree in :mod:`~screenshotd.errors`. It is built once per app.

:mod:`screenshotd.http.pages` serves it, with the pages that explain the API.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from screenshotd import errors
from screenshotd.http import openapi_monitors
from screenshotd.http.dialects import Faces, Links, reference
from screenshotd.http.openapi_params import (
    capture_body_schema,
    capture_defs,
    og_query,
    og_schema,
    plain_schema,
    query_parameters,
)
from screenshotd.http.openapi_tags import PATH_TAGS, TAGS, tag_paths
from screenshotd.params.diff import DiffParams
from screenshotd.settings import DIALECTS
from screenshotd.version import __version__

#: The formats a capture may answer with.
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "application/pdf", "video/mp4",
                "video/webm")
_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}



#: Capture options that take JSON in a query string (and structured JSON in a POST body).


def _error_responses(*statuses: int) -> dict[str, Any]:
    """The error tree's answers with these statuses, each listing its codes."""
    codes: dict[int, list[str]] = {}
    for cls in errors.ERROR_CLASSES:
        codes.setdefault(cls.status, []).append(cls.code)
    codes.setdefault(404, []).append("NOT_FOUND")
    codes.setdefault(405, []).append("METHOD_NOT_ALLOWED")
    out: dict[str, dict[str, Any]] = {}
    for status in sorted(set(statuses) | {400, 401, 403, 404, 405, 429, 500, 503}):
        names = sorted(set(codes.get(status, ["HTTP_ERROR"])))
        out[str(status)] = {
            "description": ", ".join(names),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    # uvicorn itself refuses a request it cannot parse (a request line over 64 KB, say) with a
    # plain-text 400 before the app sees it.
    out["400"]["description"] += "; or a plain-text 400 from the HTTP server for a request it "
    out["400"]["description"] += "cannot parse, such as a request line over 64 KB"
    out["400"]["content"]["text/plain"] = {"schema": {"type": "string"}}
    return out


def _json(schema: dict[str, Any] | str, description: str = "OK") -> dict[str, Any]:
    if isinstance(schema, str):
        schema = {"$ref": f"#/components/schemas/{schema}"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_CAPTURE_RESPONSES = {
    "200": {
        "description": "The image (response_type=image), or JSON describing it "
                       "(response_type=json; base64 adds data).",
        "content": {**{t: {"schema": {"type": "string", "format": "binary"}}
                       for t in _IMAGE_TYPES},
                    "application/json": {"schema": {"$ref": "#/components/schemas/Capture"}}},
    },
    "202": _json("JobAccepted", "async=true: the job was queued."),
    "304": {"description": "If-None-Match named this capture's ETag."},
}

_OBJECT = {"type": "object"}


_OG_RESPONSES = {
    **_CAPTURE_RESPONSES,
    "302": {"description": "redirect=true (the default for GET): Location is the image_url."},
}
_OG_RESPONSES.pop("202")


def _me_schema() -> dict[str, Any]:
    def obj(*names: str, nullable: bool = False) -> dict[str, Any]:
        schema = {"type": "object", "properties": {name: {} for name in names}}
        return {"anyOf": [schema, {"type": "null"}]} if nullable else schema

    return {"type": "object",
            "required": ["key", "rate_limit", "jobs", "quota", "usage", "concurrency"],
            "properties": {
                "key": obj("name", "domains", nullable=True),
                "rate_limit": obj("limit", "remaining", "reset_at", nullable=True),
                "jobs": obj("pending", "max_pending"),
                "quota": obj("monthly_quota", "monthly_used", "monthly_remaining", "reset_at",
                             nullable=True),
                "usage": obj("renders_today", "renders_month", "hits_month", nullable=True),
                "concurrency": obj("max_concurrent", "in_use", "slots")}}


def _components() -> dict[str, Any]:
    return {
        "schemas": {
            **capture_defs(),
            "CaptureRequest": capture_body_schema(),
            "Me": _me_schema(),
            "OgImageRequest": og_schema(),
            "Error": {
                "type": "object", "required": ["error", "message"],
                "properties": {
                    "error": {"type": "string", "enum": sorted(
                        {c.code for c in errors.ERROR_CLASSES}
                        | {"NOT_FOUND", "METHOD_NOT_ALLOWED", "HTTP_ERROR"})},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                    "retry_after": {"type": "integer", "minimum": 1},
                    "request_id": {"type": "string"},
                },
            },
            "Capture": {
                "type": "object",
                "required": ["format", "content_type", "size", "cached", "cache_key"],
                "properties": {
                    "url": {"type": ["string", "null"]},
                    "format": {"type": "string"}, "content_type": {"type": "string"},
                    "width": {"type": ["integer", "null"]},
                    "height": {"type": ["integer", "null"]},
                    "size": {"type": "integer"}, "render_time_ms": {"type": "integer"},
                    "cached": {"type": "boolean"}, "cache_key": {"type": "string"},
                    "image_url": {"type": ["string", "null"]}, "truncated": {"type": "boolean"},
                    "stable": {"type": "boolean", "description": "wait_for_stable: whether "
                               "the page stopped moving before the shot (X-Stable)."},
                    "blocked_requests": {"type": "integer"}, "blocked": _OBJECT,
                    "content": {"type": "string"}, "metadata": _OBJECT,
                    "data": {"type": "string", "description": "base64 (response_type=base64)"},
                },
            },
            "JobAccepted": {
                "type": "object", "required": ["job_id", "status", "status_url"],
                "properties": {"job_id": {"type": "string"}, "status": {"type": "string"},
                               "status_url": {"type": "string"},
                               "created_at": {"type": "string"}},
            },
            "Job": {
                "type": "object", "required": ["id", "status"],
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": ["queued", "processing", "completed",
                                                          "failed", "cancelled", "expired"]},
                    "url": {"type": ["string", "null"]},
                    "result_url": {"type": ["string", "null"]},
                    "error": {"type": ["object", "null"]},
                    "metadata": {"type": ["object", "null"]},
                    "outputs": {"type": ["object", "null"], "additionalProperties": {
                        "type": "object", "properties": {
                            "content_type": {"type": "string"},
                            "size": {"type": ["integer", "null"]},
                            "result_url": {"type": "string"},
                            "storage_url": {"type": ["string", "null"]},
                            "signed_url": {"type": "string"}}}},
                    "result_id": {"type": ["string", "null"]},
                    "storage_url": {"type": ["string", "null"]},
                    "signed_url": {"type": "string"},
                    "storage_error": {"type": "string"},
                },
            },
            "JobList": {"type": "object", "required": ["jobs"],
                        "properties": {"jobs": {"type": "array",
                                                "items": {"$ref": "#/components/schemas/Job"}}}},
            "Batch": {
                "type": "object", "required": ["batch_id"],
                "properties": {"batch_id": {"type": "string"}, "status": {"type": "string"},
                               "total": {"type": "integer"}, "jobs": {"type": "array"},
                               "results": {"type": "array"}, "poll_url": {"type": "string"}},
            },
            "BatchRequest": {
                "type": "object",
                "description": '{"urls": [...], ...shared parameters} or {"requests": '
                               '[{...}, ...]}, up to 50 items; async: true answers 202.',
                "properties": {
                    "urls": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                             "maxItems": 50},
                    "requests": {"type": "array", "minItems": 1, "maxItems": 50,
                                 "items": {"$ref": "#/components/schemas/CaptureRequest"}},
                    "async": {"type": "boolean"},
                    "response_type": {"type": "string", "enum": [
                        "base64", "json", "paths", "image_urls"], "default": "base64",
                        "description": "For the whole batch: each item's data, its description "
                                       "alone, its stored object's name, or an image URL."},
                },
            },
            "Diff": {
                "type": "object", "required": ["changed_pixels", "total_pixels"],
                "properties": {"changed_pixels": {"type": "integer"},
                               "total_pixels": {"type": "integer"},
                               "diff_percent": {"type": "number"},
                               "width": {"type": "integer"}, "height": {"type": "integer"},
                               "diff_key": {"type": "string"},
                               "image_url": {"type": ["string", "null"]}},
            },
            "DiffRequest": {
                "type": "object",
                "description": "Each side from exactly one source: image1/image2 (base64), "
                               "job_id_1/job_id_2, cache_key_1/cache_key_2 or before/after "
                               "(URLs, captured with any capture parameter).",
                "properties": {
                    **{name: {"type": "string", "description": text}
                       for name, text in _DIFF_SOURCES.items()},
                    **diff_properties(),
                },
            },
            "JobEvent": {
                "type": "object", "required": ["event", "data"],
                "description": "One Server-Sent Event; data is the job (or its id and status) "
                               "as JSON.",
                "properties": {"event": {"type": "string", "enum": [
                    "connected", "heartbeat", "completed", "failed", "timeout"]},
                    "data": {"type": "string"}},
            },
            "Health": {"type": "object", "required": ["status"],
                       "properties": {"status": {"type": "string", "enum": ["ok", "degraded"]}}},
        },
        "securitySchemes": {
            "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            "Bearer": {"type": "http", "scheme": "bearer"},
            "ApiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"},
        },
    }


_DIFF_SOURCES = {
    "image1": "The first image, base64 (a data: URL is fine); or a multipart file.",
    "image2": "The second image, likewise.",
    "job_id_1": "A finished job whose capture is the first image.",
    "job_id_2": "A finished job whose capture is the second image.",
    "cache_key_1": "A stored capture (its cache_key) as the first image.",
    "cache_key_2": "A stored capture as the second image.",
    "before": "A page to capture as the first image (PNG, with any capture parameter).",
    "after": "A page to capture as the second image.",
}


def diff_properties() -> dict[str, dict[str, Any]]:
    """The diff's own parameters, from :class:`~screenshotd.params.diff.DiffParams`: colours
    as the strings a query carries, with their defaults written the same way."""
    properties = {}
    for name, prop in DiffParams.model_json_schema()["properties"].items():
        schema = plain_schema(prop)
        if isinstance(schema.get("default"), list):
            schema["default"] = ",".join(map(str, schema["default"]))
        properties[name] = schema
    return properties


def _diff_query() -> list[dict[str, Any]]:
    params = [{"name": name, "in": "query", "required": True, "schema": {"type": "string"},
               "description": _DIFF_SOURCES[name]} for name in ("before", "after")]
    for name, prop in diff_properties().items():
        schema = dict(prop)
        description = schema.pop("description", "")
        params.append({"name": name, "in": "query", "required": False, "schema": schema,
                       **({"description": description} if description else {})})
    return params


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": dict(_ID)}


@cache
def document(dialects: tuple[str, ...] = DIALECTS) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    capture_query = query_parameters(exclude=frozenset({"async"})) + [
        {"name": "async", "in": "query", "schema": {"type": "boolean", "default": False},
         "description": "Queue a job and answer 202."},
        {"name": "signature", "in": "query", "schema": {"type": "string"},
         "description": "A signed URL's HMAC-SHA256 (see `screenshotd sign`)."},
        {"name": "expires", "in": "query", "schema": {"type": "integer"},
         "description": "A signed URL's expiry, in Unix seconds (signed with the rest)."},
    ]
    diff_responses = {
        "200": {"description": "The diff image, or its JSON.", "content": {
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/Diff"}}}},
        "304": {"description": "Not modified."},
        **_error_responses(408, 409, 413, 422, 502),
    }
    image_any: dict[str, Any] = {"description": "The image, diff or result.",
                 "content": {t: {"schema": {"type": "string", "format": "binary"}}
                             for t in _IMAGE_TYPES}}
    paths: dict[str, Any] = {
        "/screenshot": {
            "get": {"summary": "Capture a page", "operationId": "screenshotGet",
                    "parameters": capture_query,
                    "responses": {**_CAPTURE_RESPONSES, **_error_responses(408, 413, 422, 502)}},
            "post": {"summary": "Capture a page (JSON body)", "operationId": "screenshotPost",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/CaptureRequest"}}}},
                     "responses": {**_CAPTURE_RESPONSES, **_error_responses(408, 413, 422, 502)}},
        },
        "/video": {
            "get": {"summary": "Record a page as a video (format mp4, the default, or webm)",
                    "operationId": "videoGet", "parameters": capture_query,
                    "responses": {**_CAPTURE_RESPONSES, **_error_responses(408, 413, 422, 502)}},
            "post": {"summary": "Record a page as a video (JSON body)", "operationId": "videoPost",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/CaptureRequest"}}}},
                     "responses": {**_CAPTURE_RESPONSES, **_error_responses(408, 413, 422, 502)}},
        },
        "/images/{name}": {"get": {
            "summary": "A cached capture by its key", "operationId": "image",
            "parameters": [{"name": "name", "in": "path", "required": True,
                            "schema": {"type": "string"},
                            "description": "<64 hex digits>.<png|jpg|webp|pdf|mp4|webm>"}],
            "responses": {"200": image_any, "304": {"description": "Not modified."},
                          **_error_responses()}}},
        "/batch": {"post": {
            "summary": "Up to 50 captures in one call", "operationId": "batch",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/BatchRequest"}}}},
            "responses": {"200": _json("Batch"), "202": _json("Batch", "Queued (async)."),
                          **_error_responses(413)}}},
        "/batch/{batch_id}": {"get": {
            "summary": "An async batch's status", "operationId": "batchStatus",
            "parameters": [_path_id("batch_id")],
            "responses": {"200": _json("Batch"), **_error_responses()}}},
        "/jobs": {"get": {
            "summary": "Your jobs", "operationId": "listJobs",
            "parameters": [
                {"name": "status", "in": "query", "schema": {"type": "string"}},
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {"name": "per_page", "in": "query",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
            "responses": {"200": _json("JobList"), **_error_responses()}}},
        "/jobs/{job_id}": {
            "get": {"summary": "A job's status", "operationId": "jobStatus",
                    "parameters": [_path_id("job_id")],
                    "responses": {"200": _json("Job"), **_error_responses()}},
            "delete": {"summary": "Cancel a queued or running job", "operationId": "cancelJob",
                       "parameters": [_path_id("job_id")],
                       "responses": {"200": _json("Job"), **_error_responses(409)}}},
        "/jobs/{job_id}/result": {"get": {
            "summary": "A finished job's image", "operationId": "jobResult",
            "parameters": [_path_id("job_id")],
            "responses": {"200": image_any, **_error_responses(409, 408, 422)}}},
        "/jobs/{job_id}/result/{output}": {"get": {
            "summary": "A finished job's screenshot, content or metadata",
            "operationId": "jobOutput",
            "parameters": [_path_id("job_id"), {
                "name": "output", "in": "path", "required": True,
                "schema": {"type": "string", "enum": [
                    "screenshot", "content", "markdown", "html", "text", "metadata"]}}],
            "responses": {"200": {"description": "The output.", "content": {
                **image_any["content"], "application/json": {"schema": _OBJECT},
                "text/markdown": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}}}},
                **_error_responses(409, 408, 422)}}},
        "/results/{result_id}/{output}": {"get": {
            "summary": "A stored result (STORAGE_TYPE): to its owner, or with a signed link",
            "operationId": "storedResult",
            "parameters": [
                {"name": "result_id", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": "^[0-9a-f]{1,10}-[A-Za-z0-9_-]{22}$"}},
                {"name": "output", "in": "path", "required": True, "schema": {
                    "type": "string",
                    "enum": ["screenshot", "markdown", "html", "text", "metadata"]}},
                {"name": "expires", "in": "query", "schema": {"type": "integer"},
                 "description": "A signed link's expiry (Unix seconds)."},
                {"name": "signature", "in": "query", "schema": {"type": "string"},
                 "description": "A signed link's signature: no key is needed with it."}],
            "responses": {"200": {"description": "The output.", "content": {
                **image_any["content"], "application/json": {"schema": _OBJECT},
                "text/markdown": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}}}},
                "304": {"description": "Not modified."}, **_error_responses()}}},
        "/jobs/{job_id}/events": {"get": {
            "summary": "Server-Sent Events: connected, heartbeat, completed, failed, timeout",
            "operationId": "jobEvents", "parameters": [
                _path_id("job_id"),
                {"name": "key", "in": "query", "schema": {"type": "string"},
                 "description": "The API key, for EventSource, which cannot send headers."}],
            "responses": {"200": {"description": "An event stream.",
                                  "content": {"text/event-stream": {"schema": {
                                      "$ref": "#/components/schemas/JobEvent"}}}},
                          **_error_responses()}}},
        "/diff": {
            "get": {"summary": "Pixel diff of two pages", "operationId": "diffGet",
                    "parameters": _diff_query(),
                    "responses": diff_responses},
            "post": {"summary": "Pixel diff of two images, jobs, cache keys or pages",
                     "operationId": "diffPost",
                     "requestBody": {"required": True, "content": {
                         "application/json": {"schema": {
                             "$ref": "#/components/schemas/DiffRequest"}},
                         "multipart/form-data": {"schema": {"type": "object", "properties": {
                             "image1": {"type": "string", "format": "binary"},
                             "image2": {"type": "string", "format": "binary"}}}}}},
                     "responses": diff_responses}},
        "/og-image": {
            "get": {"summary": "An Open Graph image from a template (302 to it by default)",
                    "operationId": "ogImageGet", "parameters": og_query(),
                    "responses": {**_OG_RESPONSES, **_error_responses(422, 502)}},
            "post": {"summary": "An Open Graph image from a template",
                     "operationId": "ogImagePost",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/OgImageRequest"}}}},
                     "responses": {**_OG_RESPONSES, **_error_responses(422, 502)}}},
        "/me": {"get": {"summary": "Who the caller is: its key, rate limit, quota and usage",
                        "operationId": "me",
                        "responses": {"200": _json("Me"), **_error_responses()}}},
        "/health": {"get": {"summary": "Liveness and readiness; needs no key",
                            "operationId": "health", "security": [],
                            "responses": {"200": _json("Health"),
                                          "503": _json("Health", "Not ready.")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "operationId": "metrics",
                             "responses": {"200": {"description": "Prometheus text format.",
                                                   "content": {"text/plain": {"schema": {
                                                       "type": "string"}}}},
                                           **_error_responses()}}},
    }
    paths.update(openapi_monitors.paths(_error_responses, _json))
    faces = Faces(dialects, Links()).faces
    face_groups: tuple[tuple[str, str], ...] = ()
    if faces:
        paths.update(reference.paths(faces))
        paths["/links/{name}"] = reference.link_path()
        face_groups = (("/links/", "Results"),
                       *((prefix, face.tag) for face in faces for prefix in face.prefixes))
    tag_paths(paths, (*PATH_TAGS, *face_groups))
    return {
        "openapi": "3.1.0",
        "info": {"title": "screenshotd", "version": __version__,
                 "description": "A self-hosted screenshot service. With API_KEYS set, send a "
                                "key as X-Api-Key, Authorization: Bearer or ?api_key=; a "
                                "signed URL (signature=) needs none."},
        "tags": [{"name": name, "description": text} for name, text in TAGS] + [
            {"name": face.tag, "description": f"Seed {face.name}'s API as its own clients "
             "call it: its paths, bodies, answers and errors (docs/compat.md)."}
            for face in faces],
        "paths": paths,
        "components": _components(),
        "security": [{"ApiKeyHeader": []}, {"Bearer": []}, {"ApiKeyQuery": []}, {}],
    }

"""Thin handlers: HTTP in, a service call, HTTP out."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from screenshotd import errors
from screenshotd.auth.callers import Caller
from screenshotd.auth.gatekeeper import caller_of
from screenshotd.core.jobs.records import iso
from screenshotd.core.results import CaptureResult, StoredImage
from screenshotd.core.service import ScreenshotService
from screenshotd.params.capture import CaptureOptions
from screenshotd.params.shapes import flatten
from screenshotd.params.values import decode_json
from screenshotd.version import __version__

#: Largest POST body: 2 MB of HTML, base64-encoded, plus the other options.
MAX_BODY_BYTES = 4 * 1024 * 1024
#: Images up to this size are base64-encoded (or decoded) on the event loop, and JSON bodies up
#: to it parsed there; larger ones in a thread.
INLINE_ENCODE_BYTES = 256 * 1024

T = TypeVar("T")


def _service(request: Request) -> ScreenshotService:
    service: ScreenshotService = request.app.state.service
    return service


async def screenshot(request: Request) -> Response:
    service = _service(request)
    if request.method in ("GET", "HEAD"):
        raw_query: bytes = request.scope["query_string"]
        opts = service.parsed(raw_query) or service.parse(query_params(request), memo=raw_query)
    else:
        opts = service.parse(flatten(await json_body(request)))
    return await answer(request, opts)


async def answer(request: Request, opts: CaptureOptions) -> Response:
    """A capture (or video) request, parsed: a job for ``async``, a 304, or the capture
    answered as ``response_type`` says."""
    service = _service(request)
    request.scope["state"]["target"] = opts.url
    who = caller(request)
    if opts.async_:
        return await submit_job(request, opts)
    key = opts.cache_key()
    if opts.cache and etag_matches(request.headers.get("if-none-match"), key):
        stored = await service.cached(opts, who)
        if stored is not None:
            return not_modified(key, stored.ttl, stored.age())
    result = await service.screenshot(opts, who)
    if result.cached:
        who.count_hit()
    url = image_url(request, result) if opts.response_type != "image" else None
    kept = await store(request, service, result, opts, who) if opts.store or opts.signed_link \
        else None
    return await render(result, opts, url, kept)


async def store(request: Request, service: ScreenshotService, result: CaptureResult,
                opts: CaptureOptions, who: Caller) -> dict[str, Any]:
    """``store=true``: keep the capture in the result storage. A store that fails does not
    fail the capture: the answer says why in ``storage_error``."""
    try:
        return await service.store(result, who.id, opts, base_url(request))
    except errors.StorageUnavailable as exc:
        return {"storage_error": exc.message}


def caller(request: Request) -> Caller:
    """Who a request acts for, as the gatekeeper decided (:func:`caller_of`)."""
    return caller_of(request.scope)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def submit_job(request: Request, opts: CaptureOptions) -> Response:
    """``async=true``: the job manager admits and queues it; answer 202."""
    job = await request.app.state.jobs.submit(caller(request), opts, base_url(request))
    body = {"job_id": job.id, "status": job.status.value, "status_url": job.status_url,
            "created_at": iso(job.created_at)}
    return JSONResponse(body, status_code=202, headers={"Location": job.status_url})


async def image(request: Request) -> Response:
    """``GET /images/{key}.{ext}``: a cached capture by its key, with the same cache headers."""
    key, fmt = image_name(request.path_params["name"])
    service = _service(request)
    who = caller(request)
    if etag_matches(request.headers.get("if-none-match"), key):
        stored = await service.lookup(key, who, head=True)
        if stored is not None and stored.format == fmt:
            return not_modified(key, stored.ttl, stored.age)
    result = await service.lookup(key, who)
    if result is None:
        raise errors.NotFound(f"no cached image with key {key}; it may have expired")
    if result.format != fmt:
        wanted = "jpg" if result.format == "jpeg" else result.format
        raise errors.NotFound(f"the image with key {key} is a {result.format}: use .{wanted}")
    return Response(result.data, media_type=result.content_type, headers=stored_headers(result))


def image_name(name: str) -> tuple[str, str]:
    """``<key>.<ext>`` as (key, format), or NOT_FOUND for a name no image can have."""
    key, _, ext = name.partition(".")
    if not _KEY.fullmatch(key) or ext not in _FORMAT_OF_EXTENSION:
        raise errors.NotFound(
            f"{name!r} is not an image name: expected <64 hex digits>.<png|jpg|webp|pdf|mp4|webm>"
        )
    return key, _FORMAT_OF_EXTENSION[ext]


_KEY = re.compile(r"[0-9a-f]{64}")
_FORMAT_OF_EXTENSION = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp", "pdf": "pdf",
                        "mp4": "mp4", "webm": "webm"}


def etag_matches(header: str | None, key: str) -> bool:
    """Whether an ``If-None-Match`` value names this key (weak comparison, as RFC 9110 asks)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == f'"{key}"':
            return True
    return False


def http_cache_headers(key: str, ttl: int, *, cached: bool, age: int = 0,
                       render_time_ms: int | None = None,
                       truncated: bool = False) -> dict[str, str]:
    """The headers of every cacheable answer (a capture, a 304, a diff): the key as its ETag,
    whether it came from the cache, how long it may be kept, and its age on a hit."""
    headers = {
        "ETag": f'"{key}"',
        "X-Cache": "HIT" if cached else "MISS",
        "Cache-Control": f"public, max-age={ttl}",
    }
    if render_time_ms is not None:
        headers["X-Render-Time-Ms"] = str(render_time_ms)
    if cached:
        headers["Age"] = str(age)
    if truncated:
        headers["X-Screenshot-Truncated"] = "true"
    return headers


def cache_headers(result: CaptureResult) -> dict[str, str]:
    """A capture's headers (the route and the hit path send the same)."""
    headers = http_cache_headers(result.cache_key, result.ttl, cached=result.cached,
                                 age=result.age, render_time_ms=result.render_time_ms,
                                 truncated=result.truncated)
    if result.stable is not None:
        headers["X-Stable"] = "true" if result.stable else "false"
    return headers


def stored_headers(image: StoredImage) -> dict[str, str]:
    """A stored image's headers (``/images``, on the route and the hit path)."""
    return http_cache_headers(image.key, image.ttl, cached=True, age=image.age,
                              render_time_ms=0, truncated=image.truncated)


def not_modified_headers(key: str, ttl: int, age: int) -> dict[str, str]:
    """A 304's headers: what guides a cache (RFC 9110, 15.4.5): the ETag, Cache-Control and
    Age. Nothing that describes the bytes, which a 304 does not send."""
    return {"ETag": f'"{key}"', "Cache-Control": f"public, max-age={ttl}", "Age": str(age)}


async def in_thread_if_large(size: int, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``: on the event loop for a small input, in a worker thread past
    :data:`INLINE_ENCODE_BYTES` (JSON, base64 and decoding cost milliseconds per megabyte)."""
    if size > INLINE_ENCODE_BYTES:
        return await asyncio.to_thread(fn, *args)
    return fn(*args)


def not_modified(key: str, ttl: int, age: int) -> Response:
    return Response(status_code=304, headers=not_modified_headers(key, ttl, age))


def image_url(request: Request, result: CaptureResult) -> str | None:
    """The absolute URL of the stored capture, or None when it was not stored."""
    return stored_url(request, result.cache_key, result.format) if result.stored else None


def stored_url(request: Request, key: str, fmt: str) -> str:
    """``/images/{key}.{ext}``, absolute."""
    ext = "jpg" if fmt == "jpeg" else fmt
    return f"{base_url(request)}/images/{key}.{ext}"


def query_params(request: Request) -> dict[str, str]:
    """The query as a flat mapping; a name given twice is ambiguous, so it is an error."""
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in params:
            raise errors.ValidationError(f"{name} is given more than once", field=name)
        params[name] = value
    return params


async def json_body(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The POST body as a JSON object, read with a size bound."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if content_type not in ("application/json", ""):
        raise errors.ValidationError(
            f"the body must be application/json, not {content_type}", field="body"
        )
    data = await read_body(request, limit)
    try:
        body = await in_thread_if_large(len(data), decode_json, data or b"{}")
    except ValueError as exc:  # invalid JSON or UTF-8, too deep, NaN, a number too long
        raise errors.ValidationError(f"the body is not valid JSON: {exc}", field="body") from None
    if not isinstance(body, dict):
        raise errors.ValidationError("the body must be a JSON object", field="body")
    return body


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or PAYLOAD_TOO_LARGE as soon as it is known to be over ``limit``."""
    too_large = errors.PayloadTooLarge(f"the body is over {limit // (1024 * 1024)} MB")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def render(
    result: CaptureResult, opts: CaptureOptions, image_url: str | None = None,
    stored: dict[str, Any] | None = None,
) -> Response:
    headers = cache_headers(result)
    if stored is not None:
        headers.update(stored_result_headers(stored))
    if opts.response_type == "image":
        if opts.download:
            headers["Content-Disposition"] = f'attachment; filename="{download_name(opts)}"'
        return Response(result.data, media_type=result.content_type, headers=headers)
    body = describe(result, image_url)
    if stored is not None:
        body.update(stored_fields(stored))
    if opts.response_type == "json":
        return JSONResponse(body, headers=headers)
    payload = await in_thread_if_large(result.size, base64_json, body, result.data)
    return Response(payload, media_type="application/json", headers=headers)


def base64_json(body: dict[str, Any], data: bytes) -> bytes:
    body["data"] = base64.b64encode(data).decode("ascii")
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def describe(result: CaptureResult, image_url: str | None = None) -> dict[str, Any]:
    """The JSON description of a capture (without the bytes)."""
    return {
        "url": result.url,
        "format": result.format,
        "content_type": result.content_type,
        "width": result.width,
        "height": result.height,
        "size": result.size,
        "render_time_ms": result.render_time_ms,
        "cached": result.cached,
        "cache_key": result.cache_key,
        "image_url": image_url,
        "truncated": result.truncated,
        **({"stable": result.stable} if result.stable is not None else {}),
        "blocked_requests": result.blocked_requests,
        "blocked": result.blocked,
        **({"content": result.content} if result.content is not None else {}),
        **({"contents": result.contents} if result.contents and (
            result.content is None or len(result.contents) > 1) else {}),
        **({"metadata": result.metadata} if result.metadata is not None else {}),
    }


def stored_fields(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored capture in a JSON answer: ``result_id``, ``result_url``, ``storage_url``,
    ``signed_url`` (when asked) and ``outputs``; or ``storage_error``."""
    if "storage_error" in stored:
        return {"result_id": None, "storage_url": None, "storage_error": stored["storage_error"]}
    shot = stored["outputs"]["screenshot"]
    fields = {"result_id": stored["result_id"], "result_url": shot["result_url"],
              "storage_url": shot["storage_url"], "expires_at": iso(stored["expires_at"]),
              "outputs": stored["outputs"]}
    if "signed_url" in shot:
        fields["signed_url"] = shot["signed_url"]
    return fields


def stored_result_headers(stored: dict[str, Any]) -> dict[str, str]:
    """A stored capture answered as bytes: where it is kept, or why it is not."""
    if "storage_error" in stored:
        return {"X-Storage-Error": stored["storage_error"][:200]}
    shot = stored["outputs"]["screenshot"]
    headers = {"X-Result-Id": stored["result_id"], "X-Result-Url": shot["result_url"]}
    if "signed_url" in shot:
        headers["X-Signed-Url"] = shot["signed_url"]
    return headers


def download_name(opts: CaptureOptions) -> str:
    """A safe file name made from the URL: ``example.com-docs.png``."""
    if opts.url:
        parts = urlsplit(opts.url)
        stem = (parts.hostname or "page") + parts.path
    else:
        stem = "page"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "page"
    return f"{stem[:100]}.{opts.extension}"


async def health(request: Request) -> Response:
    service = _service(request)
    report = service.health()
    jobs = report["jobs"] = request.app.state.jobs.health()
    report["diff"] = request.app.state.diffs.health()
    report["auth"] = request.app.state.gatekeeper.health()
    ok = (report["browser"]["connected"] and report["cache"]["state"] == "ok"
          and report["storage"]["state"] in ("ok", "off") and jobs.get("redis", "ok") == "ok")
    report = {"status": "ok" if ok else "degraded", "version": __version__,
              "replica_id": jobs["replica_id"], "replicas": jobs["replicas"], **report}
    return JSONResponse(report, status_code=200 if report["pool"]["state"] == "open" else 503)


routes = [
    Route("/screenshot", screenshot, methods=["GET", "POST"]),
    Route("/images/{name}", image, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
]

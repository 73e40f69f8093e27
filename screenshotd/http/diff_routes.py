"""``GET /diff`` and ``POST /diff``: gather two images, diff them, answer.

Each side of a diff comes from exactly one place:

==========  ============  ===============  ===============
side        upload        earlier work     a page
==========  ============  ===============  ===============
first       ``image1``    ``job_id_1``,    ``before``
                          ``cache_key_1``
second      ``image2``    ``job_id_2``,    ``after``
                          ``cache_key_2``
==========  ============  ===============  ===============

Pages are captured as PNG through :class:`~screenshotd.core.service.ScreenshotService` (so the
guard, the cache and the pool apply), both at once, with the capture parameters the request
carries besides the diff's own. Uploads come as base64 in JSON (a ``data:`` URL is fine) or as
multipart files. The diff itself is :class:`~screenshotd.core.diffs.DiffService`'s.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import re
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from screenshotd import errors
from screenshotd.core.diffs import DiffOutcome, DiffService
from screenshotd.core.results import CaptureResult, StoredImage
from screenshotd.core.service import ScreenshotService
from screenshotd.http.job_routes import finished_result
from screenshotd.http.routes import (
    INLINE_ENCODE_BYTES,
    base64_json,
    base_url,
    caller,
    etag_matches,
    http_cache_headers,
    image_url,
    in_thread_if_large,
    json_body,
    not_modified_headers,
    query_params,
    read_body,
    stored_url,
)
from screenshotd.params.capture import CaptureOptions
from screenshotd.params.diff import DiffRequest, parse_diff_request
from screenshotd.params.video import VIDEO_FORMATS

#: Largest POST body: two full-page captures, base64-encoded.
MAX_DIFF_BODY_BYTES = 64 * 1024 * 1024

_KEY = re.compile(r"[0-9a-f]{64}")
_ID = re.compile(r"[0-9a-f]{32}")
_DATA_URL = re.compile(r"^data:[\w/+.-]*(;[\w=.-]+)*;base64,", re.IGNORECASE)


@dataclass
class Side:
    """One image of the pair, gathered: its bytes and what the JSON says of its source."""

    data: bytes
    field: str
    source: dict[str, Any]


# --------------------------------------------------------------------------- gathering


async def gather(request: Request, req: DiffRequest) -> tuple[Side, Side]:
    """Both images' bytes. Pages are checked at the door first, then captured at once."""
    service: ScreenshotService = request.app.state.service
    pages = {kind: _capture_options(service, req, kind, value)
             for kind, value in req.sources if kind in ("before", "after")}
    await service.admit(caller(request), list(pages.values()), fields=list(pages))
    first, second = await asyncio.gather(
        *(_side(request, kind, value, pages.get(kind)) for kind, value in req.sources)
    )
    return first, second


def _capture_options(service: ScreenshotService, req: DiffRequest, kind: str,
                     url: Any) -> CaptureOptions:
    if not isinstance(url, str):
        raise errors.ValidationError(f"{kind} must be a URL", field=kind)
    try:
        return service.parse({**req.capture, "url": url, "format": "png"})
    except errors.InvalidURL as exc:
        raise errors.InvalidURL(f"{kind}: {exc.message}", field=kind) from None


async def _side(request: Request, kind: str, value: Any, opts: CaptureOptions | None) -> Side:
    if opts is not None:
        return await _page(request, kind, opts)
    if kind.startswith("image"):
        size = len(value) if isinstance(value, str) else 0
        data = await in_thread_if_large(size, _upload_bytes, kind, value)
        return Side(data, kind, {"source": "upload", "bytes": None})
    if kind.startswith("job_id"):
        return _from_result(request, kind, await _job_result(request, kind, value),
                            {"source": "job", "job_id": value})
    image = await _keyed_image(request, kind, value)
    return _image_side(kind, image.data, image.format, {
        "source": "cache_key", "cache_key": image.key, "cached": True,
        "image_url": stored_url(request, image.key, image.format)})


async def _page(request: Request, kind: str, opts: CaptureOptions) -> Side:
    service: ScreenshotService = request.app.state.service
    try:
        result = await service.screenshot(opts, caller(request))
    except errors.ScreenshotError as exc:
        named = copy.copy(exc)  # the flight's error is shared with its other waiters
        named.message = f"{kind}: {exc.message}"
        named.args = (named.message,)
        named.field = exc.field or kind
        raise named from None
    return _from_result(request, kind, result, {"source": "url", "url": opts.url})


def _from_result(request: Request, kind: str, result: CaptureResult,
                 source: dict[str, Any]) -> Side:
    source.update(cache_key=result.cache_key, cached=result.cached,
                  image_url=image_url(request, result))
    return _image_side(kind, result.data, result.format, source)


def _image_side(kind: str, data: bytes, fmt: str, source: dict[str, Any]) -> Side:
    if fmt == "pdf" or fmt in VIDEO_FORMATS:
        what = "a PDF" if fmt == "pdf" else "a video"
        raise errors.ValidationError(f"{kind} names {what}, which cannot be diffed", field=kind)
    return Side(data, kind, source)


def _upload_bytes(kind: str, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise errors.ValidationError(f"{kind} must be a base64 string or a file", field=kind)
    text = "".join(_DATA_URL.sub("", value.strip(), count=1).split())  # line breaks are fine
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise errors.ValidationError(f"{kind} is not valid base64", field=kind) from None


async def _job_result(request: Request, kind: str, job_id: Any) -> CaptureResult:
    if not isinstance(job_id, str) or not _ID.fullmatch(job_id):
        raise errors.ValidationError(f"{kind} is not a job id", field=kind)
    job = await request.app.state.jobs.fetch(caller(request).id, job_id)
    try:
        return finished_result(job)
    except errors.ScreenshotError as exc:
        if isinstance(exc, errors.NotReady | errors.JobCancelled):
            exc.field = kind
            raise
        raise errors.ValidationError(f"{kind}: job {job_id} failed ({exc.code}: {exc.message})",
                                     field=kind) from None


async def _keyed_image(request: Request, kind: str, key: Any) -> StoredImage:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise errors.ValidationError(f"{kind} must be a cache key: 64 hex digits", field=kind)
    service: ScreenshotService = request.app.state.service
    result = await service.lookup(key, caller(request))
    if result is None:
        raise errors.NotFound(f"{kind}: no cached image with key {key}; it may have expired",
                              field=kind)
    return result


# --------------------------------------------------------------------------- handlers


async def diff(request: Request) -> Response:
    """``GET /diff?before=&after=`` and ``POST /diff`` (JSON or multipart)."""
    if request.method in ("GET", "HEAD"):
        params: Mapping[str, Any] = query_params(request)
        uploads: list[UploadFile] = []
    else:
        params, uploads = await _post_params(request)
    try:
        req = parse_diff_request(params)
        first, second = await gather(request, req)
    finally:
        for upload in uploads:
            await upload.close()
    diffs: DiffService = request.app.state.diffs
    service: ScreenshotService = request.app.state.service
    ttl = req.cache_ttl or service.settings.cache_ttl_seconds
    key = await diffs.key(first.data, second.data, req.options)
    if req.use_cache and etag_matches(request.headers.get("if-none-match"), key):
        entry = await diffs.stored(key)
        if entry is not None:
            return Response(status_code=304,
                            headers=not_modified_headers(key, entry.ttl, entry.age()))
    outcome = await diffs.diff(first.data, second.data, req.options, ttl=ttl,
                               use_cache=req.use_cache, key=key,
                               fields=(first.field, second.field))
    return await _answer(request, req, outcome, first, second)


async def _post_params(request: Request) -> tuple[dict[str, Any], list[UploadFile]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        return await json_body(request, MAX_DIFF_BODY_BYTES), []
    body = await read_body(request, MAX_DIFF_BODY_BYTES)

    async def stream() -> AsyncGenerator[bytes, None]:
        # In slices, so that other requests get a turn while a large body is parsed.
        for start in range(0, len(body), INLINE_ENCODE_BYTES):
            yield body[start:start + INLINE_ENCODE_BYTES]
            await asyncio.sleep(0)

    parser = MultiPartParser(request.headers, stream(), max_files=2, max_fields=100,
                             max_part_size=MAX_DIFF_BODY_BYTES)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise errors.ValidationError(f"the multipart body is malformed: {exc.message}",
                                     field="body") from None
    params: dict[str, Any] = {}
    uploads: list[UploadFile] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            uploads.append(value)
        if name in params:
            for upload in uploads:
                await upload.close()
            raise errors.ValidationError(f"{name} is given more than once", field=name)
        params[name] = await value.read() if isinstance(value, UploadFile) else value
    return params, uploads


async def _answer(request: Request, req: DiffRequest, outcome: DiffOutcome, first: Side,
                  second: Side) -> Response:
    stats = outcome.stats
    headers = http_cache_headers(outcome.key, outcome.ttl, cached=outcome.cached,
                                 age=outcome.age)
    headers.update({
        "X-Diff-Changed-Pixels": str(stats["changed_pixels"]),
        "X-Diff-Total-Pixels": str(stats["total_pixels"]),
        "X-Diff-Percent": str(stats["diff_percent"]),
        "X-Diff-Time-Ms": str(outcome.diff_time_ms),
    })
    if req.response_type == "image":
        if req.download:
            headers["Content-Disposition"] = 'attachment; filename="diff.png"'
        return Response(outcome.png, media_type="image/png", headers=headers)
    body = {
        **stats,
        "diff_key": outcome.key,
        "image_url": f"{base_url(request)}/images/{outcome.key}.png" if outcome.stored else None,
        "cached": outcome.cached,
        "diff_time_ms": outcome.diff_time_ms,
        "before": _source_json(first),
        "after": _source_json(second),
    }
    if req.response_type == "json":
        return JSONResponse(body, headers=headers)
    payload = await in_thread_if_large(len(outcome.png), base64_json, body, outcome.png)
    return Response(payload, media_type="application/json", headers=headers)


def _source_json(side: Side) -> dict[str, Any]:
    source = dict(side.source)
    if source["source"] == "upload":
        source["bytes"] = len(side.data)
    return {"given_as": side.field, **source}


routes = [Route("/diff", diff, methods=["GET", "POST"])]

"""What the seed APIs' faces share: a face's declarations, its ids and status words, its error
body, the one way to submit, find and wait for a job, and the signed links a face hands out.

A face is a translation at the HTTP edge. It declares, as data (:class:`Face`): where its paths
start, how it spells a job's id and states, how it shapes an error, and how it shapes and signs
a webhook. Its handlers map its request to the one :class:`CaptureOptions` and submit the one
job (:func:`submit`), so that a job made through a face is a job of ``/jobs``, with the same
quotas, limits, fair share and guard, on every replica.

**Links.** A face's document may promise a link that opens with nothing (``000``'s
``image_url``, ``004``'s ``result.url``). Such a link is ``/links/{job id}.{ext}``, or
``/links/{cache key}.{ext}`` for an OG image, signed (HMAC-SHA256, :class:`Signer`) with the
owner and an expiry: under ``SIGNING_SECRET`` when set, else under a secret made at start-up
(shared through Redis by replicas, see ``shared_secret``). It opens for as long as the job is
kept; a stored result (``STORAGE_TYPE``) is read from the store once the job is gone.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from screenshotd import errors
from screenshotd.auth.callers import Caller
from screenshotd.auth.signing import Signer, query_pairs
from screenshotd.core.jobs.backends import Jobs
from screenshotd.core.jobs.records import Job, JobState
from screenshotd.core.jobs.webhooks import WebhookStyle
from screenshotd.core.results import CaptureResult
from screenshotd.http.routes import base_url, caller
from screenshotd.params.capture import CaptureOptions

#: An error as a face answers it: (HTTP status, JSON body).
ErrorBody = Callable[[errors.ScreenshotError], tuple[int, dict[str, Any]]]

_HEX32 = re.compile(r"[0-9a-f]{32}")
_KEY64 = re.compile(r"[0-9a-f]{64}")
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "pdf": "pdf", "mp4": "mp4",
              "webm": "webm"}


#: The states as ``000`` and ``004`` spell them: a cancelled job is one that failed.
LOWERCASE = {JobState.QUEUED: "queued", JobState.PROCESSING: "processing",
             JobState.COMPLETED: "completed", JobState.FAILED: "failed",
             JobState.CANCELLED: "failed"}

JSON = ("application/json",)
IMAGES = ("image/png", "image/jpeg", "image/webp", "application/pdf")


@dataclass(frozen=True)
class Operation:
    """One operation of a face, for the API reference (``/openapi.json``): its request body's
    JSON schema, its query parameters, and each success status with its content types."""

    method: str
    path: str
    summary: str
    body: dict[str, Any] | None = None
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: Mapping[int, tuple[str, ...]] = field(default_factory=lambda: {200: JSON})


def obj(properties: dict[str, Any], required: tuple[str, ...] = (),
        closed: bool = True) -> dict[str, Any]:
    """A JSON object schema (``closed``: unknown fields are refused, as the face does)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


STRING, BOOLEAN, INTEGER, NUMBER = ({"type": "string"}, {"type": "boolean"},
                                    {"type": "integer"}, {"type": "number"})


def between(lo: int, hi: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, "maximum": hi}


@dataclass(frozen=True)
class Face:
    """One seed API, as its clients call it."""

    #: The seed's number (``000``) and what its document calls itself.
    name: str
    title: str
    #: Every path of the face starts with one of these: errors under them take its shape.
    prefixes: tuple[str, ...]
    #: A job id as the face shows it: ``{prefix}{32 hex}``, as a UUID's five groups if dashed.
    id_prefix: str
    dashed: bool
    #: The face's word for each state.
    states: Mapping[JobState, str]
    error_body: ErrorBody
    routes: list[Route]
    #: Its webhooks' payload and signature, if it has webhooks.
    webhook: WebhookStyle | None = None
    #: Where the document passes the key in the query: paths that start and end so, and the
    #: parameter's name.
    query_key: tuple[str, str, str] | None = None
    #: The face's field names for the native ones, to name a field in an error.
    names: Mapping[str, str] = field(default_factory=dict)
    #: Its operations, as the API reference shows them.
    operations: tuple[Operation, ...] = ()

    @property
    def tag(self) -> str:
        return f"Seed {self.name}: {self.title}"

    def owns(self, path: str) -> bool:
        return path.startswith(self.prefixes)

    def public_id(self, job_id: str) -> str:
        shown = str(uuid.UUID(hex=job_id)) if self.dashed else job_id
        return self.id_prefix + shown

    def job_id(self, given: str, what: str = "id") -> str:
        """The native id behind a face's id (dashes optional); NOT_FOUND for one no job has."""
        raw = given[len(self.id_prefix):] if given.startswith(self.id_prefix) else given
        if self.id_prefix and not given.startswith(self.id_prefix):
            raw = "!"
        raw = raw.replace("-", "").lower()
        if not _HEX32.fullmatch(raw):
            article = "an" if what[0] in "aeiou" else "a"
            raise errors.NotFound(f"{given[:80]!r} is not {article} {what} of this API")
        return raw

    def state(self, job: Job) -> str:
        return self.states[job.status]

    def shaped(self, error: errors.ScreenshotError) -> tuple[int, dict[str, Any],
                                                               dict[str, str]]:
        """The error as this face answers it: status, body and headers, its fields named as
        the document names them."""
        if error.field is not None and error.field in self.names:
            error.field = self.names[error.field]
        status, body = self.error_body(error)
        return status, body, error.headers()

    def error_response(self, error: errors.ScreenshotError,
                       request_id: str = "") -> JSONResponse:
        status, body, headers = self.shaped(error)
        if isinstance(error, errors.Unauthorized):
            headers["WWW-Authenticate"] = 'Bearer realm="screenshotd"'
        if status >= 500 and request_id:
            headers["X-Request-Id"] = request_id
        return JSONResponse(body, status_code=status, headers=headers)


def refuse_unknown(given: Mapping[str, Any], known: set[str] | frozenset[str],
                   where: str = "") -> None:
    """VALIDATION_ERROR naming the first field the document does not have."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        name = f"{where}{unknown[0]}"
        raise errors.ValidationError(f"unknown field {name!r}", field=name)


def expect(value: Any, kind: type | tuple[type, ...], name: str, what: str) -> Any:
    """``value`` if it is of ``kind`` (a bool is never an int here), else VALIDATION_ERROR."""
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise errors.ValidationError(f"{name} must be {what}", field=name)
    if not isinstance(value, kind):
        raise errors.ValidationError(f"{name} must be {what}", field=name)
    return value


def bounded(value: Any, name: str, lo: int, hi: int) -> int:
    """An integer from ``lo`` to ``hi``, as the document bounds it."""
    number: int = expect(value, int, name, f"an integer from {lo} to {hi}")
    if not lo <= number <= hi:
        raise errors.ValidationError(f"{name} must be from {lo} to {hi}", field=name)
    return number


# --------------------------------------------------------------------------- jobs


def jobs_of(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


def parse(request: Request, params: Mapping[str, Any]) -> CaptureOptions:
    """The native options for a face's request, checked as any request is. Every face's
    capture is a job (a synchronous one waits for it), so the options are asynchronous."""
    opts: CaptureOptions = request.app.state.service.parse({**params, "async": True})
    return opts


async def submit(request: Request, face: Face, opts: CaptureOptions) -> Job:
    """The one job, for the caller, with the face's webhook style."""
    request.scope["state"]["target"] = opts.url
    return await jobs_of(request).submit(caller(request), opts, base_url(request),
                                         style=face.name)


async def find(request: Request, face: Face, given: str, what: str = "id") -> Job:
    """The caller's job behind a face's id; another caller's is NOT_FOUND."""
    job_id = face.job_id(given, what)
    try:
        return await jobs_of(request).fetch(caller(request).id, job_id)
    except errors.NotFound:
        raise errors.NotFound(f"no {what} {face.public_id(job_id)}; it may have expired, or "
                              "belong to another key") from None


async def finish(request: Request, job: Job) -> Job:
    """``job`` once it finished (a synchronous request through a face): it waits as long as
    the capture may take."""
    assert job.opts is not None
    timeout_s = (job.opts.timeout or request.app.state.settings.screenshot_timeout_ms) / 1000
    queue_s = request.app.state.settings.browser_queue_timeout_ms / 1000
    return await jobs_of(request).wait(job, timeout_s + queue_s + 15)


def duration_ms(job: Job) -> int | None:
    if job.completed_at is None:
        return None
    return round((job.completed_at - job.created_at) * 1000)


def result_of(job: Job) -> CaptureResult | None:
    return job.result if job.status is JobState.COMPLETED else None


def drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def attachment(data: bytes, content_type: str, filename: str) -> Response:
    return Response(data, media_type=content_type, headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, max-age=0"})


# --------------------------------------------------------------------------- links


class Links:
    """Links that open without a key, signed with the owner and an expiry. Made with the app;
    its secret is set when the app starts (:meth:`open`), as it may come from Redis."""

    def __init__(self) -> None:
        self._signer: Signer | None = None

    def open(self, secret: str) -> None:
        self._signer = Signer(secret)

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            raise errors.InternalError("links are used before the app started")
        return self._signer

    def job(self, job: Job, expires_at: float | None = None) -> str | None:
        """The finished job's image, until ``expires_at`` (default: as long as it is kept,
        or its stored result, whichever is longer)."""
        result = job.result
        if job.status is not JobState.COMPLETED or result is None:
            return None
        stored_until = float(job.stored.get("expires_at") or 0) if job.stored else 0.0
        until = expires_at if expires_at is not None else max(job.expires_at, stored_until)
        extra = [("r", job.stored["result_id"])] if job.stored else []
        return self._url(job.base_url, job.id, result.format, job.owner, until, extra)

    def cached(self, base: str, key: str, fmt: str, owner: str, expires_at: float) -> str:
        """A cached capture (an OG image) by its key."""
        return self._url(base, key, fmt, owner, expires_at, [])

    def _url(self, base: str, name: str, fmt: str, owner: str, until: float,
             extra: list[tuple[str, str]]) -> str:
        return self.path_url(base, f"/links/{name}.{EXTENSIONS.get(fmt, fmt)}", until,
                             [("o", owner), *extra])

    def path_url(self, base: str, path: str, until: float,
                 extra: list[tuple[str, str]] | tuple[()] = ()) -> str:
        """``base`` + ``path``, signed with ``extra`` and an expiry (``until``)."""
        pairs = [*extra, ("expires", str(int(until)))]
        query = self.signer.sign([*pairs, ("path", path)])
        query = "&".join(part for part in query.split("&") if not part.startswith("path="))
        return f"{base}{path}?{query}"

    def verify(self, request: Request) -> dict[str, str]:
        """The link's signed fields; 404 for a link that is not one of ours or has expired
        (a stranger learns nothing of which exist)."""
        pairs = query_pairs(request.scope.get("query_string", b""))
        try:
            self.signer.verify([*pairs, ("path", request.url.path)])
        except errors.Unauthorized as exc:
            raise errors.NotFound(f"this link does not open: {exc.message}") from None
        return dict(pairs)


async def open_link(request: Request) -> Response:
    """``GET /links/{name}.{ext}``: a face's signed link. A job's image (from the job while it
    is kept, else from the result storage), or a cached capture by its key."""
    links: Links = request.app.state.links
    fields = links.verify(request)
    name = request.path_params["name"]
    stem, _, ext = name.partition(".")
    owner = fields.get("o", "")
    service = request.app.state.service
    gone = errors.NotFound("this link's image is no longer kept")
    if _KEY64.fullmatch(stem):
        image = await service.lookup(stem, Caller(owner))
        if image is None:
            raise gone
        return _image(image.data, image.content_type)
    if not _HEX32.fullmatch(stem):
        raise errors.NotFound(f"{name[:80]!r} is not a link")
    try:
        job = await jobs_of(request).fetch(owner, stem)
    except errors.NotFound:
        job = None
    if job is not None and job.result is not None and job.result.data:
        return _image(job.result.data, job.result.content_type)
    result_id = fields.get("r") or ((job.stored or {}).get("result_id") if job else None)
    if result_id and service.results is not None:
        record = await service.results.record(result_id)
        if record is not None and record.owner == owner and "screenshot" in record.outputs:
            data = await service.results.read(result_id, "screenshot")
            if data is not None:
                return _image(data, record.outputs["screenshot"]["content_type"])
    raise gone


def _image(data: bytes, content_type: str) -> Response:
    return Response(data, media_type=content_type, headers={
        "Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"})


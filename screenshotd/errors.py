"""One exception tree for the whole service.

Every error a client can see is a subclass of :class:`ScreenshotError`. Each class carries its
HTTP status and its machine-readable code, so the HTTP layer registers one handler on the base
class and turns any of them into the single JSON shape of the spec::

    {"error": "CODE", "message": "...", "field"?: "...", "retry_after"?: n, "request_id"?: "..."}

    ScreenshotError
    ├── ValidationError          400 VALIDATION_ERROR   (carries ``field``)
    ├── InvalidURL               400 INVALID_URL
    ├── Unauthorized             401 UNAUTHORIZED
    ├── Blocked                  403 BLOCKED
    ├── DomainNotAllowed         403 DOMAIN_NOT_ALLOWED (the API key may not capture that host)
    ├── NotFound                 404 NOT_FOUND
    ├── CaptureTimeout           408 TIMEOUT
    ├── JobCancelled             409 CANCELLED          (the result of a cancelled job)
    ├── JobFinished              409 JOB_FINISHED       (cancelling a job that has finished)
    ├── PayloadTooLarge          413 PAYLOAD_TOO_LARGE
    ├── NavigationFailed         422 NAVIGATION_FAILED
    ├── SelectorNotFound         422 SELECTOR_NOT_FOUND
    ├── RenderCrashed            502 RENDER_CRASHED     (the page's renderer crashed or ran out of memory)
    ├── RetryableError                                  (carries ``retry_after``)
    │   ├── NotReady             409 NOT_READY          (a job's result too soon; a check while one runs)
    │   ├── RateLimited          429 RATE_LIMITED
    │   ├── PoolExhausted        503 POOL_EXHAUSTED
    │   ├── BrowserCrashed       503 BROWSER_CRASHED
    │   ├── StorageUnavailable   503 STORAGE_UNAVAILABLE (the result store failed or is slow)
    │   └── ShuttingDown         503 SHUTDOWN
    └── InternalError            500 INTERNAL

Nothing here imports Starlette or Playwright: the capture code raises these, and the routes
render them.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ScreenshotError(Exception):
    """Base class: an error with an HTTP status, a code and a message safe to show a client."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body

    def headers(self) -> dict[str, str]:
        return {}


class ValidationError(ScreenshotError):
    status = 400
    code = "VALIDATION_ERROR"


class InvalidURL(ScreenshotError):
    status = 400
    code = "INVALID_URL"


class Unauthorized(ScreenshotError):
    status = 401
    code = "UNAUTHORIZED"


class Blocked(ScreenshotError):
    status = 403
    code = "BLOCKED"

    def naming(self, field: str) -> Blocked:
        """This refusal, naming the parameter whose address was refused if it does not yet."""
        return self if self.field is not None else Blocked(self.message, field=field)


class DomainNotAllowed(ScreenshotError):
    """The API key is limited to some hosts (``API_KEYS=key:host|*.domain``), not this one."""

    status = 403
    code = "DOMAIN_NOT_ALLOWED"


class NotFound(ScreenshotError):
    status = 404
    code = "NOT_FOUND"


class CaptureTimeout(ScreenshotError):
    status = 408
    code = "TIMEOUT"


class PayloadTooLarge(ScreenshotError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class NavigationFailed(ScreenshotError):
    status = 422
    code = "NAVIGATION_FAILED"


class UpstreamStatus(ScreenshotError):
    """``fail_on_status`` matched the page's HTTP status; the body carries ``status``."""

    status = 422
    code = "UPSTREAM_STATUS"

    def __init__(self, message: str, *, upstream_status: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.upstream_status = upstream_status

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "status": self.upstream_status}


class SelectorNotFound(ScreenshotError):
    status = 422
    code = "SELECTOR_NOT_FOUND"


class RetryableError(ScreenshotError):
    """An overload or transient failure: the client should retry after ``retry_after`` s."""

    def __init__(self, message: str, *, retry_after: int = 1, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = max(1, int(retry_after))

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["retry_after"] = self.retry_after
        return body

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class JobCancelled(ScreenshotError):
    status = 409
    code = "CANCELLED"


class JobFinished(ScreenshotError):
    status = 409
    code = "JOB_FINISHED"


class NotReady(RetryableError):
    """A job's result was asked for while the job is still queued or processing (or a check
    of a monitor while one runs)."""

    status = 409
    code = "NOT_READY"


class RateLimited(RetryableError):
    status = 429
    code = "RATE_LIMITED"


class QuotaExceeded(RetryableError):
    """A named key's ``monthly_quota`` of renders is used up; it renews with the month (UTC).
    Cache hits still answer."""

    status = 429
    code = "QUOTA_EXCEEDED"


class PoolExhausted(RetryableError):
    status = 503
    code = "POOL_EXHAUSTED"


class BrowserCrashed(RetryableError):
    """Chromium died or disconnected under a capture. The pool relaunches it by itself."""

    status = 503
    code = "BROWSER_CRASHED"


class StorageUnavailable(RetryableError):
    """The result store (``STORAGE_TYPE``) failed or did not answer in time. A capture never
    fails for it (it answers with ``storage_error``); reading a stored result does."""

    status = 503
    code = "STORAGE_UNAVAILABLE"


class JobsUnavailable(RetryableError):
    """The job backend (Redis, with ``JOB_BACKEND=redis``) cannot be reached: no job can be
    submitted or read now. Synchronous captures do not need it."""

    status = 503
    code = "JOBS_UNAVAILABLE"


class ShuttingDown(RetryableError):
    """The server is stopping: no new work is taken, and unfinished jobs fail with this code."""

    status = 503
    code = "SHUTDOWN"


class RenderCrashed(ScreenshotError):
    """The page's renderer process died under the capture: it ran out of memory, or crashed.
    The browser and every other capture are fine; the same page will most likely do it again,
    so it is not marked retryable."""

    status = 502
    code = "RENDER_CRASHED"


class InternalError(ScreenshotError):
    status = 500
    code = "INTERNAL"


ERROR_CLASSES: tuple[type[ScreenshotError], ...] = (
    ValidationError,
    InvalidURL,
    Unauthorized,
    Blocked,
    DomainNotAllowed,
    NotFound,
    CaptureTimeout,
    JobCancelled,
    JobFinished,
    PayloadTooLarge,
    NavigationFailed,
    UpstreamStatus,
    SelectorNotFound,
    RenderCrashed,
    NotReady,
    RateLimited,
    QuotaExceeded,
    PoolExhausted,
    BrowserCrashed,
    StorageUnavailable,
    JobsUnavailable,
    ShuttingDown,
    InternalError,
)

"""create_app(settings): the Starlette application and the resources its lifespan owns."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from . import diff_routes, errors, job_routes
from .auth import ApiKeyMiddleware, KeyRing, mask_access_log
from .diff_service import DiffService
from .egress import Resolver
from .jobs import JobManager
from .middleware import HitPath, RequestIdMiddleware
from .routes import routes
from .service import ScreenshotService
from .settings import Settings, SettingsError

log = logging.getLogger(__name__)

#: Settings whose feature is not built in this version. Security-relevant ones stop start-up
#: rather than leave a server open that its operator believes closed.
_REFUSED = {
    "signing_secret": "SIGNING_SECRET (signed URLs)",
}


def create_app(settings: Settings | None = None, *, resolver: Resolver | None = None) -> Starlette:
    """Build the app. The cache, the egress proxy, the browser pool and the job manager open in
    the lifespan and close in reverse. ``resolver`` replaces the system's DNS for the
    private-network guard."""
    settings = settings or Settings.from_env()
    for attr, what in _REFUSED.items():
        if getattr(settings, attr):
            raise SettingsError(f"{what} is not available in this version; unset it to start")
    if any(":" in key for key in settings.api_keys):
        raise SettingsError("API_KEYS: per-key domain lists (key:host|host) are not available "
                            "in this version; give plain keys, or unset it to start")
    keys = KeyRing(settings.api_keys)
    service = ScreenshotService.from_settings(settings, resolver)
    jobs = JobManager(
        service,
        workers=settings.browser_max_concurrent,
        ttl=settings.job_ttl_seconds,
        max_pending=settings.max_pending_jobs,
        max_queued=settings.max_queued_jobs,
        max_bytes=settings.job_max_bytes,
        grace=settings.shutdown_grace_seconds,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.private_hosts_open:
            log.warning("ALLOW_PRIVATE_HOSTS=*: the private-network guard is OFF")
        mask_access_log()  # now: uvicorn has configured its loggers
        await service.open()
        try:
            await jobs.open()
        except BaseException:
            await service.close()
            raise
        # Everything made at start-up (modules, Playwright's and pydantic's objects) lives as
        # long as the process: keep it out of the collector's scans, which would otherwise
        # walk it on every full collection, in the middle of requests.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            try:
                await jobs.close()  # needs the pool: running jobs get their grace period
            finally:
                await service.close()

    middleware = [
        # Outermost: a repeat request for a cached capture is answered before anything else.
        Middleware(HitPath, cors=bool(settings.cors_origin), keys=keys),
        Middleware(RequestIdMiddleware),
    ]
    if settings.cors_origin:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=[o.strip() for o in settings.cors_origin.split(",")],
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=["*"],
                expose_headers=["Age", "ETag", "X-Cache", "X-Render-Time-Ms", "X-Request-Id",
                                "X-Screenshot-Truncated", "Retry-After", "Location",
                                "X-Diff-Changed-Pixels", "X-Diff-Total-Pixels",
                                "X-Diff-Percent", "X-Diff-Time-Ms"],
            )
        )
    if keys.enabled:
        # Inside CORS, so that a browser can read a 401.
        middleware.append(Middleware(ApiKeyMiddleware, keys=keys))
    app = Starlette(
        routes=[*routes, *job_routes.routes, *diff_routes.routes],
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            errors.ScreenshotError: _screenshot_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
    )
    app.state.settings = settings
    app.state.service = service
    app.state.jobs = jobs
    app.state.diffs = DiffService(service.cache, settings.diff_max_pixels)
    return app


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def _error_response(request: Request, exc: errors.ScreenshotError) -> JSONResponse:
    body: dict[str, Any] = exc.to_dict()
    if exc.status >= 500:
        body["request_id"] = _request_id(request)
    return JSONResponse(body, status_code=exc.status, headers=exc.headers())


async def _screenshot_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.ScreenshotError)
    return _error_response(request, exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    return JSONResponse(
        {"error": code, "message": str(exc.detail)},
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = _request_id(request)
    log.error("unhandled error (request %s)", request_id, exc_info=exc)
    error = errors.InternalError(f"an internal error occurred; request id {request_id}")
    return _error_response(request, error)

"""create_app(settings): the Starlette application and the resources its lifespan owns."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from screenshotd import errors
from screenshotd.auth.accounts import KeysFile, KeysFileError
from screenshotd.auth.callers import KeyRing
from screenshotd.auth.gatekeeper import Gate, Gatekeeper, mask_access_log
from screenshotd.auth.ratelimit import make_limiter
from screenshotd.auth.signing import Signer
from screenshotd.auth.usage import make_usage
from screenshotd.core.diffs import DiffService
from screenshotd.core.jobs.backends import make_jobs
from screenshotd.core.monitors.redis_store import RedisMonitorStore
from screenshotd.core.monitors.service import Monitors
from screenshotd.core.monitors.store import MonitorStore
from screenshotd.core.og import OgImages, OgTemplateError
from screenshotd.core.service import ScreenshotService
from screenshotd.http import (
    account_routes,
    diff_routes,
    job_routes,
    monitor_routes,
    og_routes,
    pages,
    result_routes,
    video_routes,
    widgets,
)
from screenshotd.http.dialects import Face, Faces, Links
from screenshotd.http.hitpath import HitPath
from screenshotd.http.logs import RequestLog
from screenshotd.http.mcp import MCPEndpoint, RemoteMCP
from screenshotd.http.metrics import Metrics, metrics_endpoint
from screenshotd.http.routes import routes
from screenshotd.net.egress import Resolver
from screenshotd.settings import MIN_SECRET_LENGTH, Settings, SettingsError

log = logging.getLogger(__name__)

#: How long a link to a monitor's image stays open.
LINK_S = 7 * 86400


class ScreenshotdApp(Starlette):
    """Starlette, with the hit path (:class:`~screenshotd.http.hitpath.HitPath`) in front of
    its whole stack, Starlette's own error middleware included: a repeat request for a cached
    capture is answered before any of it runs. ``hit_path`` wraps the stack."""

    def __init__(self, *args: Any, hit_path: Callable[[ASGIApp], ASGIApp] | None = None,
                 **kwargs: Any) -> None:
        self.hit_path = hit_path
        super().__init__(*args, **kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.hit_path is None else self.hit_path(stack)


def create_app(settings: Settings | None = None, *, resolver: Resolver | None = None) -> Starlette:
    """Build the app. The cache, the egress proxy, the browser pool and the job manager open in
    the lifespan and close in reverse. ``resolver`` replaces the system's DNS for the
    private-network guard."""
    settings = settings or Settings.from_env()
    try:
        keys = KeyRing(settings.api_keys)
    except ValueError as exc:
        raise SettingsError(f"API_KEYS: {exc}") from None
    if settings.signing_secret and len(settings.signing_secret) < MIN_SECRET_LENGTH:
        raise SettingsError(f"SIGNING_SECRET: use at least {MIN_SECRET_LENGTH} characters")
    keys_file = KeysFile(settings.api_keys_file) if settings.api_keys_file else None
    if keys_file is not None:
        try:
            keys_file.load()
        except KeysFileError as exc:
            raise SettingsError(f"API_KEYS_FILE: {exc}") from None
    gatekeeper = Gatekeeper(
        keys,
        Signer(settings.signing_secret) if settings.signing_secret else None,
        make_limiter(settings.max_requests_per_minute, settings.redis_url,
                     per_key=keys_file is not None),
        metrics_open=not (settings.metrics_require_key and (keys.enabled or keys_file)),
        keys_file=keys_file,
        usage=make_usage(settings.redis_url) if keys.enabled or keys_file else None,
        per_caller_cap=settings.max_concurrent_per_caller,
    )
    service = ScreenshotService.from_settings(settings, resolver)
    if keys_file is not None or settings.max_concurrent_per_caller is not None:
        service.pool.admission.caps = gatekeeper.slot_cap  # hard caps of slots, per caller
    jobs = make_jobs(settings, service)
    faces = Faces(settings.dialects, Links())
    jobs.webhooks.styles = faces.webhook_styles
    if faces.faces:
        gatekeeper.query_keys = faces.query_key_names
        gatekeeper.error_answer = functools.partial(_face_error, faces)
    # Monitors keep their schedule and history in a file under DATA_DIR, or, with jobs on
    # Redis, in Redis, where every replica runs due checks (docs/monitors.md).
    monitor_store = (RedisMonitorStore(settings.redis_url, jobs.replica_id)
                     if settings.jobs_kind == "redis" else MonitorStore(settings.data_dir))
    monitors: Monitors | None = Monitors(
        service, monitor_store, jobs.webhooks,
        caller_for=gatekeeper.caller_for,
        link=lambda base, path: faces.links.path_url(base, path, time.time() + LINK_S),
        min_every=settings.monitor_min_interval_seconds,
        history_days=settings.monitor_history_days,
        max_per_caller=settings.max_monitors_per_caller)
    try:
        og = OgImages(service, settings.og_templates_dir)
    except (OgTemplateError, OSError) as exc:
        raise SettingsError(f"OG_TEMPLATES_DIR: {exc}") from None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.private_hosts_open:
            log.warning("ALLOW_PRIVATE_HOSTS=*: the private-network guard is OFF")
        if settings.metrics_require_key and not keys.enabled:
            log.warning("METRICS_REQUIRE_KEY=true but API_KEYS is empty: /metrics stays open")
        mask_access_log()  # now: uvicorn has configured its loggers
        await service.open()
        try:
            await jobs.open()
            # The faces' links: signed with SIGNING_SECRET, else with a secret of this
            # service (made once, and shared by replicas through Redis).
            faces.links.open(settings.signing_secret or await jobs.shared_secret())
        except BaseException:
            await service.close()
            raise
        if monitors is not None:
            try:
                await monitors.open()
            except (OSError, errors.StorageUnavailable) as exc:
                where = ("Redis" if settings.jobs_kind == "redis"
                         else f"DATA_DIR={settings.data_dir}")
                app.state.monitors_off = f"their store ({where}) could not be opened: {exc}"
                log.error("monitors are off: %s", app.state.monitors_off)
                app.state.monitors = None
        # Everything made at start-up (modules, Playwright's and pydantic's objects) lives as
        # long as the process: keep it out of the collector's scans, which would otherwise
        # walk it on every full collection, in the middle of requests.
        gc.collect()
        gc.freeze()
        watcher = asyncio.create_task(keys_file.watch()) if keys_file is not None else None
        try:
            async with app.state.mcp.run():  # /mcp's session manager
                yield
        finally:
            if watcher is not None:
                watcher.cancel()
            if app.state.monitors is not None:
                await app.state.monitors.close(settings.shutdown_grace_seconds)
            try:
                await jobs.close()  # needs the pool: running jobs get their grace period
            finally:
                try:
                    await service.close()
                finally:
                    await gatekeeper.close()

    responses: Counter[tuple[str, str, int]] = Counter()  # by method, route and status
    middleware = [
        # Outermost: the request id and the access line cover every answer (the hit path, in
        # front of all of it, writes its own).
        Middleware(RequestLog, responses=responses),
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
    if gatekeeper.active:
        # Inside CORS, so that a browser can read a 401 or a 429.
        middleware.append(Middleware(Gate, gatekeeper=gatekeeper))
    app = ScreenshotdApp(
        hit_path=functools.partial(HitPath, cors=bool(settings.cors_origin),
                                   gatekeeper=gatekeeper, responses=responses),
        routes=[*routes, *account_routes.routes, *og_routes.routes, *video_routes.routes,
                *job_routes.routes, *diff_routes.routes, *result_routes.routes, *faces.routes,
                *monitor_routes.routes, *widgets.routes,
                *pages.routes,
                Route("/mcp", MCPEndpoint(), methods=["GET", "POST", "DELETE"]),
                Route("/metrics", metrics_endpoint, methods=["GET"])],
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
    app.state.og = og
    app.state.mcp = RemoteMCP(app)
    app.state.diffs = DiffService(service.cache, settings.diff_max_pixels)
    app.state.gatekeeper = gatekeeper
    app.state.faces = faces
    app.state.monitors = monitors
    app.state.monitors_off = ""
    app.state.links = faces.links
    metrics = app.state.metrics = Metrics()
    service.observer = metrics

    def state() -> dict[str, Any]:
        return {
            "cache": service.counts, "pool": service.pool.stats(),
            "browser": {"connected": service.pool.connected, "restarts": service.pool.restarts,
                        "recycles": service.pool.recycles},
            "jobs": jobs.counts, "job_states": jobs.state_counts(),
            "replicas": jobs.health().get("replicas"),
            "webhooks": jobs.webhooks.counts, "rate_limited": gatekeeper.rate_limited,
            "usage": gatekeeper.usage,
            "responses": responses,
        }

    metrics.watch(state)
    return app


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def _face_error(faces: Faces, path: str, error: errors.ScreenshotError) -> tuple[
        int, dict[str, Any], dict[str, str]] | None:
    """The error as the face under ``path`` answers it, if any (for the gate)."""
    face = faces.owner(path)
    return face.shaped(error) if face is not None else None


def _error_response(request: Request, exc: errors.ScreenshotError) -> JSONResponse:
    face: Face | None = request.app.state.faces.owner(request.url.path)
    if face is not None:
        return face.error_response(exc, _request_id(request))
    body: dict[str, Any] = exc.to_dict()
    if exc.status >= 500:
        body["request_id"] = _request_id(request)
    return JSONResponse(body, status_code=exc.status, headers=exc.headers())


async def _screenshot_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.ScreenshotError)
    return _error_response(request, exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    face: Face | None = request.app.state.faces.owner(request.url.path)
    if face is not None and exc.status_code in (404, 405):
        what = "no such path" if exc.status_code == 404 else f"{request.method} is not allowed"
        error = errors.NotFound(f"{what}: {request.url.path[:200]}")
        response = face.error_response(error)
        response.status_code = exc.status_code
        response.headers.update(dict(exc.headers or {}))
        return response
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

"""HTTP for monitors: create, list, read, change, delete, check now, pin the baseline, the
history, the events, and the widget tokens. Every handler acts for the caller: another
caller's monitor is a 404, like one that does not exist. The work is
:class:`~screenshotd.core.monitors.service.Monitors`'."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from screenshotd import errors
from screenshotd.core.monitors.model import Monitor
from screenshotd.core.monitors.service import Monitors
from screenshotd.http.job_routes import bounded_int
from screenshotd.http.routes import base_url, caller, json_body, query_params

#: How long an event stream stays open, and how often it says it is alive.
EVENTS_OPEN_S = 3600.0
KEEPALIVE_S = 15.0


def monitors_of(request: Request) -> Monitors:
    found: Monitors | None = request.app.state.monitors
    if found is None:
        raise errors.StorageUnavailable(f"monitors are off: {request.app.state.monitors_off}",
                                        retry_after=60)
    return found


async def _monitor(request: Request) -> Monitor:
    return await monitors_of(request).get(caller(request), request.path_params["monitor_id"])


async def create(request: Request) -> Response:
    monitors = monitors_of(request)
    monitor = await monitors.create(caller(request), await json_body(request), base_url(request))
    return JSONResponse(await monitors.describe(monitor), status_code=201,
                        headers={"Location": f"{base_url(request)}/monitors/{monitor.id}"})


async def list_monitors(request: Request) -> Response:
    monitors = monitors_of(request)
    found = await monitors.store.of_owner(caller(request).id)
    return JSONResponse({"monitors": [await monitors.describe(m) for m in found],
                         "total": len(found)})


async def read(request: Request) -> Response:
    return JSONResponse(await monitors_of(request).describe(await _monitor(request)))


async def change(request: Request) -> Response:
    monitors = monitors_of(request)
    monitor = await monitors.update(caller(request), request.path_params["monitor_id"],
                                    await json_body(request))
    return JSONResponse(await monitors.describe(monitor))


async def delete(request: Request) -> Response:
    await monitors_of(request).delete(caller(request), request.path_params["monitor_id"])
    return Response(status_code=204)


async def check_now(request: Request) -> Response:
    monitor_id = request.path_params["monitor_id"]
    check_id = await monitors_of(request).check_now(caller(request), monitor_id)
    return JSONResponse({"check_id": check_id, "monitor_id": monitor_id,
                         "checks_url": f"{base_url(request)}/monitors/{monitor_id}/checks"},
                        status_code=202)


async def pin(request: Request) -> Response:
    monitors = monitors_of(request)
    monitor = await monitors.pin(caller(request), request.path_params["monitor_id"])
    return JSONResponse(await monitors.describe(monitor))


async def checks(request: Request) -> Response:
    """``GET /monitors/{id}/checks?limit=&before=``: the history, newest first."""
    params = query_params(request)
    unknown = set(params) - {"limit", "before", "api_key"}
    if unknown:
        name = sorted(unknown)[0]
        raise errors.ValidationError(f"unknown parameter {name!r}: use limit, before",
                                     field=name)
    limit = bounded_int(params, "limit", 50, 1, 500)
    before = None
    if params.get("before"):
        try:
            before = datetime.fromisoformat(params["before"].replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise errors.ValidationError("before must be an ISO 8601 time, as checks' at",
                                         field="before") from None
    monitors = monitors_of(request)
    monitor = await _monitor(request)
    found = await monitors.history(monitor, limit, before)
    return JSONResponse({"monitor_id": monitor.id, "checks": [c.to_json() for c in found]})


async def events(request: Request) -> Response:
    """``GET /monitors/{id}/events``: ``check``, ``changed``, ``down``, ``recovered`` as they
    happen (``?key=`` works, as for jobs' events), a comment every 15 s."""
    monitors = monitors_of(request)
    monitor = await _monitor(request)
    return StreamingResponse(_stream(monitors, monitor), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _stream(monitors: Monitors, monitor: Monitor) -> AsyncIterator[str]:
    yield f"event: connected\ndata: {json.dumps({'monitor_id': monitor.id})}\n\n"
    source = monitors.events(monitor)
    closes = time.monotonic() + EVENTS_OPEN_S
    pending: asyncio.Task[Any] | None = None
    try:
        while time.monotonic() < closes:
            pending = pending or asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_S)
            if not done:
                yield ": keep-alive\n\n"
                continue
            event, data = pending.result()
            pending = None
            yield f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
    finally:
        if pending is not None:
            pending.cancel()
        await source.aclose()


async def add_widget(request: Request) -> Response:
    widget = await monitors_of(request).add_widget(caller(request),
                                                   request.path_params["monitor_id"])
    return JSONResponse(widget.to_json(base_url(request)), status_code=201)


async def list_widgets(request: Request) -> Response:
    monitor = await _monitor(request)
    found = await monitors_of(request).store.widgets(monitor.id)
    return JSONResponse({"widgets": [w.to_json(base_url(request)) for w in found]})


async def revoke_widget(request: Request) -> Response:
    monitor = await _monitor(request)
    if not await monitors_of(request).store.revoke(monitor.id, request.path_params["token"]):
        raise errors.NotFound("no such widget token for this monitor")
    return Response(status_code=204)


routes = [
    Route("/monitors", create, methods=["POST"]),
    Route("/monitors", list_monitors, methods=["GET"]),
    Route("/monitors/{monitor_id}", read, methods=["GET"]),
    Route("/monitors/{monitor_id}", change, methods=["PATCH"]),
    Route("/monitors/{monitor_id}", delete, methods=["DELETE"]),
    Route("/monitors/{monitor_id}/check", check_now, methods=["POST"]),
    Route("/monitors/{monitor_id}/baseline", pin, methods=["POST"]),
    Route("/monitors/{monitor_id}/checks", checks, methods=["GET"]),
    Route("/monitors/{monitor_id}/events", events, methods=["GET"]),
    Route("/monitors/{monitor_id}/widgets", add_widget, methods=["POST"]),
    Route("/monitors/{monitor_id}/widgets", list_widgets, methods=["GET"]),
    Route("/monitors/{monitor_id}/widgets/{token}", revoke_widget, methods=["DELETE"]),
]

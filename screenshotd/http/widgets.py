"""Widgets: read-only views of one monitor for other people's pages, behind a token that is not
a key, at the paths of seed ``000``'s embed codes:

- ``GET /widget/badge/{token}.svg``: an uptime badge;
- ``GET /widget/screenshot.png?t={token}``: the latest successful capture, with an ETag;
- ``GET /widget/screenshot.js?t={token}``: a script that inserts it, linked to the status page;
- ``GET /widget/status/{token}``: a status page for an ``<iframe>`` (plain HTML, inline SVG).

An unknown or revoked token is a 404, and a token opens nothing else. Also here:
``GET /links/monitors/{monitor}/{check}/{kind}.png``, the signed links to a check's images that
the API, the webhooks and the status page hand out.
"""

from __future__ import annotations

import time
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from screenshotd import errors
from screenshotd.core.jobs.records import iso
from screenshotd.core.monitors.model import Check, Monitor
from screenshotd.http.dialects.base import Links
from screenshotd.http.monitor_routes import monitors_of
from screenshotd.http.routes import base_url, etag_matches
from screenshotd.http.widget_templates import BADGE, SCRIPT, STATUS

_ENV = ImmutableSandboxedEnvironment(
    loader=jinja2.DictLoader({"badge.svg": BADGE, "status.html": STATUS, "widget.js": SCRIPT}),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html", "svg"),
                                        default_for_string=True))
#: How long a link a widget shows stays open.
LINK_S = 7 * 86400
CHART_W, CHART_H = 600, 80


def link_to(links: Links, base: str, path: str) -> str:
    return links.path_url(base, path, time.time() + LINK_S)


async def _token(request: Request, token: str) -> tuple[Monitor, Any]:
    monitors = monitors_of(request)
    return await monitors.by_token(token)


def _query_token(request: Request) -> str:
    token = request.query_params.get("t", "")
    if not token:
        raise errors.NotFound("no such widget: the embed code gives ?t=<token>")
    return token


async def _latest(request: Request, monitor: Monitor) -> Check | None:
    """The latest successful check that still has its image."""
    for check in await monitors_of(request).store.checks(monitor.id, 50):
        if check.ok and check.has_image:
            return check
    return None


async def badge(request: Request) -> Response:
    name = request.path_params["name"]
    if not name.endswith(".svg"):
        raise errors.NotFound("no such widget")
    monitor, _ = await _token(request, name[:-4])
    uptime = await monitors_of(request).store.uptime(monitor.id, time.time())
    share = uptime.get("24h")
    if monitor.state in ("pending", "paused") or share is None:
        value, colour = monitor.state, "#9f9f9f"
    else:
        value = f"{share * 100:.2f}%".replace(".00%", "%")
        colour = "#4c1" if monitor.state == "up" else "#e05d44"
    label = "uptime"
    left, right = 8 + 7 * len(label) + 4, 8 + 7 * len(value) + 4
    body = _ENV.get_template("badge.svg").render(label=label, value=value, colour=colour,
                                                 left=left, right=right, width=left + right)
    return Response(body, media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=300"})


async def screenshot_png(request: Request) -> Response:
    monitor, _ = await _token(request, _query_token(request))
    check = await _latest(request, monitor)
    if check is None:
        raise errors.NotFound("this monitor has no capture yet")
    headers = {"ETag": f'"{check.id}"', "Cache-Control": f"public, max-age={monitor.every}"}
    if etag_matches(request.headers.get("if-none-match"), check.id):
        return Response(status_code=304, headers=headers)
    data = await monitors_of(request).store.image(monitor.id, check.id, "shot")
    if data is None:
        raise errors.NotFound("this monitor has no capture yet")
    return Response(data, media_type="image/png", headers=headers)


async def screenshot_js(request: Request) -> Response:
    token = _query_token(request)
    monitor, _ = await _token(request, token)
    base = base_url(request)
    body = _ENV.get_template("widget.js").render(
        image=f"{base}/widget/screenshot.png?t={token}", status=f"{base}/widget/status/{token}",
        alt=monitor.name or monitor.url)
    return Response(body, media_type="text/javascript",
                    headers={"Cache-Control": f"public, max-age={monitor.every}"})


async def status_page(request: Request) -> Response:
    token = request.path_params["token"]
    monitor, _ = await _token(request, token)
    monitors = monitors_of(request)
    links: Links = request.app.state.links
    base = base_url(request)
    history = await monitors.store.checks(monitor.id, 50)
    uptime = await monitors.store.uptime(monitor.id, time.time())
    changes = []
    for check in [c for c in history if c.status == "changed"][:3]:
        path = f"/links/monitors/{monitor.id}"
        changes.append({
            "at": iso(check.at), "percent": f"{(check.changed_fraction or 0) * 100:.2f}%",
            "before": link_to(links, base, f"{path}/{check.baseline_id}/shot.png")
            if check.baseline_id else "",
            "after": link_to(links, base, f"{path}/{check.id}/shot.png"),
            "diff": link_to(links, base, f"{path}/{check.id}/diff.png")})
    latest = await _latest(request, monitor)
    body = _ENV.get_template("status.html").render(
        name=monitor.name or monitor.url, url=monitor.url, state=monitor.state,
        last_at=iso(history[0].at) if history else None,
        uptime=[(label, "–" if value is None else f"{value * 100:.2f}%")
                for label, value in uptime.items()],
        chart=_chart(list(reversed(history))),
        latest=f"{base}/widget/screenshot.png?t={token}" if latest is not None else None,
        changes=changes)
    return Response(body, media_type="text/html", headers={
        "Cache-Control": "no-cache",
        # framed by other sites, on purpose; no script runs in it
        "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; "
                                   "style-src 'unsafe-inline'; frame-ancestors *"})


def _chart(checks: list[Check]) -> dict[str, Any]:
    """The response times as an SVG polyline; failures as red dots on the axis."""
    times = [c.load_ms or 0 for c in checks if c.ok]
    top = max(times, default=0) or 1
    step = CHART_W / max(1, len(checks) - 1)
    points, failures = [], []
    for index, check in enumerate(checks):
        x = round(index * step, 1)
        if check.ok:
            y = round(CHART_H - 4 - (CHART_H - 8) * (check.load_ms or 0) / top, 1)
            points.append(f"{x},{y}")
        else:
            failures.append((x, CHART_H - 4))
    return {"width": CHART_W, "height": CHART_H, "points": " ".join(points),
            "failures": failures, "count": len(checks), "max_ms": max(times, default=0)}


async def monitor_image(request: Request) -> Response:
    """A check's image through its signed link."""
    links: Links = request.app.state.links
    links.verify(request)
    kind = request.path_params["kind"]
    if kind not in ("shot.png", "diff.png"):
        raise errors.NotFound("no such image")
    data = await monitors_of(request).store.image(
        request.path_params["monitor_id"], request.path_params["check_id"], kind[:-4])
    if data is None:
        raise errors.NotFound("this image is no longer kept")
    return Response(data, media_type="image/png",
                    headers={"Cache-Control": "private, max-age=86400",
                             "X-Content-Type-Options": "nosniff"})


routes = [
    Route("/widget/badge/{name}", badge, methods=["GET"]),
    Route("/widget/screenshot.png", screenshot_png, methods=["GET"]),
    Route("/widget/screenshot.js", screenshot_js, methods=["GET"]),
    Route("/widget/status/{token}", status_page, methods=["GET"]),
    Route("/links/monitors/{monitor_id}/{check_id}/{kind}", monitor_image, methods=["GET"]),
]

"""MCP for screenshotd: the tools, and ``/mcp`` (Streamable HTTP) on the app itself.

Tools: ``screenshot`` (an image content item and its metadata), ``batch_screenshot``,
``visual_diff``, ``og_image``, ``video`` (the file as an embedded resource), ``check_job``,
``monitor_create`` and ``monitor_checks``.
Each is one call to the HTTP API, through a client that the transport gives for each call:

- **``/mcp``** (:class:`RemoteMCP`): the call goes to this very app, in process (httpx's ASGI
  transport), carrying the MCP request's own API key and client address. Keys, domain lists,
  rate limits and quotas therefore apply exactly as on the HTTP API, and a refusal comes back
  as a tool error with the service's code (``DOMAIN_NOT_ALLOWED: …``). A request without a
  valid key never reaches MCP: the gate answers 401 first.
- **stdio** (``screenshotd mcp``, :mod:`screenshotd.cli.mcp`): one client, to the app in that
  process or to a remote server.

``/mcp`` is stateless: every request stands alone and is answered with JSON, so any replica
answers any request, with no session to route. (Server-to-client streams and resumable
sessions, which need a session, are not offered: no tool here needs them.)
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal

import httpx
from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import BlobResourceContents, EmbeddedResource
from starlette.types import ASGIApp, Receive, Scope, Send

from screenshotd.version import __version__

#: How long one tool call may wait for the service (a full-page capture, or a batch).
CALL_TIMEOUT_S = 180.0
#: Images a batch answer carries inline; the rest are described by their URLs.
BATCH_IMAGES = 10
#: The base URL of the stdio server's own in-process app (nothing listens there).
LOCAL_BASE = "http://screenshotd.local"

ImageFormat = Literal["png", "jpeg", "webp"]
ClientFor = Callable[[Context | None], AbstractAsyncContextManager[httpx.AsyncClient]]
#: The request headers that carry a key, passed on to the tools' calls.
KEY_HEADERS = ("authorization", "x-api-key")


def _failed(response: httpx.Response) -> ToolError:
    try:
        body = response.json()
        return ToolError(f"{body.get('error', response.status_code)}: {body.get('message', '')}")
    except ValueError:
        return ToolError(f"HTTP {response.status_code}: {response.text[:300]}")


def _capture_params(url: str, width: int | None, height: int | None, full_page: bool,
                    extra: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {"url": url, **{k: v for k, v in extra.items() if v is not None}}
    if width is not None:
        params["width"] = width
    if height is not None:
        params["height"] = height
    if full_page:
        params["full_page"] = True
    return params


def _query(params: dict[str, Any]) -> dict[str, str]:
    return {k: ("true" if v is True else "false" if v is False else str(v))
            for k, v in params.items()}


async def _image_and_description(client_for: ClientFor, ctx: Context | None, path: str,
                                 params: dict[str, Any]) -> list[Any]:
    """``GET path`` asking for base64 JSON: the image as a content item, and the rest as
    JSON text."""
    async with client_for(ctx) as client:
        response = await client.get(path, params=_query(params))
        local = str(client.base_url).startswith(LOCAL_BASE)
    if response.status_code != 200:
        raise _failed(response)
    body = response.json()
    data = base64.b64decode(body.pop("data"))
    if local:
        body.pop("image_url", None)  # no server to fetch it from
    return [Image(data=data, format=body["format"]), json.dumps(body, indent=1)]


def build_server(client_for: ClientFor) -> MCPServer:
    """The MCP server, its tools calling the service through the client ``client_for`` gives
    for each call."""
    server = MCPServer("screenshotd", version=__version__, instructions=(
        "Screenshots of web pages: capture a page as an image (with its metadata or main "
        "content), capture many at once, compare two pages pixel by pixel, and follow jobs."))

    @server.tool(structured_output=False)
    async def screenshot(
        url: str, width: int | None = None, height: int | None = None, full_page: bool = False,
        format: ImageFormat = "png", device: str | None = None, dark_mode: bool = False,
        selector: str | None = None, delay: int | None = None,
        wait_until: str | None = None, block_ads: bool = False,
        block_cookie_banners: bool = False, extract_content: bool = False,
        ctx: Context | None = None,
    ) -> list[Any]:
        """Capture a web page (http or https) as an image. Returns the image and a JSON
        description: size, cache key, and the page's metadata (title, description, …); with
        extract_content, the page's main content as markdown too."""
        params = _capture_params(url, width, height, full_page, {
            "format": format, "device": device, "dark_mode": dark_mode or None,
            "selector": selector, "delay": delay, "wait_until": wait_until,
            "block_ads": block_ads or None, "block_cookie_banners": block_cookie_banners or None,
            "extract_content": extract_content or None, "metadata": True,
            "response_type": "base64"})
        return await _image_and_description(client_for, ctx, "/screenshot", params)

    @server.tool(structured_output=False)
    async def batch_screenshot(
        urls: list[str], width: int | None = None, height: int | None = None,
        full_page: bool = False, format: ImageFormat = "png", wait: bool = True,
        ctx: Context | None = None,
    ) -> list[Any]:
        """Capture up to 50 pages at once. With wait (the default) the answer has each page's
        outcome and the first images; with wait=false it has job ids to follow with
        check_job."""
        if not urls:
            raise ToolError("urls is empty")
        body: dict[str, Any] = {"urls": urls, "format": format}
        body.update({k: v for k, v in (("width", width), ("height", height)) if v is not None})
        if full_page:
            body["full_page"] = True
        if wait:
            body["response_type"] = "base64"
        else:
            body["async"] = True
        async with client_for(ctx) as client:
            response = await client.post("/batch", json=body)
        if response.status_code not in (200, 202):
            raise _failed(response)
        answer = response.json()
        if not wait:
            return [json.dumps(answer, indent=1)]
        content: list[Any] = []
        for item in answer["results"]:
            data = item.pop("data", None)
            if data is not None and len(content) < BATCH_IMAGES:
                content.append(Image(data=base64.b64decode(data), format=item["format"]))
        return [json.dumps(answer, indent=1), *content]

    @server.tool(structured_output=False)
    async def visual_diff(
        before: str, after: str, threshold: float = 0.1, width: int | None = None,
        height: int | None = None, full_page: bool = False, ctx: Context | None = None,
    ) -> list[Any]:
        """Capture two pages and compare them pixel by pixel (pixelmatch's algorithm).
        Returns the diff image (changes in red) and the changed-pixel count and percentage."""
        params = _capture_params(before, width, height, full_page,
                                 {"threshold": threshold, "response_type": "base64"})
        params["before"] = params.pop("url")
        params["after"] = after
        async with client_for(ctx) as client:
            response = await client.get("/diff", params=_query(params))
        if response.status_code != 200:
            raise _failed(response)
        body = response.json()
        data = body.pop("data", None)
        content: list[Any] = [json.dumps(body, indent=1)]
        if data is not None:
            content.insert(0, Image(data=base64.b64decode(data), format="png"))
        return content

    @server.tool(structured_output=False)
    async def og_image(
        title: str, description: str | None = None, theme: Literal["light", "dark"] = "light",
        template: str = "basic", bg_color: str | None = None, text_color: str | None = None,
        logo_url: str | None = None, width: int | None = None, height: int | None = None,
        format: ImageFormat = "png", ctx: Context | None = None,
    ) -> list[Any]:
        """Make an Open Graph image (1200x630 by default) for a page: its title, and
        optionally a description, a light or dark theme, colours (#rrggbb), a logo URL and a
        template (basic, article, minimal, or the server's own). Returns the image and a JSON
        description with its image_url."""
        params = {k: v for k, v in {
            "title": title, "description": description, "theme": theme, "template": template,
            "bg_color": bg_color, "text_color": text_color, "logo_url": logo_url,
            "width": width, "height": height, "format": format}.items() if v is not None}
        params.update(redirect=False, response_type="base64")
        return await _image_and_description(client_for, ctx, "/og-image", params)

    @server.tool(structured_output=False)
    async def video(
        url: str, duration: float = 5, fps: int | None = None,
        format: Literal["mp4", "webm"] = "mp4", width: int | None = None,
        height: int | None = None, scroll: bool = False, actions: list[dict[str, Any]] | None = None,
        ctx: Context | None = None,
    ) -> list[Any]:
        """Record a web page as a video (mp4 H.264 or webm VP9): duration 1-60 s, fps 1-30,
        scroll=true to scroll smoothly through the whole page, and actions (click, type,
        scroll, hover, press, wait...) each replayed after its delay in ms. Returns a JSON
        description (size, image_url to fetch it) and the file as an embedded resource."""
        params = _capture_params(url, width, height, False, {
            "duration": duration, "fps": fps, "format": format, "scroll": scroll or None,
            "actions": json.dumps(actions) if actions else None, "response_type": "base64"})
        async with client_for(ctx) as client:
            response = await client.get("/video", params=_query(params))
        if response.status_code != 200:
            raise _failed(response)
        body = response.json()
        blob = BlobResourceContents(uri=body.get("image_url") or f"screenshotd:video.{format}",
                                    mime_type=body["content_type"], blob=body.pop("data"))
        return [json.dumps(body, indent=1), EmbeddedResource(type="resource", resource=blob)]

    @server.tool(structured_output=False)
    async def check_job(job_id: str, ctx: Context | None = None) -> list[Any]:
        """The status of an async job (from batch_screenshot with wait=false); once it has
        completed, its image too."""
        async with client_for(ctx) as client:
            response = await client.get(f"/jobs/{job_id}")
            if response.status_code != 200:
                raise _failed(response)
            job = response.json()
            result = (await client.get(f"/jobs/{job_id}/result")
                      if job["status"] == "completed" else None)
        content: list[Any] = [json.dumps(job, indent=1)]
        if result is not None:
            if result.status_code == 200 and result.headers.get(
                    "content-type", "").startswith("image/"):
                fmt = result.headers["content-type"].split("/")[1].split(";")[0]
                content.insert(0, Image(data=result.content, format=fmt))
        return content

    @server.tool(structured_output=False)
    async def monitor_create(url: str, every: int = 300, name: str | None = None,
                             threshold: float = 0.001, ignore: list[str] | None = None,
                             webhook_url: str | None = None, width: int | None = None,
                             height: int | None = None, full_page: bool = False,
                             ctx: Context | None = None) -> list[Any]:
        """Watch a page: capture it every ``every`` seconds and compare each capture with the
        last good one; a change above ``threshold`` (a share of pixels) is confirmed, recorded
        with the boxes around what changed, and sent to ``webhook_url``. ``ignore``: CSS
        selectors masked before comparing (clocks, ads)."""
        body: dict[str, Any] = {"url": url, "every": every, "threshold": threshold,
                                "full_page": full_page}
        optional = {"name": name, "ignore": ignore, "webhook_url": webhook_url,
                    "width": width, "height": height}
        body.update({key: value for key, value in optional.items() if value is not None})
        async with client_for(ctx) as client:
            response = await client.post("/monitors", json=body)
        if response.status_code != 201:
            raise _failed(response)
        return [json.dumps(response.json(), indent=1)]

    @server.tool(structured_output=False)
    async def monitor_checks(monitor_id: str, limit: int = 10,
                             ctx: Context | None = None) -> list[Any]:
        """A monitor's latest checks, newest first: status (baseline, unchanged, changed,
        failed), the share and boxes of what changed, the HTTP status, and links to the
        screenshot and the diff; the latest change's diff image too."""
        async with client_for(ctx) as client:
            response = await client.get(f"/monitors/{monitor_id}/checks",
                                        params={"limit": str(max(1, min(limit, 100)))})
            if response.status_code != 200:
                raise _failed(response)
            checks = response.json()["checks"]
            changed = next((c for c in checks if c["status"] == "changed" and c["diff_url"]),
                           None)
            diff = await client.get(changed["diff_url"]) if changed is not None else None
        content: list[Any] = [json.dumps(checks, indent=1)]
        if diff is not None and diff.status_code == 200:
            content.append(Image(data=diff.content, format="png"))
        return content

    return server


class RemoteMCP:
    """``/mcp``: the MCP server over Streamable HTTP, mounted on ``app`` (stateless, JSON).

    :meth:`run` runs its session manager for the app's lifetime (the app's lifespan enters it);
    :attr:`endpoint` is the ASGI app the route serves.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.server = build_server(self._client_for)
        # The server behind an API key, on any host name: DNS-rebinding protection (meant for
        # servers on a developer's localhost) would refuse every deployment's own host.
        self.server.streamable_http_app(
            stateless_http=True, json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        self.manager: StreamableHTTPSessionManager = self.server.session_manager
        self.endpoint = StreamableHTTPASGIApp(self.manager)

    def run(self) -> AbstractAsyncContextManager[None]:
        return self.manager.run()

    @contextlib.asynccontextmanager
    async def _client_for(self, ctx: Context | None) -> AsyncIterator[httpx.AsyncClient]:
        """A client to this app for one tool call, as the MCP request's own caller: its key
        headers, its client address, and its base URL (for the links in the answers)."""
        request = ctx.request_context.request if ctx is not None else None
        if request is None:
            raise ToolError("INTERNAL: a tool call over /mcp without its HTTP request")
        headers = {name: request.headers[name] for name in KEY_HEADERS if name in request.headers}
        client = (request.client.host, request.client.port) if request.client else ("0.0.0.0", 0)
        transport = httpx.ASGITransport(app=self.app, client=client)
        async with httpx.AsyncClient(transport=transport, headers=headers,
                                     base_url=str(request.base_url).rstrip("/"),
                                     timeout=CALL_TIMEOUT_S) as http:
            yield http


class MCPEndpoint:
    """The route's ASGI app: the app's :class:`RemoteMCP` (made with the app)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        remote: RemoteMCP = scope["app"].state.mcp
        await remote.endpoint(scope, receive, send)

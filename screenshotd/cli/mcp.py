"""``screenshotd mcp``: the service as a Model Context Protocol server on stdio.

Tools: ``screenshot`` (an image content item and its metadata), ``batch_screenshot``,
``visual_diff`` and ``check_job``. Each is one call to the HTTP API, through one of two
backends:

- **In-process** (the default): the app itself, built from the environment's settings and run
  in this process (its lifespan opens Chromium), called through httpx's ASGI transport. Nothing
  listens on a port. The only caller is the MCP client, so API keys and rate limits are off.
- **Remote**: with ``SCREENSHOT_API_URL`` (and ``SCREENSHOT_API_KEY`` when the server needs
  a key), the calls go to that server over HTTP.

Both speak the same API, so a tool behaves the same way against either. Errors come back as
tool errors carrying the service's code and message (``BLOCKED: …``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, Literal

import httpx
from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from screenshotd.version import __version__

#: How long one tool call may wait for the service (a full-page capture, or a batch).
CALL_TIMEOUT_S = 180.0
#: Images a batch answer carries inline; the rest are described by their URLs.
BATCH_IMAGES = 10
LOCAL_BASE = "http://screenshotd.local"

ImageFormat = Literal["png", "jpeg", "webp"]


@contextlib.asynccontextmanager
async def backend(environ: dict[str, str] | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the service: remote when ``SCREENSHOT_API_URL`` is set, else the app
    in this process (opened here and closed on exit)."""
    env = os.environ if environ is None else environ
    remote = env.get("SCREENSHOT_API_URL", "").strip()
    if remote:
        key = env.get("SCREENSHOT_API_KEY", "").strip()
        async with httpx.AsyncClient(base_url=remote.rstrip("/"), timeout=CALL_TIMEOUT_S,
                                     headers={"X-Api-Key": key} if key else {}) as client:
            yield client
        return
    from screenshotd.http.app import create_app
    from screenshotd.settings import Settings

    settings = replace(Settings.from_env(env), api_keys=(), max_requests_per_minute=0)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=LOCAL_BASE,
                                     timeout=CALL_TIMEOUT_S) as client:
            yield client


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


def build_server(client: httpx.AsyncClient) -> MCPServer:
    """The MCP server, its tools calling the service through ``client``."""
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
        response = await client.get("/screenshot", params=_query(params))
        if response.status_code != 200:
            raise _failed(response)
        body = response.json()
        data = base64.b64decode(body.pop("data"))
        if str(client.base_url).startswith(LOCAL_BASE):
            body.pop("image_url", None)  # no server to fetch it from
        return [Image(data=data, format=body["format"]), json.dumps(body, indent=1)]

    @server.tool(structured_output=False)
    async def batch_screenshot(
        urls: list[str], width: int | None = None, height: int | None = None,
        full_page: bool = False, format: ImageFormat = "png", wait: bool = True,
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
        height: int | None = None, full_page: bool = False,
    ) -> list[Any]:
        """Capture two pages and compare them pixel by pixel (pixelmatch's algorithm).
        Returns the diff image (changes in red) and the changed-pixel count and percentage."""
        params = _capture_params(before, width, height, full_page,
                                 {"threshold": threshold, "response_type": "base64"})
        params["before"] = params.pop("url")
        params["after"] = after
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
    async def check_job(job_id: str) -> list[Any]:
        """The status of an async job (from batch_screenshot with wait=false); once it has
        completed, its image too."""
        response = await client.get(f"/jobs/{job_id}")
        if response.status_code != 200:
            raise _failed(response)
        job = response.json()
        content: list[Any] = [json.dumps(job, indent=1)]
        if job["status"] == "completed":
            result = await client.get(f"/jobs/{job_id}/result")
            if result.status_code == 200 and result.headers.get(
                    "content-type", "").startswith("image/"):
                fmt = result.headers["content-type"].split("/")[1].split(";")[0]
                content.insert(0, Image(data=result.content, format=fmt))
        return content

    return server


async def serve_stdio(environ: dict[str, str] | None = None) -> None:
    """Run the MCP server on stdin/stdout until the client closes it."""
    async with backend(environ) as client:
        await build_server(client).run_stdio_async()

"""``screenshotd mcp``: the service as a Model Context Protocol server on stdio.

The tools are those of ``/mcp`` (:mod:`screenshotd.http.mcp`). Here each is one call to the HTTP
API through one of two backends:

- **In-process** (the default): the app itself, built from the environment's settings and run
  in this process (its lifespan opens Chromium), called through httpx's ASGI transport. Nothing
  listens on a port. The only caller is the MCP client, so API keys and rate limits are off.
- **Remote**: with ``SCREENSHOT_API_URL`` (and ``SCREENSHOT_API_KEY`` when the server needs
  a key), the calls go to that server over HTTP. (A server's own ``/mcp`` needs no wrapper at
  all: point an MCP client that speaks Streamable HTTP at it.)

Both speak the same API, so a tool behaves the same way against either. Errors come back as
tool errors carrying the service's code and message (``BLOCKED: …``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import replace

import click
import httpx

from screenshotd.cli.common import examples, settings_from_env, setup_logging
from screenshotd.http.mcp import CALL_TIMEOUT_S, LOCAL_BASE, build_server
from screenshotd.settings import SettingsError


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


async def serve_stdio(environ: dict[str, str] | None = None) -> None:
    """Run the MCP server on stdin/stdout until the client closes it."""
    async with backend(environ) as client:

        @contextlib.asynccontextmanager
        async def the_client(_: object) -> AsyncIterator[httpx.AsyncClient]:
            yield client

        await build_server(the_client).run_stdio_async()


@click.command(
    epilog="Tools: screenshot, batch_screenshot, visual_diff, check_job. Without "
    "SCREENSHOT_API_URL the service runs inside this process, with the settings of the "
    "environment (Chromium starts with it); with it, every call goes to that server, with "
    "SCREENSHOT_API_KEY as its key. Logs go to stderr; stdout carries the protocol.\n\n"
    + examples("screenshotd mcp", "SCREENSHOT_API_URL=https://shots.example.net "
                "SCREENSHOT_API_KEY=... screenshotd mcp")
    + "\n\n\b\nIn an MCP client's configuration:\n"
    "  {\"mcpServers\": {\"screenshotd\": {\"command\": \"screenshotd\", \"args\": [\"mcp\"]}}}"
)
def mcp() -> None:
    """Serve the Model Context Protocol on stdio, for AI assistants."""
    settings = settings_from_env()
    setup_logging("warning" if settings.log_level in ("info", "debug") else settings.log_level,
                   settings.log_format)
    try:
        asyncio.run(serve_stdio())
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass

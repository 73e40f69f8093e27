"""The pages that explain the API: ``/openapi.json``, ``/docs`` (Swagger UI, with try-it-out)
and ``/``, the playground. All are static files with no CDN assets, so they work offline:
Swagger UI's own files come from the swagger-ui-py package, the rest from ``static/``.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from screenshotd.http.openapi import document


@functools.lru_cache(maxsize=16)
def _encoded(server: str, dialects: tuple[str, ...]) -> bytes:
    """The document as served from ``server`` with the faces of ``dialects``, encoded once per
    base URL (it is 50 KB)."""
    return json.dumps({**document(dialects), "servers": [{"url": server}]}).encode("utf-8")


async def openapi_json(request: Request) -> Response:
    return Response(_encoded(str(request.base_url).rstrip("/"),
                             request.app.state.settings.dialects),
                    media_type="application/json")


def _static(name: str) -> str:
    return str(resources.files("screenshotd.http") / "static" / name)


async def playground(request: Request) -> Response:
    return FileResponse(_static("index.html"), media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


async def docs(request: Request) -> Response:
    return FileResponse(_static("docs.html"), media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


routes = [
    Route("/", playground, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
    Route("/openapi.json", openapi_json, methods=["GET"]),
    # Swagger UI's own files, from the swagger-ui-py package: /docs works offline.
    Mount("/static/swagger-ui", StaticFiles(directory=str(resources.files("swagger_ui") / "static")),
          name="swagger-ui"),
    Mount("/static", StaticFiles(packages=[("screenshotd.http", "static")]), name="static"),
]

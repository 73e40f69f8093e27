"""The cache benchmarks' baseline: a bare Starlette route that returns fixed bytes.

It runs under ``uvicorn.run`` with the options ``screenshotd serve`` uses
(:func:`screenshotd.cli.uvicorn_options`), so that the only difference measured is screenshotd's
own work on a hit. ``/bytes`` returns the file named by ``BARE_BODY``; with a matching
``If-None-Match`` it answers 304, as the cheapest correct revalidation would.

    BARE_BODY=capture.png PORT=3100 python benchmarks/bare_app.py
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from screenshotd.cli import uvicorn_options
from screenshotd.settings import Settings

BODY = Path(os.environ["BARE_BODY"]).read_bytes()
ETAG = f'"{hashlib.sha256(BODY).hexdigest()}"'


async def raw(request: Request) -> Response:
    if request.headers.get("if-none-match") == ETAG:
        return Response(status_code=304, headers={"ETag": ETAG})
    return Response(BODY, media_type="image/png", headers={"ETag": ETAG})


app = Starlette(routes=[Route("/bytes", raw)])

if __name__ == "__main__":
    uvicorn.run(app, **uvicorn_options(Settings.from_env()))

"""The cache benchmarks' baseline: a bare Starlette route that returns fixed bytes.

It runs under ``uvicorn.run`` with the options ``screenshotd serve`` uses
(:func:`screenshotd.cli.serve.uvicorn_options`), so that the only difference measured is screenshotd's
own work on a hit. ``/bytes`` returns the file named by ``BARE_BODY``; with a matching
``If-None-Match`` it answers 304, as the cheapest correct revalidation would.

With ``REDIS_URL`` set, ``/redis-bytes`` returns the same bytes read from Redis with one ``GET``
per request (redis.asyncio, as screenshotd uses it): the floor for any Redis-backed server.

    BARE_BODY=capture.png PORT=3100 python benchmarks/bare_app.py
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from screenshotd.cli.serve import uvicorn_options
from screenshotd.settings import Settings

BODY = Path(os.environ["BARE_BODY"]).read_bytes()
ETAG = f'"{hashlib.sha256(BODY).hexdigest()}"'


async def raw(request: Request) -> Response:
    if request.headers.get("if-none-match") == ETAG:
        return Response(status_code=304, headers={"ETag": ETAG})
    return Response(BODY, media_type="image/png", headers={"ETag": ETAG})


REDIS_KEY = "bare:bytes"
redis_client = None


async def from_redis(request: Request) -> Response:
    assert redis_client is not None
    return Response(await redis_client.get(REDIS_KEY), media_type="image/png",
                    headers={"ETag": ETAG})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global redis_client
    if os.environ.get("REDIS_URL"):
        from redis.asyncio import Redis

        redis_client = Redis.from_url(os.environ["REDIS_URL"])
        await redis_client.set(REDIS_KEY, BODY)
    yield
    if redis_client is not None:
        await redis_client.aclose()


app = Starlette(routes=[Route("/bytes", raw), Route("/redis-bytes", from_redis)],
                lifespan=lifespan)

if __name__ == "__main__":
    uvicorn.run(app, **uvicorn_options(Settings.from_env()))

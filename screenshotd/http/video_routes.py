"""``GET /video`` and ``POST /video``: a recording of a page, as MP4 (H.264) or WebM (VP9).

The parameters are a capture's (:mod:`screenshotd.params.capture`) with ``format`` ``mp4`` (the
default here) or ``webm``, and the video's own (:mod:`screenshotd.params.video`). From there it
is a capture like any other: the same answer shapes, ``async`` jobs, the cache, ETags and
storage.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from screenshotd import errors
from screenshotd.http.routes import answer, json_body, query_params
from screenshotd.params.shapes import flatten
from screenshotd.params.video import VIDEO_FORMATS


async def video(request: Request) -> Response:
    get = request.method in ("GET", "HEAD")
    params = query_params(request) if get else flatten(await json_body(request))
    fmt = params.setdefault("format", "mp4")
    if not isinstance(fmt, str) or fmt.lower() not in VIDEO_FORMATS:
        raise errors.ValidationError(
            f"format: /video records {' or '.join(VIDEO_FORMATS)}, not {str(fmt)[:20]!r} "
            "(pictures are made by /screenshot)", field="format")
    params["format"] = fmt.lower()
    return await answer(request, request.app.state.service.parse(params))


routes = [Route("/video", video, methods=["GET", "POST"])]

"""``GET /results/{result_id}/{output}``: a stored result (``STORAGE_TYPE``), served to its
owner (the API key, or the address without keys) or to anyone holding a signed link to it.

A result that is not there, has expired, or belongs to another caller is the same 404: a
stranger learns nothing of which ids exist. The answer carries the output's own ETag (a
digest of its bytes) and may be kept by the client until the result expires (at most a day).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from screenshotd import errors
from screenshotd.core.storage import OUTPUTS, SANDBOXED, parse_id
from screenshotd.http.routes import _service, caller, etag_matches

#: The longest a client may keep a stored result without asking again.
MAX_AGE_S = 86400


async def stored_result(request: Request) -> Response:
    result_id = request.path_params["result_id"]
    output = request.path_params["output"]
    results = _service(request).results
    if results is None:
        raise errors.NotFound("result storage is off here (STORAGE_TYPE=none)")
    if output not in OUTPUTS:
        raise errors.NotFound(f"{output[:40]!r} is not an output: expected one of "
                              f"{', '.join(OUTPUTS)}")
    parse_id(result_id)  # an id no result can have is refused before the store is asked
    record = await results.record(result_id)
    signed = request.scope.get("state", {}).get("signed_path") == request.url.path
    missing = errors.NotFound(f"no stored result {result_id}/{output}; it may have expired")
    if record is None or output not in record.outputs:
        raise missing
    if not signed and record.owner != caller(request).id:
        raise missing
    info = record.outputs[output]
    max_age = max(0, min(MAX_AGE_S, int(record.expires_at - time.time())))
    headers = {"ETag": f'"{info["etag"]}"', "Cache-Control": f"private, max-age={max_age}",
               **SANDBOXED}
    if etag_matches(request.headers.get("if-none-match"), info["etag"]):
        return Response(status_code=304, headers=headers)
    data = await results.read(result_id, output)
    if data is None:
        raise missing
    return Response(data, media_type=info["content_type"], headers=headers)


routes = [Route("/results/{result_id}/{output}", stored_result, methods=["GET"])]

"""``GET /og-image`` and ``POST /og-image``: an Open Graph image from a template.

GET redirects by default (``302`` to the cached image's ``image_url``, so that an ``og:image``
meta tag can point at this URL); POST answers the image. ``redirect=false`` answers JSON with
``image_url``, as the seed API does, or what ``response_type`` asks for: ``image`` the bytes,
``base64`` JSON with ``data``. Cached and ETagged like captures: the same parameters are the
same image.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from screenshotd import errors
from screenshotd.core.og import OgImages
from screenshotd.http.routes import (
    caller,
    etag_matches,
    image_url,
    json_body,
    not_modified,
    query_params,
    render,
)
from screenshotd.params.og import OgOptions, answer


async def og_image(request: Request) -> Response:
    images: OgImages = request.app.state.og
    get = request.method in ("GET", "HEAD")
    og = OgOptions.parse(query_params(request) if get else await json_body(request))
    who = caller(request)
    how = answer(og, get=get)
    redirect = how == "redirect"
    opts = images.capture_options(og, "image" if redirect else how)
    service = request.app.state.service
    if not redirect and etag_matches(request.headers.get("if-none-match"), opts.cache_key()):
        stored = await service.cached(opts, who)
        if stored is not None:
            return not_modified(opts.cache_key(), stored.ttl, stored.age())
    result, opts = await images.render(og, who, opts)
    if result.cached:
        who.count_hit()
    url = image_url(request, result)
    if redirect:
        if url is None:
            raise errors.ValidationError(
                "redirect needs the image cached (cache_ttl, or CACHE_MAX_BYTES > 0); use "
                "redirect=false", field="redirect")
        return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-cache"})
    return await render(result, opts, url)


routes = [Route("/og-image", og_image, methods=["GET", "POST"])]

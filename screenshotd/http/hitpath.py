"""The hit path.

The hit path (:class:`HitPath`) answers repeat capture URLs from the cache without Starlette's
routing.
An ``<img src>`` capture URL is fetched again and again, and every fetch after the first is a
cache hit or a 304. Routing, request and response objects and the middleware below would cost
more than the lookup itself, so the hit path runs first, inside only the request log: for a
``GET /screenshot`` whose exact query string was parsed before, and for ``GET /images/…``, it
asks the service for the cached result and, when there is one, sends it with the headers the
route itself would send (:func:`~screenshotd.http.routes.cache_headers`).

It only ever answers successes. Anything else (a query not seen before, a miss, a refusal,
``response_type`` other than ``image``, ``download``, ``store``, a CORS request carrying ``Origin``) goes
on to the app unchanged, and the app's answer is the authority.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from screenshotd import errors
from screenshotd.auth.gatekeeper import Gatekeeper, caller_of
from screenshotd.core.results import CaptureResult, StoredImage
from screenshotd.http.routes import (
    cache_headers,
    etag_matches,
    image_name,
    not_modified_headers,
    stored_headers,
)

#: (status, headers, body) of a response the hit path sends itself.
Answer = tuple[int, dict[str, str], bytes | None]


def _ok(result: CaptureResult | StoredImage) -> Answer:
    headers = (cache_headers(result) if isinstance(result, CaptureResult)
               else stored_headers(result))
    headers["content-type"] = result.content_type
    headers["content-length"] = str(result.size)
    return 200, headers, result.data


class HitPath:
    """ASGI middleware, just inside the request log. ``cors`` says whether CORS middleware runs
    below it: then requests with ``Origin`` go to it, and the others get the ``Vary: Origin``
    it would add. With a ``gatekeeper`` (keys, signed URLs, rate limits), a request is first admitted by it:
    one it refuses goes on to the app, whose gate answers with the same verdict, counted once.
    A key limited to some domains is answered here only for a URL it may capture."""

    def __init__(self, app: ASGIApp, cors: bool = False,
                 gatekeeper: Gatekeeper | None = None) -> None:
        self.app = app
        self.cors = cors
        self.gatekeeper = gatekeeper if gatekeeper is not None and gatekeeper.active else None
        self._vary = [(b"vary", b"Origin")] if cors else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = None
        if scope["type"] == "http" and scope["method"] == "GET" and await self._admitted(scope):
            path = scope["path"]
            try:
                if path == "/screenshot":
                    answer = await self._screenshot(scope)
                elif path.startswith("/images/"):
                    answer = await self._image(scope, path[len("/images/"):])
            except errors.ScreenshotError:
                answer = None  # the app gives the error its proper response
        if answer is None:
            await self.app(scope, receive, send)
        else:
            await self._send(send, *answer)

    async def _admitted(self, scope: Scope) -> bool:
        if self.gatekeeper is None:
            return True
        try:
            await self.gatekeeper.admit(scope)
        except errors.ScreenshotError:
            return False
        return True

    def _request_headers(self, scope: Scope) -> tuple[str | None, bool]:
        """(If-None-Match, whether CORS must answer this request)."""
        if_none_match = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"origin" and self.cors:
                return None, True
        return if_none_match, False

    async def _screenshot(self, scope: Scope) -> Answer | None:
        service = scope["app"].state.service
        opts = service.parsed(scope["query_string"])
        if (opts is None or not opts.cache or opts.response_type != "image" or opts.download
                or opts.async_ or opts.store or opts.signed_link):
            return None
        scope.setdefault("state", {})["target"] = opts.url
        if_none_match, cors = self._request_headers(scope)
        if cors:
            return None
        key = opts.cache_key()
        who = caller_of(scope)  # DomainNotAllowed below: the app answers the 403
        if if_none_match and etag_matches(if_none_match, key):
            stored = await service.cached(opts, who)
            if stored is not None:
                return 304, not_modified_headers(key, stored.ttl, stored.age), None
        result = await service.hit(opts, who)
        if result is None:
            return None
        who.count_hit()
        return _ok(result)

    async def _image(self, scope: Scope, name: str) -> Answer | None:
        service = scope["app"].state.service
        key, fmt = image_name(name)
        if_none_match, cors = self._request_headers(scope)
        if cors:
            return None
        who = caller_of(scope)
        if if_none_match and etag_matches(if_none_match, key):
            stored = await service.lookup(key, who, head=True)
            if stored is not None and stored.format == fmt:
                return 304, not_modified_headers(key, stored.ttl, stored.age), None
        result = await service.lookup(key, who)
        if result is None or result.format != fmt:
            return None
        return _ok(result)

    async def _send(self, send: Send, status: int, headers: dict[str, str],
                    body: bytes | None) -> None:
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        raw += self._vary
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body or b""})


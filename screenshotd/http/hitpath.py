"""The hit path.

The hit path (:class:`HitPath`) answers repeat capture URLs from the cache before anything else
runs. An ``<img src>`` capture URL is fetched again and again, and every fetch after the first
is a cache hit or a 304. Starlette's error middleware, routing, request and response objects
and the middleware below would cost more than the lookup itself, so the hit path sits in front
of all of them (:class:`~screenshotd.http.app.ScreenshotdApp` puts it there): for a ``GET
/screenshot`` whose exact query string was parsed before, and for ``GET /images/…``, it asks
the service for the cached result and, when there is one, sends it with the headers the route
itself would send (:func:`~screenshotd.http.routes.cache_headers`), its request id, and its
access line and count (:func:`~screenshotd.http.logs.answered`), as the request log would.

What a hit costs is measured (``benchmarks/bench_cache.py``, against bare Starlette returning
the same bytes), so the work per hit is kept to the lookup: one pass over the request's
headers, and a cached result's headers encoded once per entry, not once per request.

It only ever answers successes. Anything else (a query not seen before, a miss, a refusal,
``response_type`` other than ``image``, ``download``, ``store``, a CORS request carrying
``Origin``, any failure) goes on to the app unchanged, and the app's answer is the authority.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from starlette.types import ASGIApp, Receive, Scope, Send

from screenshotd import errors
from screenshotd.auth.gatekeeper import Gatekeeper, caller_of
from screenshotd.core.results import CaptureResult, StoredImage
from screenshotd.http.logs import answered, assign_request_id
from screenshotd.http.routes import (
    cache_headers,
    etag_matches,
    image_name,
    not_modified_headers,
    stored_headers,
)

log = logging.getLogger(__name__)

#: (status, headers, body) of a response the hit path sends itself.
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
#: An entry's headers but its Age, encoded: by (kind, cache key), with the bytes and TTL they
#: were made for (a refreshed entry has new bytes, so its headers are made again).
_Encoded = tuple[bytes | None, int, list[tuple[bytes, bytes]]]
#: The most entries whose encoded headers are kept (emptied when full, like the parse memo).
ENCODED_ENTRIES = 4096


def encode(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


class HitPath:
    """ASGI middleware in front of the app. ``cors`` says whether CORS middleware runs below
    it: then requests with ``Origin`` go to it, and the others get the ``Vary: Origin`` it
    would add. With a ``gatekeeper`` (keys, signed URLs, rate limits), a request is first
    admitted by it: one it refuses goes on to the app, whose gate answers with the same
    verdict, counted once. A key limited to some domains is answered here only for a URL it
    may capture. ``responses`` is the request log's count of responses, which its own answers
    join."""

    def __init__(self, app: ASGIApp, cors: bool = False,
                 gatekeeper: Gatekeeper | None = None,
                 responses: Counter[tuple[str, str, int]] | None = None) -> None:
        self.app = app
        self.cors = cors
        self.gatekeeper = gatekeeper if gatekeeper is not None and gatekeeper.active else None
        self.responses: Counter[tuple[str, str, int]] = (
            responses if responses is not None else Counter())
        self._vary = [(b"vary", b"Origin")] if cors else []
        self._encoded: dict[tuple[int, str], _Encoded] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            if path == "/screenshot" or path.startswith("/images/"):
                started = time.perf_counter()
                try:
                    answer = await self._answer(scope, path)
                except errors.ScreenshotError:
                    answer = None  # a refusal: the app answers it, with its proper response
                except Exception:  # noqa: BLE001 - a bug here must not fail the request
                    log.exception("the hit path failed; the app answers instead")
                    answer = None
                if answer is not None:
                    await self._send(scope, send, started, *answer)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, path: str) -> Answer | None:
        if self.gatekeeper is not None:
            await self.gatekeeper.admit(scope)  # a refusal raises: the app answers it
        if_none_match = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"origin" and self.cors:
                return None  # the CORS middleware answers, with its headers
        if path == "/screenshot":
            return await self._screenshot(scope, if_none_match)
        return await self._image(scope, path[len("/images/"):], if_none_match)

    async def _screenshot(self, scope: Scope, if_none_match: str | None) -> Answer | None:
        service = scope["app"].state.service
        opts = service.parsed(scope["query_string"])
        if (opts is None or not opts.cache or opts.response_type != "image" or opts.download
                or opts.async_ or opts.store or opts.signed_link):
            return None
        scope.setdefault("state", {})["target"] = opts.url
        key = opts.cache_key()
        who = caller_of(scope)  # DomainNotAllowed below: the app answers the 403
        if if_none_match and etag_matches(if_none_match, key):
            stored = await service.cached(opts, who)
            if stored is not None:
                return self._not_modified(key, stored.ttl, stored.age())
        entry = await service.hit(opts, who)
        if entry is None:
            return None
        memo = self._encoded.get((0, key))
        if memo is None or memo[0] is not entry.data or memo[1] != entry.ttl:
            result = CaptureResult.from_entry(entry)
            assert result is not None, "service.hit gives whole results only"
            memo = self._remember((0, key), (entry.data, entry.ttl,
                                             self._ok_headers(result, cache_headers(result))))
        who.count_hit()
        return 200, [*memo[2], (b"age", b"%d" % entry.age())], entry.data

    async def _image(self, scope: Scope, name: str, if_none_match: str | None) -> Answer | None:
        service = scope["app"].state.service
        key, fmt = image_name(name)
        who = caller_of(scope)
        if if_none_match and etag_matches(if_none_match, key):
            stored = await service.lookup(key, who, head=True)
            if stored is not None and stored.format == fmt:
                return self._not_modified(key, stored.ttl, stored.age)
        image = await service.lookup(key, who)
        if image is None or image.format != fmt:
            return None
        memo = self._encoded.get((1, key))
        if memo is None or memo[0] is not image.data or memo[1] != image.ttl:
            memo = self._remember((1, key), (image.data, image.ttl,
                                             self._ok_headers(image, stored_headers(image))))
        return 200, [*memo[2], (b"age", b"%d" % image.age)], image.data

    @staticmethod
    def _ok_headers(result: CaptureResult | StoredImage,
                    headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
        """A 200's headers but its Age (added per request), encoded."""
        del headers["Age"]
        headers["content-type"] = result.content_type
        headers["content-length"] = str(result.size)
        return encode(headers)

    def _not_modified(self, key: str, ttl: int, age: int) -> Answer:
        memo = self._encoded.get((2, key))
        if memo is None or memo[1] != ttl:
            headers = not_modified_headers(key, ttl, age)
            del headers["Age"]
            memo = self._remember((2, key), (None, ttl, encode(headers)))
        return 304, [*memo[2], (b"age", b"%d" % age)], b""

    def _remember(self, slot: tuple[int, str], encoded: _Encoded) -> _Encoded:
        if len(self._encoded) >= ENCODED_ENTRIES:
            self._encoded.clear()
        self._encoded[slot] = encoded
        return encoded

    async def _send(self, scope: Scope, send: Send, started: float, status: int,
                    headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        request_id = assign_request_id(scope)
        headers += self._vary
        headers.append((b"x-request-id", request_id.encode("ascii")))
        try:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            answered(self.responses, scope, request_id, status, "HIT", started)

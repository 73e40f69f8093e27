"""The hit path (middleware.HitPath) on its own: which requests it answers, and that it answers
them as the route would, inside the request log as the app runs it.

No browser: the service's memory cache is filled by hand, and the app behind the hit path is a
stub that records whether it was called.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest

from screenshotd.auth.callers import LOCAL, KeyRing
from screenshotd.auth.gatekeeper import Gatekeeper
from screenshotd.auth.ratelimit import MemoryLimiter
from screenshotd.browser.pool import BrowserPool
from screenshotd.core.cache import Entry, MemoryCache
from screenshotd.core.results import CaptureResult
from screenshotd.core.service import ScreenshotService
from screenshotd.http.hitpath import HitPath
from screenshotd.http.logs import RequestLog
from screenshotd.http.routes import cache_headers
from screenshotd.settings import Settings

URL = "https://example.com/page"
PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 1000


class App:
    """Stands for the Starlette app below the hit path."""

    def __init__(self, service: ScreenshotService) -> None:
        self.state = SimpleNamespace(service=service)
        self.calls = 0

    async def __call__(self, scope, receive, send) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b"from the app"})


@pytest.fixture
def service() -> ScreenshotService:
    settings = Settings(allow_private_hosts=())
    pool = BrowserPool(executable_path=None)  # never opened: the hit path needs no browser
    return ScreenshotService(settings, pool, MemoryCache(10 * 1024 * 1024))


async def store(service: ScreenshotService, query: dict, data: bytes = PNG, fmt: str = "png",
                ttl: int = 600) -> tuple[bytes, str]:
    """Parse ``query`` as the route would (remembering it), and cache a result for it."""
    raw = urlencode(query).encode()
    opts = service.parse(query, memo=raw)
    result = CaptureResult(
        data=data, format=fmt, content_type=f"image/{fmt}", width=1280, height=800,
        render_time_ms=80, truncated=False, cache_key=opts.cache_key(), url=opts.url,
        final_url=opts.url, http_status=200,
    )
    await service.cache.set(opts.cache_key(), Entry(data, result.to_meta(), ttl))
    return raw, opts.cache_key()


async def call(service: ScreenshotService, path: str, query: bytes = b"",
               headers: dict[str, str] | None = None, method: str = "GET", cors: bool = True,
               gatekeeper: Gatekeeper | None = None):
    app = App(service)
    middleware = RequestLog(HitPath(app, cors=cors, gatekeeper=gatekeeper))
    scope = {
        "type": "http", "method": method, "path": path, "query_string": query, "app": app,
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    await middleware(scope, receive, send)
    status = sent[0]["status"]
    response_headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return status, response_headers, sent[1]["body"], app.calls


async def test_a_remembered_hit_is_answered_without_the_app(service):
    raw, key = await store(service, {"url": URL})
    status, headers, body, calls = await call(service, "/screenshot", raw)
    assert (status, body, calls) == (200, PNG, 0)
    entry = await service.cache.get(key)
    expected = {k.lower(): v for k, v in cache_headers(CaptureResult.from_entry(entry)).items()}
    expected |= {"content-type": "image/png", "content-length": str(len(PNG)), "vary": "Origin"}
    assert len(headers.pop("x-request-id")) == 16
    assert headers == expected
    assert headers["etag"] == f'"{key}"' and headers["x-cache"] == "HIT"
    assert headers["cache-control"] == "public, max-age=600"
    assert headers["x-render-time-ms"] == "0"
    assert service.counts["hits"] == 1


async def test_a_matching_if_none_match_gets_304(service):
    raw, key = await store(service, {"url": URL})
    status, headers, body, calls = await call(service, "/screenshot", raw,
                                              {"If-None-Match": f'W/"{key}"'})
    assert (status, body, calls) == (304, b"", 0)
    assert headers["etag"] == f'"{key}"' and "content-length" not in headers
    assert service.counts["not_modified"] == 1


@pytest.mark.parametrize("query, headers, method", [
    ({"url": URL, "response_type": "json"}, {}, "GET"),
    ({"url": URL, "download": "true"}, {}, "GET"),
    ({"url": URL, "cache": "false"}, {}, "GET"),
    ({"url": URL}, {"Origin": "https://app.example"}, "GET"),  # CORS headers come from the app
    ({"url": URL}, {}, "HEAD"),
    ({"url": URL}, {}, "POST"),
])
async def test_everything_else_goes_to_the_app(service, query, headers, method):
    raw, _ = await store(service, query)
    status, _, body, calls = await call(service, "/screenshot", raw, headers, method)
    assert (status, body, calls) == (599, b"from the app", 1)


async def test_origin_is_fine_without_cors(service):
    raw, _ = await store(service, {"url": URL})
    status, headers, _, calls = await call(service, "/screenshot", raw,
                                           {"Origin": "https://app.example"}, cors=False)
    assert (status, calls) == (200, 0) and "vary" not in headers


async def test_a_query_not_seen_before_goes_to_the_app(service):
    await store(service, {"url": URL})
    reordered = urlencode({"width": 1280, "url": URL}).encode()  # same key, new query string
    assert (await call(service, "/screenshot", reordered))[3] == 1


async def test_a_miss_goes_to_the_app(service):
    raw = urlencode({"url": URL + "?other"}).encode()
    service.parse({"url": URL + "?other"}, memo=raw)
    assert (await call(service, "/screenshot", raw))[3] == 1


async def test_a_private_address_goes_to_the_app_for_its_403(service):
    raw, _ = await store(service, {"url": "http://10.1.2.3/"})
    assert (await call(service, "/screenshot", raw))[3] == 1
    assert service.counts["hits"] == 0


async def test_images_by_key(service):
    _, key = await store(service, {"url": URL, "format": "jpeg"}, fmt="jpeg")
    status, headers, body, calls = await call(service, f"/images/{key}.jpg")
    assert (status, body, calls) == (200, PNG, 0)
    assert headers["content-type"] == "image/jpeg" and headers["etag"] == f'"{key}"'
    status, _, _, calls = await call(service, f"/images/{key}.jpeg",
                                     headers={"If-None-Match": f'"{key}"'})
    assert (status, calls) == (304, 0)
    for name in (f"{key}.png", f"{key[:-1]}0.jpg", "nonsense", f"{key}.gif"):
        assert (await call(service, f"/images/{name}"))[3] == 1


async def test_images_of_a_private_address_go_to_the_app(service):
    _, key = await store(service, {"url": "http://127.0.0.1:8080/"})
    assert (await call(service, f"/images/{key}.png"))[3] == 1


async def test_age_counts_from_when_it_was_stored(service):
    raw, key = await store(service, {"url": URL})
    entry = await service.cache.get(key)
    await service.cache.set(key, Entry(entry.data, entry.meta, entry.ttl,
                                       stored_at=time.time() - 30))
    _, headers, _, _ = await call(service, "/screenshot", raw)
    assert 29 <= int(headers["age"]) <= 31


async def test_an_entry_with_incomplete_meta_is_a_miss(service):
    raw = urlencode({"url": URL}).encode()
    opts = service.parse({"url": URL}, memo=raw)
    await service.cache.set(opts.cache_key(), Entry(PNG, {"format": "png"}, 60))
    assert (await call(service, "/screenshot", raw))[3] == 1
    assert (await call(service, f"/images/{opts.cache_key()}.png"))[3] == 1
    assert await service.hit(opts, LOCAL) is None


async def test_with_a_gatekeeper_only_admitted_requests_are_answered(service):
    raw, _ = await store(service, {"url": URL})
    keeper = Gatekeeper(KeyRing(("alpha", "narrow:other.example")), None,
                        MemoryLimiter(2, clock=lambda: 90.0))
    assert (await call(service, "/screenshot", raw, gatekeeper=keeper))[3] == 1  # no key
    status, _, _, calls = await call(service, "/screenshot", raw, {"X-Api-Key": "alpha"},
                                     gatekeeper=keeper)
    assert (status, calls) == (200, 0)
    # a key limited to other hosts is not served example.com from the cache
    assert (await call(service, "/screenshot", raw, {"X-Api-Key": "narrow"},
                       gatekeeper=keeper))[3] == 1
    # hits are never metered: many more than the limit of two are all answered here
    for _ in range(5):
        assert (await call(service, "/screenshot", raw, {"X-Api-Key": "alpha"},
                           gatekeeper=keeper))[3] == 0
    assert keeper.rate_limited == 0


async def test_a_failure_in_the_hit_path_lets_the_app_answer_and_is_logged(service, caplog):
    raw, _ = await store(service, {"url": URL})

    def broken(query_string: bytes) -> None:
        raise RuntimeError("a bug in the hit path")

    service.parsed = broken  # type: ignore[method-assign]
    status, _, body, calls = await call(service, "/screenshot", raw)
    assert (status, body, calls) == (599, b"from the app", 1)
    assert "the hit path failed" in caplog.text and "a bug in the hit path" in caplog.text

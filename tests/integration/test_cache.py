"""The cache over HTTP: headers, 304s, refresh, TTLs, /images, singleflight, and Redis failing.

Captures are counted through the service's ``capture_hooks``, never through timing.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from screenshotd.core.cache import Entry
from screenshotd.core.results import CaptureResult
from screenshotd.params.capture import CaptureOptions
from tests.support.checks import assert_error, decode, near, rgb_at
from tests.support.pages import BLUE, GREEN, RED
from tests.support.servers import RedisServer, Running, make_settings, run_server
from tests.support.site import Site


def unique(site: Site, path: str = "/pages/basic") -> str:
    """A URL no other test has cached (the site ignores the extra query)."""
    sep = "&" if "?" in path else "?"
    return site.url(f"{path}{sep}t={uuid.uuid4().hex}")


def key_of(response: httpx.Response) -> str:
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    return etag[1:-1]


async def test_miss_then_hit(client, site: Site, captures):
    url = unique(site)
    first = await client.get("/screenshot", params={"url": url})
    assert first.status_code == 200
    assert first.headers["x-cache"] == "MISS"
    assert first.headers["cache-control"] == "public, max-age=3600"
    assert int(first.headers["x-render-time-ms"]) > 0
    key = key_of(first)
    assert key == CaptureOptions.parse({"url": url}).cache_key()

    second = await client.get("/screenshot", params={"url": url})
    assert second.status_code == 200
    assert second.headers["x-cache"] == "HIT"
    assert second.headers["x-render-time-ms"] == "0"
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["cache-control"] == "public, max-age=3600"
    assert int(second.headers["age"]) >= 0
    assert second.content == first.content
    assert second.headers["content-type"] == "image/png"
    assert len(captures) == 1


async def test_the_benchmark_page_is_a_100_kb_png_served_whole(client, site: Site):
    """benchmarks/bench_cache.py measures hits of this page; it must stay about 100 KB."""
    url = unique(site, "/pages/noise-box")
    miss = await client.get("/screenshot", params={"url": url})
    hit = await client.get("/screenshot", params={"url": url})
    assert 90_000 <= len(miss.content) <= 110_000
    assert hit.headers["x-cache"] == "HIT" and hit.content == miss.content
    assert int(hit.headers["content-length"]) == len(miss.content)


async def test_equivalent_requests_share_one_entry(client, site: Site, captures):
    url = unique(site)
    first = await client.get(f"/screenshot?url={url}&width=800&full_page=false&format=jpg")
    assert first.headers["x-cache"] == "MISS"
    same = [
        await client.get(f"/screenshot?format=jpeg&width=800&url={url}"),
        await client.get(f"/screenshot?width=800&url={url}&format=jpg&quality=80&cache=true"),
        await client.post("/screenshot", json={"url": url, "width": 800, "format": "jpeg"}),
        await client.get(f"/screenshot?url={url}&width=800&format=jpg&response_type=json"),
    ]
    assert [r.headers["x-cache"] for r in same] == ["HIT"] * 4
    assert {r.headers["etag"] for r in same} == {first.headers["etag"]}
    assert len(captures) == 1


@pytest.mark.parametrize("header", ['"{key}"', 'W/"{key}"', '"other", "{key}"', "*"])
async def test_if_none_match_gives_304_without_browser_work(client, site: Site, captures, header):
    url = unique(site)
    first = await client.get("/screenshot", params={"url": url})
    key = key_of(first)
    before = captures[:]
    response = await client.get("/screenshot", params={"url": url},
                                headers={"If-None-Match": header.format(key=key)})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == f'"{key}"'
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert captures == before


async def test_if_none_match_that_does_not_match_gets_the_image(client, site: Site, captures):
    url = unique(site)
    await client.get("/screenshot", params={"url": url})
    response = await client.get("/screenshot", params={"url": url},
                                headers={"If-None-Match": '"0000"'})
    assert response.status_code == 200 and response.headers["x-cache"] == "HIT"
    assert response.content
    assert len(captures) == 1


async def test_if_none_match_for_an_expired_entry_captures_again(client, site: Site, captures):
    """An ETag names the options; only a live entry proves the client's copy is current."""
    url = unique(site)
    key = CaptureOptions.parse({"url": url}).cache_key()
    response = await client.get("/screenshot", params={"url": url},
                                headers={"If-None-Match": f'"{key}"'})
    assert response.status_code == 200 and response.headers["x-cache"] == "MISS"
    assert len(captures) == 1


async def test_cache_false_refreshes_the_entry(client, site: Site, captures):
    url = unique(site, "/counter")
    first = await client.get("/screenshot", params={"url": url})
    assert near(rgb_at(decode(first.content), 5, 700), RED)
    hit = await client.get("/screenshot", params={"url": url})
    assert hit.headers["x-cache"] == "HIT" and hit.content == first.content

    fresh = await client.get("/screenshot", params={"url": url, "cache": "false"},
                             headers={"If-None-Match": first.headers["etag"]})
    assert fresh.status_code == 200  # cache=false never answers 304
    assert fresh.headers["x-cache"] == "MISS"
    assert near(rgb_at(decode(fresh.content), 5, 700), GREEN)

    after = await client.get("/screenshot", params={"url": url})
    assert after.headers["x-cache"] == "HIT"
    assert after.content == fresh.content  # the fresh capture replaced the entry
    stored = await client.get(f"/images/{key_of(first)}.png")
    assert stored.content == fresh.content
    assert len(captures) == 2


async def test_cache_ttl_per_request(server: Running, site: Site):
    url = unique(site)
    first = await server.client.get("/screenshot", params={"url": url, "cache_ttl": 120})
    assert first.headers["cache-control"] == "public, max-age=120"
    entry = await server.service.cache.head(key_of(first))
    assert entry.ttl == 120
    hit = await server.client.get("/screenshot", params={"url": url, "cache_ttl": 600})
    assert hit.headers["x-cache"] == "HIT"
    assert hit.headers["cache-control"] == "public, max-age=120"  # the entry's own lifetime
    assert_error(await server.client.get("/screenshot", params={"url": url, "cache_ttl": 30}),
                 400, "VALIDATION_ERROR", "cache_ttl")


async def test_image_url_serves_the_stored_capture(client, site: Site):
    url = unique(site)
    described = await client.get("/screenshot", params={"url": url, "response_type": "json"})
    body = described.json()
    assert body["cached"] is False
    assert body["image_url"] == f"{client.base_url}/images/{body['cache_key']}.png".replace(
        "//images", "/images")
    served = await client.get(body["image_url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.headers["etag"] == f'"{body["cache_key"]}"'
    assert served.headers["x-cache"] == "HIT"
    assert len(served.content) == body["size"]
    assert decode(served.content).size == (body["width"], body["height"])

    again = await client.get("/screenshot", params={"url": url, "response_type": "base64"})
    assert again.json()["cached"] is True and again.json()["image_url"] == body["image_url"]
    not_modified = await client.get(body["image_url"],
                                    headers={"If-None-Match": served.headers["etag"]})
    assert not_modified.status_code == 304 and not_modified.content == b""


async def test_images_by_format(client, site: Site):
    url = unique(site)
    body = (await client.get("/screenshot", params={"url": url, "format": "jpeg",
                                                    "response_type": "json"})).json()
    key = body["cache_key"]
    assert body["image_url"].endswith(f"/images/{key}.jpg")
    for ext in ("jpg", "jpeg"):
        response = await client.get(f"/images/{key}.{ext}")
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    wrong = assert_error(await client.get(f"/images/{key}.png"), 404, "NOT_FOUND")
    assert ".jpg" in wrong["message"]


@pytest.mark.parametrize("name", ["0" * 64 + ".png", "abc.png", "0" * 64 + ".gif",
                                  "0" * 64, ("A" * 64) + ".png", "..%2F..%2Fetc%2Fpasswd"])
async def test_images_unknown_or_malformed(client, name):
    assert_error(await client.get(f"/images/{name}"), 404, "NOT_FOUND")


async def test_twenty_identical_concurrent_requests_make_one_capture(server: Running, site: Site,
                                                                     captures):
    url = unique(site, "/slow?ms=1500")
    responses = await asyncio.gather(*[
        server.client.get("/screenshot", params={"url": url}) for _ in range(20)
    ])
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    assert len(captures) == 1
    assert len({r.content for r in responses}) == 1
    assert {r.headers["etag"] for r in responses} == {responses[0].headers["etag"]}


async def test_concurrent_identical_requests_share_one_failure(server: Running, site: Site,
                                                               captures):
    url = unique(site, "/slow?ms=4000")
    responses = await asyncio.gather(*[
        server.client.get("/screenshot", params={"url": url, "timeout": 1000}) for _ in range(10)
    ])
    for response in responses:
        assert_error(response, 408, "TIMEOUT")
    assert len(captures) == 1
    # The failure was not cached: the next request tries again.
    assert_error(await server.client.get("/screenshot", params={"url": url, "timeout": 1000}),
                 408, "TIMEOUT")
    assert len(captures) == 2


async def test_a_waiter_that_goes_away_does_not_cancel_the_capture(server: Running, site: Site,
                                                                   captures):
    url = unique(site, "/slow?ms=1500")
    first = asyncio.create_task(server.client.get("/screenshot", params={"url": url}))
    while not captures:
        await asyncio.sleep(0.02)
    impatient = asyncio.create_task(server.client.get("/screenshot", params={"url": url}))
    await asyncio.sleep(0.3)
    impatient.cancel()
    response = await first
    assert response.status_code == 200 and response.headers["x-cache"] == "MISS"
    hit = await server.client.get("/screenshot", params={"url": url})
    assert hit.headers["x-cache"] == "HIT"
    assert len(captures) == 1


async def test_errors_are_not_cached(client, site: Site, captures):
    url = unique(site, "/status?code=500")
    for _ in range(2):
        # A 5xx main document still renders: screenshots of error pages are real captures.
        assert (await client.get("/screenshot", params={"url": url})).status_code == 200
    blocked = "http://10.0.0.1/"
    for _ in range(2):
        assert_error(await client.get("/screenshot", params={"url": blocked}), 403, "BLOCKED")
    slow = unique(site, "/slow?ms=3000")
    for _ in range(2):
        assert_error(await client.get("/screenshot", params={"url": slow, "timeout": 1000}),
                     408, "TIMEOUT")
    assert len(captures) == 3  # one capture of the error page, and each timeout tried afresh


async def test_a_hit_still_refuses_a_private_address(site: Site):
    """A cache shared with a more permissive replica must not leak its private captures."""
    async with run_server(make_settings(allow_private_hosts=())) as srv:
        opts = CaptureOptions.parse({"url": site.url("/pages/basic")})
        stored = CaptureResult(
            data=b"secret", format="png", content_type="image/png", width=1, height=1,
            render_time_ms=1, truncated=False, cache_key=opts.cache_key(), url=opts.url,
            final_url=opts.url, http_status=200)
        await srv.service.cache.set(opts.cache_key(), Entry(b"secret", stored.to_meta(), 60))
        response = await srv.client.get("/screenshot", params={"url": site.url("/pages/basic")})
        assert_error(response, 403, "BLOCKED")
        response = await srv.client.get("/screenshot", params={"url": site.url("/pages/basic")},
                                        headers={"If-None-Match": f'"{opts.cache_key()}"'})
        assert_error(response, 403, "BLOCKED")
        assert_error(await srv.client.get(f"/images/{opts.cache_key()}.png"), 403, "BLOCKED")


async def test_hit_path_and_route_answer_alike(client, site: Site):
    """GET hits are served by the hit path, POST hits by the route: the same response."""
    url = unique(site)
    await client.get("/screenshot", params={"url": url, "cache_ttl": 90})
    fast = await client.get("/screenshot", params={"url": url, "cache_ttl": 90})
    routed = await client.post("/screenshot", json={"url": url, "cache_ttl": 90})
    assert fast.content == routed.content
    ignore = {"x-request-id", "age", "date", "server"}
    assert ({k: v for k, v in fast.headers.items() if k not in ignore}
            == {k: v for k, v in routed.headers.items() if k not in ignore})
    assert len(fast.headers["x-request-id"]) == 16
    not_fast = await client.get("/screenshot", params={"url": url},
                                headers={"If-None-Match": fast.headers["etag"]})
    not_routed = await client.post("/screenshot", json={"url": url},
                                   headers={"If-None-Match": fast.headers["etag"]})
    assert not_fast.status_code == not_routed.status_code == 304
    assert ({k: v for k, v in not_fast.headers.items() if k not in ignore}
            == {k: v for k, v in not_routed.headers.items() if k not in ignore})


async def test_a_cors_request_for_a_hit_gets_cors_headers(client, site: Site):
    url = unique(site)
    await client.get("/screenshot", params={"url": url})
    response = await client.get("/screenshot", params={"url": url},
                                headers={"Origin": "https://app.example"})
    assert response.headers["x-cache"] == "HIT"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "ETag" in response.headers["access-control-expose-headers"]


async def test_health_shows_the_memory_cache(client, site: Site):
    await client.get("/screenshot", params={"url": unique(site)})
    cache = (await client.get("/health")).json()["cache"]
    assert cache["backend"] == "memory" and cache["state"] == "ok"
    assert cache["entries"] >= 1 and cache["bytes"] > 1000
    assert cache["max_bytes"] == 268435456
    assert cache["hits"] >= 0 and cache["captures"] >= 1


# --------------------------------------------------------------------------- redis


async def test_redis_backend_hit_and_304(site: Site, redis_server: RedisServer):
    async with run_server(make_settings(redis_url=redis_server.url)) as srv:
        seen: list[CaptureOptions] = []
        srv.service.capture_hooks.append(seen.append)
        url = unique(site)
        first = await srv.client.get("/screenshot", params={"url": url, "cache_ttl": 300})
        assert first.headers["x-cache"] == "MISS"
        hit = await srv.client.get("/screenshot", params={"url": url})
        assert hit.headers["x-cache"] == "HIT" and hit.content == first.content
        assert hit.headers["cache-control"] == "public, max-age=300"
        response = await srv.client.get("/screenshot", params={"url": url},
                                        headers={"If-None-Match": first.headers["etag"]})
        assert response.status_code == 304 and response.content == b""
        image = await srv.client.get(f"/images/{key_of(first)}.png")
        assert image.content == first.content
        assert len(seen) == 1
        health = (await srv.client.get("/health")).json()
        assert health["status"] == "ok"
        assert health["cache"]["backend"] == "redis" and health["cache"]["state"] == "ok"


async def test_redis_killed_mid_run_then_restarted(site: Site, own_redis: RedisServer):
    # The Redis path itself: without the near cache, which would answer the hits below
    # while Redis is paused (its own test is further down).
    async with run_server(make_settings(redis_url=own_redis.url,
                                        cache_near_max_bytes=0)) as srv:
        statuses: list[int] = []

        async def get(**params) -> httpx.Response:
            response = await srv.client.get("/screenshot", params=params)
            statuses.append(response.status_code)
            return response

        url = unique(site)
        assert (await get(url=url)).headers["x-cache"] == "MISS"
        assert (await get(url=url)).headers["x-cache"] == "HIT"

        own_redis.kill()
        during = [await get(url=url) for _ in range(3)]
        assert [r.headers["x-cache"] for r in during] == ["MISS"] * 3
        assert all(decode(r.content).size == (1280, 800) for r in during)
        health = (await srv.client.get("/health")).json()
        assert health["status"] == "degraded" and health["cache"]["state"] == "degraded"
        assert health["cache"]["error"]

        own_redis.start()
        await wait_for_cache_state(srv, "ok")
        assert (await get(url=url)).headers["x-cache"] == "MISS"  # the restarted Redis is empty
        assert (await get(url=url)).headers["x-cache"] == "HIT"

        own_redis.pause()  # a Redis that accepts and never answers
        try:
            started = time.monotonic()
            slow = await get(url=url)
            assert slow.headers["x-cache"] == "MISS"
            assert time.monotonic() - started < 10
        finally:
            own_redis.resume()
        await wait_for_cache_state(srv, "ok")
        assert statuses and all(status == 200 for status in statuses), statuses


async def wait_for_cache_state(srv: Running, state: str, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while True:
        health = (await srv.client.get("/health")).json()
        if health["cache"]["state"] == state:
            assert health["status"] == ("ok" if state == "ok" else "degraded")
            return
        assert time.monotonic() < deadline, health
        await asyncio.sleep(0.1)


async def test_counter_page_changes_on_every_load(client, site: Site):
    """The page the refresh test relies on really does change (red, green, blue...)."""
    url = unique(site, "/counter")
    colours = [rgb_at(decode((await client.get("/screenshot", params={
        "url": url, "cache": "false"})).content), 5, 700) for _ in range(3)]
    assert [near(c, want) for c, want in zip(colours, (RED, GREEN, BLUE), strict=True)] == [True] * 3


# --------------------------------------------------------------------------- the near cache


async def near_of(srv: Running) -> dict[str, Any]:
    return dict((await srv.client.get("/health")).json()["cache"]["near"])


async def until_near_live(srv: Running, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while not (await near_of(srv))["live"]:
        assert time.monotonic() < deadline, await near_of(srv)
        await asyncio.sleep(0.05)


async def test_the_near_cache_serves_hits_and_hears_of_refreshes(site: Site,
                                                                 redis_server: RedisServer):
    """Two replicas on one Redis. B keeps a hit in memory; a refresh on A (cache=false, a page
    that changes on every load) reaches B as an invalidation, after which B serves the new
    capture, never the old one."""
    settings = make_settings(redis_url=redis_server.url)
    async with run_server(settings) as a, run_server(settings) as b:
        await until_near_live(a)
        await until_near_live(b)
        url = unique(site, "/counter")
        first = await a.client.get("/screenshot", params={"url": url})
        assert first.headers["x-cache"] == "MISS"
        from_redis = await b.client.get("/screenshot", params={"url": url})
        assert from_redis.headers["x-cache"] == "HIT" and from_redis.content == first.content
        hits = (await near_of(b))["hits"]
        for _ in range(5):
            again = await b.client.get("/screenshot", params={"url": url})
            assert again.content == first.content
        assert (await near_of(b))["hits"] == hits + 5  # from memory, no round trip
        invalidations = (await near_of(b))["invalidations"]
        refreshed = await a.client.get("/screenshot", params={"url": url, "cache": "false"})
        assert refreshed.content != first.content
        deadline = time.monotonic() + 5
        while (await near_of(b))["invalidations"] == invalidations:
            assert time.monotonic() < deadline, "the invalidation never reached B"
            await asyncio.sleep(0.01)
        for _ in range(3):  # after the invalidation: the new capture, from Redis then memory
            after = await b.client.get("/screenshot", params={"url": url})
            assert after.content == refreshed.content
        # and a 304 on B for A's new ETag
        revalidated = await b.client.get("/screenshot", params={"url": url}, headers={
            "If-None-Match": refreshed.headers["etag"]})
        assert revalidated.status_code == 304


async def test_the_near_cache_empties_when_redis_goes_and_comes_back(site: Site,
                                                                     own_redis: RedisServer):
    async with run_server(make_settings(redis_url=own_redis.url)) as srv:
        await until_near_live(srv)
        url = unique(site)
        await srv.client.get("/screenshot", params={"url": url})
        await srv.client.get("/screenshot", params={"url": url})  # now in memory
        assert (await near_of(srv))["entries"] >= 1
        own_redis.kill()
        deadline = time.monotonic() + 5
        while (near := await near_of(srv))["live"] or near["entries"]:
            assert time.monotonic() < deadline, near
            await asyncio.sleep(0.05)
        gone = await srv.client.get("/screenshot", params={"url": url})
        assert gone.status_code == 200 and gone.headers["x-cache"] == "MISS"  # not from memory
        own_redis.start()
        await until_near_live(srv)
        await wait_for_cache_state(srv, "ok")
        assert (await srv.client.get("/screenshot", params={"url": url})).headers[
            "x-cache"] == "MISS"  # the restarted Redis is empty
        await srv.client.get("/screenshot", params={"url": url})
        hits = (await near_of(srv))["hits"]
        assert (await srv.client.get("/screenshot", params={"url": url})).headers[
            "x-cache"] == "HIT"
        assert (await near_of(srv))["hits"] == hits + 1

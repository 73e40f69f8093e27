"""Auth against a real server: the three ways to send a key, 401s, the hit path, jobs per key,
per-key domain lists, signed URLs, and rate limits in memory and shared through Redis."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from screenshotd.auth.gatekeeper import MaskSecrets
from screenshotd.auth.signing import Signer
from tests.support.checks import assert_error, assert_not_visible, decode
from tests.support.servers import Running, make_settings, run_server
from tests.support.site import Site


@pytest.fixture(scope="module")
async def keyed() -> Any:
    async with run_server(make_settings(api_keys=("alpha", "beta"))) as running:
        yield running


def client_for(server: Running, key: str | None) -> httpx.AsyncClient:
    headers = {"X-Api-Key": key} if key else {}
    return httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60)


async def test_requests_without_a_valid_key_are_401(keyed: Running, site: Site):
    url = site.url("/pages/basic?auth=1")
    missing = await keyed.client.get("/screenshot", params={"url": url})
    body = assert_error(missing, 401, "UNAUTHORIZED")
    assert "X-Api-Key" in body["message"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.headers["x-request-id"]
    wrong = await keyed.client.get("/screenshot", params={"url": url},
                                   headers={"X-Api-Key": "gamma"})
    assert_error(wrong, 401, "UNAUTHORIZED")
    for path in ("/jobs", "/batch/" + "0" * 32, "/images/" + "0" * 64 + ".png",
                 "/diff?before=" + url + "&after=" + url):
        assert_error(await keyed.client.get(path), 401, "UNAUTHORIZED")
    assert (await keyed.client.get("/health")).status_code == 200
    access = logging.getLogger("uvicorn.access")
    assert any(isinstance(f, MaskSecrets) for f in access.filters)  # keys never reach the log


async def test_a_key_may_come_three_ways(keyed: Running, site: Site):
    url = site.url("/pages/basic?auth=2")
    for extra in ({"headers": {"X-Api-Key": "alpha"}},
                  {"headers": {"Authorization": "Bearer beta"}},
                  {"params": {"url": url, "api_key": "alpha"}}):
        params = extra.get("params", {"url": url})
        response = await keyed.client.get("/screenshot", params=params,
                                          headers=extra.get("headers"))
        assert response.status_code == 200, response.text


async def test_an_event_stream_takes_the_key_as_key_for_eventsource(site: Site):
    """``EventSource`` cannot send headers: ``?key=`` works on a job's events, and nowhere else."""
    async with run_server(make_settings(api_keys=("alpha",))) as own, \
            httpx.AsyncClient(base_url=own.base, timeout=60) as anonymous:
        started = await anonymous.get("/screenshot", params={
            "url": site.url("/pages/basic?events=key"), "async": "true", "api_key": "alpha"})
        job_id = started.json()["job_id"]
        events = await anonymous.get(f"/jobs/{job_id}/events", params={"key": "alpha"})
        assert events.status_code == 200 and "event: connected" in events.text
        assert_error(await anonymous.get(f"/jobs/{job_id}/events", params={"key": "wrong"}),
                     401, "UNAUTHORIZED")
        assert_error(await anonymous.get(f"/jobs/{job_id}", params={"key": "alpha"}),
                     401, "UNAUTHORIZED")


async def test_a_cached_capture_needs_a_key_too(keyed: Running, site: Site):
    url = site.url("/pages/basic?auth=3")
    async with client_for(keyed, "alpha") as alpha:
        assert (await alpha.get("/screenshot", params={"url": url})).headers["x-cache"] == "MISS"
        hit = await alpha.get("/screenshot", params={"url": url})
        assert hit.headers["x-cache"] == "HIT"
    etag = hit.headers["etag"]
    assert_error(await keyed.client.get("/screenshot", params={"url": url}), 401, "UNAUTHORIZED")
    assert_error(await keyed.client.get("/screenshot", params={"url": url},
                                        headers={"If-None-Match": etag}), 401, "UNAUTHORIZED")
    image = hit.headers["etag"].strip('"')
    assert_error(await keyed.client.get(f"/images/{image}.png"), 401, "UNAUTHORIZED")


async def test_a_browser_can_read_the_401(keyed: Running):
    response = await keyed.client.get("/jobs", headers={"Origin": "https://app.example"})
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["access-control-allow-origin"] == "*"
    preflight = await keyed.client.options("/screenshot", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-api-key"})
    assert preflight.status_code == 200


async def test_one_key_never_sees_another_keys_jobs(keyed: Running, site: Site):
    async with client_for(keyed, "alpha") as alpha, client_for(keyed, "beta") as beta:
        job = (await alpha.get("/screenshot", params={
            "url": site.url("/pages/basic?auth=4"), "async": "true"})).json()
        batch = (await alpha.post("/batch", json={
            "urls": [site.url("/pages/basic?auth=5")], "async": True})).json()
        job_id = job["job_id"]
        await assert_not_visible(beta, job_id, batch["batch_id"])
        assert (await beta.get("/jobs")).json()["total"] == 0
        mine = (await alpha.get("/jobs")).json()
        assert job_id in {j["id"] for j in mine["jobs"]} and mine["total"] == 2
        assert (await alpha.get(f"/jobs/{job_id}")).status_code == 200
        # the same key from another address is the same caller
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(base_url=keyed.base, transport=transport,
                                     headers={"Authorization": "Bearer alpha"}) as elsewhere:
            assert (await elsewhere.get(f"/jobs/{job_id}")).status_code == 200


# --------------------------------------------------------------------------- domain lists


@pytest.fixture(scope="module")
async def scoped() -> Any:
    """One key for the test site's host only, one for other hosts, one for anything."""
    keys = ("site:127.0.0.1", "elsewhere:example.com|*.example.org", "any")
    async with run_server(make_settings(api_keys=keys)) as running:
        yield running


async def test_a_key_captures_only_its_domains(scoped: Running, site: Site):
    url = site.url("/pages/basic?scoped=1")
    async with client_for(scoped, "site") as mine, client_for(scoped, "elsewhere") as other:
        assert (await mine.get("/screenshot", params={"url": url})).status_code == 200
        refused = await other.get("/screenshot", params={"url": url})
        body = assert_error(refused, 403, "DOMAIN_NOT_ALLOWED")
        assert body["field"] == "url" and "127.0.0.1" in body["message"]
        assert "example.com | *.example.org" in body["message"]
        # not from the cache either, though the capture is cached now
        assert_error(await other.get("/screenshot", params={"url": url}), 403,
                     "DOMAIN_NOT_ALLOWED")
        # every way in: POST, async, batch, diff, raw html
        assert_error(await other.post("/screenshot", json={"url": url}), 403,
                     "DOMAIN_NOT_ALLOWED")
        assert_error(await other.get("/screenshot", params={"url": url, "async": "true"}),
                     403, "DOMAIN_NOT_ALLOWED")
        batch = await other.post("/batch", json={"urls": ["https://example.com/", url]})
        assert "item 1" in assert_error(batch, 403, "DOMAIN_NOT_ALLOWED")["message"]
        diff = await other.get("/diff", params={"before": url, "after": url})
        assert assert_error(diff, 403, "DOMAIN_NOT_ALLOWED")["field"] == "before"
        html = await mine.get("/screenshot", params={"html": "<p>hi</p>"})
        assert "raw html" in assert_error(html, 403, "DOMAIN_NOT_ALLOWED")["message"]
        assert (await other.get("/jobs")).json()["total"] == 0  # nothing was queued
    async with client_for(scoped, "any") as unlimited:
        assert (await unlimited.get("/screenshot", params={"html": "<p>hi</p>"})).status_code == 200


async def test_a_key_sees_cached_results_only_of_its_domains(scoped: Running, site: Site):
    """/images/{key} and a diff's cache_key sources are ways in too. A domain-limited key gets
    the 404 of a key that does not exist for a capture of a host it may not capture, and for
    raw html (which it may not render); it sees the captures of its own hosts, and diff
    images."""
    url = site.url("/pages/basic?scoped=2")
    async with client_for(scoped, "site") as mine, client_for(scoped, "elsewhere") as other, \
            client_for(scoped, "any") as unlimited:
        made = (await unlimited.get("/screenshot", params={"url": url,
                                                           "response_type": "json"})).json()
        html = (await unlimited.get("/screenshot", params={"html": "<p>scoped 2</p>",
                                                           "response_type": "json"})).json()
        key, path = made["cache_key"], urlsplit(made["image_url"]).path
        cors = {"Origin": "https://app.example"}  # answered by the route, not the hit path
        for headers in ({}, cors):
            assert (await mine.get(path, headers=headers)).status_code == 200
            assert (await unlimited.get(path, headers=headers)).status_code == 200
        for headers in ({}, cors, {"If-None-Match": f'"{key}"'}):
            missing = await other.get(path, headers=headers)
            assert "no cached image" in assert_error(missing, 404, "NOT_FOUND")["message"]
        html_path = urlsplit(html["image_url"]).path
        assert_error(await mine.get(html_path), 404, "NOT_FOUND")
        assert (await unlimited.get(html_path)).status_code == 200
        sources = {"cache_key_1": key, "cache_key_2": key, "response_type": "json"}
        assert_error(await other.post("/diff", json=sources), 404, "NOT_FOUND")
        same = await mine.post("/diff", json=sources)
        assert same.status_code == 200 and same.json()["changed_pixels"] == 0
        # A diff image is no capture of a host: its key, a hash over both images' bytes, is
        # known only to whoever had both images, and any key holding it may fetch it.
        diff_path = urlsplit(same.json()["image_url"]).path
        for client in (other, mine):
            fetched = await client.get(diff_path)
            assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"


# --------------------------------------------------------------------------- signed URLs

SECRET = "test-signing-secret-0123456789"


@pytest.fixture(scope="module")
async def signing() -> Any:
    async with run_server(make_settings(api_keys=("alpha",), signing_secret=SECRET)) as running:
        yield running


async def test_a_signed_url_needs_no_key(signing: Running, site: Site):
    signer = Signer(SECRET)
    query = signer.sign([("url", site.url("/pages/basic?signed=1")), ("width", "640")])
    first = await signing.client.get(f"/screenshot?{query}")
    assert first.status_code == 200, first.text
    assert decode(first.content).size == (640, 800) and first.headers["x-cache"] == "MISS"
    again = await signing.client.get(f"/screenshot?{query}")  # the hit path checks it too
    assert again.headers["x-cache"] == "HIT" and again.content == first.content
    not_modified = await signing.client.get(f"/screenshot?{query}",
                                            headers={"If-None-Match": first.headers["etag"]})
    assert not_modified.status_code == 304
    # the same capture with a key has the same cache key: the signature is not an option
    keyed = await signing.client.get("/screenshot", headers={"X-Api-Key": "alpha"}, params={
        "url": site.url("/pages/basic?signed=1"), "width": "640"})
    assert keyed.headers["etag"] == first.headers["etag"]


async def test_a_tampered_or_expired_signature_is_401(signing: Running, site: Site):
    signer = Signer(SECRET)
    query = signer.sign([("url", site.url("/pages/basic?signed=2"))])
    for bad in (query.replace("signed%3D2", "signed%3D3"), query + "&full_page=true",
                query[:-4] + "0000", query.split("&signature=")[0] + "&signature=",
                Signer("another-secret-of-16+").sign([("url", site.url("/pages/basic"))])):
        response = await signing.client.get(f"/screenshot?{bad}")
        assert_error(response, 401, "UNAUTHORIZED")
    expired = signer.sign([("url", site.url("/pages/basic?signed=4"))], expires_in=-5)
    body = assert_error(await signing.client.get(f"/screenshot?{expired}"), 401, "UNAUTHORIZED")
    assert "expired" in body["message"]
    fresh = signer.sign([("url", site.url("/pages/basic?signed=4"))], expires_in=300)
    assert (await signing.client.get(f"/screenshot?{fresh}")).status_code == 200
    # a signature opens GET /screenshot only
    assert_error(await signing.client.get(f"/diff?{query}"), 401, "UNAUTHORIZED")


async def sign_cli(*args: str, secret: str | None = SECRET) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SIGNING_SECRET"}
    if secret is not None:
        env["SIGNING_SECRET"] = secret
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "screenshotd", "sign", *args],
        capture_output=True, text=True, timeout=60, env=env)


async def test_the_sign_command_prints_a_working_url(signing: Running, site: Site):
    url = site.url("/pages/basic?signed=5")
    result = await sign_cli(f"url={url}&format=webp", "--base-url", signing.base,
                            "--expires-in", "600")
    assert result.returncode == 0, result.stderr
    signed = result.stdout.strip()
    assert signed.startswith(f"{signing.base}/screenshot?") and "expires=" in signed
    async with httpx.AsyncClient(timeout=60) as anonymous:
        response = await anonymous.get(signed)
    assert response.status_code == 200 and decode(response.content).format == "WEBP"
    typo = await sign_cli(f"url={url}&fullpage=1")
    assert typo.returncode == 1 and "full_page" in typo.stderr
    missing = await sign_cli(f"url={url}", secret=None)
    assert missing.returncode == 1 and "SIGNING_SECRET" in missing.stderr


# --------------------------------------------------------------------------- rate limits


async def assert_limited(response: httpx.Response) -> int:
    body = assert_error(response, 429, "RATE_LIMITED")
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60 and body["retry_after"] == retry_after
    return retry_after


async def test_rate_limits_meter_renders_per_key_never_hits_or_304s(site: Site):
    settings = make_settings(api_keys=("alpha", "beta"), max_requests_per_minute=4)
    async with run_server(settings) as running:
        running.freeze_limiter(1_000_000_810.0)
        async with client_for(running, "alpha") as alpha, client_for(running, "beta") as beta:
            url = site.url("/pages/basic?limited=1")
            first = await alpha.get("/screenshot", params={"url": url})  # 1: a miss
            assert first.status_code == 200 and first.headers["x-cache"] == "MISS"
            etag = {"If-None-Match": first.headers["etag"]}
            image = (await alpha.get("/screenshot", params={"url": url,
                                                            "response_type": "json"})).json()
            for _ in range(10):  # hits, 304s and /images are never counted
                hit = await alpha.get("/screenshot", params={"url": url})
                assert hit.status_code == 200 and hit.headers["x-cache"] == "HIT"
                assert (await alpha.get("/screenshot", params={"url": url},
                                        headers=etag)).status_code == 304
                assert (await alpha.get(image["image_url"])).status_code == 200
            job = await alpha.get("/screenshot", params={"url": url, "async": "true"})  # 2
            assert job.status_code == 202, job.text
            fresh = await alpha.get("/screenshot", params={"url": url, "cache": "false"})  # 3
            assert fresh.status_code == 200 and fresh.headers["x-cache"] == "MISS"
            other = site.url("/pages/basic?limited=1b")
            assert (await alpha.get("/screenshot", params={"url": other})).status_code == 200  # 4
            # the fifth render is refused: a miss, a batch item, a page of a diff
            await assert_limited(await alpha.get(
                "/screenshot", params={"url": site.url("/pages/basic?limited=1c")}))
            await assert_limited(await alpha.post("/batch", json={"urls": [url]}))
            await assert_limited(await alpha.get("/diff", params={
                "before": site.url("/pages/basic?limited=1d"),
                "after": site.url("/pages/basic?limited=1e")}))
            # ...while hits go on being served, and following one's own job is free
            assert (await alpha.get("/screenshot", params={"url": url})).status_code == 200
            assert (await alpha.get("/screenshot", params={"url": url},
                                    headers=etag)).status_code == 304
            assert (await alpha.get(job.json()["status_url"])).status_code == 200
            # another key has its own count; open paths are never limited
            assert (await beta.get("/screenshot", params={
                "url": site.url("/pages/basic?limited=1f")})).status_code == 200
            assert (await alpha.get("/health")).status_code == 200
            # a browser can read the 429
            cors = await alpha.get("/screenshot", params={"url": site.url("/pages/basic?limited=1g")},
                                   headers={"Origin": "https://app.example"})
            await assert_limited(cors)
            assert cors.headers["access-control-allow-origin"] == "*"
        health = (await running.client.get("/health")).json()
        assert health["auth"]["rate_limit"]["backend"] == "memory"
        assert health["auth"]["rate_limit"]["refused"] >= 4


async def test_a_refused_batch_does_not_use_up_the_minute(site: Site):
    async with run_server(make_settings(max_requests_per_minute=3)) as running:
        running.freeze_limiter(1_000_000_840.0)
        urls = [site.url(f"/pages/basic?limited=batch{i}") for i in range(5)]
        await assert_limited(await running.client.post("/batch", json={"urls": urls}))
        response = await running.client.get("/screenshot", params={"url": urls[0]})
        assert response.status_code == 200, response.text
        batch = await running.client.post("/batch", json={"urls": urls[1:3]})
        assert batch.status_code == 200 and all(r["ok"] for r in batch.json()["results"])
        await assert_limited(await running.client.get("/screenshot", params={"url": urls[4]}))


async def test_200_cached_thumbnails_load_from_one_ip_under_the_default_limit(site: Site):
    """A gallery page: many <img> tags of cached captures, fetched at once from one address,
    with the default limit. None of them may break."""
    async with run_server(make_settings(max_requests_per_minute=60)) as running:
        running.freeze_limiter(1_000_000_900.0)
        urls = [site.url(f"/pages/basic?thumb={i}") for i in range(4)]
        sources = []
        for url in urls:  # four renders, well under the limit
            made = await running.client.get("/screenshot", params={
                "url": url, "width": 320, "height": 200, "response_type": "json"})
            assert made.status_code == 200, made.text
            sources.append(("/screenshot", {"url": url, "width": "320", "height": "200"}))
            sources.append((made.json()["image_url"], {}))
        statuses: list[int] = []

        async def fetch(i: int) -> None:
            path, params = sources[i % len(sources)]
            response = await running.client.get(path, params=params)
            statuses.append(response.status_code)
            if response.status_code == 200:
                assert response.content[:8] == b"\x89PNG\r\n\x1a\n"

        for wave in range(10):  # as a browser does: about 20 requests at a time
            await asyncio.gather(*(fetch(wave * 20 + i) for i in range(20)))
        assert len(statuses) == 200 and set(statuses) == {200}, sorted(set(statuses))
        assert (await running.client.get("/health")).json()["auth"]["rate_limit"]["refused"] == 0


async def test_without_keys_the_limit_is_per_ip(site: Site):
    async with run_server(make_settings(max_requests_per_minute=2)) as running:
        running.freeze_limiter(1_000_000_870.0)
        urls = [site.url(f"/pages/basic?limited=2{i}") for i in range(4)]
        for url in urls[:2]:
            assert (await running.client.get("/screenshot", params={"url": url})).status_code == 200
        await assert_limited(await running.client.get("/screenshot", params={"url": urls[2]}))
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(base_url=running.base, transport=transport) as other_ip:
            assert (await other_ip.get("/screenshot", params={"url": urls[3]})).status_code == 200


async def test_replicas_share_one_limit_through_redis(site: Site, redis_server: Any):
    settings = make_settings(max_requests_per_minute=3, redis_url=redis_server.url,
                             api_keys=("alpha",))
    async with run_server(settings) as one, run_server(settings) as two:
        for replica in (one, two):
            replica.freeze_limiter(1_000_000_930.0)
        urls = [site.url(f"/pages/basic?limited=3{i}") for i in range(5)]
        async with client_for(one, "alpha") as a, client_for(two, "alpha") as b:
            statuses = [(await a.get("/screenshot", params={"url": urls[0]})).status_code,
                        (await b.get("/screenshot", params={"url": urls[1]})).status_code,
                        (await a.get("/screenshot", params={"url": urls[2]})).status_code]
            assert statuses == [200, 200, 200]
            await assert_limited(await b.get("/screenshot", params={"url": urls[3]}))
            await assert_limited(await a.get("/screenshot", params={"url": urls[4]}))
            # a capture made on one replica is a hit on the other, and hits are not metered
            hit = await b.get("/screenshot", params={"url": urls[0]})
            assert hit.status_code == 200 and hit.headers["x-cache"] == "HIT"
        assert (await one.client.get("/health")).json()["auth"]["rate_limit"]["backend"] == "redis"


async def test_a_dead_redis_lets_requests_through(site: Site, own_redis: Any):
    settings = make_settings(max_requests_per_minute=1, redis_url=own_redis.url)
    async with run_server(settings) as running:
        running.freeze_limiter(1_000_000_990.0)
        url = site.url("/pages/basic?limited=4")
        assert (await running.client.get("/screenshot", params={"url": url})).status_code == 200
        own_redis.kill()
        # the cache and the limiter both fail open: the page is captured again, not refused
        response = await running.client.get("/screenshot", params={"url": url})
        assert response.status_code == 200, response.text
        assert (await running.client.get("/health")).json()["auth"]["rate_limit"]["errors"] >= 1

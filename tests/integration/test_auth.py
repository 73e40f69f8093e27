"""API keys against a real server: the three ways in, 401s, the hit path, and jobs per key."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from screenshotd.auth import MaskSecrets

from ..conftest import (
    Running,
    Site,
    assert_error,
    assert_not_visible,
    make_settings,
    run_server,
)


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

"""What an operator watches: /metrics, request ids, and the logs of `screenshotd serve`."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import httpx
import pytest

from screenshotd.auth.signing import Signer
from tests.support.checks import assert_error
from tests.support.servers import Running, WebhookReceiver, make_settings, run_server, serve_process
from tests.support.site import Site


def samples(text: str) -> dict[str, float]:
    """Prometheus text as {'name{labels}': value}."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


@pytest.fixture(scope="module")
async def watched() -> Any:
    async with run_server(make_settings()) as running:
        yield running


async def test_metrics_count_captures_cache_jobs_webhooks_and_the_pool(
        watched: Running, site: Site, receiver: WebhookReceiver):
    client = watched.client
    url = site.url("/pages/basic?metrics=1")
    first = await client.get("/screenshot", params={"url": url})
    await client.get("/screenshot", params={"url": url})  # a hit
    await client.get("/screenshot", params={"url": url},
                     headers={"If-None-Match": first.headers["etag"]})  # a 304
    failed = await client.get("/screenshot", params={
        "url": site.url("/pages/basic?metrics=3"), "wait_for_selector": "#never",
        "timeout": "1000"})
    assert failed.status_code >= 400
    job = (await client.get("/screenshot", params={
        "url": site.url("/pages/basic?metrics=2"), "async": "true",
        "webhook_url": receiver.url()})).json()
    deadline = time.monotonic() + 30
    while (await client.get(f"/jobs/{job['job_id']}")).json()["status"] != "completed":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await receiver.wait_for(1)
    # the receiver has the POST a moment before the service has its answer: wait for that
    while (await client.get(f"/jobs/{job['job_id']}")).json()["webhook"]["state"] != "delivered":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found['screenshotd_captures_total{code="OK",outcome="ok"}'] >= 2
    code = failed.json()["error"]
    assert found[f'screenshotd_captures_total{{code="{code}",outcome="error"}}'] >= 1
    assert found["screenshotd_capture_duration_seconds_count"] >= 3
    assert found["screenshotd_queue_wait_seconds_count"] >= 3
    assert found['screenshotd_cache_lookups_total{result="hit"}'] >= 1
    assert found['screenshotd_cache_lookups_total{result="miss"}'] >= 2
    assert found['screenshotd_cache_lookups_total{result="not_modified"}'] >= 1
    assert found["screenshotd_pool_slots"] == 3
    assert 0 <= found["screenshotd_pool_slots_in_use"] <= 3  # a lease may still be closing
    assert "screenshotd_pool_waiters" in found
    assert found['screenshotd_browser_restarts_total{reason="crash"}'] == 0
    assert found['screenshotd_jobs{state="completed"}'] >= 1
    assert found['screenshotd_jobs_finished_total{state="completed"}'] >= 1
    assert found['screenshotd_webhook_deliveries_total{outcome="delivered"}'] >= 1
    assert found['screenshotd_http_responses_total{method="GET",route="/screenshot",status="200"}'] >= 2
    assert found['screenshotd_http_responses_total{method="GET",route="/screenshot",status="304"}'] >= 1
    assert found['screenshotd_http_responses_total{method="GET",route="/jobs/{id}",status="200"}'] >= 1


async def test_metrics_can_be_closed_to_callers_without_a_key():
    settings = make_settings(api_keys=("alpha",), metrics_require_key=True)
    async with run_server(settings) as running:
        assert_error(await running.client.get("/metrics"), 401, "UNAUTHORIZED")
        keyed = await running.client.get("/metrics", headers={"X-Api-Key": "alpha"})
        assert keyed.status_code == 200 and "screenshotd_pool_slots" in keyed.text
        assert (await running.client.get("/health")).status_code == 200
    async with run_server(make_settings(api_keys=("alpha",))) as running:
        assert (await running.client.get("/metrics")).status_code == 200  # open by default


async def test_every_answer_has_a_request_id_and_a_given_one_is_kept(watched: Running, site: Site):
    url = site.url("/pages/basic?ids=1")
    ids = set()
    for _ in range(2):  # a miss, then the hit path
        response = await watched.client.get("/screenshot", params={"url": url})
        ids.add(response.headers["x-request-id"])
    assert len(ids) == 2 and all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)
    given = await watched.client.get("/health", headers={"X-Request-Id": "trace-abc.123"})
    assert given.headers["x-request-id"] == "trace-abc.123"
    hostile = await watched.client.get("/health", headers={"X-Request-Id": "a b;" * 30})
    assert re.fullmatch(r"[0-9a-f]{16}", hostile.headers["x-request-id"])
    missing = await watched.client.get("/no/such/path")
    assert missing.status_code == 404 and missing.headers["x-request-id"]


def test_json_logs_carry_the_request_and_never_a_secret(site: Site):
    """`screenshotd serve` with LOG_FORMAT=json: every line of stderr is one JSON object; the
    access lines name the request id, route, status, duration, cache outcome, host and caller;
    no key, signature or webhook secret appears anywhere."""
    key, secret, hook_secret = "k3y-never-logged", "s1gning-secret-never-logged", "wh-never-logged"
    env = {"LOG_FORMAT": "json", "API_KEYS": key, "SIGNING_SECRET": secret,
           "BROWSER_MAX_CONCURRENT": "1", "MAX_REQUESTS_PER_MINUTE": "0"}
    with serve_process(env) as running:
        base = running.base
        url = site.url("/pages/basic?logs=1")
        first = httpx.get(f"{base}/screenshot", params={"url": url, "api_key": key}, timeout=60)
        hit = httpx.get(f"{base}/screenshot", params={"url": url}, headers={"X-Api-Key": key},
                        timeout=60)
        refused = httpx.get(f"{base}/screenshot", params={"url": url, "api_key": "wrong"})
        signed = Signer(secret).sign([("url", url)])
        by_signature = httpx.get(f"{base}/screenshot?{signed}", timeout=60)
        job = httpx.get(f"{base}/screenshot", headers={"Authorization": f"Bearer {key}"},
                        params={"url": url, "async": "true", "webhook_secret": hook_secret,
                                "webhook_url": "http://127.0.0.1:9/hook"})
        assert (first.status_code, hit.status_code, refused.status_code,
                by_signature.status_code, job.status_code) == (200, 200, 401, 200, 202)
        stderr = running.stop()
    for secret_text in (key, secret, hook_secret, signed.rsplit("=", 1)[1]):
        assert secret_text not in stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    # the batch waiting when SIGTERM came was written before the process ended by the signal
    assert lines[-1]["message"].startswith("Finished server process")
    access = {line["request_id"]: line for line in lines if line["logger"] == "screenshotd.access"}
    miss = access[first.headers["x-request-id"]]
    assert miss["route"] == "/screenshot" and miss["status"] == 200 and miss["method"] == "GET"
    assert miss["cache"] == "MISS" and miss["host"] == "127.0.0.1"
    assert miss["caller"].startswith("key:") and miss["duration_ms"] > 0
    assert access[hit.headers["x-request-id"]]["cache"] == "HIT"
    assert access[refused.headers["x-request-id"]]["status"] == 401
    assert access[by_signature.headers["x-request-id"]]["caller"] == "ip:127.0.0.1"
    assert access[job.headers["x-request-id"]]["status"] == 202

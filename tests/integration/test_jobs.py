"""Async jobs, webhooks, events and batch against real Chromium and a real webhook receiver.

Every test here runs twice: with the memory job backend, and with ``JOB_BACKEND=redis`` on a
real ``redis-server`` (each server its own database). Many replicas on one Redis are in
tests/integration/test_replicas.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from screenshotd.http import job_routes
from tests.support.checks import assert_error, assert_not_visible, decode, near, rgb_at
from tests.support.pages import RED
from tests.support.servers import (
    RedisServer,
    Running,
    WebhookReceiver,
    free_port,
    make_settings,
    run_server,
)
from tests.support.site import Site

JOB_KEYS = {"id", "status", "url", "created_at", "started_at", "completed_at", "expires_at",
            "result_url", "error", "metadata"}


_DATABASES = itertools.count(1)


@pytest.fixture(scope="module", params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def settings_for(backend: str, request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Settings for a test server on this module's job backend; with redis, each server gets
    a fresh database of the session's ``redis-server``."""
    redis: RedisServer | None = (
        request.getfixturevalue("redis_server") if backend == "redis" else None)

    def settings(**overrides: Any) -> Any:
        if redis is None:
            return make_settings(job_backend="memory", **overrides)
        import redis as redis_py

        url = f"redis://127.0.0.1:{redis.port}/{next(_DATABASES) % 16}"
        with redis_py.Redis.from_url(url) as direct:
            direct.flushdb()
        return make_settings(job_backend="redis", redis_url=url, job_claim_timeout_seconds=5,
                             **overrides)

    return settings


@pytest.fixture(scope="module")
async def server(settings_for: Callable[..., Any]) -> AsyncIterator[Running]:
    """This module's own server (3 slots), on the backend of the run."""
    async with run_server(settings_for()) as running:
        yield running


async def submit(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/screenshot", params={"async": "true", **params})
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


async def finished(client: httpx.AsyncClient, job_id: str, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        body = (await client.get(f"/jobs/{job_id}")).json()
        if body["status"] in ("completed", "failed", "cancelled"):
            return body  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"job still {body['status']}"
        await asyncio.sleep(0.05)


async def until_status(client: httpx.AsyncClient, job_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while (await client.get(f"/jobs/{job_id}")).json()["status"] != status:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


def verify(secret: str, received: Any) -> bool:
    """Check a Standard Webhooks signature the way a receiver would, from the spec."""
    msg_id = received.headers["webhook-id"]
    timestamp = received.headers["webhook-timestamp"]
    key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
    signed = f"{msg_id}.{timestamp}.".encode() + received.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = received.headers.get("webhook-signature", "").split()
    return any(sig.split(",", 1) == ["v1", expected] for sig in offered)


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/"


# --------------------------------------------------------------------------- the lifecycle


async def test_an_async_capture_goes_from_queued_to_completed(client, site: Site):
    started = await submit(client, url=site.url("/pages/basic?job=1"))
    assert set(started) == {"job_id", "status", "status_url", "created_at"}
    assert started["status"] == "queued"
    assert started["status_url"].endswith(f"/jobs/{started['job_id']}")
    job = await finished(client, started["job_id"])
    assert JOB_KEYS <= set(job)
    assert job["status"] == "completed" and job["error"] is None
    assert job["created_at"] <= job["started_at"] <= job["completed_at"] < job["expires_at"]
    assert job["metadata"]["width"] == 1280 and job["metadata"]["format"] == "png"

    result = await client.get(job["result_url"])
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    image = decode(result.content)
    assert image.size == (1280, 800) and near(rgb_at(image, 20, 20), RED)
    assert len(result.content) == job["metadata"]["size"]
    same = await client.get(f"{job['result_url']}/screenshot")
    assert same.content == result.content
    assert_error(await client.get(f"{job['result_url']}/content"), 404, "NOT_FOUND")
    assert_error(await client.get(f"{job['result_url']}/nope"), 404, "NOT_FOUND")
    health = (await client.get("/health")).json()
    assert health["jobs"]["completed"] >= 1 and health["jobs"]["state"] == "open"


async def test_a_post_job_asking_for_base64_gets_base64_json(client, site: Site):
    response = await client.post("/screenshot", json={
        "url": site.url("/pages/basic?job=2"), "async": True, "response_type": "base64"})
    assert response.status_code == 202
    job = await finished(client, response.json()["job_id"])
    body = (await client.get(job["result_url"])).json()
    assert body["format"] == "png" and body["width"] == 1280
    assert decode(base64.b64decode(body["data"])).size == (1280, 800)


async def test_a_cached_capture_completes_a_job_at_once(client, site: Site, captures):
    url = site.url("/pages/basic?job=cached")
    assert (await client.get("/screenshot", params={"url": url})).status_code == 200
    before = len(captures)
    for _ in range(2):  # the second is a query string the hit path has seen: still a job
        job = await finished(client, (await submit(client, url=url))["job_id"])
        assert job["status"] == "completed" and job["metadata"]["cached"] is True
    assert len(captures) == before


async def test_a_result_asked_for_too_soon_is_409_not_ready(client, site: Site):
    started = await submit(client, url=site.url("/slow?ms=2500&job=3"))
    response = await client.get(f"/jobs/{started['job_id']}/result")
    assert_error(response, 409, "NOT_READY")
    assert response.headers["retry-after"] == "1"
    await finished(client, started["job_id"])


async def test_a_failed_job_says_why_and_its_result_is_that_error(client):
    job = await finished(client, (await submit(client, url=closed_port_url()))["job_id"])
    assert job["status"] == "failed" and job["result_url"] is None
    assert job["error"]["code"] == "NAVIGATION_FAILED" and job["error"]["message"]
    assert_error(await client.get(f"/jobs/{job['id']}/result"), 422, "NAVIGATION_FAILED")


async def test_async_answers_the_door_before_queueing(client):
    assert_error(await client.get("/screenshot", params={
        "async": "true", "url": "http://169.254.169.254/latest/meta-data/"}), 403, "BLOCKED")
    assert_error(await client.get("/screenshot", params={
        "async": "true", "url": "https://example.com",
        "webhook_url": "http://10.0.0.7/hook"}), 403, "BLOCKED")
    assert_error(await client.get("/screenshot", params={
        "async": "true", "url": "https://example.com", "webhook_url": "ftp://x/"}),
        400, "INVALID_URL", field="webhook_url")
    assert_error(await client.get("/screenshot", params={
        "url": "https://example.com", "webhook_url": "https://hooks.example/"}),
        400, "VALIDATION_ERROR", field="webhook_url")


async def test_unknown_jobs_and_batches_are_404(client):
    for path in ("/jobs/" + "0" * 32, "/jobs/nope", "/jobs/" + "0" * 32 + "/result",
                 "/jobs/" + "0" * 32 + "/events", "/batch/" + "0" * 32):
        assert_error(await client.get(path), 404, "NOT_FOUND")
    assert_error(await client.delete("/jobs/" + "0" * 32), 404, "NOT_FOUND")


async def test_listing_pages_and_filters(client, site: Site):
    ids = [(await submit(client, url=site.url(f"/pages/basic?list={n}")))["job_id"]
           for n in range(3)]
    for job_id in ids:
        await finished(client, job_id)
    body = (await client.get("/jobs", params={"per_page": 2})).json()
    assert set(body) == {"jobs", "page", "per_page", "total", "pages"}
    assert [j["id"] for j in body["jobs"]] == [ids[2], ids[1]]  # newest first
    second = (await client.get("/jobs", params={"per_page": 2, "page": 2})).json()
    assert second["jobs"][0]["id"] == ids[0]
    completed = (await client.get("/jobs", params={"status": "completed"})).json()
    assert all(j["status"] == "completed" for j in completed["jobs"])
    assert_error(await client.get("/jobs", params={"status": "done"}), 400, "VALIDATION_ERROR",
                 field="status")
    assert_error(await client.get("/jobs", params={"per_page": 0}), 400, "VALIDATION_ERROR",
                 field="per_page")
    assert_error(await client.get("/jobs", params={"sort": "x"}), 400, "VALIDATION_ERROR",
                 field="sort")


async def test_jobs_expire_after_job_ttl(server: Running, site: Site, backend: str,
                                         settings_for: Callable[..., Any]):
    if backend == "redis":  # Redis keeps time itself: a server whose jobs last one second
        async with run_server(settings_for(job_ttl_seconds=1)) as brief:
            job = await finished(brief.client, (await submit(
                brief.client, url=site.url("/pages/basic?ttl=2")))["job_id"])
            await asyncio.sleep(1.5)
            assert_error(await brief.client.get(f"/jobs/{job['id']}"), 404, "NOT_FOUND")
            assert (await brief.client.get("/jobs")).json()["total"] == 0
        return
    job = await finished(server.client, (await submit(server.client,
                                                      url=site.url("/pages/basic?ttl=1")))["job_id"])
    jobs = server.app.state.jobs
    real = jobs.clock
    jobs.clock = lambda: real() + jobs.ttl + 1  # the clock is injected, not slept
    try:
        assert_error(await server.client.get(f"/jobs/{job['id']}"), 404, "NOT_FOUND")
    finally:
        jobs.clock = real


async def test_another_caller_never_sees_my_jobs(server: Running, site: Site):
    mine = await submit(server.client, url=site.url("/pages/basic?owner=1"))
    await finished(server.client, mine["job_id"])
    batch = (await server.client.post("/batch", json={
        "urls": [site.url("/pages/basic?owner=2")], "async": True})).json()
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=server.base, transport=transport) as other:
        await assert_not_visible(other, mine["job_id"], batch["batch_id"])
    assert (await server.client.get(f"/jobs/{mine['job_id']}")).status_code == 200


# --------------------------------------------------------------------------- webhooks


async def test_the_webhook_is_signed_the_standard_webhooks_way(client, site: Site,
                                                               receiver: WebhookReceiver):
    secret = "whsec_" + base64.b64encode(b"a secret of 24 bytes....").decode()
    started = await submit(client, url=site.url("/pages/basic?hook=1"),
                           webhook_url=receiver.url(), webhook_secret=secret)
    [delivered] = await receiver.wait_for(1)
    assert verify(secret, delivered)
    assert delivered.headers["content-type"] == "application/json"
    assert delivered.headers["webhook-id"] == f"msg_{started['job_id']}"
    assert abs(int(delivered.headers["webhook-timestamp"]) - time.time()) < 60
    body = json.loads(delivered.body)
    assert body["id"] == started["job_id"] and body["status"] == "completed"
    assert body["result_url"].endswith(f"/jobs/{started['job_id']}/result")
    assert JOB_KEYS <= set(body) and "webhook" not in body
    tampered = type(delivered)(delivered.path, delivered.headers, delivered.body + b" ")
    assert not verify(secret, tampered)
    job = await finished(client, started["job_id"])
    await asyncio.sleep(0.1)
    job = (await client.get(f"/jobs/{started['job_id']}")).json()
    assert job["webhook"]["state"] == "delivered" and job["webhook"]["last_status"] == 200
    assert job["webhook"]["signed"] is True and len(job["webhook"]["attempts"]) == 1


async def test_a_webhook_without_a_secret_is_not_signed(client, site: Site,
                                                        receiver: WebhookReceiver):
    started = await submit(client, url=closed_port_url(), webhook_url=receiver.url())
    [delivered] = await receiver.wait_for(1)
    assert "webhook-signature" not in delivered.headers
    body = json.loads(delivered.body)
    assert body["id"] == started["job_id"] and body["status"] == "failed"
    assert body["error"]["code"] == "NAVIGATION_FAILED"


async def test_webhooks_are_retried_after_5xx(server: Running, site: Site,
                                              receiver: WebhookReceiver):
    webhooks = server.app.state.jobs.webhooks
    webhooks.base_delay, saved = 0.05, webhooks.base_delay
    receiver.script = [(500, {}), (500, {})]
    try:
        started = await submit(server.client, url=site.url("/pages/basic?hook=retry"),
                               webhook_url=receiver.url(), webhook_secret="k")
        deliveries = await receiver.wait_for(3)
    finally:
        webhooks.base_delay = saved
    assert {d.headers["webhook-id"] for d in deliveries} == {f"msg_{started['job_id']}"}
    assert all(verify("k", d) for d in deliveries)
    await asyncio.sleep(0.2)
    hook = (await server.client.get(f"/jobs/{started['job_id']}")).json()["webhook"]
    assert [a["status"] for a in hook["attempts"]] == [500, 500, 200]
    assert hook["state"] == "delivered"


async def test_a_redirect_from_the_receiver_is_not_followed(client, site: Site,
                                                            receiver: WebhookReceiver):
    receiver.script = [(302, {"Location": receiver.url("/elsewhere")})]
    started = await submit(client, url=site.url("/pages/basic?hook=302"),
                           webhook_url=receiver.url())
    await receiver.wait_for(1)
    await asyncio.sleep(1.0)
    assert receiver.to("/elsewhere") == [] and len(receiver.to("/hook")) == 1
    hook = (await client.get(f"/jobs/{started['job_id']}")).json()["webhook"]
    assert hook["state"] == "failed" and hook["last_status"] == 302
    assert "redirect not followed" in hook["attempts"][0]["error"]


# --------------------------------------------------------------------------- events


async def read_events(client: httpx.AsyncClient, job_id: str) -> list[tuple[str, Any]]:
    events = []
    async with client.stream("GET", f"/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = None
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: "):])))
    return events


async def test_events_when_connected_before_the_job_finishes(client, site: Site):
    started = await submit(client, url=site.url("/slow?ms=2600&sse=1"))
    events = await read_events(client, started["job_id"])
    names = [name for name, _ in events]
    assert names[0] == "connected" and names[-1] == "completed"
    assert set(names[1:-1]) == {"heartbeat"} and len(names) >= 3
    assert events[-1][1]["id"] == started["job_id"] and events[-1][1]["status"] == "completed"


async def test_events_when_connected_after_the_job_finished(client, site: Site):
    started = await submit(client, url=site.url("/pages/basic?sse=2"))
    await finished(client, started["job_id"])
    events = await read_events(client, started["job_id"])
    assert [name for name, _ in events] == ["connected", "completed"]
    failed = await submit(client, url=closed_port_url())
    await finished(client, failed["job_id"])
    events = await read_events(client, failed["job_id"])
    assert [name for name, _ in events] == ["connected", "failed"]
    assert events[-1][1]["error"]["code"] == "NAVIGATION_FAILED"


async def test_events_time_out(client, site: Site, monkeypatch):
    monkeypatch.setattr(job_routes, "EVENTS_TIMEOUT_S", 2.5)
    monkeypatch.setattr(job_routes, "HEARTBEAT_S", 1.0)
    started = await submit(client, url=site.url("/slow?ms=5000&sse=3"))
    events = await read_events(client, started["job_id"])
    assert [name for name, _ in events] == ["connected", "heartbeat", "heartbeat", "timeout"]
    await finished(client, started["job_id"])


# --------------------------------------------------------------------------- batch


async def test_a_batch_of_ten_with_two_bad_urls(client, site: Site):
    urls = [site.url(f"/pages/basic?batch={n}") for n in range(8)]
    urls[3:3] = [closed_port_url()]
    urls.append("http://")
    response = await client.post("/batch", json={"urls": urls, "width": 800, "height": 600})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 10 and body["succeeded"] == 8 and body["failed"] == 2
    assert [r["index"] for r in body["results"]] == list(range(10))
    assert [r["url"] for r in body["results"][:9]] == urls[:9]
    bad = {r["index"]: r["error"]["code"] for r in body["results"] if not r["ok"]}
    assert bad == {3: "NAVIGATION_FAILED", 9: "INVALID_URL"}
    for result in body["results"]:
        if result["ok"]:
            assert result["width"] == 800 and result["height"] == 600
            image = await client.get(result["result_url"])
            assert decode(image.content).size == (800, 600)
            assert (await client.get(result["image_url"])).content == image.content
    status = (await client.get(f"/batch/{body['batch_id']}")).json()
    assert status["counts"]["completed"] == 8 and status["counts"]["failed"] == 2


async def test_a_batch_with_one_private_url_is_refused_whole(server: Running, site: Site):
    before = server.app.state.jobs.health()["submitted"]
    captures = server.service.counts["captures"]
    response = await server.client.post("/batch", json={"urls": [
        site.url("/pages/basic?private=1"), "http://[::ffff:10.0.0.1]/", site.url("/pages/basic")]})
    body = assert_error(response, 403, "BLOCKED")
    assert "item 1" in body["message"]
    assert server.app.state.jobs.health()["submitted"] == before
    assert server.service.counts["captures"] == captures


async def test_an_async_batch_answers_202_and_is_followed_at_its_poll_url(client, site: Site):
    response = await client.post("/batch", json={"async": True, "requests": [
        {"url": site.url("/pages/basic?abatch=1")},
        {"url": site.url("/pages/basic?abatch=2"), "format": "jpeg"},
    ]})
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) >= {"batch_id", "jobs", "poll_url"} and len(body["jobs"]) == 2
    deadline = time.monotonic() + 60
    while (status := (await client.get(body["poll_url"])).json())["status"] != "completed":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    assert status["counts"]["completed"] == 2 and status["total"] == 2
    assert [j["metadata"]["format"] for j in status["jobs"]] == ["png", "jpeg"]


async def test_a_batch_answers_in_the_response_type_asked_for(client, site: Site):
    urls = [site.url(f"/pages/basic?rtype={n}") for n in range(2)]
    default = (await client.post("/batch", json={"urls": urls})).json()["results"]
    for item in default:  # base64 is the default: the bytes are in the answer
        image = await client.get(item["result_url"])
        assert base64.b64decode(item["data"]) == image.content
    described = (await client.post("/batch", json={"urls": urls, "cache": False,
                                                   "response_type": "json"})).json()
    assert all(item["ok"] and "data" not in item for item in described["results"])
    linked = (await client.post("/batch", json={"urls": urls, "response_type": "image_urls"}))
    for item in linked.json()["results"]:
        assert "data" not in item and "/images/" in item["image_url"]
        assert (await client.get(item["image_url"])).status_code == 200
    # paths name objects in the result storage, which this server does not have
    assert_error(await client.post("/batch", json={"urls": urls, "response_type": "paths"}),
                 400, "VALIDATION_ERROR", field="response_type")
    assert_error(await client.post("/batch", json={"urls": urls, "response_type": "image"}),
                 400, "VALIDATION_ERROR", field="response_type")
    assert_error(await client.post("/batch", json={"requests": [
        {"url": urls[0], "response_type": "json"}]}), 400, "VALIDATION_ERROR",
        field="requests[0].response_type")


async def test_a_batch_callback_fires_once_after_the_last_item(client, site: Site,
                                                                receiver: WebhookReceiver):
    urls = [site.url(f"/slow?ms={300 * n}&callback={n}") for n in range(3)] + ["http://"]
    response = await client.post("/batch", json={
        "urls": urls, "async": True, "callbackUrl": receiver.url("/batch"),
        "webhook_secret": "batch secret"})
    assert response.status_code == 202, response.text
    batch_id = response.json()["batch_id"]
    [delivered] = await receiver.wait_for(1, path="/batch")
    sent = json.loads(delivered.body)
    assert sent["batch_id"] == batch_id and sent["status"] == "completed"
    assert sent["counts"]["completed"] == 3 and sent["counts"]["failed"] == 1
    assert all(job["status"] in ("completed", "failed") for job in sent["jobs"])
    assert delivered.headers["webhook-id"] == f"msg_{batch_id}"
    assert verify("batch secret", delivered)
    await asyncio.sleep(1.0)
    assert len(receiver.to("/batch")) == 1 and receiver.to("/hook") == []
    status = (await client.get(f"/batch/{batch_id}")).json()
    assert status["callback"]["state"] == "delivered"


async def test_a_batch_callback_at_a_private_address_is_refused(client, site: Site):
    response = await client.post("/batch", json={
        "urls": [site.url("/pages/basic")], "callback_url": "http://10.0.0.1/hook"})
    assert_error(response, 403, "BLOCKED", field="callback_url")


async def test_a_nested_post_is_the_flat_capture_and_its_metadata_comes_back(
        client, site: Site):
    url = site.url("/pages/basic?shape=nested")
    response = await client.post("/screenshot", json={
        "url": url, "async": True, "output": {"format": "jpeg", "fullPage": True, "width": 640},
        "metadata": {"order": 42}})
    assert response.status_code == 202, response.text
    job = await finished(client, response.json()["job_id"])
    assert job["status"] == "completed" and job["client_metadata"] == {"order": 42}
    assert job["metadata"]["format"] == "jpeg" and job["metadata"]["width"] == 640
    flat = await client.get("/screenshot", params={
        "url": url, "format": "jpg", "full_page": "true", "viewportWidth": "640"})
    assert flat.status_code == 200 and flat.headers["x-cache"] == "HIT"
    assert flat.headers["etag"].strip('"') == job["metadata"]["cache_key"]


async def test_a_malformed_batch_is_one_400(client):
    assert_error(await client.post("/batch", json={"urls": []}), 400, "VALIDATION_ERROR",
                 field="urls")
    assert_error(await client.post("/batch", json={"urls": ["https://a.example"] * 51}), 400,
                 "VALIDATION_ERROR", field="urls")


# --------------------------------------------------------------------------- one slot


@pytest.fixture(scope="module")
async def one_slot(settings_for: Callable[..., Any]) -> Any:
    """One slot and at most three pending submissions per caller."""
    async with run_server(settings_for(browser_max_concurrent=1, max_pending_jobs=3)) as running:
        yield running


async def test_cancelling_a_queued_and_a_running_job(one_slot: Running, site: Site):
    client = one_slot.client
    running = await submit(client, url=site.url("/slow?ms=20000&cancel=1"))
    await until_status(client, running["job_id"], "processing")
    queued = await submit(client, url=site.url("/pages/basic?cancel=2"))
    assert (await client.get(f"/jobs/{queued['job_id']}")).json()["status"] == "queued"

    response = await client.delete(f"/jobs/{queued['job_id']}")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert response.json()["error"]["code"] == "CANCELLED"
    assert one_slot.pool.stats()["in_use"] == 1

    response = await client.delete(f"/jobs/{running['job_id']}")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    deadline = time.monotonic() + 5
    while one_slot.pool.stats()["in_use"]:  # the browser work stopped and the slot is free
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert_error(await client.get(f"/jobs/{running['job_id']}/result"), 409, "CANCELLED")
    assert_error(await client.delete(f"/jobs/{running['job_id']}"), 409, "JOB_FINISHED")
    after = await finished(client, (await submit(client, url=site.url("/pages/basic?c=3")))["job_id"])
    assert after["status"] == "completed"


async def test_cancelling_a_job_leaves_a_synchronous_request_for_the_same_capture(
        one_slot: Running, site: Site):
    client = one_slot.client
    url = site.url("/slow?ms=1500&shared=1")
    sync = asyncio.ensure_future(client.get("/screenshot", params={"url": url}))
    await asyncio.sleep(0.3)
    job = await submit(client, url=url)
    await client.delete(f"/jobs/{job['job_id']}")
    response = await sync
    assert response.status_code == 200 and decode(response.content).size == (1280, 800)


async def test_one_caller_s_many_jobs_do_not_delay_another_s_one(
        site: Site, settings_for: Callable[..., Any]):
    """Fair shares on one slot: a second caller's job runs after at most one more of the
    first caller's six, not after all of them."""
    async with run_server(settings_for(browser_max_concurrent=1, max_pending_jobs=10)) as one:
        many = [await submit(one.client, url=site.url(f"/slow?ms=300&fair={n}"))
                for n in range(6)]
        await until_status(one.client, many[0]["job_id"], "processing")
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(base_url=one.base, transport=transport, timeout=60) as other:
            mine = await finished(other, (await submit(other, url=site.url(
                "/slow?ms=300&fair=other")))["job_id"])
        theirs = [await finished(one.client, job["job_id"]) for job in many]
    after = [job for job in theirs if job["started_at"] > mine["started_at"]]
    assert mine["status"] == "completed" and len(after) >= 4, [j["started_at"] for j in theirs]


async def test_the_queue_bound_answers_503(site: Site, settings_for: Callable[..., Any]):
    """``MAX_QUEUED_JOBS`` counts the jobs waiting for every caller (in Redis: every replica)."""
    settings = settings_for(browser_max_concurrent=1, max_queued_jobs=2, max_pending_jobs=10)
    async with run_server(settings) as one:
        running = await submit(one.client, url=site.url("/slow?ms=10000&bound=0"))
        await until_status(one.client, running["job_id"], "processing")
        waiting = [await submit(one.client, url=site.url(f"/pages/basic?bound={n}"))
                   for n in (1, 2)]
        response = await one.client.get("/screenshot", params={
            "async": "true", "url": site.url("/pages/basic?bound=3")})
        body = assert_error(response, 503, "POOL_EXHAUSTED")
        assert "2 jobs wait" in body["message"] and int(response.headers["retry-after"]) >= 1
        await one.client.delete(f"/jobs/{waiting[0]['job_id']}")
        assert (await one.client.get("/screenshot", params={
            "async": "true", "url": site.url("/pages/basic?bound=4")})).status_code == 202
        await one.client.delete(f"/jobs/{running['job_id']}")


async def test_the_pending_limit_answers_429(one_slot: Running, site: Site):
    client = one_slot.client
    deadline = time.monotonic() + 30  # the tests before may still be cancelling a job
    while (await client.get("/me")).json()["jobs"]["pending"]:
        assert time.monotonic() < deadline, "a job of an earlier test is still pending"
        await asyncio.sleep(0.1)
    ids = [(await submit(client, url=site.url(f"/slow?ms=10000&limit={n}")))["job_id"]
           for n in range(3)]
    response = await client.get("/screenshot", params={
        "async": "true", "url": site.url("/pages/basic?limit=4")})
    body = assert_error(response, 429, "RATE_LIMITED")
    assert int(response.headers["retry-after"]) >= 1 and body["retry_after"] >= 1
    batch = await client.post("/batch", json={"urls": [site.url("/pages/basic")], "async": True})
    assert_error(batch, 429, "RATE_LIMITED")
    for job_id in ids:
        await client.delete(f"/jobs/{job_id}")
    assert (await client.get("/screenshot", params={
        "async": "true", "url": site.url("/pages/basic?limit=5")})).status_code == 202


async def test_shutdown_fails_unfinished_jobs_with_shutdown_and_fires_their_webhooks(
        site: Site, receiver: WebhookReceiver, backend: str):
    if backend == "redis":
        pytest.skip("with Redis a stopping server hands its jobs back instead: "
                    "test_a_stopped_server_hands_its_jobs_to_the_next")
    settings = make_settings(browser_max_concurrent=1, shutdown_grace_seconds=1.0)
    async with run_server(settings) as running:
        client = running.client
        quick = await submit(client, url=site.url("/pages/basic?down=0"),
                             webhook_url=receiver.url("/quick"))
        await finished(client, quick["job_id"])
        slow = await submit(client, url=site.url("/slow?ms=20000&down=1"),
                            webhook_url=receiver.url())
        await until_status(client, slow["job_id"], "processing")
        queued = await submit(client, url=site.url("/pages/basic?down=2"),
                              webhook_url=receiver.url())
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 20
    deliveries = await receiver.wait_for(2, within=5)
    by_id = {json.loads(d.body)["id"]: json.loads(d.body) for d in deliveries}
    for job in (slow, queued):
        sent = by_id[job["job_id"]]
        assert sent["status"] == "failed" and sent["error"]["code"] == "SHUTDOWN"
    assert json.loads(receiver.to("/quick")[0].body)["status"] == "completed"


async def test_a_stopped_server_hands_its_jobs_to_the_next(
        site: Site, receiver: WebhookReceiver, backend: str, settings_for: Callable[..., Any]):
    """With Redis, jobs outlive the server: what it did not finish, the next one does."""
    if backend == "memory":
        pytest.skip("in memory, jobs end with the process: see the SHUTDOWN test above")
    settings = settings_for(browser_max_concurrent=1, shutdown_grace_seconds=0.5)
    async with run_server(settings) as first:
        slow = await submit(first.client, url=site.url("/slow?ms=3000&back=1"),
                            webhook_url=receiver.url())
        await until_status(first.client, slow["job_id"], "processing")
        queued = await submit(first.client, url=site.url("/pages/basic?back=2"),
                              webhook_url=receiver.url())
        assert first.app.state.jobs.health()["handed_back"] == 0
    assert first.app.state.jobs.health()["handed_back"] == 1
    assert not receiver.to("/hook")
    async with run_server(settings) as second:
        for job in (slow, queued):
            done = await finished(second.client, job["job_id"])
            assert done["status"] == "completed", done
        deliveries = await receiver.wait_for(2, within=10)
    assert sorted(json.loads(d.body)["id"] for d in deliveries) == sorted(
        [slow["job_id"], queued["job_id"]])

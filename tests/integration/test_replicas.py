"""Many replicas on one Redis act as one service (``JOB_BACKEND=redis``).

Each test starts real ``screenshotd serve`` processes on free ports, on a ``redis-server`` of its
own; a crash is a real SIGKILL. Pages come from the test site, which counts every load
(:data:`tests.support.site.LOADS`), so a test can tell how many times a job really rendered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.test_jobs import verify
from tests.support.checks import assert_error, decode
from tests.support.servers import (
    RedisServer,
    ServeProcess,
    WebhookReceiver,
    serve_process,
    serve_processes,
)
from tests.support.site import LOADS, Site

CLAIM_TIMEOUT_S = 3


def replica_env(redis: RedisServer, **more: str) -> dict[str, str]:
    return {"REDIS_URL": redis.url, "JOB_BACKEND": "redis", "MAX_REQUESTS_PER_MINUTE": "0",
            "JOB_CLAIM_TIMEOUT_SECONDS": str(CLAIM_TIMEOUT_S), "BROWSER_MAX_CONCURRENT": "2",
            "LOG_LEVEL": "info", **more}


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


async def submit(base: str, **params: Any) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.get("/screenshot", params={"async": "true", **params})
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


async def status(base: str, job_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def until(base: str, job_id: str, states: set[str], within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        job = await status(base, job_id)
        if job["status"] in states:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        await asyncio.sleep(0.1)


FINISHED = {"completed", "failed", "cancelled"}


async def events(base: str, job_id: str) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    async with httpx.AsyncClient(base_url=base, timeout=90) as client, \
            client.stream("GET", f"/jobs/{job_id}/events") as response:
        name = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                seen.append((str(name), json.loads(line[6:])))
    return seen


async def test_three_replicas_act_as_one(redis: RedisServer, site: Site):
    """Submitted to A, polled on B, streamed on C; a job running on A cancelled from C."""
    env = replica_env(redis, MAX_PENDING_JOBS="40")
    with serve_process(env) as a:
        long_url = site.url("/slow?ms=30000&replicas=cancel")
        long_job = await submit(a.base, url=long_url)
        await until(a.base, long_job, {"processing"})  # on A: the only replica yet
        with serve_processes(2, env) as (b, c):
            urls = [site.url(f"/slow?ms=300&replicas={n}") for n in range(30)]
            ids = [await submit(a.base, url=url) for url in urls]
            streams = [asyncio.ensure_future(events(c.base, job_id)) for job_id in ids[:5]]

            async with httpx.AsyncClient(base_url=c.base, timeout=30) as client:
                cancelled = await client.delete(f"/jobs/{long_job}")
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["status"] == "cancelled"
            assert cancelled.json()["error"]["code"] == "CANCELLED"
            deadline = time.monotonic() + 10  # A's browser work stopped: its slot is free
            while a.health()["pool"]["in_use"] and a.health()["jobs"]["processing"]:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)

            for job_id in ids:
                job = await until(b.base, job_id, FINISHED, within=120)
                assert job["status"] == "completed", job
            for stream in streams:
                seen = await stream
                assert seen[0][0] == "connected" and seen[-1][0] == "completed"
                assert seen[-1][1]["status"] == "completed"

            async with httpx.AsyncClient(base_url=c.base, timeout=30) as client:
                result = await client.get(f"/jobs/{ids[0]}/result")
                listed = (await client.get("/jobs", params={"per_page": 100})).json()
            assert decode(result.content).size == (1280, 800)
            assert listed["total"] == 31
            assert {job["id"] for job in listed["jobs"]} == {*ids, long_job}

            for url in urls:  # each job rendered exactly once
                assert LOADS[url[len(site.base):]] == 1, url
            claims = [r.health()["jobs"]["claims"] for r in (a, b, c)]
            assert sum(claims) == 31 and sum(n > 0 for n in claims) >= 2, claims
            replicas = b.health()["replicas"]
            assert len(replicas) == 3 and b.health()["replica_id"] in replicas
            async with httpx.AsyncClient(base_url=c.base, timeout=30) as client:
                metrics = (await client.get("/metrics")).text
            assert "screenshotd_replicas_alive 3.0" in metrics
            assert f"screenshotd_job_claims_total {float(claims[2])}" in metrics


async def test_a_killed_replica_s_job_is_taken_over_and_its_webhook_sent_once(
        redis: RedisServer, site: Site, receiver: WebhookReceiver):
    env = replica_env(redis)
    secret = "a webhook secret"
    victim = ServeProcess.spawn(env)
    try:
        victim.wait_ready()
        url = site.url("/slow?ms=6000&replicas=kill")
        job_id = await submit(victim.base, url=url, webhook_url=receiver.url(),
                              webhook_secret=secret)
        await until(victim.base, job_id, {"processing"})
        with serve_process(env) as survivor:
            victim.kill()
            killed = time.monotonic()
            job = await until(survivor.base, job_id, FINISHED, within=60)
            assert job["status"] == "completed", job
            assert time.monotonic() - killed < CLAIM_TIMEOUT_S + 6 + 10
            [delivered] = await receiver.wait_for(1)
            await asyncio.sleep(CLAIM_TIMEOUT_S + 1)  # no second delivery comes
            assert len(receiver.to("/hook")) == 1
            assert delivered.headers["webhook-id"] == f"msg_{job_id}" and verify(secret, delivered)
            assert json.loads(delivered.body)["status"] == "completed"
            assert survivor.health()["jobs"]["takeovers"] == 1
            assert LOADS[url[len(site.base):]] == 2  # started on the victim, done on the survivor
            assert len(survivor.health()["replicas"]) == 1
    finally:
        victim.close()


async def test_a_replica_stopped_with_sigterm_hands_its_jobs_back(redis: RedisServer, site: Site):
    env = replica_env(redis, BROWSER_MAX_CONCURRENT="1", SHUTDOWN_GRACE_SECONDS="0.5")
    with serve_processes(2, env) as (stopping, staying):
        ids = [await submit(stopping.base, url=site.url(f"/slow?ms=1500&replicas=term{n}"))
               for n in range(6)]
        await asyncio.sleep(0.5)
        log = stopping.stop()
        for job_id in ids:
            job = await until(staying.base, job_id, FINISHED, within=60)
            assert job["status"] == "completed", job
    assert "handed" in log, log[-2000:]


async def test_finished_jobs_survive_a_restart_of_every_replica(redis: RedisServer, site: Site):
    env = replica_env(redis)
    with serve_processes(2, env) as (a, b):
        job_id = await submit(a.base, url=site.url("/pages/basic?replicas=restart"))
        await until(b.base, job_id, FINISHED)
        async with httpx.AsyncClient(base_url=b.base, timeout=60) as client:
            batch = (await client.post("/batch", json={
                "urls": [site.url("/pages/basic?replicas=batch"), "http://"]})).json()
            before = (await client.get(f"/jobs/{job_id}/result")).content
    with serve_process(env) as fresh:
        job = await status(fresh.base, job_id)
        assert job["status"] == "completed"
        async with httpx.AsyncClient(base_url=fresh.base, timeout=30) as client:
            assert (await client.get(f"/jobs/{job_id}/result")).content == before
            kept = (await client.get(f"/batch/{batch['batch_id']}")).json()
        assert kept["counts"]["completed"] == 1 and kept["counts"]["failed"] == 1


async def test_the_pending_limit_is_shared_by_replicas(redis: RedisServer, site: Site):
    env = replica_env(redis, MAX_PENDING_JOBS="10", BROWSER_MAX_CONCURRENT="1")
    with serve_processes(2, env) as (a, b):
        ids = [await submit((a, b)[n % 2].base, url=site.url(f"/slow?ms=8000&pending={n}"))
               for n in range(10)]
        async with httpx.AsyncClient(base_url=b.base, timeout=30) as client:
            refused = await client.get("/screenshot", params={
                "async": "true", "url": site.url("/pages/basic?pending=11")})
            assert_error(refused, 429, "RATE_LIMITED")
            for job_id in ids:
                assert (await client.delete(f"/jobs/{job_id}")).status_code in (200, 409)
            assert (await client.get("/screenshot", params={
                "async": "true", "url": site.url("/pages/basic?pending=12")})).status_code == 202


async def test_without_redis_captures_work_and_jobs_say_503(redis: RedisServer, site: Site):
    with serve_process(replica_env(redis)) as replica:
        redis.kill()
        async with httpx.AsyncClient(base_url=replica.base, timeout=60) as client:
            shot = await client.get("/screenshot", params={"url": site.url("/pages/basic?down=1")})
            assert shot.status_code == 200 and decode(shot.content).size == (1280, 800)
            refused = await client.get("/screenshot", params={
                "async": "true", "url": site.url("/pages/basic?down=2")})
            assert_error(refused, 503, "JOBS_UNAVAILABLE")
            assert int(refused.headers["retry-after"]) >= 1
            health = (await client.get("/health")).json()
            assert health["status"] == "degraded"
            redis.start()
            deadline = time.monotonic() + 20
            while True:
                answer = await client.get("/screenshot", params={
                    "async": "true", "url": site.url("/pages/basic?down=3")})
                if answer.status_code == 202:
                    break
                assert time.monotonic() < deadline, answer.text
                await asyncio.sleep(0.5)
            job = await until(replica.base, answer.json()["job_id"], FINISHED)
            assert job["status"] == "completed"

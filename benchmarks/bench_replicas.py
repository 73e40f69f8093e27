"""Jobs on Redis, two measurements in one run, each against its baseline in the same run:

- **The backend.** 200 async jobs of small local pages (distinct URLs, ``cache=false``, 3 slots)
  on one replica with ``JOB_BACKEND=redis`` against the same on ``JOB_BACKEND=memory``. Rounds
  alternate which goes first; the ratio of median total times (1.0: Redis adds nothing).
- **Two replicas against one.** The same 200 jobs on two replicas of 3 slots each, on one Redis,
  submitted to both in turn (as a load balancer would), against one replica: the ratio of
  median total times. On a machine of 2 cores this measures how the cores are shared, not the
  backend: both replicas' Chromiums compete for the same two cores.

The clock stops when the replicas' ``/health`` count all jobs finished (polled every 0.25 s).

    python benchmarks/bench_replicas.py [--jobs 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import statistics
import time
from collections.abc import Iterator
from typing import Any

import httpx
from bench_jobs import SLOTS, urls
from common import local_site, report, screenshotd_server

from tests.support.servers import RedisServer

POLL_S = 0.25
_DATABASES = itertools.count(1)


async def finished(clients: list[httpx.AsyncClient]) -> tuple[int, int]:
    """Jobs finished by all replicas, and how many of them completed."""
    done = completed = 0
    for client in clients:
        jobs = (await client.get("/health")).json()["jobs"]
        done += jobs["completed"] + jobs["failed"] + jobs["cancelled"]
        completed += jobs["completed"]
    return done, completed


async def run(clients: list[httpx.AsyncClient], pages: list[str]) -> tuple[float, int]:
    """Submit ``pages`` to the replicas in turn; the seconds until all finished, and how many
    completed."""
    done_before, completed_before = await finished(clients)
    gate = asyncio.Semaphore(16)

    async def submit(client: httpx.AsyncClient, url: str) -> None:
        async with gate:
            response = await client.get("/screenshot", params={
                "url": url, "cache": "false", "async": "true"})
            assert response.status_code == 202, response.text

    started = time.perf_counter()
    await asyncio.gather(*(submit(clients[n % len(clients)], url)
                           for n, url in enumerate(pages)))
    while (await finished(clients))[0] - done_before < len(pages):
        await asyncio.sleep(POLL_S)
    elapsed = time.perf_counter() - started
    return elapsed, (await finished(clients))[1] - completed_before


@contextlib.contextmanager
def replicas(count: int, jobs: int, **env: str) -> Iterator[list[str]]:
    common = {"BROWSER_MAX_CONCURRENT": str(SLOTS), "MAX_PENDING_JOBS": str(jobs),
              "BROWSER_QUEUE_TIMEOUT_MS": "300000", "CACHE_MAX_BYTES": "0",
              "CACHE_NEAR_MAX_BYTES": "0", **env}
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(screenshotd_server(**common)) for _ in range(count)]


async def measure(bases: list[str], site: str, tag: str, count: int) -> float:
    clients = [httpx.AsyncClient(base_url=base, timeout=120,
                                 limits=httpx.Limits(max_connections=32)) for base in bases]
    try:
        await run(clients, urls(site, f"warm{tag}", 12))
        elapsed, ok = await run(clients, urls(site, tag, count))
        assert ok == count, f"{tag}: {ok}/{count} completed"
        return elapsed
    finally:
        for client in clients:
            await client.aclose()


async def main(count: int, rounds: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {"memory": [], "redis": [], "redis_2_replicas": []}
    with RedisServer() as redis, local_site() as site:
        def on_redis() -> dict[str, str]:  # a fresh database for each set of replicas
            return {"REDIS_URL": f"redis://127.0.0.1:{redis.port}/{next(_DATABASES) % 16}",
                    "JOB_BACKEND": "redis"}

        for number in range(rounds):
            kinds = ["memory", "redis", "redis_2_replicas"]
            if number % 2:
                kinds.reverse()
            for kind in kinds:
                env = {"JOB_BACKEND": "memory"} if kind == "memory" else on_redis()
                with replicas(2 if kind == "redis_2_replicas" else 1, count, **env) as bases:
                    elapsed = await measure(bases, site, f"{kind}{number}", count)
                times[kind].append(elapsed)
                print(f"round {number + 1} {kind}: {elapsed:.2f} s", flush=True)
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    return {
        "jobs": count, "slots_per_replica": SLOTS, "rounds": rounds,
        "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
        "median_s": {k: round(v, 2) for k, v in medians.items()},
        "redis_over_memory": round(medians["redis"] / medians["memory"], 3),
        "two_replicas_over_one": round(medians["redis_2_replicas"] / medians["redis"], 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs per run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    report("replicas", asyncio.run(main(args.jobs, args.rounds)))

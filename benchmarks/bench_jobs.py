"""Jobs overhead: 200 async jobs against 200 synchronous captures at the same concurrency.

One ``screenshotd serve`` process with 3 slots. Synchronous: 3 clients capture 200 small local
pages (``cache=false``, distinct URLs), one request at a time each. Jobs: the same 200 pages
submitted with ``async=true`` (16 connections), and the clock stops when ``/health`` counts
all 200 finished; the server's 3 workers run them. ``/health`` is polled every 0.25 s (at most
0.4% of a 60 s run): polling at 50 Hz cost the 2-core machine about 10% of its capture rate,
which measured the client, not the job table. Rounds alternate which goes first, and the
medians are compared: the ratio is jobs time / synchronous time (1.0 means the job table,
the queue and the polling add nothing).

    python benchmarks/bench_jobs.py [--jobs 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx
from common import ROOT, local_site, machine, screenshotd_server

SLOTS = 3
POLL_S = 0.25


def urls(site: str, tag: str, count: int) -> list[str]:
    return [f"{site}/pages/basic?bench={tag}&n={n}" for n in range(count)]


async def run_sync(client: httpx.AsyncClient, pages: list[str]) -> tuple[float, int]:
    queue = list(reversed(pages))
    ok = 0

    async def worker() -> None:
        nonlocal ok
        while queue:
            url = queue.pop()
            response = await client.get("/screenshot", params={"url": url, "cache": "false"})
            ok += response.status_code == 200

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(SLOTS)))
    return time.perf_counter() - started, ok


async def finished_count(client: httpx.AsyncClient) -> int:
    jobs = (await client.get("/health")).json()["jobs"]
    return int(jobs["completed"] + jobs["failed"] + jobs["cancelled"])


async def run_jobs(client: httpx.AsyncClient, pages: list[str]) -> tuple[float, int]:
    before = await finished_count(client)
    completed_before = (await client.get("/health")).json()["jobs"]["completed"]
    gate = asyncio.Semaphore(16)

    async def submit(url: str) -> None:
        async with gate:
            response = await client.get("/screenshot", params={
                "url": url, "cache": "false", "async": "true"})
            assert response.status_code == 202, response.text

    started = time.perf_counter()
    await asyncio.gather(*(submit(url) for url in pages))
    while await finished_count(client) - before < len(pages):
        await asyncio.sleep(POLL_S)
    elapsed = time.perf_counter() - started
    completed = (await client.get("/health")).json()["jobs"]["completed"] - completed_before
    return elapsed, completed


async def main(count: int, rounds: int) -> dict:
    sync_times: list[float] = []
    job_times: list[float] = []
    failures = 0
    with local_site() as site, screenshotd_server(
        BROWSER_MAX_CONCURRENT=str(SLOTS), MAX_PENDING_JOBS=str(count),
        BROWSER_QUEUE_TIMEOUT_MS="300000", CACHE_MAX_BYTES="0",
    ) as base:
        async with httpx.AsyncClient(base_url=base, timeout=120,
                                     limits=httpx.Limits(max_connections=32)) as client:
            await run_sync(client, urls(site, "warmup", 12))
            for number in range(rounds):
                order = ("sync", "jobs") if number % 2 == 0 else ("jobs", "sync")
                for kind in order:
                    pages = urls(site, f"{kind}{number}", count)
                    if kind == "sync":
                        elapsed, ok = await run_sync(client, pages)
                        sync_times.append(elapsed)
                    else:
                        elapsed, ok = await run_jobs(client, pages)
                        job_times.append(elapsed)
                    failures += count - ok
                    print(f"round {number + 1} {kind}: {elapsed:.2f} s, {ok}/{count} ok",
                          flush=True)
    sync_median = statistics.median(sync_times)
    jobs_median = statistics.median(job_times)
    return {
        "captures_per_run": count,
        "slots": SLOTS,
        "rounds": rounds,
        "sync_seconds": [round(t, 2) for t in sync_times],
        "jobs_seconds": [round(t, 2) for t in job_times],
        "sync_median_s": round(sync_median, 2),
        "jobs_median_s": round(jobs_median, 2),
        "ratio_jobs_over_sync": round(jobs_median / sync_median, 3),
        "failures": failures,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="captures per run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = asyncio.run(main(args.jobs, args.rounds))
    result["machine"] = machine()
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "jobs.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))

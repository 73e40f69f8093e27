"""Result storage, three measurements in one run, each against its baseline:

- **The client.** Put and get latency of a 200 KB object on a real S3 server (SeaweedFS on
  loopback), obstore against aiobotocore, alternating rounds: the choice of client in
  ``screenshotd/core/storage.py``.
- **Stored jobs.** 200 async jobs of small local pages (distinct URLs, 3 slots) on a server
  that stores every result (local disk, then S3) against the same on a server without storage,
  rounds alternating; the ratio of total times (``bench_jobs.py`` drives the jobs).
- **Reading a stored result.** ``GET /results/{id}/screenshot`` against a memory cache hit of
  the same capture on the same server, with wrk (requests/s, local disk and S3).

    python benchmarks/bench_storage.py [--objects 100] [--rounds 3] [--jobs 200] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from common import machine  # noqa: E402

from tests.support.s3 import ACCESS_KEY, SECRET_KEY, S3Server  # noqa: E402

SIZE = 200_000


async def with_obstore(endpoint: str, bucket: str, n: int, tag: str) -> tuple[list[float], list[float]]:
    import obstore
    from obstore.store import S3Store

    store = S3Store(bucket, config={"endpoint": endpoint, "access_key_id": ACCESS_KEY,
                                    "secret_access_key": SECRET_KEY, "region": "us-east-1",
                                    "virtual_hosted_style_request": False},
                    client_options={"allow_http": True})
    data = os.urandom(SIZE)
    puts, gets = [], []
    for i in range(n):
        started = time.perf_counter()
        await obstore.put_async(store, f"{tag}/{i}", data)
        put_done = time.perf_counter()
        got = await obstore.get_async(store, f"{tag}/{i}")
        body = await got.bytes_async()
        puts.append((put_done - started) * 1000)
        gets.append((time.perf_counter() - put_done) * 1000)
        assert bytes(body) == data
    return puts, gets


async def with_aiobotocore(endpoint: str, bucket: str, n: int,
                           tag: str) -> tuple[list[float], list[float]]:
    from aiobotocore.session import get_session

    data = os.urandom(SIZE)
    puts, gets = [], []
    async with get_session().create_client(
            "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name="us-east-1") as client:
        for i in range(n):
            started = time.perf_counter()
            await client.put_object(Bucket=bucket, Key=f"{tag}/{i}", Body=data)
            put_done = time.perf_counter()
            response = await client.get_object(Bucket=bucket, Key=f"{tag}/{i}")
            body = await response["Body"].read()
            puts.append((put_done - started) * 1000)
            gets.append((time.perf_counter() - put_done) * 1000)
            assert body == data
    return puts, gets


async def stored_jobs(server: S3Server, count: int, rounds: int) -> dict[str, Any]:
    """Total time of ``count`` jobs per store, alternating; the ratios to no storage."""
    from bench_jobs import SLOTS, run_jobs, urls
    from common import local_site, screenshotd_server

    env = {"BROWSER_MAX_CONCURRENT": str(SLOTS), "MAX_PENDING_JOBS": str(count),
           "BROWSER_QUEUE_TIMEOUT_MS": "300000", "CACHE_MAX_BYTES": "0"}
    times: dict[str, list[float]] = {"none": [], "local": [], "s3": []}
    with tempfile.TemporaryDirectory() as tmp, local_site() as site:
        stores = {"none": {}, "local": {"STORAGE_TYPE": "local", "LOCAL_STORAGE_PATH": tmp},
                  "s3": server.env(S3_PREFIX="bench")}
        for number in range(rounds):
            for kind, extra in stores.items():
                with screenshotd_server(**env, **extra) as base:
                    async with httpx.AsyncClient(base_url=base, timeout=120, limits=httpx.Limits(
                            max_connections=32)) as client:
                        await run_jobs(client, urls(site, f"warm{kind}{number}", 12))
                        elapsed, ok = await run_jobs(client, urls(site, f"{kind}{number}", count))
                        assert ok == count, f"{kind}: {ok}/{count} completed"
                        if kind != "none":
                            stored = (await client.get("/health")).json()["storage"]["stored"]
                            assert stored == count + 12, f"{kind}: {stored} stored"
                times[kind].append(elapsed)
                print(f"round {number + 1} {kind}: {elapsed:.2f} s", flush=True)
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    return {"jobs": count, "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
            "median_s": {k: round(v, 2) for k, v in medians.items()},
            "local_over_none": round(medians["local"] / medians["none"], 3),
            "s3_over_none": round(medians["s3"] / medians["none"], 3)}


def result_reads(server: S3Server, seconds: int, rounds: int) -> dict[str, Any]:
    """wrk: a stored result against a memory cache hit of the same capture, same server."""
    from bench_cache import compare
    from common import local_site, screenshotd_server

    ratios: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, local_site() as site:
        stores = {"local": {"STORAGE_TYPE": "local", "LOCAL_STORAGE_PATH": tmp},
                  "s3": server.env(S3_PREFIX="reads")}
        for kind, extra in stores.items():
            with screenshotd_server(**extra) as base:
                capture = f"{base}/screenshot?url={site}/pages/noise-box"
                stored = httpx.get(capture + "&store=true&response_type=json", timeout=60).json()
                assert httpx.get(capture, timeout=60).headers["x-cache"] == "HIT"
                log: dict[str, list[float]] = {}
                rates = compare({"memory hit": (capture, None),
                                 "stored result": (stored["result_url"], None)},
                                seconds, rounds, log)
                ratios[kind] = {"requests_per_s": {k: round(v) for k, v in rates.items()},
                                "stored / memory hit": round(
                                    rates["stored result"] / rates["memory hit"], 3)}
    return ratios


async def main(objects: int, rounds: int, jobs: int = 200, seconds: int = 5) -> dict[str, Any]:
    server = S3Server().start()
    try:
        samples: dict[str, dict[str, list[float]]] = {
            name: {"put": [], "get": []} for name in ("obstore", "aiobotocore")}
        for n in range(rounds):
            for name, fn in (("obstore", with_obstore), ("aiobotocore", with_aiobotocore)):
                puts, gets = await fn(server.endpoint, server.bucket, objects, f"{name}-{n}")
                samples[name]["put"] += puts[5:]  # the first calls open connections
                samples[name]["get"] += gets[5:]
        jobs_result = await stored_jobs(server, jobs, rounds) if jobs else None
        reads = await asyncio.to_thread(result_reads, server, seconds, rounds) if seconds \
            else None
    finally:
        server.stop()
    result: dict[str, Any] = {"object_bytes": SIZE, "objects": objects, "rounds": rounds,
                              "machine": machine()}
    for name, times in samples.items():
        result[name] = {f"{op}_p50_ms": round(statistics.median(v), 2) for op, v in times.items()}
    for op in ("put", "get"):
        result[f"aiobotocore_vs_obstore_{op}"] = round(
            result["aiobotocore"][f"{op}_p50_ms"] / result["obstore"][f"{op}_p50_ms"], 2)
    result["stored_jobs"] = jobs_result
    result["result_reads"] = reads
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=200, help="jobs per run (0: skip)")
    parser.add_argument("--seconds", type=int, default=5, help="wrk seconds (0: skip)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.objects, args.rounds, args.jobs, args.seconds)),
                     indent=2))

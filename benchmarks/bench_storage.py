"""Result storage: put and get latency of a 200 KB object on a real S3 server (SeaweedFS on
loopback), obstore against aiobotocore, in one run, alternating rounds. This is the
measurement behind the choice of client in ``screenshotd/core/storage.py``.

    python benchmarks/bench_storage.py [--objects 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


async def main(objects: int, rounds: int) -> dict[str, Any]:
    server = S3Server().start()
    try:
        samples: dict[str, dict[str, list[float]]] = {
            name: {"put": [], "get": []} for name in ("obstore", "aiobotocore")}
        for n in range(rounds):
            for name, fn in (("obstore", with_obstore), ("aiobotocore", with_aiobotocore)):
                puts, gets = await fn(server.endpoint, server.bucket, objects, f"{name}-{n}")
                samples[name]["put"] += puts[5:]  # the first calls open connections
                samples[name]["get"] += gets[5:]
    finally:
        server.stop()
    result: dict[str, Any] = {"object_bytes": SIZE, "objects": objects, "rounds": rounds,
                              "machine": machine()}
    for name, times in samples.items():
        result[name] = {f"{op}_p50_ms": round(statistics.median(v), 2) for op, v in times.items()}
    for op in ("put", "get"):
        result[f"aiobotocore_vs_obstore_{op}"] = round(
            result["aiobotocore"][f"{op}_p50_ms"] / result["obstore"][f"{op}_p50_ms"], 2)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.objects, args.rounds)), indent=2))

"""What operating it costs on the hottest path: a memory cache hit, with API keys and the rate
limiter on, and with the access log written (text and JSON), against the same hit with all of
them off. Then the Redis limiter against the Redis cache alone.

The load generator is ``wrk`` (Debian's), one thread and 16 connections, as in
``bench_cache.py``; every target is a ``screenshotd serve`` process of its own, warmed, and the
targets alternate round by round. The rate limit is on, but a hit is never metered (only
renders are), so what the gated targets pay is the key check and the gatekeeper's bookkeeping.
Logs go to a file, as a container's would go to a pipe. In-process figures for one limiter check
and one gatekeeper admission follow.

    python benchmarks/bench_gate.py [--seconds 6] [--rounds 3]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench_cache import compare, run_wrk_benchmark, warm
from common import local_site, screenshotd_server

from tests.support.servers import RedisServer

KEY = "bench-key-0123456789"
LIMIT = "1000000000"


def in_process() -> dict[str, float]:
    """Microseconds per call, over 200,000 calls (the median of 5 runs)."""
    from screenshotd.auth.gatekeeper import Gatekeeper, KeyRing
    from screenshotd.auth.ratelimit import MemoryLimiter

    limiter = MemoryLimiter(10**9)
    keeper = Gatekeeper(KeyRing((KEY, "second-key-abcdef")), None, MemoryLimiter(10**9))
    headers = [(b"x-api-key", KEY.encode())]

    async def run(n: int) -> tuple[float, float]:
        started = time.perf_counter()
        for _ in range(n):
            await limiter.hit("key:0123456789abcdef")
        limit_us = (time.perf_counter() - started) / n * 1e6
        started = time.perf_counter()
        for _ in range(n):
            await keeper.admit({"type": "http", "method": "GET", "path": "/screenshot",
                                "headers": headers, "query_string": b"url=x",
                                "client": ("127.0.0.1", 1)})
        return limit_us, (time.perf_counter() - started) / n * 1e6

    runs = [asyncio.run(run(200_000)) for _ in range(5)]
    return {"memory limiter hit, us": round(statistics.median(r[0] for r in runs), 2),
            "gatekeeper admit (key + limit), us": round(statistics.median(r[1] for r in runs), 2)}


def main(seconds: int, rounds: int) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make install-test` (Debian package wrk)")
    result: dict = {"wrk": f"-t1 -c16 -d{seconds}s", "rounds": rounds}
    every: dict[str, dict[str, list[float]]] = {"memory": {}, "redis": {}}
    with local_site() as site, tempfile.TemporaryDirectory() as tmp, \
            contextlib.ExitStack() as servers:
        page = f"{site}/pages/noise-box"
        logs = {name: open(Path(tmp) / f"{name}.log", "wb")  # noqa: SIM115
                for name in ("plain", "gated", "text", "json")}
        for log in logs.values():
            servers.callback(log.close)
        plain = servers.enter_context(screenshotd_server(stderr=logs["plain"]))
        gated = servers.enter_context(screenshotd_server(
            stderr=logs["gated"], API_KEYS=KEY, MAX_REQUESTS_PER_MINUTE=LIMIT))
        text = servers.enter_context(screenshotd_server(stderr=logs["text"], LOG_LEVEL="info"))
        as_json = servers.enter_context(screenshotd_server(
            stderr=logs["json"], LOG_LEVEL="info", LOG_FORMAT="json"))
        key = {"X-Api-Key": KEY}
        for base, headers in ((plain, None), (gated, key), (text, None), (as_json, None)):
            warm(f"{base}/screenshot?url={page}", headers)
        memory = compare({
            "hit, all off": (f"{plain}/screenshot?url={page}", None),
            "hit, key + limit": (f"{gated}/screenshot?url={page}", key),
            "hit, access log text": (f"{text}/screenshot?url={page}", None),
            "hit, access log json": (f"{as_json}/screenshot?url={page}", None),
        }, seconds, rounds, every["memory"])
        logs["json"].flush()
        lines = (Path(tmp) / "json.log").read_text().splitlines()
        result["json_log_lines"] = len(lines)
        json.loads(lines[-1])  # the lines are JSON
    with RedisServer() as redis, contextlib.ExitStack() as servers:
        with local_site() as site:
            page = f"{site}/pages/noise-box"
            cache_only = servers.enter_context(screenshotd_server(REDIS_URL=redis.url))
            limited = servers.enter_context(screenshotd_server(
                REDIS_URL=redis.url, API_KEYS=KEY, MAX_REQUESTS_PER_MINUTE=LIMIT))
            warm(f"{cache_only}/screenshot?url={page}")
            warm(f"{limited}/screenshot?url={page}", key)
            with_redis = compare({
                "redis hit, all off": (f"{cache_only}/screenshot?url={page}", None),
                "redis hit, key + redis limit": (f"{limited}/screenshot?url={page}", key),
            }, seconds, rounds, every["redis"])
    result["requests_per_s"] = {"memory": memory, "redis": with_redis}
    result["every_round"] = every
    base = memory["hit, all off"]
    result["ratios"] = {
        "key + memory limit / all off": round(memory["hit, key + limit"] / base, 3),
        "text access log / all off": round(memory["hit, access log text"] / base, 3),
        "json access log / all off": round(memory["hit, access log json"] / base, 3),
        "redis: key + redis limit / redis cache alone": round(
            with_redis["redis hit, key + redis limit"] / with_redis["redis hit, all off"], 3),
    }
    result["in_process"] = in_process()
    return result


if __name__ == "__main__":
    run_wrk_benchmark(__doc__, main, "gate.json", seconds=6)

"""The MCP ``screenshot`` tool over ``/mcp`` against the same capture over ``GET /screenshot``.

One ``screenshotd serve`` process (3 slots, a local page). The MCP side is the mcp package's own
client over Streamable HTTP, one session, one call at a time; the HTTP side is httpx asking
``/screenshot`` for what the tool asks for (``response_type=base64&metadata=true``), one request
at a time. Both the fresh case (a new URL each call, so each renders) and the cached case (the
same URL) are measured, in alternating rounds; the ratio is of the p50s (1.0: MCP adds nothing).

    python benchmarks/bench_mcp.py [--calls 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from typing import Any

import httpx
from common import local_site, report, screenshotd_server

_TAGS = itertools.count()


async def over_http(base: str, urls: list[str]) -> list[float]:
    times = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for url in urls:
            started = time.perf_counter()
            response = await client.get("/screenshot", params={
                "url": url, "width": "800", "height": "600", "metadata": "true",
                "response_type": "base64"})
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
    return times


async def over_mcp(base: str, urls: list[str]) -> list[float]:
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    times = []
    async with httpx2.AsyncClient(timeout=60) as http, \
            streamable_http_client(f"{base}/mcp", http_client=http) as streams, \
            ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        for url in urls:
            started = time.perf_counter()
            result = await session.call_tool("screenshot", {"url": url, "width": 800,
                                                            "height": 600})
            times.append((time.perf_counter() - started) * 1000)
            assert not result.is_error, result
    return times


async def main(calls: int, rounds: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {k: [] for k in ("http fresh", "mcp fresh", "http cached",
                                                         "mcp cached")}
    with local_site() as site, screenshotd_server(BROWSER_MAX_CONCURRENT="3") as base:
        cached_url = f"{site}/pages/basic?bench=mcp-cached"
        await over_http(base, [cached_url])  # now it is cached
        for number in range(rounds):
            order = ("http", "mcp") if number % 2 == 0 else ("mcp", "http")
            for way in order:
                run = over_http if way == "http" else over_mcp
                fresh = [f"{site}/pages/basic?bench=mcp{next(_TAGS)}" for _ in range(calls)]
                samples[f"{way} fresh"] += await run(base, fresh)
                samples[f"{way} cached"] += await run(base, [cached_url] * calls)
                print(f"round {number + 1} {way} done", flush=True)
    p50 = {kind: round(statistics.median(values), 2) for kind, values in samples.items()}
    return {
        "calls_per_round": calls, "rounds": rounds, "p50_ms": p50,
        "mcp_over_http_fresh": round(p50["mcp fresh"] / p50["http fresh"], 3),
        "mcp_over_http_cached": round(p50["mcp cached"] / p50["http cached"], 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    report("mcp", asyncio.run(main(args.calls, args.rounds)))

"""Capture latency: screenshotd over HTTP against raw Playwright on an already-open page.

screenshotd serves a small local page through its whole road (HTTP, options, door check, pool
lease, fresh context, capture, response). The baseline is the least Chromium itself needs: a
page already open in the same Chromium build with the same flags, doing goto + screenshot.
The two are measured in alternating rounds so that drift hits both alike.

Two client patterns, each applied to both sides alike:

- paced: one request at a time with a gap (default 1 s) between them, as a page of images
  or a CI job calls it. The gap is when screenshotd refills its warm context.
- back-to-back: the next request leaves the instant the last one returns. Then the refill (a
  new context and its renderer, the price of isolating every capture) competes with the next
  capture for the CPU, which the raw baseline, reusing one page, never pays.

    python benchmarks/bench_latency.py [--captures 60] [--gap-ms 1000] [--no-guard]

By default screenshotd runs with its private-network guard on, as it ships; ``--no-guard``
measures it with ``ALLOW_PRIVATE_HOSTS=*``, to see what the guard adds.

Goal: p50 ratio at most 1.15.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httpx
from common import ROOT, local_site, machine, median, percentile, screenshotd_server
from playwright.async_api import async_playwright

from screenshotd.browser.chromium import BASE_ARGS
from screenshotd.settings import Settings


async def raw_round(page, url: str, n: int, out: list[float], gap: float) -> None:
    for _ in range(n):
        started = time.perf_counter()
        await page.goto(url, wait_until="load")
        await page.screenshot(type="png")
        out.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(gap)


async def service_round(client: httpx.AsyncClient, url: str, n: int, out: list[float],
                        gap: float) -> None:
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get("/screenshot", params={"url": url, "cache": "false"})
        response.raise_for_status()
        out.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(gap)


def summary(ours: list[float], raw: list[float]) -> dict:
    result = {
        "captures_each": len(ours),
        "screenshotd_p50_ms": round(median(ours), 1),
        "screenshotd_p95_ms": round(percentile(ours, 95), 1),
        "raw_p50_ms": round(median(raw), 1),
        "raw_p95_ms": round(percentile(raw, 95), 1),
    }
    result["p50_ratio"] = round(result["screenshotd_p50_ms"] / result["raw_p50_ms"], 3)
    result["p95_ratio"] = round(result["screenshotd_p95_ms"] / result["raw_p95_ms"], 3)
    return result


async def main(captures: int, rounds: int, gap_ms: int, guard: bool) -> dict:
    per_round = max(1, captures // rounds)
    env = {} if guard else {"ALLOW_PRIVATE_HOSTS": "*"}
    with local_site() as site, screenshotd_server(**env) as base:
        url = f"{site}/pages/basic"
        async with async_playwright() as pw, httpx.AsyncClient(base_url=base, timeout=60) as client:
            browser = await pw.chromium.launch(
                executable_path=Settings().resolve_chromium(), args=list(BASE_ARGS))
            page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
            await service_round(client, url, 5, [], 0.1)  # warm-up, not measured
            await raw_round(page, url, 5, [], 0.1)
            results = {}
            for label, gap in (("paced", gap_ms / 1000), ("back_to_back", 0.0)):
                ours: list[float] = []
                raw: list[float] = []
                for _ in range(rounds):
                    await service_round(client, url, per_round, ours, gap)
                    await raw_round(page, url, per_round, raw, gap)
                results[label] = summary(ours, raw)
            await browser.close()
    results["gap_ms"] = gap_ms
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--gap-ms", type=int, default=1000)
    parser.add_argument("--no-guard", action="store_true",
                        help="run screenshotd with ALLOW_PRIVATE_HOSTS=* (no egress proxy or route)")
    args = parser.parse_args()
    result = asyncio.run(main(args.captures, args.rounds, args.gap_ms, not args.no_guard))
    result["guard"] = not args.no_guard
    result["machine"] = machine()
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / ("latency.json" if not args.no_guard else "latency-no-guard.json")).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))

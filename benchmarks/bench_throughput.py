"""Corpus throughput: screenshotd (3 slots, 6 concurrent clients) against a naive script.

Both capture all 130 corpus pages (viewport PNG, wait for load, 30 s timeout) from the local
site. The naive baseline is what people write first: one Chromium, and for each page a new
context, a new page, goto, screenshot, close, three at a time (the same parallelism as three
slots). Reported in captures per second, measured in the same run.

    python benchmarks/bench_throughput.py [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httpx
from common import CORPUS, ROOT, local_site, machine, screenshotd_server
from playwright.async_api import async_playwright

from screenshotd.browser.chromium import BASE_ARGS
from screenshotd.settings import Settings


def corpus_urls(site: str, limit: int | None) -> list[str]:
    names = sorted(p.parent.name for p in CORPUS.glob("*/source.html"))[:limit]
    return [f"{site}/corpus/{name}/source.html" for name in names]


async def run_service(base: str, urls: list[str]) -> tuple[float, int]:
    gate = asyncio.Semaphore(6)
    ok = 0

    async def one(client: httpx.AsyncClient, url: str) -> None:
        nonlocal ok
        async with gate:
            response = await client.get("/screenshot", params={"url": url, "cache": "false"})
            ok += response.status_code == 200

    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(one(client, url) for url in urls))
        return time.perf_counter() - started, ok


async def run_naive(urls: list[str]) -> tuple[float, int]:
    gate = asyncio.Semaphore(3)
    ok = 0
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=Settings().resolve_chromium(), args=list(BASE_ARGS))

        async def one(url: str) -> None:
            nonlocal ok
            async with gate:
                context = await browser.new_context(viewport={"width": 1280, "height": 800})
                try:
                    page = await context.new_page()
                    await page.goto(url, wait_until="load", timeout=30000)
                    await page.screenshot(type="png")
                    ok += 1
                except Exception:  # noqa: BLE001 - the naive script counts failures, no more
                    pass
                finally:
                    await context.close()

        started = time.perf_counter()
        await asyncio.gather(*(one(url) for url in urls))
        elapsed = time.perf_counter() - started
        await browser.close()
    return elapsed, ok


async def main(limit: int | None) -> dict:
    with local_site() as site:
        urls = corpus_urls(site, limit)
        with screenshotd_server(BROWSER_MAX_CONCURRENT="3", BROWSER_QUEUE_TIMEOUT_MS="300000") as base:
            ours, ours_ok = await run_service(base, urls)
        naive, naive_ok = await run_naive(urls)
    return {
        "pages": len(urls),
        "screenshotd_seconds": round(ours, 1),
        "screenshotd_ok": ours_ok,
        "screenshotd_captures_per_s": round(len(urls) / ours, 3),
        "naive_seconds": round(naive, 1),
        "naive_ok": naive_ok,
        "naive_captures_per_s": round(len(urls) / naive, 3),
        "ratio": round(naive / ours, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N pages")
    args = parser.parse_args()
    result = asyncio.run(main(args.limit))
    result["machine"] = machine()
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "throughput.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))

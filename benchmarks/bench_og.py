"""An Open Graph image against a capture of the same HTML through ``POST /screenshot``.

One ``screenshotd serve`` process (3 slots, warm). Each call has a title of its own, so each
renders (no cache hit on either side): ``GET /og-image?redirect=false&title=…`` against
``POST /screenshot`` with the very HTML the template makes for that title, at the same size.
Alternating rounds, one call at a time; the ratio is of the p50s (1.0: the template and the
route add nothing to the capture).

    python benchmarks/bench_og.py [--calls 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from typing import Any

import httpx
from common import report, screenshotd_server

from screenshotd.core.og import OgImages
from screenshotd.params.og import OgOptions

_TITLES = itertools.count()
TEMPLATES = OgImages(service=None)  # type: ignore[arg-type]  (only to make the HTML)


def titles(count: int) -> list[str]:
    return [f"Shipping screenshots at scale, part {next(_TITLES)}" for _ in range(count)]


async def og_images(client: httpx.AsyncClient, names: list[str]) -> list[float]:
    times = []
    for title in names:
        started = time.perf_counter()
        response = await client.get("/og-image", params={"title": title, "redirect": "false",
                                                          "description": "How we do it"})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and response.headers["x-cache"] == "MISS"
    return times


async def captures(client: httpx.AsyncClient, names: list[str]) -> list[float]:
    pages = [TEMPLATES.html(OgOptions.parse({"title": t, "description": "How we do it"}))
             for t in names]
    times = []
    for html in pages:
        started = time.perf_counter()
        response = await client.post("/screenshot", json={"html": html, "width": 1200,
                                                          "height": 630})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and response.headers["x-cache"] == "MISS"
    return times


async def main(calls: int, rounds: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {"og-image": [], "screenshot": []}
    with screenshotd_server(BROWSER_MAX_CONCURRENT="3") as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            await og_images(client, titles(5))  # warm up both roads
            await captures(client, titles(5))
            for number in range(rounds):
                order = ("og-image", "screenshot") if number % 2 == 0 else ("screenshot",
                                                                            "og-image")
                for kind in order:
                    run = og_images if kind == "og-image" else captures
                    samples[kind] += await run(client, titles(calls))
                print(f"round {number + 1} done", flush=True)
    p50 = {kind: round(statistics.median(values), 2) for kind, values in samples.items()}
    return {"calls_per_round": calls, "rounds": rounds, "p50_ms": p50,
            "og_over_screenshot": round(p50["og-image"] / p50["screenshot"], 3)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    report("og", asyncio.run(main(args.calls, args.rounds)))

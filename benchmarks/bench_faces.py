"""The seed APIs' faces against screenshotd's own API: what a capture costs through each face.

One ``screenshotd serve`` (3 slots, a named key, Chromium's headless shell as the service picks
it). One client captures small local pages one at a time, each capture its own URL (so no cache
hit and no shared flight), in rounds that take every way in a shuffled order:

- synchronous: ``POST /screenshot`` (the baseline), ``000``'s ``POST /api/v1/screenshot`` with
  ``"async": false``, and ``003``'s ``POST /v1/screenshots``: the time to the image's answer
  (for ``000`` also the image fetched from its ``image_url``, as its client does; the baseline
  fetches nothing more, which counts against the face);
- asynchronous: ``POST /screenshot`` with ``async=true`` and ``GET /jobs/{id}`` polled every
  10 ms (the baseline), ``000``'s async request and poll, ``001``'s submit and poll, and
  ``004``'s create and poll, each to the moment its poll says completed.

The ratio is each face's p50 over its baseline's p50, from the same rounds.

    python benchmarks/bench_faces.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from common import local_site, median, percentile, report, screenshotd_server

from screenshotd.auth.accounts import toml_entry

KEY = "bench-faces-key-0123456789"
POLL_S = 0.01


async def poll(client: httpx.AsyncClient, url: str, headers: dict[str, str],
               done: Callable[[dict], bool]) -> None:
    while True:
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        if done(response.json()):
            return
        await asyncio.sleep(POLL_S)


def ways(client: httpx.AsyncClient, base: str) -> dict[str, Callable[[str], Awaitable[None]]]:
    bearer = {"Authorization": f"Bearer {KEY}"}

    async def native_sync(url: str) -> None:
        response = await client.post(f"{base}/screenshot", headers=bearer, json={"url": url})
        assert response.status_code == 200 and response.content[:4] == b"\x89PNG"

    async def goscreen_sync(url: str) -> None:
        response = await client.post(f"{base}/api/v1/screenshot", headers=bearer,
                                     json={"url": url, "async": False})
        assert response.status_code == 200, response.text
        image = await client.get(response.json()["image_url"])
        assert image.content[:4] == b"\x89PNG"

    async def allscreenshots_sync(url: str) -> None:
        response = await client.post(f"{base}/v1/screenshots", headers={"X-API-Key": KEY},
                                     json={"url": url})
        assert response.status_code == 200 and response.content[:4] == b"\x89PNG"

    async def native_job(url: str) -> None:
        response = await client.post(f"{base}/screenshot", headers=bearer,
                                     json={"url": url, "async": True})
        assert response.status_code == 202, response.text
        await poll(client, response.json()["status_url"], bearer,
                   lambda body: body["status"] == "completed")

    async def goscreen_job(url: str) -> None:
        response = await client.post(f"{base}/api/v1/screenshot", headers=bearer,
                                     json={"url": url})
        assert response.status_code == 202, response.text
        await poll(client, response.json()["poll_url"], bearer,
                   lambda body: body["request"]["status"] == "completed")

    async def capture_flow_job(url: str) -> None:
        headers = {"X-API-KEY": KEY}
        response = await client.post(f"{base}/api/screenshot/capture", headers=headers,
                                     json={"url": url})
        assert response.status_code == 202, response.text
        capture_id = response.json()["data"]["captureId"]
        await poll(client, f"{base}/api/screenshot/capture/{capture_id}", headers,
                   lambda body: body["data"]["state"] == "COMPLETED")

    async def sessionshot_job(url: str) -> None:
        response = await client.post(f"{base}/api/captures", headers=bearer, json={"url": url})
        assert response.status_code == 202, response.text
        await poll(client, response.json()["statusUrl"], bearer,
                   lambda body: body["status"] == "completed")

    return {"native_sync": native_sync, "000_sync": goscreen_sync,
            "003_sync": allscreenshots_sync, "native_job": native_job, "000_job": goscreen_job,
            "001_job": capture_flow_job, "004_job": sessionshot_job}


BASELINE = {"000_sync": "native_sync", "003_sync": "native_sync", "000_job": "native_job",
            "001_job": "native_job", "004_job": "native_job"}


async def main(rounds: int) -> dict:
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder, local_site() as site:
        keys = Path(folder) / "keys.toml"
        keys.write_text(toml_entry("bench", KEY))
        with screenshotd_server(BROWSER_MAX_CONCURRENT="3", API_KEYS_FILE=str(keys),
                                MAX_PENDING_JOBS="50") as base:
            async with httpx.AsyncClient(timeout=120) as client:
                run = ways(client, base)
                for warm in range(6):
                    for name, way in run.items():
                        await way(f"{site}/pages/basic?warm={warm}&way={name}")
                for number in range(rounds):
                    order = list(run.items())
                    random.Random(number).shuffle(order)
                    for name, way in order:
                        started = time.perf_counter()
                        await way(f"{site}/pages/basic?round={number}&way={name}")
                        times.setdefault(name, []).append(time.perf_counter() - started)
    p50 = {name: median(values) * 1000 for name, values in times.items()}
    return {
        "rounds": rounds,
        "p50_ms": {name: round(value, 1) for name, value in p50.items()},
        "p90_ms": {name: round(percentile(values, 90) * 1000, 1)
                   for name, values in times.items()},
        "ratio_p50_over_native": {name: round(p50[name] / p50[base], 3)
                                  for name, base in BASELINE.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    report("faces", asyncio.run(main(args.rounds)))

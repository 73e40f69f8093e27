"""Hostile pages: how long each takes to answer against its deadline, how soon its slot is free,
and how the next capture fares, against an ordinary capture measured in the same run. Then
fairness: one API key's never-ending pages against another key's ordinary captures.

One ``screenshotd serve`` per isolation mode, one slot, ``timeout=5000`` (a deadline of 6.5 s:
the timeout plus the 1.5 s grace). Every capture has a URL of its own.

    python benchmarks/bench_hostile.py
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any
from urllib.parse import quote

import httpx
from common import local_site, machine, screenshotd_process

TIMEOUT_MS = 5000
DEADLINE_S = TIMEOUT_MS / 1000 + 1.5

PAGES = {
    "infinite loop": "<script>while (true) {}</script>",
    "memory exhaustion": "<script>const a = []; while (true) a.push(new Array(1e6).fill(1));"
                         "</script>",
    "dialogs": "<p>d<script>alert('a'); confirm('b'); prompt('c');"
               "onbeforeunload = e => { e.preventDefault(); e.returnValue = 's'; };</script>",
    "5,000 window.open": "<p>p<script>for (let i = 0; i < 5000; i++) window.open('about:blank');"
                         "</script>",
    "100,000 nested frames": "<p>f<script>let d = document; for (let i = 0; i < 100000; i++) {"
                             " const f = d.createElement('iframe');"
                             " (d.body || d.documentElement).appendChild(f);"
                             " try { d = f.contentDocument; d.open(); d.write('<body>');"
                             " d.close(); } catch (e) { break; } }</script>",
    "endless reload": "<p>r<script>setTimeout(() => location.reload(), 0)</script>",
}


def hostile_url(site: str, html: str) -> str:
    return f"{site}/serve?u={uuid.uuid4().hex}&html=" + quote("<!doctype html><body>" + html)


async def slot_free_after(client: httpx.AsyncClient, base: str) -> float:
    started = time.monotonic()
    while (await client.get(f"{base}/health")).json()["pool"]["in_use"]:
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def timed(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> tuple[
        httpx.Response, float]:
    started = time.monotonic()
    response = await client.request(method, url, **kwargs)
    return response, time.monotonic() - started


async def pages(base: str, site: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=120) as client:
        ordinary = []
        for _ in range(3):
            _, took = await timed(client, "GET", f"{base}/screenshot", params={
                "url": f"{site}/pages/basic?u={uuid.uuid4().hex}", "cache": "false"})
            ordinary.append(took)
        rows: dict[str, Any] = {"ordinary capture s": round(min(ordinary), 3)}
        cases = {name: ("GET", {"params": {"url": hostile_url(site, html),
                                           "timeout": str(TIMEOUT_MS), "cache": "false"}})
                 for name, html in PAGES.items()}
        cases["js: while (true)"] = ("POST", {"json": {
            "url": f"{site}/pages/basic?u={uuid.uuid4().hex}", "js": "while (true) {}",
            "timeout": TIMEOUT_MS, "cache": False}})
        for name, (method, kwargs) in cases.items():
            response, took = await timed(client, method, f"{base}/screenshot", **kwargs)
            free = await slot_free_after(client, base)
            _, after = await timed(client, "GET", f"{base}/screenshot", params={
                "url": f"{site}/pages/basic?u={uuid.uuid4().hex}", "cache": "false"})
            code = None if response.status_code == 200 else response.json().get("error")
            rows[name] = {"status": response.status_code, "code": code, "s": round(took, 2),
                          "of_deadline": round(took / DEADLINE_S, 2),
                          "slot_free_after_s": round(free, 3), "next_capture_s": round(after, 3)}
        return rows


async def fairness(base: str, site: str) -> dict[str, Any]:
    """Six never-ending captures from one key (three run, three wait), then ten ordinary ones
    from another: the other key's slowest answer, in deadlines."""
    async with httpx.AsyncClient(timeout=120) as client:
        flood = [asyncio.create_task(client.post(f"{base}/screenshot", json={
            "url": f"{site}/pages/basic?u={uuid.uuid4().hex}", "js": "while (true) {}",
            "timeout": TIMEOUT_MS, "cache": False}, headers={"X-API-Key": "hostile"}))
            for _ in range(6)]
        while (await client.get(f"{base}/health")).json()["pool"]["in_use"] < 3:
            await asyncio.sleep(0.02)
        others = await asyncio.gather(*(timed(client, "GET", f"{base}/screenshot", params={
            "url": f"{site}/pages/basic?u={uuid.uuid4().hex}", "cache": "false"},
            headers={"X-API-Key": "other"}) for _ in range(10)))
        await asyncio.gather(*flood)
        slowest = max(took for _, took in others)
        return {"other_ok": sum(r.status_code == 200 for r, _ in others),
                "other_slowest_s": round(slowest, 2),
                "other_slowest_in_deadlines": round(slowest / DEADLINE_S, 2),
                "first_come_first_served_would_be_in_deadlines": 2.0}


def main() -> None:
    report: dict[str, Any] = {"timeout_ms": TIMEOUT_MS, "deadline_s": DEADLINE_S}
    with local_site() as site:
        for mode in ("context", "page"):
            with screenshotd_process(BROWSER_ISOLATION=mode, BROWSER_MAX_CONCURRENT="1") as (
                    base, _pid):
                report[mode] = asyncio.run(pages(base, site))
                print(json.dumps({mode: report[mode]}), flush=True)
        with screenshotd_process(BROWSER_MAX_CONCURRENT="3", API_KEYS="hostile,other") as (
                base, _pid):
            report["fairness"] = asyncio.run(fairness(base, site))
    report["machine"] = machine()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

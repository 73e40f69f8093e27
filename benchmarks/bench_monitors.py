"""Monitors: what a check costs, what waiting costs, and what an unchanged check keeps.

Each figure against a baseline measured in the same run, on one ``screenshotd serve`` (3 slots):

1. **An unchanged check against a plain capture of the same page.** A monitor (``every`` an
   hour) checked with ``POST /monitors/{id}/check`` against ``POST /screenshot`` of the same
   page (``cache=false``), with the same options a check uses (``animations=disabled``,
   ``wait_for_stable``, ``caret=hide``) and with none. What each costs: the CPU seconds of the
   service's process tree (Chromium included) per check or capture, 30 of each in a row; and
   how long each takes, alternating, medians (a check timed until it is in the history,
   polled every 10 ms).
2. **10,000 monitors, none due.** The service's process tree's CPU over 30 s with 10,000 monitors
   in its store (due in a day), against the same service with none.
3. **200 monitors due at once.** 200 monitors checked at once (``/check`` on each) while one
   client captures small pages one at a time: that client's p50 against its p50 on an idle
   service.
4. **What an unchanged check keeps.** The store's bytes (the SQLite file and the images) before
   and after 50 unchanged checks, per check.

    python benchmarks/bench_monitors.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_saturation import tree_cpu
from common import local_site, report, screenshotd_process

from screenshotd.core.monitors.model import Monitor
from screenshotd.core.monitors.store import MonitorStore

ROUNDS = 30


def folder_bytes(folder: Path) -> int:
    """The store's bytes: its images and its SQLite file, the write-ahead log checkpointed
    into it first (its pages are reused, so the log's own size says nothing)."""
    import sqlite3

    db = sqlite3.connect(folder / "monitors.sqlite3")
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return sum(path.stat().st_size for path in folder.rglob("*")
               if path.is_file() and not path.name.endswith(("-wal", "-shm")))


async def check_once(client: httpx.AsyncClient, monitor_id: str, poll_s: float = 0.01) -> float:
    started = time.perf_counter()
    while True:
        made = await client.post(f"/monitors/{monitor_id}/check")
        if made.status_code != 409:  # the last check's lease is let go just after its record
            break
        await asyncio.sleep(0.005)
    assert made.status_code == 202, made.text
    check_id = made.json()["check_id"]
    while True:
        found = (await client.get(f"/monitors/{monitor_id}/checks?limit=1")).json()["checks"]
        if found and found[0]["id"] == check_id:
            assert found[0]["status"] in ("baseline", "unchanged"), found[0]
            return time.perf_counter() - started
        await asyncio.sleep(poll_s)


async def capture_once(client: httpx.AsyncClient, url: str, **options: object) -> float:
    started = time.perf_counter()
    response = await client.post("/screenshot", json={"url": url, "cache": False,
                                                      "width": 800, "height": 600, **options})
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


async def cpu_per(pid: int, work: object, count: int) -> float:
    start = tree_cpu(pid)
    for _ in range(count):
        await work()  # type: ignore[operator]
    return (tree_cpu(pid) - start) / count


async def check_cost(base: str, page: str, data: Path, pid: int) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        monitor = (await client.post("/monitors", json={
            "url": page, "every": 3600, "width": 800, "height": 600})).json()
        await check_once(client, monitor["id"])  # the baseline
        before = folder_bytes(data)
        checks, same, plain = [], [], []
        for _ in range(ROUNDS * 3):  # more checks, for the bytes they keep
            await check_once(client, monitor["id"])
        await asyncio.sleep(1.5)
        kept = (folder_bytes(data) - before) / (ROUNDS * 3)
        for _ in range(ROUNDS):
            checks.append(await check_once(client, monitor["id"]))
            same.append(await capture_once(client, page, animations="disabled",
                                           wait_for_stable=True, caret="hide"))
            plain.append(await capture_once(client, page))
        # polled every 50 ms: the polls' own CPU is counted against the check
        cpu_check = await cpu_per(pid, lambda: check_once(client, monitor["id"], 0.05), ROUNDS)
        cpu_same = await cpu_per(pid, lambda: capture_once(
            client, page, animations="disabled", wait_for_stable=True, caret="hide"), ROUNDS)
        cpu_plain = await cpu_per(pid, lambda: capture_once(client, page), ROUNDS)
    check_p50 = statistics.median(checks)
    return {
        "cpu_ms_per_check": round(cpu_check * 1000, 1),
        "cpu_ms_per_capture_same_options": round(cpu_same * 1000, 1),
        "cpu_ms_per_capture_plain": round(cpu_plain * 1000, 1),
        "cpu_ratio_check_over_same_options": round(cpu_check / cpu_same, 3),
        "cpu_ratio_check_over_plain": round(cpu_check / cpu_plain, 3),
        "check_p50_ms": round(check_p50 * 1000, 1),
        "capture_same_options_p50_ms": round(statistics.median(same) * 1000, 1),
        "capture_plain_p50_ms": round(statistics.median(plain) * 1000, 1),
        "ratio_check_over_same_options": round(check_p50 / statistics.median(same), 3),
        "ratio_check_over_plain": round(check_p50 / statistics.median(plain), 3),
        "bytes_kept_per_unchanged_check": round(kept),
    }


async def idle_cpu(pid: int, seconds: float = 30.0) -> float:
    start = tree_cpu(pid)
    await asyncio.sleep(seconds)
    return (tree_cpu(pid) - start) / seconds


async def seed(folder: Path, count: int) -> None:
    store = MonitorStore(folder)
    await store.open()
    now = time.time()
    for n in range(count):
        await store.save(Monitor(f"mon_bench{n:06d}", "ip:127.0.0.1", f"http://127.0.0.1:9/{n}",
                                 {}, now, now, now + 86400, every=86400))
    await store.close()


async def waiting_cost(base: str, site: str) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        idle = [await capture_once(client, f"{site}/pages/basic?idle={n}") for n in range(20)]
        made = []
        for n in range(200):
            response = await client.post("/monitors", json={
                "url": f"{site}/pages/basic?monitor={n}", "every": 3600, "width": 400,
                "height": 300})
            assert response.status_code == 201, response.text
            made.append(response.json()["id"])
        for monitor_id in made:
            await client.post(f"/monitors/{monitor_id}/check")
        busy = [await capture_once(client, f"{site}/pages/basic?busy={n}") for n in range(20)]
    return {"interactive_idle_p50_ms": round(statistics.median(idle) * 1000, 1),
            "interactive_with_200_checks_p50_ms": round(statistics.median(busy) * 1000, 1),
            "ratio_busy_over_idle": round(statistics.median(busy) / statistics.median(idle), 3)}


async def main() -> dict:
    result: dict = {}
    with local_site() as site:
        page = f"{site}/pages/basic?monitored=1"
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder)
            # no recycle during the run: a retired Chromium would take its CPU seconds with it
            with screenshotd_process(DATA_DIR=str(data),
                                     BROWSER_RECYCLE_AFTER="100000") as (base, pid):
                result["check"] = await check_cost(base, page, data, pid)
        with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as full:
            await seed(Path(full), 10_000)
            with screenshotd_process(DATA_DIR=empty) as (_, pid):
                await asyncio.sleep(5)
                none = await idle_cpu(pid)
            with screenshotd_process(DATA_DIR=full) as (_, pid):
                await asyncio.sleep(5)
                many = await idle_cpu(pid)
            result["idle"] = {"cpu_share_no_monitors": round(none, 4),
                              "cpu_share_10000_monitors": round(many, 4),
                              "added_share_of_one_core": round(many - none, 4)}
        with tempfile.TemporaryDirectory() as folder:
            with screenshotd_process(DATA_DIR=folder, MAX_MONITORS_PER_CALLER="1000") as (
                    base, _):
                result["due"] = await waiting_cost(base, site)
    return result


if __name__ == "__main__":
    sys.setrecursionlimit(10_000)
    os.environ.setdefault("MONITOR_MIN_INTERVAL_SECONDS", "1")
    report("monitors", asyncio.run(main()))

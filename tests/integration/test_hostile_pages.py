"""Hostile pages: whatever a page does, its capture answers within its deadline (``timeout``
plus a fixed grace of at most 2 s), its slot is free right after, and the next capture is fine.
And one caller's hostile pages cannot starve another caller.

Each page is served by the test site from its HTML, in every isolation mode (caller and page
modes keep the page between captures, so what a hostile page leaves behind matters most
there: a page that ran out of time or crashed is never lent again, to its caller or anyone).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.servers import Running, make_settings, run_server
from tests.support.site import Site

pytestmark = pytest.mark.asyncio

TIMEOUT_MS = 5000
#: The most a capture may take beyond its timeout (the issue's bound is 2 s).
GRACE_S = 2.0

#: name -> (the page's body, the answers it may get)
PAGES: dict[str, tuple[str, set[tuple[int, str | None]]]] = {
    "an infinite loop": ("<script>while (true) {}</script>", {(408, "TIMEOUT")}),
    "memory exhaustion": (
        "<script>const a = []; while (true) a.push(new Array(1e6).fill(Math.random()));"
        "</script>", {(502, "RENDER_CRASHED")}),
    "alert, confirm, prompt and beforeunload": (
        "<p>dialogs<script>alert('a'); confirm('b'); prompt('c');"
        "onbeforeunload = e => { e.preventDefault(); e.returnValue = 'stay'; };</script>",
        {(200, None)}),
    "a window.open storm": (
        "<p>popups<script>for (let i = 0; i < 5000; i++) window.open('about:blank');</script>",
        {(200, None)}),
    "100,000 nested frames": (
        "<p>frames<script>let d = document; for (let i = 0; i < 100000; i++) {"
        " const f = d.createElement('iframe'); (d.body || d.documentElement).appendChild(f);"
        " try { d = f.contentDocument; d.open(); d.write('<body>'); d.close(); }"
        " catch (e) { break; } }</script>", {(200, None), (408, "TIMEOUT")}),
    # Each document usually loads before it reloads (200, or 422 when it goes during the
    # capture). Seen once in a fresh clone's run, in page mode: the reloads stalled, fewer than
    # three documents in 5 s, and none loaded: then the truthful answer is the deadline's 408.
    # The certain 422 is the next page's.
    "a page that reloads itself forever": (
        "<p>again<script>setTimeout(() => location.reload(), 0)</script>",
        {(200, None), (422, "NAVIGATION_FAILED"), (408, "TIMEOUT")}),
    # The image holds the load event back; each document is gone before it could fire.
    "a page that reloads itself before it ever loads": (
        "<img src='/img.png?delay=3000'><script>setTimeout(() => location.reload(), 100)"
        "</script>", {(422, "NAVIGATION_FAILED")}),
}


def hostile(site: Site, name: str) -> str:
    html = "<!doctype html><body>" + PAGES[name][0]
    return site.url(f"/serve?tag={quote(name)}&html=" + quote(html))


@pytest.fixture(scope="module", params=["caller", "context", "page"])
async def server(request: Any) -> Any:
    async with run_server(make_settings(browser_max_concurrent=2,
                                        browser_isolation=request.param)) as running:
        yield running


async def slots_free(server: Running, within: float = 1.0) -> None:
    """Every slot is free again within ``within`` seconds (right after, not after a cleanup)."""
    deadline = time.monotonic() + within
    while True:
        pool = (await server.client.get("/health")).json()["pool"]
        if pool["in_use"] == 0 and pool["waiting"] == 0:
            return
        assert time.monotonic() < deadline, pool
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("name", list(PAGES))
async def test_a_hostile_page_answers_within_its_deadline(server: Running, site: Site,
                                                         name: str):
    started = time.monotonic()
    response = await server.client.get("/screenshot", params={
        "url": hostile(site, name), "timeout": str(TIMEOUT_MS), "cache": "false"})
    took = time.monotonic() - started
    code = response.json()["error"] if response.status_code != 200 else None
    assert (response.status_code, code) in PAGES[name][1], response.text[:300]
    if code == "NAVIGATION_FAILED":  # a page that sends itself elsewhere is told so
        assert "kept navigating away" in response.json()["message"], response.text
    assert took <= TIMEOUT_MS / 1000 + GRACE_S, took
    pool = server.service.pool
    hostile_context = pool.ledger[-1][0]
    await slots_free(server)
    after = await server.client.get("/screenshot", params={
        "url": site.url(f"/pages/basic?after={quote(name)}"), "response_type": "json"})
    assert after.status_code == 200 and after.json()["width"] == 1280, after.text
    if code in ("TIMEOUT", "RENDER_CRASHED") or "popups" in PAGES[name][0]:
        # a page that ran out of time, crashed or opened windows is closed, never lent again
        assert pool.ledger[-1][0] != hostile_context, pool.ledger


async def test_a_script_that_never_yields_is_a_408_within_the_deadline(server: Running,
                                                                      site: Site):
    started = time.monotonic()
    response = await server.client.post("/screenshot", json={
        "url": site.url("/pages/basic?loop=js"), "js": "while (true) {}", "timeout": 5000,
        "cache": False})
    took = time.monotonic() - started
    assert response.status_code == 408 and response.json()["error"] == "TIMEOUT", response.text
    assert took <= 7.0, took
    await slots_free(server, within=0.5)
    assert (await server.client.get("/screenshot", params={
        "url": site.url("/pages/basic?loop=after")})).status_code == 200


async def test_one_callers_hostile_pages_do_not_starve_another(site: Site):
    """The hostile caller sends six never-ending captures at once (three take the three slots,
    three wait); the other caller then sends ten ordinary captures. First come, first served,
    the other caller would wait for two rounds of deadlines; shared fairly, each of its
    captures waits at most one deadline (the slot the hostile caller held when it came) plus
    captures of its own."""
    settings = make_settings(browser_max_concurrent=3, api_keys=("hostile", "other"))
    async with run_server(settings) as server:
        loop = {"url": site.url("/pages/basic?fair=loop"), "js": "while (true) {}",
                "timeout": 6000, "cache": False}
        flood = [asyncio.create_task(server.client.post(
            "/screenshot", json={**loop, "url": loop["url"] + f"&n={n}"},
            headers={"X-API-Key": "hostile"})) for n in range(6)]
        deadline = time.monotonic() + 10
        while (await server.client.get("/health")).json()["pool"]["in_use"] < 3:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)

        async def ordinary(n: int) -> tuple[int, float]:
            started = time.monotonic()
            response = await server.client.get("/screenshot", params={
                "url": site.url(f"/pages/basic?fair=other&n={n}"), "cache": "false"},
                headers={"X-API-Key": "other"})
            return response.status_code, time.monotonic() - started

        others = await asyncio.gather(*(ordinary(n) for n in range(10)))
        assert [status for status, _ in others] == [200] * 10, others
        one_deadline = 6.0 + 1.5
        # First come, first served would be two deadlines (15 s) for the last of them
        assert max(took for _, took in others) < 2 * one_deadline - 2.0, others
        answers = await asyncio.gather(*flood)
        assert {r.status_code for r in answers} == {408}, [r.text for r in answers]
        await slots_free(server, within=2.0)

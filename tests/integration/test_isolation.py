"""What one capture leaves behind, in every isolation mode: nothing the next one can see.

A writer page stores a cookie, local and session storage, an IndexedDB database, a Cache
Storage entry, tries to register a service worker, and is captured with a geolocation (which
grants the permission). A reader page, captured next in the same slot, reports every one of
them it finds. The default mode gives each capture a fresh context; page mode keeps the page and
resets it (:mod:`screenshotd.browser.reset`), and must be just as clean, on the same origin and
across two origins; caller mode (the default) does the same with pages that only one caller
ever uses, and two callers never share a context. A control capture that writes and reads in one page proves that the reader
sees what is there.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.servers import Running, make_settings, run_server
from tests.support.site import CACHEABLE_HITS, Site

pytestmark = pytest.mark.asyncio

WRITE = """
document.cookie = "leak=1; max-age=3600; path=/";
localStorage.setItem("leak", "1");
sessionStorage.setItem("leak", "1");
await new Promise((ok, no) => {
  const r = indexedDB.open("leakdb", 1);
  r.onupgradeneeded = () => r.result.createObjectStore("s");
  r.onsuccess = () => { r.result.close(); ok(); };
  r.onerror = no;
});
try { const c = await caches.open("leakcache"); await c.put("/leak", new Response("x")); }
catch (e) {}
try { await navigator.serviceWorker.register("/sw.js"); } catch (e) {}
"""

READ = """
const found = [];
if (document.cookie.includes("leak")) found.push("cookie");
if (localStorage.getItem("leak")) found.push("localStorage");
if (sessionStorage.getItem("leak")) found.push("sessionStorage");
if ((await indexedDB.databases()).some(d => d.name === "leakdb")) found.push("indexedDB");
try { if ((await caches.keys()).includes("leakcache")) found.push("cacheStorage"); } catch (e) {}
try { if ((await navigator.serviceWorker.getRegistrations()).length) found.push("serviceWorker"); }
catch (e) {}
if ((await navigator.permissions.query({name: "geolocation"})).state === "granted")
  found.push("geolocation");
out.textContent = "found:" + found.join(",") + ";";
"""

GEOLOCATION = {"geolocation_latitude": "52.52", "geolocation_longitude": "13.4"}


def page(site: Site, script: str, origin: str, tag: str) -> str:
    html = ("<!doctype html><body><pre id=out>working</pre><script>(async () => {"
            + script + "out.id = 'done'; })();</script>")
    url = site.url(f"/serve?tag={tag}&html=" + quote(html))
    return url.replace("127.0.0.1", origin) if origin != "127.0.0.1" else url


async def text(server: Running, url: str, key: str | None = None, **params: str) -> str:
    """The text of ``url`` once its script has finished (``#done``), captured as ``key``'s
    caller when one is given."""
    response = await server.client.get("/screenshot", params={
        "url": url, "wait_for_selector": "#done", "extract_content": "true",
        "content_format": "text", "response_type": "json", "cache": "false", **params},
        headers={"X-API-Key": key} if key else None)
    assert response.status_code == 200, response.text
    content: str = response.json()["content"]
    return content


async def found(server: Running, url: str, key: str | None = None, **params: str) -> str:
    """What the reader reported: ``found:<names>;`` (``key``: as that API key's caller)."""
    content = await text(server, url, key, **params)
    start = content.index("found:")
    return content[start:content.index(";", start) + 1]


KEPT = ("caller", "page")  # the modes that keep pages and reset them


@pytest.fixture(scope="module", params=["caller", "context", "page"])
async def server(request: Any, site: Site) -> Any:
    settings = make_settings(browser_max_concurrent=1, browser_isolation=request.param,
                             allow_private_hosts=("127.0.0.1", "localhost"))
    async with run_server(settings) as running:
        yield running


@pytest.mark.parametrize(("write_on", "read_on"), [
    ("127.0.0.1", "127.0.0.1"), ("localhost", "localhost"), ("127.0.0.1", "localhost")])
async def test_the_next_capture_in_the_slot_finds_nothing(server: Running, site: Site,
                                                          write_on: str, read_on: str):
    pool = server.app.state.service.pool
    tag = f"{pool.isolation}-{write_on}-{read_on}"
    assert await found(server, page(site, WRITE + READ, write_on, f"control-{tag}"),
                       **GEOLOCATION) == (
        "found:cookie,localStorage,sessionStorage,indexedDB,cacheStorage,geolocation;")
    assert "working" in await text(server, page(site, WRITE, write_on, f"write-{tag}"),
                                   **GEOLOCATION)
    await settled(pool)  # the warm contexts made, so that the count moves only for the read
    made = pool.contexts_made
    assert await found(server, page(site, READ, read_on, f"read-{tag}")) == "found:;"
    if pool.isolation in KEPT:
        assert pool.contexts_made == made and pool.resets >= 2  # the same page, reset
    else:
        await settled(pool)  # the read's context was used up and its place refilled
        assert pool.contexts_made > made  # a fresh context


async def settled(pool: Any) -> None:
    """Wait until the pool has made its warm contexts, so that a count of contexts made
    changes only by what the captures after it cause."""
    deadline = asyncio.get_running_loop().time() + 10
    while asyncio.get_running_loop().time() < deadline:
        stats = pool.stats()
        if (stats["warm_contexts"] >= stats["warm_target"] and not stats["refilling"]
                and not stats["closing"]):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the pool did not settle: {pool.stats()}")


EMULATION_READ = """
const found = [];
if (matchMedia("print").matches) found.push("print");
if (matchMedia("(prefers-color-scheme: dark)").matches) found.push("dark");
if (matchMedia("(prefers-reduced-motion: reduce)").matches) found.push("reducedMotion");
if (innerWidth !== 1280 || innerHeight !== 800) found.push("viewport");
const echo = await (await fetch("/echo?header=X-Leak:1")).text();
if (echo.includes("0,255,0")) found.push("header");
out.textContent = "found:" + found.join(",") + ";";
"""

#: A capture that changes every part of the page's emulation a reset must undo.
EMULATED = {"headers": '{"X-Leak": "1"}', "media_type": "print", "dark_mode": "true",
            "reduced_motion": "true", "width": "800", "height": "600", **GEOLOCATION}


async def test_the_next_capture_gets_the_default_emulation(server: Running, site: Site):
    """Page mode sets back only what a capture changed: one that changed it all, then one that
    changed nothing, in the same slot, must find the defaults."""
    pool = server.app.state.service.pool
    tag = pool.isolation
    await settled(pool)
    made = pool.contexts_made
    assert await found(server, page(site, EMULATION_READ, "127.0.0.1", f"emu-control-{tag}"),
                       **EMULATED) == "found:print,dark,reducedMotion,viewport,header;"
    await settled(pool)
    assert await found(server, page(site, EMULATION_READ, "127.0.0.1", f"emu-read-{tag}")) == (
        "found:;")
    await settled(pool)
    if pool.isolation in KEPT:
        # both captures on pages that were kept, and reset after each; none made, and no
        # more pages kept than the slots and their one spare
        assert pool.contexts_made == made and pool.stats()["resets"] >= 2
        assert pool.stats()["kept_pages"] <= pool.stats()["warm_target"] == 2


def renderers_of(browser_pid: int) -> list[int]:
    """The renderer processes under ``browser_pid``."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    found = []
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor and ancestor != browser_pid:
            ancestor = parents.get(ancestor)
        if ancestor == browser_pid:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    if b"--type=renderer" in handle.read():
                        found.append(pid)
            except OSError:
                pass
    return found


async def test_page_mode_recovers_a_slot_whose_page_crashed(site: Site):
    settings = make_settings(browser_max_concurrent=1, browser_isolation="page")
    async with run_server(settings) as server:
        pool = server.app.state.service.pool
        assert (await server.client.get("/screenshot", params={
            "url": site.url("/pages/basic?crash=before")})).status_code == 200
        made = pool.contexts_made
        slow = asyncio.create_task(server.client.get("/screenshot", params={
            "url": site.url("/slow?ms=3000&crash=during"), "cache": "false"}))
        await asyncio.sleep(1.0)
        renderers = renderers_of(pool.browser_pid)
        assert renderers
        for pid in renderers:
            os.kill(pid, signal.SIGKILL)
        crashed = await slow
        # the page's renderer died under the capture: its own error, never a 500
        assert crashed.status_code == 502 and crashed.json()["error"] == "RENDER_CRASHED", \
            crashed.text
        deadline = asyncio.get_running_loop().time() + 10
        while (pool.stats()["warm_contexts"] < 2 or pool.closing) and \
                asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        after = await server.client.get("/screenshot", params={
            "url": site.url("/pages/basic?crash=after"), "response_type": "json"})
        assert after.status_code == 200 and after.json()["width"] == 1280
        assert pool.contexts_made > made  # a fresh page took the crashed one's place
        await settled(pool)
        # two kept pages for the one slot (the spare): one fresh, in the crashed one's place
        assert pool.stats()["warm_contexts"] == 2 and pool.connected


@pytest.mark.parametrize("isolation", ["caller", "context", "page"])
async def test_the_http_cache_is_not_shared_between_captures(site: Site, isolation: str):
    """With the guard off there is no route, so Chromium's HTTP cache is on: a script the
    first capture cached must be fetched again by the next capture in the same slot."""
    settings = make_settings(browser_max_concurrent=1, browser_isolation=isolation,
                             allow_private_hosts=("*",))
    tag = f"http-cache-{isolation}"
    html = f"<!doctype html><p>cached<script src='/cacheable?tag={tag}'></script>"
    async with run_server(settings) as server:
        await settled(server.app.state.service.pool)
        for n in range(2):
            response = await server.client.get("/screenshot", params={
                "url": site.url(f"/serve?n={n}&html=" + quote(html)), "cache": "false"})
            assert response.status_code == 200, response.text
            await settled(server.app.state.service.pool)
        assert CACHEABLE_HITS[tag] == 2
        if isolation in KEPT:
            assert server.app.state.service.pool.stats()["resets"] >= 2

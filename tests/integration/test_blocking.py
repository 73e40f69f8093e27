"""block_ads, block_trackers and block_requests against real Chromium.

The test page loads an image and a frame from ``ads.doubleclick.net`` and a script from
``b.scorecardresearch.com``, and has an ``.adsbygoogle`` slot. A resolver makes those names
the test site's address, so the requests really leave Chromium and go through the egress proxy
like any other; only the filter can stop them. (Google's own analytics host is not used: it is
on Chromium's HSTS preload list, so plain http to it never leaves the browser.)
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest

from screenshotd.net.addresses import IPAddress
from tests.support.checks import decode
from tests.support.pages import CORPUS
from tests.support.servers import Running, make_settings, run_server
from tests.support.site import Site

pytestmark = pytest.mark.asyncio

AD_HOST = "ads.doubleclick.net"
TRACKER_HOST = "b.scorecardresearch.com"
EASYLIST = CORPUS.parents[1] / "fixtures" / "filterlists" / "easylist-2018.txt"

RED, BLUE, YELLOW, MAGENTA, GREEN, WHITE = (
    (255, 0, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 0), (255, 255, 255))
#: Where each thing is drawn: the ad image, the tracker's box, the ad frame, the ad slot, and
#: the page's own image.
AD_IMAGE, TRACKER_BOX, AD_FRAME, AD_SLOT, OWN_IMAGE = (150, 125), (500, 100), (150, 400), \
    (500, 400), (800, 100)


class FakeHosts:
    """The ad and tracker hosts resolve to the test site's address."""

    async def resolve(self, host: str) -> list[IPAddress]:
        if host in (AD_HOST, TRACKER_HOST):
            return [ipaddress.ip_address("127.0.0.1")]
        return []


def port(site: Site) -> int:
    return int(site.base.rsplit(":", 1)[1])


def ad_page(site: Site) -> str:
    p = port(site)
    tracker = quote("const d = document.createElement('div'); d.style.cssText = 'position:absolute;"
                    "left:400px;top:0;width:200px;height:200px;background:#00f';"
                    "document.body.appendChild(d);")
    frame = quote("<body style='margin:0;background:#ff0'></body>")
    html = f"""<!doctype html><html><head><title>ads</title></head>
<body style="margin:0;background:#fff">
<img src="http://{AD_HOST}:{p}/img.png?w=300&amp;h=250&amp;c=ff0000"
     style="position:absolute;left:0;top:0;width:300px;height:250px">
<script src="http://{TRACKER_HOST}:{p}/js?body={tracker}"></script>
<iframe src="http://{AD_HOST}:{p}/serve?html={frame}"
        style="position:absolute;left:0;top:300px;width:300px;height:200px;border:0"></iframe>
<div class="adsbygoogle"
     style="position:absolute;left:400px;top:300px;width:200px;height:200px;background:#f0f"></div>
<img src="/img.png?w=100&amp;h=100&amp;c=00ff00"
     style="position:absolute;left:750px;top:50px;width:100px;height:100px">
</body></html>"""
    return site.url("/serve?html=" + quote(html))


@pytest.fixture(scope="module")
async def blocker(site: Site) -> AsyncIterator[Running]:
    settings = make_settings(allow_private_hosts=(f"127.0.0.1:{port(site)}",))
    async with run_server(settings, FakeHosts()) as running:
        yield running


async def shot(server: Running, url: str, **params: object) -> tuple[dict, object]:
    response = await server.client.get("/screenshot", params={
        "url": url, "response_type": "base64", "cache": "false", **params})
    assert response.status_code == 200, response.text
    body = response.json()
    return body, decode(base64.b64decode(body["data"])).convert("RGB")


async def test_without_blocking_every_ad_and_tracker_shows(blocker: Running, site: Site):
    body, image = await shot(blocker, ad_page(site))
    assert [image.getpixel(p) for p in (AD_IMAGE, TRACKER_BOX, AD_FRAME, AD_SLOT, OWN_IMAGE)] \
        == [RED, BLUE, YELLOW, MAGENTA, GREEN]
    assert body["blocked_requests"] == 0 and body["blocked"] == {}


async def test_block_ads_removes_ads_and_keeps_the_page(blocker: Running, site: Site):
    body, image = await shot(blocker, ad_page(site), block_ads="true")
    # The image and the frame are blocked and collapsed (no broken image or error page left),
    # the slot is hidden by a cosmetic rule, and the tracker is not an ad.
    assert [image.getpixel(p) for p in (AD_IMAGE, AD_FRAME, AD_SLOT)] == [WHITE] * 3
    assert image.getpixel(TRACKER_BOX) == BLUE
    assert image.getpixel(OWN_IMAGE) == GREEN
    assert body["blocked"] == {"ads": 2}
    assert body["blocked_requests"] == 2


async def test_block_trackers_removes_trackers_only(blocker: Running, site: Site):
    body, image = await shot(blocker, ad_page(site), block_trackers="true")
    assert image.getpixel(TRACKER_BOX) == WHITE
    assert image.getpixel(AD_IMAGE) == RED and image.getpixel(AD_SLOT) == MAGENTA
    assert body["blocked"] == {"trackers": 1}


async def test_both_lists_together(blocker: Running, site: Site):
    body, image = await shot(blocker, ad_page(site), block_ads="true", block_trackers="true")
    assert [image.getpixel(p) for p in (AD_IMAGE, TRACKER_BOX, AD_FRAME, AD_SLOT)] == [WHITE] * 4
    assert image.getpixel(OWN_IMAGE) == GREEN
    assert body["blocked"] == {"ads": 2, "trackers": 1}


async def test_block_requests_wildcards(blocker: Running, site: Site):
    # Only the page's own image matches; the ads are not blocked by this.
    body, image = await shot(blocker, ad_page(site), block_requests="*c=00ff00*")
    assert image.getpixel(OWN_IMAGE) == WHITE
    assert image.getpixel(AD_IMAGE) == RED
    assert body["blocked"] == {"requests": 1}
    # Without a wildcard a pattern matches anywhere in the URL; several may be given.
    body, image = await shot(blocker, ad_page(site),
                             block_requests=f"{TRACKER_HOST},*/img.png?w=300*")
    assert image.getpixel(TRACKER_BOX) == WHITE and image.getpixel(AD_IMAGE) == WHITE
    assert body["blocked"] == {"requests": 2}


async def test_the_page_itself_is_never_blocked(blocker: Running, site: Site):
    body, image = await shot(blocker, site.url("/pages/basic"), block_requests="*")
    assert image.getpixel((10, 10)) == RED  # the page's red box: inline, so it still shows
    assert body["blocked"] == {}


async def test_blocking_options_are_part_of_the_cache_key(blocker: Running, site: Site):
    url = ad_page(site)
    plain = await blocker.client.get("/screenshot", params={"url": url, "response_type": "json"})
    blocked = await blocker.client.get("/screenshot", params={
        "url": url, "response_type": "json", "block_ads": "true"})
    assert plain.json()["cache_key"] != blocked.json()["cache_key"]


async def test_jobs_and_batch_block_the_same_way(blocker: Running, site: Site):
    url = ad_page(site)
    response = await blocker.client.post("/batch", json={
        "urls": [url], "block_ads": True, "block_trackers": True, "cache": False})
    item = response.json()["results"][0]
    assert item["ok"] and item["blocked"] == {"ads": 2, "trackers": 1}
    job = (await blocker.client.get("/screenshot", params={
        "url": url, "block_ads": "true", "async": "true", "cache": "false"})).json()
    for _ in range(200):
        state = (await blocker.client.get(f"/jobs/{job['job_id']}")).json()
        if state["status"] == "completed":
            break
        assert state["status"] in ("queued", "processing"), state
        await __import__("asyncio").sleep(0.1)
    assert state["metadata"]["blocked"] == {"ads": 2}


async def test_health_reports_the_lists(blocker: Running):
    report = (await blocker.client.get("/health")).json()["blocking"]
    names = [entry["name"] for entry in report["lists"]]
    assert names == ["builtin:ads", "builtin:trackers"]
    assert report["network_rules"] > 100


async def test_easylist_from_adblock_lists(site: Site):
    """ADBLOCK_LISTS replaces the built-in lists; the real EasyList blocks the ad host."""
    settings = make_settings(allow_private_hosts=(f"127.0.0.1:{port(site)}",),
                             adblock_lists=(f"ads:{EASYLIST}",))
    async with run_server(settings, FakeHosts()) as server:
        body, image = await shot(server, ad_page(site), block_ads="true", block_trackers="true")
        assert image.getpixel(AD_IMAGE) == WHITE and image.getpixel(AD_SLOT) == WHITE
        assert image.getpixel(OWN_IMAGE) == GREEN
        assert body["blocked"].get("ads", 0) >= 2
        lists = (await server.client.get("/health")).json()["blocking"]["lists"]
        assert lists[0]["name"] == f"ads:{EASYLIST}" and lists[0]["network"] > 35_000

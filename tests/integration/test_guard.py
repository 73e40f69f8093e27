"""The private-network guard against real Chromium: every way a page can reach an address.

The test site is allowed by ``host:port`` only (``ALLOW_PRIVATE_HOSTS=127.0.0.1:<site port>``),
which is how an operator allows one intranet service. A :class:`Canary` on another loopback port
counts every connection it is offered. Each vector asserts the response and that the canary's
count stays 0. The sub-resource and popup vectors are also run against a server with the guard
off, where the canary must be reached: that shows each attack page really makes its request.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image
from playwright.async_api import async_playwright

from screenshotd.browser.chromium import BASE_ARGS
from screenshotd.net.addresses import IPAddress
from screenshotd.settings import Settings
from tests.support.checks import assert_error, decode, near, rgb_at
from tests.support.pages import solid_png
from tests.support.servers import Canary, Running, make_settings, run_server
from tests.support.site import Site

GREEN = (0, 255, 0)


class RebindingResolver:
    """``rebind.test`` answers the test site's address first and 127.0.0.2 afterwards."""

    def __init__(self) -> None:
        self.calls = 0

    async def resolve(self, host: str) -> list[IPAddress]:
        if host != "rebind.test":
            return []
        self.calls += 1
        return [ipaddress.ip_address("127.0.0.1" if self.calls == 1 else "127.0.0.2")]


def site_port(site: Site) -> int:
    return int(site.base.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
async def canary(site: Site) -> AsyncIterator[Canary]:
    """The private network: a port the setting does not name (and, for rebinding, 127.0.0.2 on
    the site's own port)."""
    async with Canary() as running, Canary(site_port(site), hosts=("127.0.0.2",)) as rebound:
        running.rebound = rebound  # type: ignore[attr-defined]
        yield running


@pytest.fixture(scope="module")
def resolver() -> RebindingResolver:
    return RebindingResolver()


@pytest.fixture(scope="module")
async def guarded(site: Site, resolver: RebindingResolver) -> AsyncIterator[Running]:
    settings = make_settings(allow_private_hosts=(f"127.0.0.1:{site_port(site)}",))
    async with run_server(settings, resolver) as running:
        yield running


@pytest.fixture(scope="module")
async def unguarded() -> AsyncIterator[Running]:
    async with run_server(make_settings(allow_private_hosts=("*",))) as running:
        yield running


def attack(site: Site, body: str) -> str:
    """A page of the allowed site: green, with ``body`` in it."""
    html = f"<!doctype html><body style='margin:0;min-height:100vh;background:#0f0'>{body}</body>"
    return site.url("/serve?html=" + quote(html))


async def shot(server: Running, url: str, **params: object) -> dict:
    response = await server.client.get(
        "/screenshot", params={"url": url, "cache": "false", "response_type": "base64", **params})
    return {"status": response.status_code, **response.json()}


# ---------------------------------------------------------------------------- the main document


@pytest.mark.parametrize("code", [301, 302, 307, 308])
@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_redirect_to_a_private_address_is_blocked(guarded, canary, site, code, scheme):
    url = site.url(f"/redirect?code={code}&to=" + quote(canary.url("/", scheme)))
    response = await guarded.client.get("/screenshot", params={"url": url, "cache": "false"})
    assert_error(response, 403, "BLOCKED")
    assert canary.connections == 0


@pytest.mark.parametrize("body, params", [
    ('<meta http-equiv="refresh" content="0;url={c}">', {"delay": 500}),  # after load
    ('<script>location = "{c}"</script>', {}),
    ('<script>location.replace("{c}")</script>', {}),
    ('<script>onload = () => setTimeout(() => location.href = "{c}", 50)</script>', {"delay": 500}),
])
async def test_the_page_sending_itself_to_a_private_address_is_blocked(
    guarded, canary, site, body, params
):
    response = await guarded.client.get("/screenshot", params={
        "url": attack(site, body.format(c=canary.url("/"))), "cache": "false", **params})
    assert_error(response, 403, "BLOCKED")
    assert canary.connections == 0


async def test_a_page_that_sends_itself_to_an_allowed_address_is_captured_there(guarded, site):
    body = f'<script>onload = () => setTimeout(() => location.href = "{site.url("/pages/basic")}", 50)</script>'
    result = await shot(guarded, attack(site, body), delay=500)
    assert result["status"] == 200, result
    assert near(rgb_at(decode_b64(result), 10, 10), (255, 0, 0))  # the basic page's red box


@pytest.mark.parametrize("form", [
    "http://2130706433:{p}/", "http://0177.0.0.1:{p}/", "http://0x7f.1:{p}/", "http://127.1:{p}/",
    "http://127.0.0.1.:{p}/", "http://[::1]:{p}/", "http://[::ffff:127.0.0.1]:{p}/",
    "http://0.0.0.0:{p}/", "http://localhost:{p}/", "http://169.254.169.254/latest/meta-data/",
    " HTTP://127.0.0.1:{p}/", "http:/127.0.0.1:{p}/", "http:\\\\127.0.0.1:{p}\\",
    "http://[fe80::1%25lo]:{p}/", "http://%31%32%37.0.0.1:{p}/", "http://127.0.0.1:{p}/",
])
async def test_main_url_forms_are_refused_at_the_door(guarded, canary, form):
    service = guarded.app.state.service
    captures = service.counts["captures"]
    response = await guarded.client.get("/screenshot", params={"url": form.format(p=canary.port)})
    assert_error(response, 403, "BLOCKED")
    assert service.counts["captures"] == captures  # refused before any browser work
    assert canary.connections == 0


async def test_dns_rebinding_connects_to_the_checked_address(guarded, canary, site, resolver):
    url = f"http://rebind.test:{site_port(site)}/pages/basic"
    result = await shot(guarded, url)
    assert result["status"] == 200, result
    assert near(rgb_at(decode_b64(result), 10, 10), (255, 0, 0))  # the site's red box
    assert resolver.calls == 1  # the door's answer was the proxy's answer
    assert canary.rebound.connections == 0


# ---------------------------------------------------------------------------- sub-resources


SUBRESOURCES = {
    "img": '<img src="{c}a.png">',
    "img-https": '<img src="{s}a.png">',
    "iframe": '<iframe src="{c}"></iframe>',
    "iframe-https": '<iframe src="{s}"></iframe>',
    "fetch": '<script>fetch("{c}f").catch(() => {{}})</script>',
    "xhr": '<script>const x = new XMLHttpRequest(); x.open("GET", "{c}x"); x.send()</script>',
    "websocket": '<script>new WebSocket("{w}ws")</script>',
    "eventsource": '<script>new EventSource("{c}es")</script>',
    "stylesheet": '<link rel="stylesheet" href="{c}s.css">',
    "css-import": '<style>@import url("{c}i.css");</style>',
    "font": '<style>@font-face {{ font-family: x; src: url("{c}f.woff2") }}</style>'
            '<p style="font-family: x">text</p>',
    "video": '<video src="{c}v.mp4" autoplay muted></video>',
    "beacon": '<script>navigator.sendBeacon("{c}b", "x")</script>',
    "window-open": '<script>window.open("{c}popup")</script>',
    "popup-click": '<a id="go" href="{c}popup" target="_blank">go</a>',
}


def subresource_page(site: Site, canary: Canary, name: str) -> str:
    body = SUBRESOURCES[name].format(c=canary.url("/"), s=canary.url("/", "https"),
                                     w=canary.url("/", "ws"))
    return attack(site, body)


def subresource_params(name: str) -> dict[str, object]:
    return {"click": "#go"} if name == "popup-click" else {}


@pytest.mark.parametrize("name", SUBRESOURCES)
async def test_a_private_subresource_fails_and_the_page_renders(guarded, canary, site, name):
    result = await shot(guarded, subresource_page(site, canary, name), delay=300,
                        **subresource_params(name))
    assert result["status"] == 200, result
    assert result["blocked_requests"] >= 1
    assert near(rgb_at(decode_b64(result), 1270, 790), GREEN)  # the page itself rendered
    await asyncio.sleep(0.1)
    assert canary.connections == 0


@pytest.mark.parametrize("name", SUBRESOURCES)
async def test_without_the_guard_each_vector_reaches_the_canary(unguarded, site, name):
    """The control: the same pages, guard off. Each one must really make its request."""
    async with Canary() as canary:
        result = await shot(unguarded, subresource_page(site, canary, name), delay=300,
                            **subresource_params(name))
        assert result["status"] == 200, result
        for _ in range(20):
            if canary.connections:
                break
            await asyncio.sleep(0.05)
        assert canary.connections >= 1


# ---------------------------------------------------------------------------- files, workers, UDP


@pytest.fixture(scope="module")
def local_files(tmp_path_factory) -> Path:
    """A green page and a green image on disk: visible at once if file access were allowed."""
    folder = tmp_path_factory.mktemp("files")
    (folder / "green.html").write_text("<body style='margin:0;background:#0f0'>secret</body>")
    (folder / "green.png").write_bytes(solid_png(200, 200, GREEN))
    return folder


@pytest.mark.parametrize("make", [
    lambda f: f'<iframe src="file://{f}" style="width:400px;height:300px;border:0"></iframe>',
    lambda f: f'<img src="file://{f}" style="width:400px;height:300px">',
    lambda f: ('<pre id="out">none</pre><script>fetch("file://' + f + '").then(r => r.text())'
               '.then(t => { out.textContent = t; document.body.style.background = "#0f0" })'
               '.catch(() => {})</script>'),
])
@pytest.mark.parametrize("target", ["/etc/passwd", "green.html", "green.png"])
async def test_user_html_cannot_read_local_files(guarded, local_files, make, target):
    """User HTML renders exactly as if the file did not exist: no content, no colour of it."""
    path = target if target.startswith("/") else str(local_files / target)
    outputs = []
    for file in (path, path + ".does-not-exist"):
        html = f"<body style='margin:0;background:#fff'>{make(file)}</body>"
        response = await guarded.client.post("/screenshot", json={"html": html, "cache": False})
        assert response.status_code == 200, response.text
        outputs.append(decode(response.content).convert("RGB").tobytes())
    assert outputs[0] == outputs[1]
    assert GREEN not in set(zip(*[iter(outputs[0])] * 3, strict=False))


async def test_service_workers_cannot_register(guarded, site):
    script = ('<script>navigator.serviceWorker.register("/sw.js")'
              '.then(() => navigator.serviceWorker.getRegistration())'
              '.then(r => { document.body.style.background = r ? "#f00" : "#00f" },'
              '      () => { document.body.style.background = "#00f" })</script>')
    html = f"<!doctype html><body style='min-height:100vh;background:#888'>{script}</body>"
    result = await shot(guarded, site.url("/serve?html=" + quote(html)), delay=500)
    assert near(rgb_at(decode_b64(result), 5, 5), (0, 0, 255))


def webrtc_page(udp_port: int) -> str:
    return ("<script>const pc = new RTCPeerConnection({iceServers: [{urls: 'stun:127.0.0.1:"
            f"{udp_port}'}}]}}); pc.createDataChannel('x');"
            "pc.createOffer().then(o => pc.setLocalDescription(o));</script>")


def drain(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            sock.recvfrom(2048)
        except BlockingIOError:
            return count
        count += 1


async def test_webrtc_sends_no_udp(guarded, site):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.setblocking(False)
        port = udp.getsockname()[1]
        result = await shot(guarded, attack(site, webrtc_page(port)), delay=1500)
        assert result["status"] == 200
        assert drain(udp) == 0
        # The control: a Chromium without the two WebRTC flags sends STUN to the same port.
        flags = {"--webrtc-ip-handling-policy=disable_non_proxied_udp",
                 "--force-webrtc-ip-handling-policy=disable_non_proxied_udp"}
        assert flags <= set(BASE_ARGS)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=Settings().resolve_chromium(),
                args=[a for a in BASE_ARGS if a not in flags] + ["--no-sandbox"])
            try:
                page = await browser.new_page()
                await page.set_content(webrtc_page(port))
                await asyncio.sleep(1.5)
            finally:
                await browser.close()
        assert drain(udp) >= 1


# ---------------------------------------------------------------------------- settings


async def test_by_default_loopback_itself_is_blocked(site: Site):
    assert Settings().allow_private_hosts == ()
    async with run_server(make_settings(allow_private_hosts=())) as server:
        response = await server.client.get("/screenshot", params={"url": site.url("/pages/basic")})
        assert_error(response, 403, "BLOCKED")
        html = f"<body style='background:#0f0'><img src='{site.url('/img.png')}'></body>"
        result = await server.client.post("/screenshot", json={"html": html,
                                                                "response_type": "json"})
        assert result.status_code == 200 and result.json()["blocked_requests"] == 1


async def test_health_shows_the_guard(guarded):
    guard = (await guarded.client.get("/health")).json()["guard"]
    assert guard["enabled"] is True
    assert guard["channels"] >= 2  # the shared one and one per warm context


async def test_star_turns_the_guard_off_and_says_so(caplog, site: Site):
    with caplog.at_level(logging.WARNING, logger="screenshotd.http.app"):
        async with run_server(make_settings(allow_private_hosts=("*",))) as server:
            assert server.app.state.service.pool.egress is None  # no proxy at all
            health = (await server.client.get("/health")).json()
            assert health["guard"] == {"enabled": False, "channels": 0}
            response = await server.client.get("/screenshot", params={
                "url": site.url("/pages/basic"), "cache": "false"})
            assert response.status_code == 200
    assert any("guard is OFF" in record.getMessage() for record in caplog.records)


def decode_b64(result: dict) -> Image.Image:
    return decode(base64.b64decode(result["data"]))

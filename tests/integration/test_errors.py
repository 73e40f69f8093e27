"""Every error code that applies to the core: its status and the one JSON shape."""

from __future__ import annotations

import socket

import pytest

from tests.support.checks import assert_error
from tests.support.servers import SERVER_ERRORS, make_settings, run_server
from tests.support.site import Site

pytestmark = pytest.mark.asyncio


async def test_unknown_parameter_is_named(client, site: Site):
    response = await client.get("/screenshot", params={"url": site.url("/pages/basic"),
                                                       "fullpage": "true"})
    body = assert_error(response, 400, "VALIDATION_ERROR", "fullpage")
    assert "full_page" in body["message"]


async def test_unknown_parameter_in_post_body(client, site: Site):
    response = await client.post("/screenshot", json={"url": site.url("/pages/basic"),
                                                      "widht": 500})
    assert_error(response, 400, "VALIDATION_ERROR", "widht")


@pytest.mark.parametrize(
    "params, field",
    [
        ({"width": "99"}, "width"),
        ({"height": "4001"}, "height"),
        ({"quality": "0"}, "quality"),
        ({"delay": "10001"}, "delay"),
        ({"timeout": "999"}, "timeout"),
        ({"device_scale_factor": "5"}, "device_scale_factor"),
        ({"format": "gif"}, "format"),
        ({"full_page": "yes"}, "full_page"),
        ({"wait_until": "idle"}, "wait_until"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"device": "nokia 3310"}, "device"),
        ({"headers": '{"a": 1}'}, "headers"),
        ({"cookies": "[{}]"}, "cookies"),
        ({"geolocation_latitude": "91", "geolocation_longitude": "0"}, "geolocation_latitude"),
        ({"cache_ttl": "10"}, "cache_ttl"),
        ({"block_ads": "maybe"}, "block_ads"),
        ({"redact_mode": "pixelate"}, "redact_mode"),
        ({"content_format": "pdf"}, "content_format"),
        ({"block_requests": "[1, 2]"}, "block_requests"),
    ],
)
async def test_out_of_bounds_is_validation_error(client, site: Site, params, field):
    response = await client.get("/screenshot", params={"url": site.url("/pages/basic"), **params})
    assert_error(response, 400, "VALIDATION_ERROR", field)


async def test_missing_source(client):
    assert_error(await client.get("/screenshot"), 400, "VALIDATION_ERROR", "url")


async def test_malformed_json_body(client):
    response = await client.post("/screenshot", content=b"{not json",
                                 headers={"content-type": "application/json"})
    assert_error(response, 400, "VALIDATION_ERROR", "body")


async def test_parameter_given_twice(client, site: Site):
    url = site.url("/pages/basic")
    response = await client.get(f"/screenshot?url={url}&width=300&width=400")
    assert_error(response, 400, "VALIDATION_ERROR", "width")


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "file:///etc/passwd", "javascript:alert(1)", "http://", "example.com",
     "http://exa mple.com/"],
)
async def test_invalid_url(client, url):
    assert_error(await client.get("/screenshot", params={"url": url}), 400, "INVALID_URL", "url")


async def test_timeout(client, site: Site):
    response = await client.get("/screenshot", params={"url": site.url("/slow?ms=5000"),
                                                       "timeout": 1000})
    assert_error(response, 408, "TIMEOUT")


async def test_html_over_2mb(client):
    response = await client.post("/screenshot", json={"html": "x" * (2 * 1024 * 1024 + 1)})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_body_over_limit(client):
    response = await client.post("/screenshot", content=b"{" + b" " * (5 * 1024 * 1024) + b"}",
                                 headers={"content-type": "application/json"})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_navigation_failed_dns(client):
    response = await client.get("/screenshot", params={"url": "http://no-such-host.invalid/"})
    body = assert_error(response, 422, "NAVIGATION_FAILED")
    assert "ERR_NAME_NOT_RESOLVED" in body["message"]


async def test_navigation_failed_connection_refused(client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    response = await client.get("/screenshot", params={"url": f"http://127.0.0.1:{port}/"})
    body = assert_error(response, 422, "NAVIGATION_FAILED")
    assert "ERR_CONNECTION_REFUSED" in body["message"]


async def test_selector_not_found(client, site: Site):
    for name in ("selector", "wait_for_selector", "click"):
        response = await client.get("/screenshot", params={
            "url": site.url("/pages/basic"), name: "#nothing-here", "timeout": 1500})
        assert_error(response, 422, "SELECTOR_NOT_FOUND", name)


async def test_invalid_selector_syntax(client, site: Site):
    response = await client.get("/screenshot", params={"url": site.url("/pages/basic"),
                                                       "selector": "div[[["})
    assert_error(response, 400, "VALIDATION_ERROR", "selector")


async def test_script_error_is_reported(client, site: Site):
    response = await client.get("/screenshot", params={"url": site.url("/pages/basic"),
                                                       "scripts": "throw new Error('boom')"})
    body = assert_error(response, 400, "VALIDATION_ERROR", "scripts")
    assert "boom" in body["message"]


async def test_http_error_page_is_still_captured(client, site: Site):
    response = await client.get("/screenshot", params={"url": site.url("/status?code=404")})
    assert response.status_code == 200
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"


async def test_unknown_route_is_json_404(client):
    assert_error(await client.get("/nope"), 404, "NOT_FOUND")


async def test_internal_error_has_request_id_and_no_traceback(server, site: Site, monkeypatch):
    async def broken(opts, owner=""):
        raise RuntimeError("secret at /srv/screenshotd/internal.py")

    monkeypatch.setattr(server.service, "capture", broken)
    response = await server.client.get("/screenshot", params={"url": site.url("/pages/basic"),
                                                              "cache": "false"})
    body = assert_error(response, 500, "INTERNAL")
    assert len(body["request_id"]) == 16 and body["request_id"] in body["message"]
    assert "secret" not in response.text and "/srv" not in response.text
    SERVER_ERRORS.remove("GET /screenshot: 500")  # provoked on purpose


async def test_blocked_by_default(site: Site):
    """Without ALLOW_PRIVATE_HOSTS, loopback, private and link-local targets are refused."""
    async with run_server(make_settings(allow_private_hosts=())) as running:
        before = running.pool.stats()["captures_this_browser"]
        for url in (site.url("/pages/basic"), "http://localhost:9/", "http://10.0.0.1/",
                    "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
                    "http://2130706433/", "http://0x7f.1/", "http://192.168.1.1./"):
            response = await running.client.get("/screenshot", params={"url": url})
            assert_error(response, 403, "BLOCKED")
        assert running.pool.stats()["captures_this_browser"] == before  # no browser work

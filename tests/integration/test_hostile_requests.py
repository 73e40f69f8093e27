"""Hostile requests, as a hostile user would send them: every endpoint, GET and POST. Each gets
its exact status and error code, never a 5xx, and leaves the service as it found it: ``/health``
ok, every browser slot free, nothing waiting.

The pages these requests name are on the test site; the guard's own tests check the default
refuses loopback, so here ``127.0.0.1`` is allowed and other private addresses are the ones
refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.checks import assert_error
from tests.support.servers import Running, make_settings, run_server
from tests.support.site import Site

pytestmark = pytest.mark.asyncio

#: Names of Playwright's and Chromium's API that must never reach an error body.
AUTOMATION_WORDS = ("Page.", "Locator.", "Frame.", "BrowserContext.", "ElementHandle.",
                    "Protocol error", "playwright", "Playwright", "Target.", "Runtime.",
                    "Traceback", "=========")


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@dataclass
class Case:
    """One hostile request and the answer it must get."""

    name: str
    method: str
    path: str
    status: int
    code: str
    field: str | None = None
    params: Callable[[Site], dict[str, str]] | None = None
    body: Callable[[Site], Any] | None = None  # JSON-encoded unless bytes
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


def page(site: Site) -> str:
    return site.url("/pages/basic")


def shot(**extra: str) -> Callable[[Site], dict[str, str]]:
    return lambda site: {"url": page(site), **extra}


def post(**extra: Any) -> Callable[[Site], dict[str, Any]]:
    return lambda site: {"url": page(site), **extra}


CASES = [
    # ---- the URL itself
    Case("javascript scheme", "GET", "/screenshot", 400, "INVALID_URL", "url",
         params=lambda s: {"url": "javascript:alert(1)"}),
    Case("file scheme", "GET", "/screenshot", 400, "INVALID_URL", "url",
         params=lambda s: {"url": "file:///etc/passwd"}),
    Case("ftp scheme", "GET", "/screenshot", 400, "INVALID_URL", "url",
         params=lambda s: {"url": "ftp://example.com/"}),
    Case("no host", "GET", "/screenshot", 400, "INVALID_URL", "url",
         params=lambda s: {"url": "http://"}),
    Case("NUL in the host", "GET", "/screenshot", 400, "INVALID_URL", "url",
         params=lambda s: {"url": "http://exa\x00mple.com/"}),
    Case("a URL of 9000 characters", "POST", "/screenshot", 400, "VALIDATION_ERROR", "url",
         body=lambda s: {"url": "http://example.com/" + "a" * 9000}),
    Case("a private address", "GET", "/screenshot", 403, "BLOCKED", "url",
         params=lambda s: {"url": "http://10.0.0.1/"}),
    Case("cloud metadata", "GET", "/screenshot", 403, "BLOCKED", "url",
         params=lambda s: {"url": "http://169.254.169.254/latest/meta-data/"}),
    Case("a private address in hex", "GET", "/screenshot", 403, "BLOCKED", "url",
         params=lambda s: {"url": "http://0xa000001/"}),
    Case("IPv6 loopback", "GET", "/screenshot", 403, "BLOCKED", "url",
         params=lambda s: {"url": "http://[::1]/"}),
    Case("the URL twice", "GET", "/screenshot?url=http://a.example/&url=http://b.example/",
         400, "VALIDATION_ERROR", "url"),
    Case("a URL that is a number", "POST", "/screenshot", 400, "VALIDATION_ERROR", "url",
         body=lambda s: {"url": 123}),
    Case("a URL that is a list", "POST", "/screenshot", 400, "VALIDATION_ERROR", "url",
         body=lambda s: {"url": ["http://a.example/", "http://b.example/"]}),
    Case("a URL that is an object", "POST", "/screenshot", 400, "VALIDATION_ERROR", "url",
         body=lambda s: {"url": {"$gt": ""}}),
    # ---- numbers
    Case("width 1e309", "GET", "/screenshot", 400, "VALIDATION_ERROR", "width",
         params=shot(width="1e309")),
    Case("width NaN", "GET", "/screenshot", 400, "VALIDATION_ERROR", "width",
         params=shot(width="NaN")),
    Case("width negative", "GET", "/screenshot", 400, "VALIDATION_ERROR", "width",
         params=shot(width="-1")),
    Case("width of 30 digits", "GET", "/screenshot", 400, "VALIDATION_ERROR", "width",
         params=shot(width="9" * 30)),
    Case("height infinite", "GET", "/screenshot", 400, "VALIDATION_ERROR", "height",
         params=shot(height="inf")),
    Case("timeout NaN", "GET", "/screenshot", 400, "VALIDATION_ERROR", "timeout",
         params=shot(timeout="nan")),
    Case("quality fractional", "GET", "/screenshot", 400, "VALIDATION_ERROR", "quality",
         params=shot(quality="1.5", format="jpeg")),
    Case("delay negative", "GET", "/screenshot", 400, "VALIDATION_ERROR", "delay",
         params=shot(delay="-5")),
    Case("scale nearly zero", "GET", "/screenshot", 400, "VALIDATION_ERROR",
         "device_scale_factor", params=shot(device_scale_factor="1e-300")),
    Case("width a JSON float in a body", "POST", "/screenshot", 400, "VALIDATION_ERROR", "width",
         body=post(width=1e308)),
    Case("latitude out of range", "GET", "/screenshot", 400, "VALIDATION_ERROR",
         "geolocation_latitude",
         params=shot(geolocation_latitude="1e400", geolocation_longitude="0")),
    # ---- text that is not text
    Case("CRLF in a header value", "GET", "/screenshot", 400, "VALIDATION_ERROR", "headers",
         params=shot(headers=json.dumps({"X-A": "a\r\nInjected: 1"}))),
    Case("NUL in a header name", "POST", "/screenshot", 400, "VALIDATION_ERROR", "headers",
         body=post(headers={"X-\x00": "a"})),
    Case("a thousand headers", "POST", "/screenshot", 400, "VALIDATION_ERROR", "headers",
         body=post(headers={f"X-{i}": "a" for i in range(1000)})),
    Case("headers nested 2000 deep", "GET", "/screenshot", 400, "VALIDATION_ERROR", "headers",
         params=shot(headers=deep(2000))),
    Case("a lone surrogate in the body", "POST", "/screenshot", 400, "VALIDATION_ERROR", "body",
         body=lambda s: b'{"url": "http://example.com/\\ud800"}'),
    Case("a cookie with CRLF", "POST", "/screenshot", 400, "VALIDATION_ERROR", "cookies",
         body=post(cookies=[{"name": "a", "value": "b\r\nSet-Cookie: x=y"}])),
    Case("100,000 cookies", "POST", "/screenshot", 400, "VALIDATION_ERROR", "cookies",
         body=post(cookies=[{"name": f"c{i}", "value": "v"} for i in range(100_000)])),
    Case("10,000 actions", "POST", "/screenshot", 400, "VALIDATION_ERROR", "actions",
         body=post(actions=[{"type": "wait", "ms": 1}] * 10_000)),
    Case("an action of an unknown type", "POST", "/screenshot", 400, "VALIDATION_ERROR",
         "actions", body=post(actions=[{"type": "teleport"}])),
    Case("scripts of 100 KB", "POST", "/screenshot", 400, "VALIDATION_ERROR", "scripts",
         body=post(scripts="1;" * 50_000)),
    Case("styles of 1 MB", "POST", "/screenshot", 400, "VALIDATION_ERROR", "styles",
         body=post(styles="a{}" * 350_000)),
    Case("html over 2 MB", "POST", "/screenshot", 413, "PAYLOAD_TOO_LARGE", "html",
         body=lambda s: {"html": "<p>" + "x" * (2 * 1024 * 1024 + 10)}),
    Case("a selector of 10,000 characters", "POST", "/screenshot", 400, "VALIDATION_ERROR",
         "selector", body=post(selector="a" * 10_000)),
    Case("10,000 hidden selectors", "POST", "/screenshot", 400, "VALIDATION_ERROR",
         "hide_selectors", body=post(hide_selectors=["a"] * 10_000)),
    Case("an unknown parameter", "GET", "/screenshot", 400, "VALIDATION_ERROR", "fullpage",
         params=shot(fullpage="true")),
    Case("an unknown format", "GET", "/screenshot", 400, "VALIDATION_ERROR", "format",
         params=shot(format="bmp")),
    Case("an unknown response type", "GET", "/screenshot", 400, "VALIDATION_ERROR",
         "response_type", params=shot(response_type="xml")),
    Case("a device that does not exist", "GET", "/screenshot", 400, "VALIDATION_ERROR",
         "device", params=shot(device="x" * 5000)),
    Case("a webhook to cloud metadata", "POST", "/screenshot", 403, "BLOCKED", "webhook_url",
         body=post(**{"async": True, "webhook_url": "http://169.254.169.254/hook"})),
    # ---- the body itself
    Case("a body of 5 MB", "POST", "/screenshot", 413, "PAYLOAD_TOO_LARGE",
         body=lambda s: b'{"url": "' + b"a" * (5 * 1024 * 1024) + b'"}'),
    Case("a body nested 2000 deep", "POST", "/screenshot", 400, "VALIDATION_ERROR", "body",
         body=lambda s: ('{"url": ' + deep(2000) + "}").encode()),
    Case("a body with NaN", "POST", "/screenshot", 400, "VALIDATION_ERROR", "body",
         body=lambda s: b'{"url": "http://example.com/", "width": NaN}'),
    Case("a body of invalid UTF-8", "POST", "/screenshot", 400, "VALIDATION_ERROR", "body",
         body=lambda s: b'{"url": "\xff\xfe"}'),
    Case("a body that is a list", "POST", "/screenshot", 400, "VALIDATION_ERROR", "body",
         body=lambda s: b"[]"),
    Case("a body that is null", "POST", "/screenshot", 400, "VALIDATION_ERROR", "body",
         body=lambda s: b"null"),
    Case("a body of raw garbage", "POST", "/screenshot", 400, "VALIDATION_ERROR", "body",
         body=lambda s: bytes(range(256)) * 4),
    Case("a body that is not JSON", "POST", "/screenshot", 400, "VALIDATION_ERROR", "body",
         body=lambda s: b"url=http://example.com/",
         headers={"content-type": "application/x-www-form-urlencoded"}),
    Case("an integer of 5000 digits", "POST", "/screenshot", 400, "VALIDATION_ERROR", "body",
         body=lambda s: b'{"width": ' + b"9" * 5000 + b"}"),
    # ---- the other endpoints
    Case("an image path that climbs", "GET", "/images/..%2F..%2Fetc%2Fpasswd", 404, "NOT_FOUND"),
    Case("an image key with NUL", "GET", "/images/%00.png", 404, "NOT_FOUND"),
    Case("an image key of 5000 characters", "GET", "/images/" + "a" * 5000 + ".png", 404,
         "NOT_FOUND"),
    Case("a job that does not exist", "GET", "/jobs/nope", 404, "NOT_FOUND"),
    Case("a job id that climbs", "GET", "/jobs/..%2F..%2Fhealth", 404, "NOT_FOUND"),
    Case("cancelling a job that does not exist", "DELETE", "/jobs/nope", 404, "NOT_FOUND"),
    Case("events of a job that does not exist", "GET", "/jobs/nope/events", 404, "NOT_FOUND"),
    Case("an output of a job that does not exist", "GET", "/jobs/nope/result/content", 404,
         "NOT_FOUND"),
    Case("a job list page of -1", "GET", "/jobs?page=-1", 400, "VALIDATION_ERROR", "page"),
    Case("a job list with an unknown status", "GET", "/jobs?status=%00", 400,
         "VALIDATION_ERROR", "status"),
    Case("a batch without URLs", "POST", "/batch", 400, "VALIDATION_ERROR", "requests",
         body=lambda s: {}),
    Case("a batch whose URLs are a string", "POST", "/batch", 400, "VALIDATION_ERROR", "urls",
         body=lambda s: {"urls": "http://example.com/"}),
    Case("a batch of 100,000 URLs", "POST", "/batch", 400, "VALIDATION_ERROR", "urls",
         body=lambda s: {"urls": ["http://example.com/"] * 100_000}),
    Case("a batch nested 2000 deep", "POST", "/batch", 400, "VALIDATION_ERROR", "body",
         body=lambda s: ('{"urls": ' + deep(2000) + "}").encode()),
    Case("a batch webhook to a private address", "POST", "/batch", 403, "BLOCKED",
         "webhook_url",
         body=lambda s: {"urls": [page(s)], "async": True,
                         "webhook_url": "http://10.0.0.1/hook"}),
    Case("a batch that does not exist", "GET", "/batch/nope", 404, "NOT_FOUND"),
    Case("a diff of nothing", "GET", "/diff", 400, "VALIDATION_ERROR"),
    Case("a diff of a javascript URL", "POST", "/diff", 400, "INVALID_URL", "before",
         body=lambda s: {"before": "javascript:1", "after": page(s)}),
    Case("a diff of garbage images", "POST", "/diff", 400, "VALIDATION_ERROR", "image1",
         body=lambda s: {"image1": "!!!notbase64", "image2": "AAAA"}),
    Case("a diff threshold of NaN", "GET", "/diff", 400, "VALIDATION_ERROR", "threshold",
         params=lambda s: {"before": page(s), "after": page(s), "threshold": "nan"}),
    Case("a diff body nested 2000 deep", "POST", "/diff", 400, "VALIDATION_ERROR", "body",
         body=lambda s: ('{"before": ' + deep(2000) + "}").encode()),
    Case("a diff colour nested 2000 deep", "GET", "/diff", 400, "VALIDATION_ERROR",
         "diff_color",
         params=lambda s: {"before": page(s), "after": page(s), "diff_color": deep(2000)}),
    Case("a method the path does not take", "PUT", "/screenshot", 405, "METHOD_NOT_ALLOWED"),
    Case("a path that does not exist", "GET", "/%2e%2e/%2e%2e/etc/passwd", 404, "NOT_FOUND"),
]


@pytest.fixture(scope="module")
async def server() -> Any:
    async with run_server(make_settings()) as running:
        yield running


async def send(server: Running, site: Site, case: Case) -> Any:
    params = case.params(site) if case.params else None
    kwargs: dict[str, Any] = {"params": params, "headers": dict(case.headers)}
    if case.body is not None:
        body = case.body(site)
        if isinstance(body, bytes):
            kwargs["content"] = body
            kwargs["headers"].setdefault("content-type", "application/json")
        else:
            kwargs["json"] = body
    return await server.client.request(case.method, case.path, **kwargs)


async def assert_at_rest(server: Running) -> None:
    """``/health`` is ok, and no browser slot is held or waited for."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        health = await server.client.get("/health")
        assert health.status_code == 200, health.text
        pool = health.json()["pool"]
        if pool["in_use"] == 0 and pool["waiting"] == 0:
            return
        assert asyncio.get_running_loop().time() < deadline, pool
        await asyncio.sleep(0.05)


async def test_the_table_is_large_enough():
    assert len(CASES) >= 60
    assert len({case.name for case in CASES}) == len(CASES)
    assert {case.method for case in CASES} >= {"GET", "POST", "DELETE", "PUT"}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_a_hostile_request_gets_its_own_answer(server: Running, site: Site, case: Case):
    response = await send(server, site, case)
    body = assert_error(response, case.status, case.code, case.field)
    for word in AUTOMATION_WORDS:
        assert word not in body["message"], body
    await assert_at_rest(server)


@pytest.mark.parametrize(("params", "field", "quoted"), [
    ({"selector": "<<<"}, "selector", "<<<"),
    ({"wait_for_selector": "##"}, "wait_for_selector", "##"),
    ({"click": "div["}, "click", "div["),
    ({"actions": json.dumps([{"type": "click", "selector": "a::"}])}, "actions", "a::"),
    ({"actions": json.dumps([{"type": "press", "key": "NotAKey"}])}, "actions", "NotAKey"),
])
async def test_a_bad_selector_or_key_is_named_in_the_services_words(
        server: Running, site: Site, params: dict[str, str], field: str, quoted: str):
    response = await server.client.get("/screenshot", params={"url": page(site),
                                                              "cache": "false", **params})
    body = assert_error(response, 400, "VALIDATION_ERROR", field)
    assert repr(quoted) in body["message"], body
    if params.keys() != {"actions"} or "press" not in params["actions"]:
        assert "not a valid CSS selector" in body["message"], body
    for word in AUTOMATION_WORDS:
        assert word not in body["message"], body
    await assert_at_rest(server)


async def test_a_script_that_throws_is_quoted_without_the_automations_words(
        server: Running, site: Site):
    response = await server.client.post("/screenshot", json={
        "url": page(site), "scripts": "throw new Error('boom from the page')", "cache": False})
    body = assert_error(response, 400, "VALIDATION_ERROR", "scripts")
    assert "boom from the page" in body["message"]
    for word in AUTOMATION_WORDS:
        assert word not in body["message"], body


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    b"POST /screenshot HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
])
async def test_requests_the_http_server_cannot_parse_get_a_plain_400(server: Running,
                                                                   raw: bytes):
    host, port = server.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(raw)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 400"), status_line
    await assert_at_rest(server)


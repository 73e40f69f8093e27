"""The private-network guard without a browser: reading hosts, the policy, the guard's pinning,
the egress proxy spoken to directly, and the outbound fetch helper.

Every test that could reach something private points at a :class:`Canary` and asserts that its
count of connections stays at 0.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import uvloop

from screenshotd import errors
from screenshotd.net import outbound
from screenshotd.net.addresses import (
    AddressPolicy,
    IPAddress,
    canonical_host,
    check_url_literal,
    is_public,
)
from screenshotd.net.egress import Guard, Unreachable
from screenshotd.net.proxy import MARKER, EgressProxy
from screenshotd.params.capture import CaptureOptions
from tests.support.servers import Canary
from tests.support.site import Site

PUBLIC = "93.184.216.34"


class FakeResolver:
    """Answers from a script: each lookup of a name takes its next answer (the last repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls: dict[str, int] = {}

    async def resolve(self, host: str) -> list[IPAddress]:
        n = self.calls.get(host, 0)
        self.calls[host] = n + 1
        script = self.answers.get(host, [[]])
        return [ipaddress.ip_address(a) for a in script[min(n, len(script) - 1)]]


def default_guard(resolver: FakeResolver | None = None, *allowed: str, ttl: float = 30.0) -> Guard:
    return Guard(AddressPolicy.from_setting(allowed), resolver, ttl=ttl)


# ---------------------------------------------------------------------------- reading hosts


@pytest.mark.parametrize(
    "host, expected",
    [("2130706433", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("0x7f.1", "127.0.0.1"),
     ("127.1", "127.0.0.1"), ("0x7F000001", "127.0.0.1"), ("10.1", "10.0.0.1"),
     ("017700000001", "127.0.0.1"), ("127.0.0.1.", "127.0.0.1"), ("[::1]", "::1"),
     ("fe80::1%eth0", "fe80::1"), ("[fe80::1%25eth0]", "fe80::1"), ("Example.COM.", "example.com"),
     ("%31%32%37.0.0.1", "127.0.0.1"), ("１２７．０．０．１", "127.0.0.1"),
     ("[::ffff:127.0.0.1]", "::ffff:7f00:1")],
)
def test_canonical_host(host, expected):
    assert str(canonical_host(host)) == expected


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
     "100.64.0.1", "100.127.255.254", "224.0.0.1", "239.255.255.250", "240.0.0.1",
     "255.255.255.255", "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
     "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1", "::ffff:0:7f00:1",
     "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b:1::a9fe:a9fe", "2002:7f00:1::",
     "2002:a00:1::", "2001:0:4136:e378:8000:63bf:80ff:fffe"],  # Teredo wrapping 127.0.0.1
)
def test_non_public_addresses(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8",
                                     "64:ff9b::808:808", "2002:808:808::"])
def test_public_addresses(address):
    assert is_public(ipaddress.ip_address(address))


# ---------------------------------------------------------------------------- the door


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/", "http://2130706433/", "http://0177.0.0.1/", "http://0x7f.1/",
     "http://127.1/", "http://127.0.0.1./", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
     "http://[::ffff:7f00:1]/", "http://[fe80::1%25eth0]/", "http://0.0.0.0/",
     "http://localhost/", "http://LOCALHOST./", "http://app.localhost:3000/",
     "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[fd00::1]:8080/",
     "http://100.64.0.1/", "http://%31%32%37.0.0.1/", "http://１２７.０.０.１/",
     "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/",
     # scheme tricks, read the browser's way first
     "  HTTP://127.0.0.1/", "\thttp://127.0.0.1/", "http:/127.0.0.1/", "http:\\\\127.0.0.1\\",
     "Http:///127.0.0.1", "ht\ntp://127.0.0.1/", "http://user:pw@127.0.0.1/"],
)
async def test_the_door_reads_hosts_the_browser_way_and_blocks(url):
    opts = CaptureOptions.parse({"url": url})
    with pytest.raises(errors.Blocked):
        await default_guard(FakeResolver({})).check_url(opts.url)


@pytest.mark.parametrize("url, host", [
    ("http://example.com\\@127.0.0.1/", "example.com"),  # a backslash ends the host, as in Chromium
    ("http://127.0.0.1#@example.com/", "127.0.0.1"), ("http://example.com?@127.0.0.1/", "example.com"),
])
def test_the_door_sees_the_host_the_browser_sees(url, host):
    assert canonical_host(urlsplit(CaptureOptions.parse({"url": url}).url).hostname) == (
        canonical_host(host))


@pytest.mark.parametrize("url", ["file:/etc/passwd", " FILE:///etc/passwd", "file:etc/passwd",
                                 "javascript:alert(1)", "gopher://127.0.0.1:6379/_INFO",
                                 "ftp://127.0.0.1/", "data:text/html,hi"])
def test_the_door_refuses_other_schemes(url):
    with pytest.raises(errors.InvalidURL):
        CaptureOptions.parse({"url": url})


async def test_the_door_resolves_names_and_checks_every_address():
    resolver = FakeResolver({"public.test": [[PUBLIC]], "mixed.test": [[PUBLIC, "10.0.0.1"]],
                             "internal.test": [["192.168.1.10"]]})
    guard = default_guard(resolver)
    await guard.check_url("http://public.test/")
    for name in ("mixed.test", "internal.test"):
        with pytest.raises(errors.Blocked):
            await guard.check_url(f"http://{name}/")
    await guard.check_url("http://no-such-host.test/")  # fails later, in the browser: 422


def test_the_literal_check_needs_no_dns():
    policy = AddressPolicy()
    with pytest.raises(errors.Blocked):
        check_url_literal("http://0x7f.1/", policy)
    assert check_url_literal("http://example.com/", policy) is True  # still to resolve
    assert check_url_literal(f"http://{PUBLIC}/", policy) is False


async def test_allow_private_hosts_forms():
    resolver = FakeResolver({"db.internal": [["10.1.2.3"]]})
    guard = default_guard(resolver, "127.0.0.1", "10.0.0.0/8", "localhost:8080", "[::1]:9000")
    await guard.check_url("http://127.0.0.1:9999/")
    await guard.check_url("http://0x7f.1/")
    await guard.check_url("http://10.2.3.4/")
    await guard.check_url("http://db.internal/")
    await guard.check_url("http://localhost:8080/")
    await guard.check_url("http://[::1]:9000/")
    for url in ("http://localhost:8081/", "http://192.168.0.1/", "http://[::1]:9001/"):
        with pytest.raises(errors.Blocked):
            await guard.check_url(url)
    await Guard(AddressPolicy.from_setting(["*"])).check_url("http://192.168.0.1/")


# ---------------------------------------------------------------------------- pinning


async def test_a_connection_goes_to_the_address_that_was_checked(site: Site):
    """DNS rebinding: the first answer is allowed, every later one private. With no answer
    reuse at all (ttl=0), the guard still looks the name up once and connects there."""
    port = int(site.base.rsplit(":", 1)[1])
    resolver = FakeResolver({"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]})
    guard = default_guard(resolver, "127.0.0.1/32", ttl=0)
    async with Canary(port, hosts=("127.0.0.2",)) as canary:
        reader, writer = await guard.open_connection("rebind.test", port)
        writer.write(b"GET /pages/basic HTTP/1.0\r\nHost: rebind.test\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert answer.startswith(b"HTTP/1.0 200")  # the test site, on the checked address
        assert resolver.calls["rebind.test"] == 1
        with pytest.raises(errors.Blocked):  # the next lookup is private: refused, not used
            await guard.open_connection("rebind.test", port)
        assert canary.connections == 0


async def test_answers_are_shared_and_reused_for_their_ttl():
    now = [0.0]
    resolver = FakeResolver({"a.test": [[PUBLIC]]})
    guard = Guard(AddressPolicy(), resolver, ttl=30, negative_ttl=5, clock=lambda: now[0])
    results = await asyncio.gather(*(guard.admit("a.test", 80) for _ in range(5)))
    assert all(r == [ipaddress.ip_address(PUBLIC)] for r in results)
    assert resolver.calls["a.test"] == 1  # concurrent lookups shared one call
    now[0] = 29
    await guard.admit("a.test", 80)
    assert resolver.calls["a.test"] == 1
    now[0] = 31
    await guard.admit("a.test", 80)
    assert resolver.calls["a.test"] == 2
    with pytest.raises(Unreachable):
        await guard.admit("gone.test", 80)
    with pytest.raises(Unreachable):
        await guard.admit("gone.test", 80)
    assert resolver.calls["gone.test"] == 1


# ---------------------------------------------------------------------------- the proxy


@pytest.fixture
async def proxy(site: Site) -> Iterator[EgressProxy]:
    port = int(site.base.rsplit(":", 1)[1])
    resolver = FakeResolver({"site.test": [["127.0.0.1"]], "evil.test": [["10.0.0.1"]]})
    running = EgressProxy(default_guard(resolver, f"127.0.0.1:{port}"))
    await running.start()
    yield running
    await running.close()


async def ask(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def site_port(site: Site) -> int:
    return int(site.base.rsplit(":", 1)[1])


async def test_proxy_tunnels_connect_to_an_allowed_address(proxy, site: Site):
    channel = await proxy.channel()
    port = site_port(site)
    answer = await ask(channel.port, (
        f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
        f"GET /pages/basic HTTP/1.0\r\nHost: x\r\n\r\n").encode())
    assert answer.startswith(b"HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.0 200")
    assert channel.blocked == 0


async def test_proxy_forwards_http_and_closes_after_the_response(proxy, site: Site):
    channel = await proxy.channel()
    port = site_port(site)
    answer = await ask(channel.port, (
        f"GET http://site.test:{port}/img.png?w=3&h=3 HTTP/1.1\r\nHost: site.test:{port}\r\n"
        "Proxy-Connection: keep-alive\r\n\r\n").encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") and body.startswith(b"\x89PNG")
    assert b"\r\nConnection: close" in head and b"\r\nProxy-Connection: close" in head


@pytest.mark.parametrize("request_line", [
    "CONNECT 127.0.0.1:{canary} HTTP/1.1", "GET http://127.0.0.1:{canary}/ HTTP/1.1",
    "CONNECT 2130706433:{canary} HTTP/1.1", "CONNECT [::ffff:127.0.0.1]:{canary} HTTP/1.1",
    "CONNECT localhost:{canary} HTTP/1.1", "GET http://evil.test:{canary}/ HTTP/1.1",
    "CONNECT 169.254.169.254:80 HTTP/1.1", "CONNECT 0.0.0.0:{canary} HTTP/1.1",
])
async def test_proxy_refuses_private_targets(proxy, request_line):
    channel = await proxy.channel()
    async with Canary() as canary:
        line = request_line.format(canary=canary.port)
        answer = await ask(channel.port, f"{line}\r\nHost: x\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 403 ") and f"{MARKER}: blocked".encode() in answer
        assert canary.connections == 0
    assert channel.blocked == 1 and channel.last_refusal().reason == "blocked"


async def test_proxy_answers_what_it_cannot_do(proxy):
    channel = await proxy.channel()
    unresolved = await ask(channel.port, b"CONNECT nowhere.test:443 HTTP/1.1\r\n\r\n")
    assert unresolved.startswith(b"HTTP/1.1 502 ") and b"unresolved" in unresolved
    for request in (b"GET https://a.test/ HTTP/1.1\r\n\r\n", b"NONSENSE\r\n\r\n",
                    b"CONNECT a.test HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 7000):
        assert (await ask(channel.port, request)).startswith(b"HTTP/1.1 400 ")
    assert channel.blocked == 0  # none of these was a policy refusal


async def test_closing_a_channel_closes_its_connections(proxy, site: Site):
    channel = await proxy.channel()
    reader, writer = await asyncio.open_connection("127.0.0.1", channel.port)
    writer.write(f"CONNECT 127.0.0.1:{site_port(site)} HTTP/1.1\r\n\r\n".encode())
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    await proxy.release(channel)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


# ---------------------------------------------------------------------------- outbound fetches


async def test_outbound_fetches_are_guarded_pinned_and_never_redirected(site: Site):
    port = site_port(site)
    resolver = FakeResolver({"hooks.test": [["127.0.0.1"], ["127.0.0.2"]]})
    guard = default_guard(resolver, f"127.0.0.1:{port}", ttl=0)
    async with Canary() as canary, Canary(port, hosts=("127.0.0.2",)) as rebound:
        with pytest.raises(errors.Blocked):
            await outbound.send(guard, canary.url("/hook"))
        with pytest.raises(errors.Blocked):
            await outbound.send(guard, f"http://localhost:{canary.port}/hook")
        redirect = f"{site.base}/redirect?code=307&to={canary.url('/hook')}"
        response = await outbound.send(guard, redirect, method="GET")
        assert response.status == 307  # returned as it is, not followed
        pinned = await outbound.send(guard, f"http://hooks.test:{port}/status?code=204",
                                     method="GET")
        assert pinned.status == 204 and resolver.calls["hooks.test"] == 1
        assert canary.connections == 0 and rebound.connections == 0
    with pytest.raises(errors.InvalidURL):
        await outbound.send(guard, "file:///etc/passwd")


def test_the_proxy_works_under_uvloop(site: Site):
    """``screenshotd serve`` runs on uvloop, whose transports are not asyncio's classes."""
    port = site_port(site)
    answers: list[bytes] = []

    async def scenario() -> None:
        running = EgressProxy(default_guard(FakeResolver({}), f"127.0.0.1:{port}"))
        await running.start()
        try:
            channel = await running.channel()
            answers.append(await ask(channel.port, (
                f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n"
                "GET /pages/basic HTTP/1.0\r\n\r\n").encode()))
            answers.append(await ask(channel.port, (
                f"GET http://127.0.0.1:{port}/pages/basic HTTP/1.1\r\n\r\n").encode()))
            answers.append(await ask(channel.port, b"CONNECT 10.0.0.1:80 HTTP/1.1\r\n\r\n"))
        finally:
            await running.close()

    def run() -> None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(scenario())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert len(answers) == 3
    assert answers[0].startswith(b"HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.0 200")
    assert answers[1].startswith(b"HTTP/1.0 200") and b"Connection: close" in answers[1]
    assert answers[2].startswith(b"HTTP/1.1 403")

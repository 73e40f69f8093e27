"""Upstream proxies (``PROXIES``): captures through two local forward proxies that count their
connections, one HTTP CONNECT with a login and one SOCKS5. The guard still decides: its SSRF
vectors reach a canary 0 times through a proxy, and the proxy is only ever asked for checked
addresses."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from screenshotd.params.proxies import ProxyConfigError, parse_proxies
from screenshotd.settings import Settings, SettingsError
from tests.integration.test_guard import SUBRESOURCES, attack, subresource_page, subresource_params
from tests.support.checks import assert_error, decode, near, rgb_at
from tests.support.proxies import ForwardProxy, tls_for_localhost
from tests.support.servers import Canary, Running, make_settings, run_server
from tests.support.site import Site

RED = (255, 0, 0)
SECRET = "s3cr3t-Pa55"


@pytest.fixture(scope="module")
async def proxies() -> AsyncIterator[dict[str, ForwardProxy]]:
    async with ForwardProxy("http", "shot", SECRET) as a, ForwardProxy("socks5") as b, \
            ForwardProxy("socks5", "shot", SECRET) as c:
        yield {"a": a, "b": b, "c": c}


def site_port(site: Site) -> int:
    return int(site.base.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
async def server(site: Site, proxies: dict[str, ForwardProxy]) -> AsyncIterator[Running]:
    """The guard on, the site allowed by host:port only; proxies a (http, login, DE), b
    (socks5, US), c (socks5, login) and wrong (http with the wrong password)."""
    a, b, c = proxies["a"], proxies["b"], proxies["c"]
    table = (f"a={a.url()};country=DE;city=Berlin,b={b.url()};country=US;region=CA,"
             f"c={c.url()};country=DE,wrong={a.url(password='not-it')}")
    settings = make_settings(allow_private_hosts=(f"127.0.0.1:{site_port(site)}",),
                             proxies=parse_proxies(table))
    async with run_server(settings) as running:
        yield running


async def shot(server: Running, url: str, **params: Any) -> Any:
    return await server.client.get("/screenshot", params={"url": url, "cache": "false",
                                                          "response_type": "base64", **params})


def counts(proxies: dict[str, ForwardProxy]) -> dict[str, int]:
    return {name: proxy.connections for name, proxy in proxies.items()}


async def test_proxy_by_name_goes_through_that_proxy_only(server, proxies, site: Site):
    before = counts(proxies)
    response = await shot(server, site.url("/pages/basic?via=a"), proxy="a",
                          response_type="image")
    assert response.status_code == 200, response.text
    assert near(rgb_at(decode(response.content), 10, 10), RED)
    after = counts(proxies)
    assert after["a"] > before["a"] and after["b"] == before["b"] and after["c"] == before["c"]
    assert ("127.0.0.1", site_port(site)) in proxies["a"].tunnels  # the checked address


async def test_proxy_tags_pick_the_first_proxy_that_has_them(server, proxies, site: Site):
    before = counts(proxies)
    response = await shot(server, site.url("/pages/basic?via=us"), proxy_country="us",
                          response_type="json")
    assert response.status_code == 200, response.text
    after = counts(proxies)
    assert after["b"] > before["b"] and after["a"] == before["a"]
    before = after
    berlin = await shot(server, site.url("/pages/basic?via=berlin"), proxy_country="DE",
                        proxy_city="berlin", response_type="json")
    assert berlin.status_code == 200 and counts(proxies)["a"] > before["a"]


async def test_socks5_with_a_login(server, proxies, site: Site):
    before = proxies["c"].connections
    response = await shot(server, site.url("/pages/basic?via=c"), proxy="c")
    assert response.status_code == 200, response.text
    assert proxies["c"].connections > before and proxies["c"].refused_logins == 0


async def test_without_proxy_no_proxy_is_used(server, proxies, site: Site):
    before = counts(proxies)
    assert (await shot(server, site.url("/pages/basic?via=none"))).status_code == 200
    assert counts(proxies) == before


async def test_the_cache_key_includes_the_proxy_and_not_how_it_was_chosen(server, site: Site):
    url = site.url("/pages/basic?keyed=1")
    keys = {}
    for name, params in {"none": {}, "a": {"proxy": "a"}, "berlin": {"proxy_city": "Berlin"},
                         "b": {"proxy": "b"}}.items():
        response = await server.client.get("/screenshot", params={
            "url": url, "response_type": "json", **params})
        assert response.status_code == 200, response.text
        keys[name] = response.json()["cache_key"]
    assert keys["a"] == keys["berlin"]
    assert len({keys["none"], keys["a"], keys["b"]}) == 3


@pytest.mark.parametrize(("params", "field", "said"), [
    ({"proxy": "nope"}, "proxy", "there are a, b, c, wrong"),
    ({"proxy_country": "FR"}, "proxy_country", "country: DE, US"),
    ({"proxy_region": "TX"}, "proxy_region", "region: CA"),
    ({"proxy": "b", "proxy_country": "DE"}, "proxy", "no proxy has proxy_country=DE"),
])
async def test_no_matching_proxy_is_a_400_that_lists_what_exists(server, site, params, field,
                                                                 said):
    response = await shot(server, site.url("/pages/basic"), **params)
    body = assert_error(response, 400, "VALIDATION_ERROR", field)
    assert said in body["message"], body


async def test_wrong_credentials_are_a_clear_422_and_secrets_appear_nowhere(
        server, proxies, site: Site, caplog):
    caplog.set_level(logging.DEBUG, logger="screenshotd")
    refused = proxies["a"].refused_logins
    response = await shot(server, site.url("/pages/basic?via=wrong"), proxy="wrong")
    body = assert_error(response, 422, "NAVIGATION_FAILED")
    assert "wrong (http://127.0.0.1:" in body["message"] and "407" in body["message"], body
    assert proxies["a"].refused_logins > refused
    health = (await server.client.get("/health")).text
    metrics = (await server.client.get("/metrics")).text
    assert '"name":"a"' in health.replace(" ", "") and "Berlin" in health
    for text in (response.text, health, metrics, caplog.text):
        assert SECRET not in text and "not-it" not in text


async def test_an_unreachable_proxy_names_itself(site: Site):
    table = parse_proxies("gone=socks5://127.0.0.1:9")  # nothing listens on the discard port
    settings = make_settings(allow_private_hosts=("127.0.0.1",), proxies=table)
    async with run_server(settings) as running:
        response = await shot(running, site.url("/pages/basic"), proxy="gone")
        body = assert_error(response, 422, "NAVIGATION_FAILED")
        assert "upstream proxy gone (socks5://127.0.0.1:9)" in body["message"], body


# ---------------------------------------------------------------------------- the guard holds


@pytest.fixture(scope="module")
async def canary() -> AsyncIterator[Canary]:
    async with Canary() as running:
        yield running


@pytest.mark.parametrize("name", SUBRESOURCES)
async def test_the_guards_vectors_never_reach_the_canary_through_a_proxy(
        server, proxies, canary, site, name):
    result = await shot(server, subresource_page(site, canary, name), proxy="a", delay=300,
                        **subresource_params(name))
    assert result.status_code == 200, result.text
    assert result.json()["blocked_requests"] >= 1
    assert canary.connections == 0
    assert all(port != canary.port for _, port in proxies["a"].tunnels)


@pytest.mark.parametrize("body", [
    '<script>location = "{c}"</script>',
    '<meta http-equiv="refresh" content="0;url={c}">',
])
async def test_a_page_sending_itself_to_a_private_address_is_blocked_through_a_proxy(
        server, proxies, canary, site, body):
    response = await shot(server, attack(site, body.format(c=canary.url("/"))), proxy="b",
                          delay=500)
    assert_error(response, 403, "BLOCKED")
    assert canary.connections == 0
    assert all(port != canary.port for _, port in proxies["b"].tunnels)


async def test_a_private_main_url_is_refused_at_the_door_with_a_proxy(server, canary):
    response = await shot(server, canary.url("/"), proxy="a")
    assert_error(response, 403, "BLOCKED")
    assert canary.connections == 0


# ---------------------------------------------------------------------------- the setting


@pytest.mark.parametrize(("raw", "said"), [
    ("a=ftp://h:1", "http, https or socks5"),
    ("a=http://h:1,a=http://h:2", "named twice"),
    ("http://user:pw@h:1", "expected name=URL"),
    ("a=http://user:pw@h:1;country", "a tag is key=value"),
    ("a=http://user:pw@h:1/path", "scheme://[user:pass@]host:port"),
])
def test_a_bad_proxies_setting_stops_the_start_without_showing_secrets(raw, said):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"PROXIES": raw})
    assert said in str(caught.value) and "pw" not in str(caught.value)
    with pytest.raises(ProxyConfigError):
        parse_proxies(raw)


def test_the_setting_reads_names_tags_and_encoded_credentials():
    table = parse_proxies("de1=http://us%2Cer:p%3Bss@proxy.example:8080;country=DE;city=Berlin,"
                          " us=socks5://10.0.0.9;country=US")
    de1, us = table.proxies
    assert (de1.username, de1.password, de1.port) == ("us,er", "p;ss", 8080)
    assert dict(de1.tags) == {"country": "DE", "city": "Berlin"}
    assert (us.port, us.username) == (1080, "")
    assert "p;ss" not in repr(table) and "p;ss" not in de1.describe()


async def test_an_https_proxy_is_reached_over_verified_tls(site: Site, tmp_path, monkeypatch):
    context, cert = tls_for_localhost(tmp_path)
    async with ForwardProxy("http", "shot", SECRET, tls=context) as secure:
        table = parse_proxies(f"tls={secure.url()},untrusted={secure.url()}")
        settings = make_settings(allow_private_hosts=("127.0.0.1",), proxies=table)
        async with run_server(settings) as running:
            untrusted = await shot(running, site.url("/pages/basic?tls=0"), proxy="untrusted")
            body = assert_error(untrusted, 422, "NAVIGATION_FAILED")
            assert "untrusted (https://localhost:" in body["message"], body
            assert "TLS" in body["message"] and SECRET not in body["message"]
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now the proxy's certificate is trusted
            response = await shot(running, site.url("/pages/basic?tls=1"), proxy="tls",
                                  response_type="image")
            assert response.status_code == 200, response.text
            assert near(rgb_at(decode(response.content), 10, 10), RED)
            assert ("127.0.0.1", site_port(site)) in secure.tunnels

"""Auth on its own: reading a key from a request, checking it, domain lists, signed URLs, the
gatekeeper's verdicts, rate limiters, and masking secrets in logs."""

from __future__ import annotations

import logging

import pytest

from screenshotd import errors
from screenshotd.auth.callers import LOCAL, Caller, KeyRing, key_id, parse_domains
from screenshotd.auth.gatekeeper import (
    Gatekeeper,
    MaskSecrets,
    caller_of,
    mask_secrets,
    presented_key,
)
from screenshotd.auth.ratelimit import MemoryLimiter, make_limiter
from screenshotd.auth.signing import Signer, canonical_query, query_pairs
from screenshotd.settings import Settings, SettingsError


def scope(headers: dict[str, str] | None = None, query: str = "", path: str = "/screenshot",
          method: str = "GET", client: str = "10.1.2.3") -> dict:
    return {"type": "http", "headers": [(k.lower().encode(), v.encode())
                                        for k, v in (headers or {}).items()],
            "query_string": query.encode(), "path": path, "method": method,
            "client": (client, 5555)}


@pytest.mark.parametrize("request_scope", [
    scope({"X-Api-Key": "alpha"}),
    scope({"Authorization": "Bearer alpha"}),
    scope({"Authorization": "bearer   alpha "}),
    scope(query="url=https%3A%2F%2Fexample.com&api_key=alpha"),
])
def test_the_three_ways_to_send_a_key(request_scope):
    assert presented_key(request_scope) == "alpha"


def test_no_key_and_other_authorization_schemes():
    assert presented_key(scope()) is None
    assert presented_key(scope({"Authorization": "Basic YWxwaGE6"})) is None
    assert presented_key(scope(query="not_api_key=alpha")) is None


def test_a_keyring_names_a_caller_by_key_id_never_by_key():
    ring = KeyRing(("alpha", "beta"))
    assert ring.enabled
    assert ring.identify("alpha") == Caller(f"key:{key_id('alpha')}")
    assert ring.identify("beta") != ring.identify("alpha")
    assert "alpha" not in ring.identify("alpha").id  # type: ignore[union-attr]
    for wrong in ("", None, "alph", "alphaa", "ALPHA", "alpha "):
        assert ring.identify(wrong) is None
    assert not KeyRing(()).enabled


def test_secrets_are_masked_in_logged_urls():
    assert mask_secrets("/screenshot?url=x&api_key=alpha&w=1") == "/screenshot?url=x&api_key=***&w=1"
    assert mask_secrets("/jobs?api_key=alpha") == "/jobs?api_key=***"
    assert mask_secrets("/jobs?API_KEY=alpha") == "/jobs?API_KEY=***"
    assert mask_secrets("/x?not_api_key=1") == "/x?not_api_key=1"
    assert (mask_secrets("/screenshot?async=1&webhook_secret=s3&webhook_url=u")
            == "/screenshot?async=1&webhook_secret=***&webhook_url=u")
    assert mask_secrets("/screenshot?url=x&signature=abc") == "/screenshot?url=x&signature=***"
    # uvicorn's access record: (client, method, path with query, http version, status)
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/screenshot?api_key=alpha", "1.1", 200),
                               None)
    assert MaskSecrets().filter(record)
    assert "alpha" not in record.getMessage() and "api_key=***" in record.getMessage()


# --------------------------------------------------------------------------- domain lists


def test_a_key_may_name_the_hosts_it_may_capture():
    ring = KeyRing(("open", "narrow:Example.com|*.example.org|bücher.de"))
    narrow = ring.identify("narrow")
    assert narrow is not None and narrow.id == f"key:{key_id('narrow')}"
    assert narrow.domains == ("example.com", "*.example.org", "xn--bcher-kva.de")
    assert narrow.may_capture("example.com") and narrow.may_capture("EXAMPLE.com.")
    assert narrow.may_capture("docs.example.org") and narrow.may_capture("a.b.example.org")
    assert narrow.may_capture("xn--bcher-kva.de")
    for host in ("www.example.com", "example.org", "evilexample.org", "example.com.evil.net",
                 "notexample.com", ""):
        assert not narrow.may_capture(host), host
    assert ring.identify("open").domains is None  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["k:", "k:exa mple.com", "k:*.", "k:http://example.com",
                                 "k:exa*mple.com", ":example.com"])
def test_a_bad_domain_list_stops_the_start(bad):
    with pytest.raises(ValueError):
        KeyRing((bad,))
    with pytest.raises(SettingsError, match="API_KEYS"):
        Settings.from_env({"API_KEYS": f"good,{bad}"})


def test_a_limited_caller_may_capture_and_see_only_its_hosts():
    narrow = Caller("key:n", parse_domains("example.com|*.example.org"))
    narrow.check_target("https://example.com/page")
    narrow.check_target("http://a.example.org:8080/")
    with pytest.raises(errors.DomainNotAllowed) as refused:
        narrow.check_target("https://evil.example/", field="before")
    assert refused.value.status == 403 and refused.value.code == "DOMAIN_NOT_ALLOWED"
    assert refused.value.field == "before"
    assert "evil.example" in refused.value.message and "example.com" in refused.value.message
    with pytest.raises(errors.DomainNotAllowed, match="raw html"):
        narrow.check_target(None)
    assert narrow.may_see("https://b.example.org/x") and not narrow.may_see(None)
    assert not narrow.may_see("https://example.org.evil.example/")
    Caller("ip:a").check_target("https://anything.example/")  # no list: anything goes
    Caller("ip:a").check_target(None)
    assert LOCAL.may_see(None) and LOCAL.limiter is None


async def test_a_caller_is_charged_through_its_limiter_and_prepaid_is_free():
    metered = Caller("ip:a", limiter=MemoryLimiter(3, clock=lambda: 90.0))
    await metered.charge()
    await metered.charge(2)
    with pytest.raises(errors.RateLimited) as limited:
        await metered.charge()
    assert 1 <= limited.value.retry_after <= 60 and "3 renders a minute" in limited.value.message
    for _ in range(10):
        await metered.prepaid().charge()  # already paid for: never refused
    assert metered.prepaid() == metered and metered.prepaid().limiter is None
    await Caller("ip:b").charge(1000)  # no limiter: nothing to count


# --------------------------------------------------------------------------- signed URLs


def test_the_canonical_query_ignores_order_encoding_and_the_unsigned_names():
    one = query_pairs("url=https%3A%2F%2Fexample.com%2F%3Fa%3D1&full_page=true&api_key=k")
    two = query_pairs("full_page=true&url=https://example.com/?a%3D1&signature=ff")
    assert canonical_query(one) == canonical_query(two)
    assert canonical_query(one) == "full_page=true&url=https%3A%2F%2Fexample.com%2F%3Fa%3D1"


def test_a_signed_query_verifies_and_any_change_breaks_it():
    signer = Signer("s" * 32)
    query = signer.sign([("url", "https://example.com/a b"), ("full_page", "true")])
    signer.verify(query_pairs(query))
    signer.verify(query_pairs(query + "&api_key=whatever"))  # a key may ride along
    reordered = "&".join(reversed(query.split("&")))
    signer.verify(query_pairs(reordered))
    for changed in (query.replace("true", "false"), query + "&width=300",
                    query.replace("example.com", "example.net")):
        with pytest.raises(errors.Unauthorized, match="does not match"):
            signer.verify(query_pairs(changed))
    with pytest.raises(errors.Unauthorized, match="does not match"):
        Signer("t" * 32).verify(query_pairs(query))
    with pytest.raises(errors.Unauthorized, match="exactly once"):
        signer.verify(query_pairs("url=x"))


def test_expires_is_signed_and_enforced():
    signer = Signer("s" * 32)
    query = signer.sign([("url", "https://example.com")], expires_in=60, now=1_000_000)
    assert "expires=1000060" in query
    signer.verify(query_pairs(query), now=1_000_059)
    with pytest.raises(errors.Unauthorized, match="expired"):
        signer.verify(query_pairs(query), now=1_000_061)
    with pytest.raises(errors.Unauthorized, match="does not match"):
        signer.verify(query_pairs(query.replace("1000060", "9999999")), now=1_000_000)


def test_a_short_signing_secret_stops_the_start():
    with pytest.raises(SettingsError, match="SIGNING_SECRET"):
        Settings.from_env({"SIGNING_SECRET": "short"})
    assert Settings.from_env({"SIGNING_SECRET": "x" * 16}).signing_secret == "x" * 16
    assert "x" * 16 not in repr(Settings.from_env({"SIGNING_SECRET": "x" * 16}))
    assert "k1" not in repr(Settings.from_env({"API_KEYS": "k1"}))


# --------------------------------------------------------------------------- the gatekeeper


async def test_the_gatekeeper_admits_once_and_its_caller_carries_the_limit():
    keeper = Gatekeeper(KeyRing(("alpha",)), None, MemoryLimiter(3, clock=lambda: 90.0))
    first = scope({"X-Api-Key": "alpha"})
    caller = await keeper.admit(first)
    assert caller == Caller(f"key:{key_id('alpha')}") and first["state"]["caller"] == caller.id
    assert await keeper.admit(first) == caller  # asked again: the same verdict
    for _ in range(10):  # admitting is not metering: hits and 304s are free
        await keeper.admit(scope({"X-Api-Key": "alpha"}))
    assert caller.limiter is keeper.limiter  # the caller carries the keeper's limiter
    await caller.charge(3)
    with pytest.raises(errors.RateLimited):
        await caller.charge()
    assert keeper.rate_limited == 1
    assert caller_of(first) is caller and caller_of(scope(client="192.0.2.9")) == Caller(
        "ip:192.0.2.9")
    # open paths need nothing
    for path in ("/health", "/", "/docs", "/openapi.json", "/static/style.css", "/metrics"):
        assert await keeper.admit(scope(path=path)) is None
    with pytest.raises(errors.Unauthorized, match="required"):
        await keeper.admit(scope())
    with pytest.raises(errors.Unauthorized, match="not valid"):
        await keeper.admit(scope({"X-Api-Key": "beta"}))


async def test_metrics_can_require_a_key():
    keeper = Gatekeeper(KeyRing(("alpha",)), metrics_open=False)
    with pytest.raises(errors.Unauthorized):
        await keeper.admit(scope(path="/metrics"))
    assert await keeper.admit(scope({"X-Api-Key": "alpha"}, path="/metrics")) is not None


async def test_without_keys_callers_are_ips_and_signed_urls_need_no_key():
    signer = Signer("s" * 32)
    keeper = Gatekeeper(KeyRing(("alpha",)), signer, MemoryLimiter(100))
    signed = signer.sign([("url", "https://example.com")])
    caller = await keeper.admit(scope(query=signed, client="192.0.2.7"))
    assert caller == Caller("ip:192.0.2.7")
    with pytest.raises(errors.Unauthorized, match="does not match"):
        await keeper.admit(scope(query=signed.replace("example", "exanple")))
    with pytest.raises(errors.Unauthorized, match="only GET /screenshot"):
        await keeper.admit(scope(query=signed, path="/diff"))
    anonymous = Gatekeeper(KeyRing(()), None, MemoryLimiter(100))
    assert await anonymous.admit(scope(client="192.0.2.8")) == Caller("ip:192.0.2.8")
    assert not Gatekeeper(KeyRing(())).active


async def test_the_memory_limiter_counts_per_caller_per_minute():
    now = [120.0]
    limiter = MemoryLimiter(3, clock=lambda: now[0])
    assert [await limiter.hit("a") for _ in range(3)] == [0, 0, 0]
    assert await limiter.hit("a") == 60
    assert await limiter.hit("b") == 0  # another caller has its own count
    now[0] = 150.5
    assert await limiter.hit("a") == 30  # still this minute: 29.5 s left, rounded up
    now[0] = 180.0
    assert await limiter.hit("a") == 0  # a new minute
    assert limiter.health()["refused"] == 2
    # units: a refused batch is not counted, so what fits still fits
    assert await limiter.hit("c", 5) == 60
    assert await limiter.hit("c", 3) == 0
    assert await limiter.hit("c") == 60
    assert make_limiter(0, "") is None

"""Settings from the environment, and the private-network check at the door."""

from __future__ import annotations

import ipaddress

import pytest

from screenshotd import errors
from screenshotd.egress import AddressPolicy, canonical_host, check_url, is_public
from screenshotd.settings import SETTINGS, Settings, SettingsError


def test_every_setting_has_a_default_matching_the_dataclass():
    defaults = Settings.from_env({})
    assert defaults == Settings()
    assert defaults.port == 3000 and defaults.host == "127.0.0.1"
    assert defaults.cache_max_bytes == 268435456 and defaults.queue_size == 6
    spec = {"HOST", "PORT", "API_KEYS", "REDIS_URL", "CACHE_TTL_SECONDS", "CACHE_MAX_BYTES",
            "BROWSER_MAX_CONCURRENT", "BROWSER_QUEUE_SIZE", "BROWSER_RECYCLE_AFTER",
            "SCREENSHOT_TIMEOUT_MS", "MAX_FULL_PAGE_HEIGHT", "MAX_REQUESTS_PER_MINUTE",
            "CORS_ORIGIN", "ALLOW_PRIVATE_HOSTS", "CHROMIUM_PATH", "ADBLOCK_LISTS",
            "JOB_TTL_SECONDS", "MAX_PENDING_JOBS", "SIGNING_SECRET", "LOG_LEVEL", "LOG_FORMAT",
            "METRICS_REQUIRE_KEY"}
    assert spec <= {s.env for s in SETTINGS}


def test_values_are_typed():
    settings = Settings.from_env({"PORT": "8080", "BROWSER_MAX_CONCURRENT": "5",
                                  "ALLOW_PRIVATE_HOSTS": "127.0.0.1, 10.0.0.0/8,db:5432",
                                  "METRICS_REQUIRE_KEY": "true", "LOG_LEVEL": "DEBUG"})
    assert settings.port == 8080 and settings.queue_size == 10
    assert settings.allow_private_hosts == ("127.0.0.1", "10.0.0.0/8", "db:5432")
    assert settings.metrics_require_key is True and settings.log_level == "debug"


@pytest.mark.parametrize(
    "env, name",
    [({"PORT": "http"}, "PORT"), ({"PORT": "70000"}, "PORT"),
     ({"BROWSER_MAX_CONCURRENT": "0"}, "BROWSER_MAX_CONCURRENT"),
     ({"CACHE_TTL_SECONDS": "1h"}, "CACHE_TTL_SECONDS"),
     ({"ALLOW_PRIVATE_HOSTS": "10.0.0.0/33"}, "ALLOW_PRIVATE_HOSTS"),
     ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"), ({"METRICS_REQUIRE_KEY": "maybe"}, "METRICS_REQUIRE_KEY"),
     ({"CHROMIUM_PATH": "/no/such/chromium"}, "CHROMIUM_PATH"),
     ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"), ({"REDIS_URL": "http://cache"}, "REDIS_URL"),
     ({"REDIS_URL": "redis://cache:port"}, "REDIS_URL"), ({"REDIS_URL": "redis://"}, "REDIS_URL")],
)
def test_bad_value_names_the_variable(env, name):
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert str(info.value).startswith(name + ":")


def test_cli_refuses_bad_settings(monkeypatch):
    from click.testing import CliRunner

    from screenshotd.cli import main

    monkeypatch.setenv("BROWSER_MAX_CONCURRENT", "lots")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code != 0
    assert "BROWSER_MAX_CONCURRENT" in result.output


@pytest.mark.parametrize(
    "host, expected",
    [("2130706433", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("0x7f.1", "127.0.0.1"),
     ("127.1", "127.0.0.1"), ("0x7F000001", "127.0.0.1"), ("10.1", "10.0.0.1"),
     ("[::1]", "::1"), ("fe80::1%eth0", "fe80::1"), ("Example.COM.", "example.com")],
)
def test_canonical_host(host, expected):
    assert str(canonical_host(host)) == expected


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
     "100.64.0.1", "224.0.0.1", "240.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
     "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:7f00:1::", "::127.0.0.1", "ff02::1"],
)
def test_non_public_addresses(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111",
                                     "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_public_addresses(address):
    assert is_public(ipaddress.ip_address(address))


async def test_door_blocks_private_targets():
    policy = AddressPolicy.from_setting(())
    for url in ("http://127.0.0.1/", "http://localhost:3000/", "http://app.localhost/",
                "http://2130706433/", "http://[::ffff:7f00:1]/", "http://10.0.0.1/",
                "http://[fd00::1]:8080/", "http://169.254.169.254/"):
        with pytest.raises(errors.Blocked):
            await check_url(url, policy)
    await check_url("http://93.184.216.34/", policy)
    await check_url("http://no-such-host.invalid/", policy)  # fails later, in the browser


async def test_allow_private_hosts_forms():
    policy = AddressPolicy.from_setting(("127.0.0.1", "10.0.0.0/8", "localhost:8080"))
    await check_url("http://127.0.0.1:9999/", policy)
    await check_url("http://0x7f.1/", policy)
    await check_url("http://10.2.3.4/", policy)
    await check_url("http://localhost:8080/", policy)
    with pytest.raises(errors.Blocked):
        await check_url("http://localhost:8081/", policy)
    with pytest.raises(errors.Blocked):
        await check_url("http://192.168.0.1/", policy)
    await check_url("http://192.168.0.1/", AddressPolicy.from_setting(("*",)))


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://:secret@cache.internal:6380/2",
                                 "unix:///run/redis/redis.sock", " redis://redis "])
def test_redis_url_forms(url):
    assert Settings.from_env({"REDIS_URL": url}).redis_url == url.strip()

"""Settings from the environment: defaults, types, and errors that name the variable."""

from __future__ import annotations

import pytest

from screenshotd.settings import SETTINGS, Settings, SettingsError


def test_every_setting_has_a_default_matching_the_dataclass():
    defaults = Settings.from_env({})
    assert defaults == Settings()
    assert defaults.port == 3000 and defaults.host == "127.0.0.1"
    assert defaults.cache_max_bytes == 268435456 and defaults.queue_size is None
    assert defaults.browser_queue_timeout_ms == 60000
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
    assert settings.port == 8080 and settings.queue_size is None
    assert Settings.from_env({"BROWSER_QUEUE_SIZE": "40"}).queue_size == 40  # a hard cap
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

    from screenshotd.cli.main import main

    monkeypatch.setenv("BROWSER_MAX_CONCURRENT", "lots")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code != 0
    assert "BROWSER_MAX_CONCURRENT" in result.output


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://:secret@cache.internal:6380/2",
                                 "unix:///run/redis/redis.sock", " redis://redis "])
def test_redis_url_forms(url):
    assert Settings.from_env({"REDIS_URL": url}).redis_url == url.strip()

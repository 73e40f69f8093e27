"""Named keys (API_KEYS_FILE) on a running server: edited without a restart, revoked, a broken
edit that keeps the last good keys, monthly quotas (shared by replicas on one Redis), /me, and
/metrics by key name."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from screenshotd.auth.accounts import toml_entry
from screenshotd.http.app import create_app
from screenshotd.settings import SettingsError
from tests.support.checks import assert_error
from tests.support.servers import make_settings, run_server
from tests.support.site import Site


def write(path: Path, *entries: str) -> None:
    """Replace the file as an editor does: a new file moved over the old one."""
    fresh = path.with_suffix(".new")
    fresh.write_text("\n".join(entries))
    fresh.replace(path)


async def eventually(check: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.1)


def get(running: Any, key: str | None, path: str = "/me", **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return running.client.get(path, params=params, headers=headers)


async def test_keys_are_added_revoked_and_a_broken_edit_keeps_the_last_good_ones(
        tmp_path: Path, site: Site):
    keys = tmp_path / "keys.toml"
    write(keys, toml_entry("first", "first-key"))
    async with run_server(make_settings(api_keys_file=str(keys))) as running:
        assert (await get(running, "first-key")).json()["key"]["name"] == "first"
        assert_error(await get(running, "second-key"), 401, "UNAUTHORIZED")

        write(keys, toml_entry("first", "first-key"), toml_entry("second", "second-key"))

        async def second_works() -> bool:
            return bool((await get(running, "second-key")).status_code == 200)
        await eventually(second_works)  # no restart

        write(keys, toml_entry("first", "first-key"),
              toml_entry("second", "second-key") + "revoked = true\n")

        async def second_refused() -> bool:
            return bool((await get(running, "second-key")).status_code == 401)
        await eventually(second_refused)
        body = (await get(running, "second-key")).json()
        assert "revoked" in body["message"] and "second" in body["message"]

        keys.write_text(keys.read_text() + "\n[[keys]\nname = broken\n")  # a bad edit
        await asyncio.sleep(2.5)
        assert (await get(running, "first-key")).status_code == 200  # the last good keys
        health = (await running.client.get("/health")).json()["auth"]["keys_file"]
        assert health["keys"] == 2 and "line" in health["error"]
        capture = await get(running, "first-key", "/screenshot",
                            url=site.url("/pages/basic?accounts=1"))
        assert capture.status_code == 200


def test_a_bad_file_stops_the_start_with_the_line_at_fault(tmp_path: Path):
    keys = tmp_path / "keys.toml"
    keys.write_text(toml_entry("a", "a-key") + "monthly_quota = \"lots\"\n")
    with pytest.raises(SettingsError) as raised:
        create_app(make_settings(api_keys_file=str(keys)))
    assert "API_KEYS_FILE" in str(raised.value) and "line 1" in str(raised.value)
    assert "monthly_quota" in str(raised.value)


async def test_a_monthly_quota_counts_renders_shared_by_two_replicas(
        tmp_path: Path, site: Site, own_redis: Any):
    keys = tmp_path / "keys.toml"
    write(keys, toml_entry("trial", "trial-key", monthly_quota=3))
    settings = make_settings(api_keys_file=str(keys), redis_url=own_redis.url,
                             job_backend="memory")
    async with run_server(settings) as a, run_server(settings) as b:
        urls = [site.url(f"/pages/basic?quota={n}") for n in range(4)]
        for n, url in enumerate(urls[:3]):
            response = await get((a, b)[n % 2], "trial-key", "/screenshot", url=url)
            assert response.status_code == 200, response.text
        refused = await get(b, "trial-key", "/screenshot", url=urls[3])
        body = assert_error(refused, 429, "QUOTA_EXCEEDED")
        assert "monthly quota of 3" in body["message"]
        assert int(refused.headers["retry-after"]) >= 1
        hit = await get(a, "trial-key", "/screenshot", url=urls[0])  # hits still answer
        assert hit.status_code == 200 and hit.headers["x-cache"] == "HIT"
        me = (await get(a, "trial-key")).json()
        assert me["quota"] == {"monthly_quota": 3, "monthly_used": 3, "monthly_remaining": 0,
                               "reset_at": me["quota"]["reset_at"]}
        assert me["usage"]["renders_month"] == 3 and me["usage"]["renders_today"] == 3
        await asyncio.sleep(5.5)  # hits reach Redis every few seconds
        assert (await get(b, "trial-key")).json()["usage"]["hits_month"] >= 1
        metrics = (await a.client.get("/metrics", headers={
            "Authorization": "Bearer trial-key"})).text
        assert 'screenshotd_key_renders_total{key="trial"}' in metrics
        assert "trial-key" not in metrics


async def test_me_with_and_without_keys(tmp_path: Path, site: Site):
    keys = tmp_path / "keys.toml"
    write(keys, toml_entry("acme", "acme-key", ("acme.com",), rate_limit_per_minute=5))
    async with run_server(make_settings(api_keys_file=str(keys),
                                        max_requests_per_minute=0)) as keyed:
        me = (await get(keyed, "acme-key")).json()
        assert me["key"] == {"name": "acme", "domains": ["acme.com"]}
        assert me["rate_limit"]["limit"] == 5 and me["rate_limit"]["remaining"] == 5
        assert me["jobs"] == {"pending": 0, "max_pending": 10}
        assert me["quota"]["monthly_quota"] is None and me["usage"]["renders_month"] == 0
        assert_error(await get(keyed, "acme-key", "/screenshot", url=site.url("/pages/basic")),
                     403, "DOMAIN_NOT_ALLOWED")
    async with run_server(make_settings(max_requests_per_minute=60)) as open_server:
        me = (await open_server.client.get("/me")).json()
        assert me["key"] is None and me["quota"] is None and me["usage"] is None
        assert me["rate_limit"]["limit"] == 60 and me["jobs"]["max_pending"] == 10


async def test_a_key_s_own_rate_limit(tmp_path: Path, site: Site):
    keys = tmp_path / "keys.toml"
    write(keys, toml_entry("slow", "slow-key", rate_limit_per_minute=2))
    async with run_server(make_settings(api_keys_file=str(keys),
                                        max_requests_per_minute=0)) as running:
        running.freeze_limiter(1_000_000_810.0)  # the three requests fall in one minute
        for n in range(2):
            response = await get(running, "slow-key", "/screenshot",
                                 url=site.url(f"/pages/basic?own_limit={n}"))
            assert response.status_code == 200
        refused = await get(running, "slow-key", "/screenshot",
                            url=site.url("/pages/basic?own_limit=3"))
        assert_error(refused, 429, "RATE_LIMITED")
        assert "limit of 2 renders a minute" in refused.json()["message"]
        async with httpx.AsyncClient(base_url=running.base) as anonymous:
            assert_error(await anonymous.get("/me"), 401, "UNAUTHORIZED")

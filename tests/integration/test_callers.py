"""Caller mode (``BROWSER_ISOLATION=caller``, the default): each caller's captures run on kept
pages of its own, reset between them, and two callers never share a browser context (so never a
renderer process: Chromium gives each context its own).

The pool records every lease as (context, caller) in :attr:`BrowserPool.ledger`; these tests read
it, and the pages themselves, through a real server with three keys.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest

from tests.integration.test_isolation import READ, WRITE, found, page, settled, text
from tests.support.servers import Running, make_settings, run_server
from tests.support.site import Site

pytestmark = pytest.mark.asyncio

KEYS = ("alpha", "beta", "gamma")


@pytest.fixture(scope="module")
async def server() -> Any:
    settings = make_settings(browser_max_concurrent=3, browser_isolation="caller",
                             api_keys=KEYS, allow_private_hosts=("127.0.0.1", "localhost"))
    async with run_server(settings) as running:
        yield running


def as_(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def owners_by_context(server: Running) -> dict[int, set[str]]:
    served: dict[int, set[str]] = defaultdict(set)
    for serial, owner in server.service.pool.ledger:
        served[serial].add(owner)
    return served


async def shot(server: Running, site: Site, key: str, tag: str) -> None:
    response = await server.client.get("/screenshot", params={
        "url": site.url(f"/pages/basic?caller={tag}"), "cache": "false"}, headers=as_(key))
    assert response.status_code == 200, response.text


async def test_nothing_crosses_between_two_callers_or_stays_for_the_same_one(server: Running,
                                                                              site: Site):
    """alpha writes everything a page can keep; beta reads next (on a page of its own), then
    alpha reads (on its own page, reset): neither finds anything."""
    pool = server.service.pool
    await server.client.get("/health")
    # (no geolocation: a capture with one gets a context of its own, never a kept page)
    assert "working" in await text(server, page(site, WRITE, "127.0.0.1", "cross-write"),
                                   key="alpha")
    writer = pool.ledger[-1][0]
    assert await found(server, page(site, READ, "127.0.0.1", "cross-read-beta"),
                       key="beta") == "found:;"
    assert pool.ledger[-1][0] != writer
    await settled(pool)
    assert await found(server, page(site, READ, "127.0.0.1", "cross-read-alpha"),
                       key="alpha") == "found:;"
    assert pool.ledger[-1][0] == writer  # alpha's own kept page, reset
    assert pool.stats()["resets"] >= 2


async def test_two_callers_never_share_a_context_at_once_or_in_turn(server: Running,
                                                                    site: Site):
    pool = server.service.pool
    made = pool.contexts_made
    start = len(pool.ledger)
    for n in range(6):  # in turn
        for key in KEYS:
            await shot(server, site, key, f"turn-{key}-{n}")
    await asyncio.gather(*(shot(server, site, key, f"once-{key}-{n}")  # at once
                           for n in range(8) for key in KEYS))
    leases = list(pool.ledger)[start:]
    assert len(leases) == 6 * 3 + 8 * 3
    served = owners_by_context(server)
    shared = {serial: owners for serial, owners in served.items() if len(owners) > 1}
    assert not shared, shared
    # and the pages were kept: far fewer contexts than captures
    uses: dict[int, int] = defaultdict(int)
    for serial, _owner in leases:
        uses[serial] += 1
    assert max(uses.values()) >= 5 and pool.contexts_made - made < len(leases) / 2, \
        (pool.contexts_made - made, uses)
    stats = pool.stats()
    assert stats["kept_pages"] <= stats["warm_target"] + 1, stats


async def test_a_burst_from_one_caller_leaves_the_others_their_kept_pages(server: Running,
                                                                          site: Site):
    pool = server.service.pool
    await shot(server, site, "beta", "before-burst")
    beta = pool.ledger[-1][0]
    await shot(server, site, "gamma", "before-burst")
    gamma = pool.ledger[-1][0]
    await settled(pool)
    await asyncio.gather(*(shot(server, site, "alpha", f"burst-{n}") for n in range(24)))
    await settled(pool)
    await shot(server, site, "beta", "after-burst")
    await shot(server, site, "gamma", "after-burst")
    assert [serial for serial, _ in list(pool.ledger)[-2:]] == [beta, gamma], pool.ledger
    assert pool.stats()["kept_pages"] <= pool.stats()["warm_target"]


async def test_a_capture_with_its_own_context_options_is_never_kept(server: Running,
                                                                    site: Site):
    pool = server.service.pool
    for n in range(2):
        response = await server.client.get("/screenshot", params={
            "url": site.url(f"/pages/basic?locale={n}"), "cache": "false",
            "user_agent": "screenshotd-test"}, headers=as_("alpha"))
        assert response.status_code == 200, response.text
    first, second = list(pool.ledger)[-2:]
    assert first[0] != second[0]  # a context made for each, closed after it


async def test_health_reports_the_kept_pages(server: Running, site: Site):
    await shot(server, site, "alpha", "health")
    await settled(server.service.pool)
    pool = (await server.client.get("/health")).json()["pool"]
    assert pool["isolation"] == "caller"
    assert 1 <= pool["kept_callers"] <= 3 and pool["kept_pages"] >= pool["kept_callers"]

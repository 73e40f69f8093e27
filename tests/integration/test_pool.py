"""The browser pool under load, crashes, recycling and shutdown, through the HTTP service."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import pytest

from screenshotd import errors
from screenshotd.browser import stock
from screenshotd.browser.pool import BrowserPool
from screenshotd.settings import Settings
from tests.support.checks import assert_error, decode
from tests.support.servers import make_settings, run_server
from tests.support.site import Site

pytestmark = pytest.mark.asyncio


def chromium_processes(marker: str = "--screenshotd-pool=") -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read():
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def zombie_children() -> list[int]:
    zombies = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == me:
                zombies.append(int(entry))
    return zombies


async def hold_a_slot(srv, site: Site, ms: int = 3000) -> asyncio.Task:
    """Start a capture of a page that takes ``ms`` to load; return once it holds a slot."""
    task = asyncio.create_task(
        srv.client.get("/screenshot", params={"url": site.url(f"/slow?ms={ms}"), "cache": "false"}))
    deadline = time.monotonic() + 10
    while srv.pool.stats()["in_use"] == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert srv.pool.stats()["in_use"] == 1
    return task


async def test_full_queue_answers_503_quickly(site: Site):
    async with run_server(make_settings(browser_max_concurrent=1, browser_queue_size=0)) as srv:
        slow = await hold_a_slot(srv, site)
        started = time.monotonic()
        response = await srv.client.get("/screenshot", params={"url": site.url("/pages/basic"), "cache": "false"})
        elapsed = time.monotonic() - started
        body = assert_error(response, 503, "POOL_EXHAUSTED")
        assert int(response.headers["retry-after"]) >= 1
        assert body["retry_after"] == int(response.headers["retry-after"])
        assert elapsed < 2.0
        assert (await slow).status_code == 200


async def test_wait_that_runs_out_answers_503(site: Site):
    settings = make_settings(browser_max_concurrent=1, browser_queue_size=5,
                             browser_queue_timeout_ms=500)
    async with run_server(settings) as srv:
        slow = await hold_a_slot(srv, site)
        started = time.monotonic()
        response = await srv.client.get("/screenshot", params={"url": site.url("/pages/basic"), "cache": "false"})
        assert_error(response, 503, "POOL_EXHAUSTED")
        assert "retry-after" in response.headers
        assert time.monotonic() - started < 2.0
        assert (await slow).status_code == 200


@pytest.mark.slow
async def test_three_galleries_at_once_load_every_image(site: Site):
    """Three browsers each load a page of 40 <img> thumbnails of 40 different pages, six
    connections each, all at once, with the default queue settings: every image loads. A
    waiting request costs a coroutine, and the backlog is well within the queue timeout."""
    async with run_server(make_settings(browser_max_concurrent=3)) as srv:

        async def gallery(n: int) -> list[int]:
            limits = httpx.Limits(max_connections=6)
            async with httpx.AsyncClient(base_url=srv.base, timeout=120, limits=limits) as client:
                answers = await asyncio.gather(*(client.get("/screenshot", params={
                    "url": site.url(f"/pages/basic?gallery={n}-{i}")}) for i in range(40)))
            return [answer.status_code for answer in answers]

        statuses = [status for page in await asyncio.gather(*(gallery(n) for n in range(3)))
                    for status in page]
        assert statuses == [200] * 120
        assert srv.app.state.service.counts["captures"] >= 120  # all distinct: all rendered


async def test_past_the_queue_timeout_the_surplus_is_told_when_to_return(site: Site):
    """A burst beyond what the slot can start within the queue timeout: the surplus gets 503
    at once, and a client that waits its Retry-After and asks again gets its capture."""
    settings = make_settings(browser_max_concurrent=1, browser_queue_timeout_ms=3000)
    async with run_server(settings) as srv:

        async def client(n: int) -> tuple[int, int | None]:
            params = {"url": site.url(f"/slow?ms=400&burst={n}")}
            first = await srv.client.get("/screenshot", params=params)
            if first.status_code == 200:
                return 200, None
            body = assert_error(first, 503, "POOL_EXHAUSTED")
            retry_after = int(first.headers["retry-after"])
            assert body["retry_after"] == retry_after and "the wait would be about" in \
                body["message"]
            await asyncio.sleep(retry_after)
            return (await srv.client.get("/screenshot", params=params)).status_code, retry_after

        outcomes = await asyncio.gather(*(client(n) for n in range(10)))
        retried = [after for _, after in outcomes if after is not None]
        assert retried, "the burst was meant to overflow the queue timeout"
        assert [status for status, _ in outcomes] == [200] * 10
        assert len(set(retried)) > 1  # told to come back one after another, not all at once


async def test_queued_requests_are_served_in_turn(site: Site):
    async with run_server(make_settings(browser_max_concurrent=2, browser_queue_size=8)) as srv:
        responses = await asyncio.gather(*[
            srv.client.get("/screenshot", params={"url": site.url("/pages/basic"), "width": 300 + i})
            for i in range(8)
        ])
        assert [r.status_code for r in responses] == [200] * 8
        assert sorted(decode(r.content).size[0] for r in responses) == list(range(300, 308))
        # Slots come back once each used context has closed, just after its response.
        deadline = time.monotonic() + 10
        while srv.pool.stats()["in_use"] and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        health = (await srv.client.get("/health")).json()
        assert health["pool"]["in_use"] == 0 and health["pool"]["waiting"] == 0
        assert health["pool"]["available"] == 2


async def test_sigkill_during_capture_then_recovery(site: Site):
    async with run_server(make_settings(browser_max_concurrent=2)) as srv:
        pid = srv.pool.browser_pid
        assert pid is not None
        pending = await hold_a_slot(srv, site, ms=4000)
        await asyncio.sleep(0.3)
        os.killpg(pid, signal.SIGKILL)
        response = await pending
        body = assert_error(response, 503, "BROWSER_CRASHED")
        assert "retry-after" in response.headers and body["retry_after"] >= 1
        after = await srv.client.get("/screenshot", params={"url": site.url("/pages/basic"), "cache": "false"})
        assert after.status_code == 200, after.text
        assert srv.pool.browser_pid not in (None, pid)
        health = (await srv.client.get("/health")).json()
        assert health["browser"]["connected"] is True
        assert health["browser"]["restarts"] == 1


async def test_a_wait_that_outlives_the_browser_ends_in_browser_crashed():
    """A wait no Playwright call backs (here: one that never ends) must not hold a dead lease
    until the capture's hard limit: the lease watches the disconnect itself."""
    pool = BrowserPool(executable_path=Settings().resolve_chromium(), slots=1)
    await pool.open()
    try:
        started = time.monotonic()
        with pytest.raises(errors.BrowserCrashed):
            async with pool.acquire() as lease:
                os.killpg(pool.browser_pid, signal.SIGKILL)
                await asyncio.wait_for(lease.run(asyncio.Event().wait()), 60)
        assert time.monotonic() - started < 10
        async with pool.acquire() as lease:  # the relaunched browser serves the next lease
            assert await lease.run(asyncio.sleep(0, "done")) == "done"
    finally:
        await pool.close()


async def test_recycle_after_n_captures(site: Site):
    async with run_server(make_settings(browser_recycle_after=3)) as srv:
        first_pid = srv.pool.browser_pid
        for _ in range(4):
            response = await srv.client.get("/screenshot", params={"url": site.url("/pages/basic"), "cache": "false"})
            assert response.status_code == 200
        deadline = time.monotonic() + 20
        while srv.pool.browser_pid == first_pid and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert srv.pool.recycles >= 1
        assert srv.pool.browser_pid != first_pid
        while first_pid in chromium_processes() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert first_pid not in chromium_processes()  # the old browser was closed
        response = await srv.client.get("/screenshot", params={"url": site.url("/pages/basic"), "cache": "false"})
        assert response.status_code == 200


async def test_health_reports_browser_and_pool(server):
    body = (await server.client.get("/health")).json()
    assert body["status"] == "ok"
    assert body["browser"]["connected"] is True
    assert body["browser"]["version"].split(".")[0].isdigit()
    assert isinstance(body["browser"]["restarts"], int)
    pool = body["pool"]
    assert pool["size"] == 3 and pool["available"] + pool["in_use"] == 3
    assert pool["waiting"] == 0


async def test_warm_contexts_serve_default_requests():
    settings = Settings(browser_max_concurrent=2)
    pool = BrowserPool(executable_path=settings.resolve_chromium(), slots=2, isolation="context")
    await pool.open()
    try:
        deadline = time.monotonic() + 10
        while pool.stats()["warm_contexts"] < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert pool.stats()["warm_contexts"] == 2
        async with pool.acquire() as lease:
            assert lease.warm is True
        async with pool.acquire({"locale": "fr-FR"}) as lease:
            assert lease.warm is False  # a context-level option needs its own context
            page = await lease.context.new_page()
            assert await page.evaluate("navigator.language") == "fr-FR"
    finally:
        await pool.close()
    assert pool.stats()["state"] == "closed"
    with pytest.raises(RuntimeError):
        await pool.open()


async def test_no_browser_or_zombie_left_after_shutdown(site: Site):
    async with run_server(make_settings()) as srv:
        response = await srv.client.get("/screenshot", params={"url": site.url("/pages/basic"), "cache": "false"})
        assert response.status_code == 200
        pid = srv.pool.browser_pid
        assert pid in chromium_processes()
    deadline = time.monotonic() + 5
    while (pid in chromium_processes() or zombie_children()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert pid not in chromium_processes()
    assert zombie_children() == []


async def settle(pool: BrowserPool) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stats = pool.stats()
        if stats["warm_contexts"] >= stats["warm_target"] and not stats["refilling"]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the pool did not settle: {pool.stats()}")


async def use(pool: BrowserPool, site: Site, n: int) -> None:
    """``n`` captures one after another, each on the page its lease lends."""
    for i in range(n):
        async with pool.acquire() as lease:
            assert lease.page is not None
            await lease.page.goto(site.url(f"/pages/basic?kept={i}"))


async def test_page_mode_keeps_a_spare_page_and_frees_the_slot_before_the_reset(site: Site):
    """Page mode: one slot has two kept pages, so a capture never waits for the previous one's
    reset; the slot is free the moment a capture ends, while its page is still being reset."""
    settings = Settings(browser_max_concurrent=1)
    pool = BrowserPool(executable_path=settings.resolve_chromium(), slots=1, isolation="page")
    await pool.open()
    try:
        await settle(pool)
        assert pool.stats()["warm_target"] == 2 and pool.stats()["warm_contexts"] == 2
        made = pool.contexts_made
        async with pool.acquire() as lease:
            await lease.page.goto(site.url("/pages/basic?first"))
        # the slot is back, its page is not yet: it is being reset
        assert pool.stats()["available"] == 1 and pool.stats()["warm_contexts"] == 1
        await use(pool, site, 6)
        await settle(pool)
        assert pool.contexts_made == made and pool.resets == 7
    finally:
        await pool.close()


async def test_page_mode_waits_for_a_page_being_reset_rather_than_make_one(site: Site):
    """With no spare (one kept page for one slot), the next capture takes the page when its
    reset ends, in milliseconds, instead of starting a new context and renderer."""
    settings = Settings(browser_max_concurrent=1)
    pool = BrowserPool(executable_path=settings.resolve_chromium(), slots=1, isolation="page",
                       warm_contexts=1)
    await pool.open()
    try:
        await settle(pool)
        made = pool.contexts_made
        await use(pool, site, 6)
        await settle(pool)
        assert pool.contexts_made == made and pool.resets == 6
    finally:
        await pool.close()


async def test_caller_mode_serves_a_waiting_caller_whose_kept_page_is_ready_first(site: Site):
    """One slot. "cold" has no kept page and comes first; "warm" has one ready and comes
    second: the freed slot goes to "warm", on its own page, and "cold" gets the next."""
    settings = Settings(browser_max_concurrent=1)
    pool = BrowserPool(executable_path=settings.resolve_chromium(), slots=1, isolation="caller")
    await pool.open()
    try:
        await settle(pool)
        async with pool.acquire(owner="warm") as lease:
            await lease.page.goto(site.url("/pages/basic?warm=first"))
        await settle(pool)
        served: list[str] = []

        async def capture(owner: str) -> None:
            async with pool.acquire(owner=owner) as lease:
                served.append(owner)
                await lease.page.goto(site.url(f"/pages/basic?owner={owner}"))

        async with pool.acquire(owner="holder"):
            cold = asyncio.create_task(capture("cold"))
            await asyncio.sleep(0.05)
            warm = asyncio.create_task(capture("warm"))
            await asyncio.sleep(0.05)
            assert pool.stats()["waiting"] == 2
        await asyncio.wait_for(asyncio.gather(cold, warm), 30)
        assert served == ["warm", "cold"]
        warm_contexts = {serial for serial, owner in pool.ledger if owner == "warm"}
        assert len(warm_contexts) == 1  # both of its captures on its one kept page
    finally:
        await pool.close()


async def second_capture_of_a(site: Site, slots: int, first_ms: int,
                              hold_s: float | None = None) -> tuple[int, int, float]:
    """Kept pages at their bound of two, one for "a" and one for "b"; then "a" captures a page
    that takes ``first_ms`` to load and, while it runs, captures again. The contexts made for
    the second capture, whether it ran on the first one's page (1) or not (0), and how long it
    took. ``hold_s``: the typical capture time the pool believes in."""
    pool = BrowserPool(executable_path=Settings().resolve_chromium(), slots=slots,
                       isolation="caller", warm_contexts=2)
    await pool.open()
    try:
        for owner in ("a", "b"):
            async with pool.acquire(owner=owner) as lease:
                await lease.page.goto(site.url(f"/pages/basic?owner={owner}"))
            await settle(pool)
        assert pool.stats()["kept_pages"] == 2
        if hold_s is not None:
            pool.admission.hold_s = hold_s
        made = pool.contexts_made
        entered = asyncio.Event()

        async def first() -> None:
            async with pool.acquire(owner="a") as lease:
                entered.set()
                await lease.page.goto(site.url(f"/slow?ms={first_ms}"))

        running = asyncio.create_task(first())
        await asyncio.wait_for(entered.wait(), 10)
        began = time.monotonic()
        async with pool.acquire(owner="a") as lease:  # a context made to order has no page yet
            page = lease.page or await lease.context.new_page()
            await page.goto(site.url("/pages/basic?second"))
        took = time.monotonic() - began
        second_made = pool.contexts_made - made
        await asyncio.wait_for(running, 30)
        serials = [serial for serial, owner in pool.ledger if owner == "a"]
        return second_made, int(serials[-1] == serials[-2]), took
    finally:
        await pool.close()


async def test_caller_mode_with_every_slot_busy_waits_for_the_callers_own_page(site: Site):
    """Every slot busy (the CPU taken): "a"'s second capture waits the moment its first one's
    page takes to come back, instead of starting a renderer that would slow every capture."""
    made, same_page, took = await second_capture_of_a(site, slots=2, first_ms=500)
    assert (made, same_page) == (0, 1)
    assert took > 0.4  # it did wait for the first capture


async def test_caller_mode_with_a_slot_free_makes_a_context_at_once(
        site: Site, monkeypatch: pytest.MonkeyPatch):
    """A slot free (the CPU too): the second capture does not wait, even where it would wait
    for as long as the first capture takes; it gets a context made to order, closed after."""
    monkeypatch.setattr(stock, "LENT_WAIT_MAX_S", 60.0)
    made, same_page, took = await second_capture_of_a(site, slots=3, first_ms=3000, hold_s=60)
    assert (made, same_page) == (1, 0)
    assert took < 2.5


async def test_caller_mode_waits_for_a_long_capture_only_so_long(site: Site):
    """Every slot busy, but "a"'s first capture is a slow one: the second waits at most a
    typical capture's time (at most a second), then gets a context of its own."""
    made, same_page, took = await second_capture_of_a(site, slots=2, first_ms=5000)
    assert (made, same_page) == (1, 0)
    assert took < 3.5

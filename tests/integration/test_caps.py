"""Concurrency caps an operator can rely on: a named key's ``max_concurrent`` and an explicit
``MAX_CONCURRENT_PER_CALLER`` hold even on an idle service, for captures and for jobs, and
``/me`` shows them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from screenshotd.auth.accounts import toml_entry
from tests.support.servers import make_settings, run_server
from tests.support.site import MOST_IN_FLIGHT, Site


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def captures_at_once(running: Any, site: Site, key: str, group: str,
                           count: int = 3) -> list[int]:
    """``count`` captures of slow pages sent together by ``key``; their statuses."""
    answers = await asyncio.gather(*(running.client.get("/screenshot", params={
        "url": site.url(f"/tracked?group={group}&ms=700&n={n}"), "cache": "false"},
        headers=bearer(key)) for n in range(count)))
    return [answer.status_code for answer in answers]


async def test_a_key_with_max_concurrent_1_never_holds_two_slots(tmp_path: Path, site: Site):
    keys = tmp_path / "keys.toml"
    keys.write_text(toml_entry("capped", "capped-key", max_concurrent=1)
                    + toml_entry("free", "free-key"))
    settings = make_settings(api_keys_file=str(keys), browser_max_concurrent=3)
    async with run_server(settings) as running:
        me = (await running.client.get("/me", headers=bearer("capped-key"))).json()
        assert me["concurrency"] == {"max_concurrent": 1, "in_use": 0, "slots": 3}
        free_me = (await running.client.get("/me", headers=bearer("free-key"))).json()
        assert free_me["concurrency"]["max_concurrent"] is None

        # the same three pages from a key without a cap load at once: the test can see overlap
        assert await captures_at_once(running, site, "free-key", "caps-free") == [200] * 3
        assert MOST_IN_FLIGHT["caps-free"] >= 2

        seen: list[int] = []

        async def watch() -> None:
            while True:
                me = (await running.client.get("/me", headers=bearer("capped-key"))).json()
                seen.append(me["concurrency"]["in_use"])
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        try:
            assert await captures_at_once(running, site, "capped-key", "caps-one") == [200] * 3
        finally:
            watcher.cancel()
        assert MOST_IN_FLIGHT["caps-one"] == 1  # one after another, on an idle service
        assert max(seen) == 1, seen

        # its jobs too: queued together, run one at a time
        submitted = [(await running.client.post("/screenshot", json={
            "url": site.url(f"/tracked?group=caps-jobs&ms=700&n={n}"), "async": True},
            headers=bearer("capped-key"))).json()["job_id"] for n in range(3)]
        deadline = time.monotonic() + 60
        while True:
            states = [(await running.client.get(f"/jobs/{job}", headers=bearer("capped-key"))
                       ).json()["status"] for job in submitted]
            if all(state in ("completed", "failed") for state in states):
                break
            assert time.monotonic() < deadline, states
            await asyncio.sleep(0.1)
        assert states == ["completed"] * 3
        assert MOST_IN_FLIGHT["caps-jobs"] == 1


async def test_a_per_caller_cap_leaves_a_slot_for_another_caller_at_once(site: Site):
    """With ``MAX_CONCURRENT_PER_CALLER=2`` on 3 slots, a caller that floods with never-ending
    pages holds two; another caller's capture takes the third at once, long before the flood's
    deadline. (Without the cap the flood holds all three, and the other caller waits for it.)"""
    settings = make_settings(browser_max_concurrent=3, max_concurrent_per_caller=2,
                             api_keys=("hostile", "other"))
    async with run_server(settings) as running:
        loop = {"url": site.url("/pages/basic?caps=loop"), "js": "while (true) {}",
                "timeout": 5000, "cache": False}
        flood = [asyncio.create_task(running.client.post(
            "/screenshot", json={**loop, "url": loop["url"] + f"&n={n}"},
            headers={"X-API-Key": "hostile"})) for n in range(3)]
        deadline = time.monotonic() + 10
        while (await running.client.get("/health")).json()["pool"]["in_use"] < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # the flood had every chance to take the third slot
        hostile_me = (await running.client.get("/me", headers={"X-API-Key": "hostile"})).json()
        assert hostile_me["concurrency"] == {"max_concurrent": 2, "in_use": 2, "slots": 3}
        assert (await running.client.get("/health")).json()["pool"]["in_use"] == 2

        answer = await running.client.get("/screenshot", params={
            "url": site.url("/pages/basic?caps=other"), "cache": "false"},
            headers={"X-API-Key": "other"})
        assert answer.status_code == 200, answer.text
        assert not any(task.done() for task in flood)  # it did not wait for a deadline
        answers = await asyncio.gather(*flood)
        assert {a.status_code for a in answers} <= {408, 503}, [a.text for a in answers]

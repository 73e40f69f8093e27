"""Monitors against a real ``screenshotd serve`` checking a local page every second, whose
colour and status the test changes: baseline, unchanged, a change with its region and its
signed webhook, failures that are never unchanged, down and recovered; a restart that loses
nothing; the widgets in real Chromium; bad input."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from screenshotd.auth.accounts import toml_entry
from tests.support.browsers import watched_page
from tests.support.checks import decode, rgb_at
from tests.support.servers import (
    RedisServer,
    ServeProcess,
    WebhookReceiver,
    serve_process,
    serve_processes,
)

KEY, OTHER = "monitor-key-0123456789", "monitor-other-key-0123456789"
SECRET = "whsec_" + base64.b64encode(b"monitor-webhook-secret-bytes").decode()
BLUE, RED = (0, 0, 255), (255, 0, 0)


class Watched:
    """A page whose box colour and HTTP status the test sets; a clock in its corner that
    ``ignore`` masks."""

    def __init__(self) -> None:
        self.colour = "rgb(0,0,255)"
        self.status = 200
        watched = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                body = (
                    "<!doctype html><html><body style='margin:0;background:#fff'>"
                    "<div id=box style='position:absolute;left:100px;top:60px;width:200px;"
                    f"height:100px;background:{watched.colour}'></div>"
                    "<div class=clock style='position:absolute;left:500px;top:20px;"
                    f"font:20px monospace'>{time.time_ns()}</div></body></html>").encode()
                self.send_response(watched.status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def page() -> Iterator[Watched]:
    watched = Watched()
    yield watched
    watched.close()


def keys_file(folder: Path, max_monitors: int | None = None) -> str:
    path = folder / "keys.toml"
    path.write_text(toml_entry("acme", KEY, max_monitors=max_monitors) + "\n"
                    + toml_entry("other", OTHER))
    return str(path)


def env(folder: Path, **more: str) -> dict[str, str]:
    return {"API_KEYS_FILE": keys_file(folder), "MONITOR_MIN_INTERVAL_SECONDS": "1",
            "MAX_REQUESTS_PER_MINUTE": "0", "DATA_DIR": str(folder / "data"), **more}


def headers(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def create(server: ServeProcess, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.base}/monitors", headers=headers(), json=body, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def checks(server: ServeProcess, monitor_id: str, limit: int = 100) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.base}/monitors/{monitor_id}/checks?limit={limit}",
                         headers=headers(), timeout=30)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["checks"]))  # oldest first


def wait_for(server: ServeProcess, monitor_id: str, done: Any,
             within: float = 40) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        found = checks(server, monitor_id)
        if done(found):
            return found
        assert time.monotonic() < deadline, json.dumps(found, indent=1)[-3000:]
        time.sleep(0.2)


def verify(secret: str, sent: Any) -> dict[str, Any]:
    """A Standard Webhooks signature, checked as docs/jobs.md shows."""
    key = base64.b64decode(secret[6:])
    signed = f"{sent.headers['webhook-id']}.{sent.headers['webhook-timestamp']}.".encode() + \
        sent.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert sent.headers["webhook-signature"] == f"v1,{expected}"
    return json.loads(sent.body)  # type: ignore[no-any-return]


def test_change_failure_down_and_recovery(tmp_path: Path, page: Watched):
    with WebhookReceiver() as receiver, serve_process(env(tmp_path)) as server:
        monitor = create(server, url=page.url, name="pricing", every=1, width=800, height=300,
                         ignore=[".clock"], webhook_url=receiver.url("/mon"),
                         webhook_secret=SECRET)
        assert monitor["state"] == "pending" and monitor["webhook_signed"]
        found = wait_for(server, monitor["id"], lambda c: len(c) >= 3)
        assert found[0]["status"] == "baseline"
        assert [c["status"] for c in found[1:3]] == ["unchanged", "unchanged"]
        assert all(c["changed_fraction"] == 0 for c in found[1:3])

        page.colour = "rgb(255,0,0)"
        found = wait_for(server, monitor["id"],
                         lambda c: any(x["status"] == "changed" for x in c))
        change = next(c for c in found if c["status"] == "changed")
        assert change["regions"] == [{"x": 100, "y": 60, "width": 200, "height": 100}]
        assert change["changed_fraction"] == round(200 * 100 / (800 * 300), 6)
        shot = decode(httpx.get(change["screenshot_url"], timeout=30).content)
        assert rgb_at(shot, 200, 110) == RED
        diff = decode(httpx.get(change["diff_url"], timeout=30).content)
        assert diff.size == (800, 300)
        [hook] = asyncio.run(receiver.wait_for(1, "/mon"))
        sent = verify(SECRET, hook)
        assert sent["type"] == "monitor.changed" and sent["check"]["id"] == change["id"]
        assert httpx.get(sent["check"]["diff_url"], timeout=30).status_code == 200
        # the change is the new baseline: the next checks are unchanged
        found = wait_for(server, monitor["id"], lambda c: c[-1]["status"] == "unchanged"
                         and c[-1]["baseline_id"] == change["id"])

        page.status = 500
        found = wait_for(server, monitor["id"], lambda c: [x["status"] for x in c[-2:]]
                         == ["failed", "failed"])
        assert all(x["http_status"] == 500 and x["error"]["code"] == "UPSTREAM_STATUS"
                   for x in found[-2:])
        state = httpx.get(f"{server.base}/monitors/{monitor['id']}", headers=headers(),
                          timeout=30).json()
        assert state["state"] == "down"
        down = asyncio.run(receiver.wait_for(2, "/mon"))[1]
        assert verify(SECRET, down)["type"] == "monitor.down"

        page.status = 200
        found = wait_for(server, monitor["id"], lambda c: c[-1]["status"] != "failed")
        assert found[-1]["status"] == "unchanged"  # back up, and no change reported
        recovered = asyncio.run(receiver.wait_for(3, "/mon"))[2]
        assert verify(SECRET, recovered)["type"] == "monitor.recovered"
        # no failure was ever unchanged, and no failure became a baseline
        baselines = {c["baseline_id"] for c in found}
        assert not baselines & {c["id"] for c in found if c["status"] == "failed"}
        state = httpx.get(f"{server.base}/monitors/{monitor['id']}", headers=headers(),
                          timeout=30).json()
        assert state["state"] == "up" and 0 < state["uptime"]["24h"] < 1
        # an unchanged check keeps its figures, not its image
        unchanged = [c for c in found[:-1] if c["status"] == "unchanged"]
        assert unchanged and all(c["screenshot_url"] is None for c in unchanged)


def test_monitors_and_history_survive_a_restart(tmp_path: Path, page: Watched):
    settings = env(tmp_path)
    with serve_process(settings) as server:
        monitor = create(server, url=page.url, every=1, width=400, height=200)
        before = wait_for(server, monitor["id"], lambda c: len(c) >= 2)
    with serve_process(settings) as again:
        listed = httpx.get(f"{again.base}/monitors", headers=headers(), timeout=30).json()
        assert [m["id"] for m in listed["monitors"]] == [monitor["id"]]
        after = wait_for(again, monitor["id"], lambda c: len(c) >= len(before) + 2)
        assert [c["id"] for c in after[:len(before)]] == [c["id"] for c in before]
        assert after[-1]["status"] == "unchanged"  # compared with the baseline it kept


def check_now(server: ServeProcess, monitor_id: str) -> dict[str, Any]:
    """Start a check (``202``), and the check once it is recorded."""
    started = httpx.post(f"{server.base}/monitors/{monitor_id}/check", headers=headers(),
                         timeout=30)
    assert started.status_code == 202, started.text
    check_id = started.json()["check_id"]
    found = wait_for(server, monitor_id, lambda c: any(x["id"] == check_id for x in c))
    return next(x for x in found if x["id"] == check_id)


def test_check_now_pin_and_pinned_baseline(tmp_path: Path, page: Watched):
    with serve_process(env(tmp_path)) as server:
        # paused: no scheduled check, only those asked for (a visual regression check run
        # from a deploy, say)
        monitor = create(server, url=page.url, every=3600, width=400, height=200,
                         baseline="pinned", confirm=False, paused=True)
        started = httpx.post(f"{server.base}/monitors/{monitor['id']}/check",
                             headers=headers(), timeout=30)
        assert started.status_code == 202
        # one check at a time: a second while the first runs is refused, and not lost
        again = httpx.post(f"{server.base}/monitors/{monitor['id']}/check",
                           headers=headers(), timeout=30)
        assert again.status_code == 409 and again.json()["error"] == "NOT_READY"
        assert again.headers["retry-after"] == "1"
        first = wait_for(server, monitor["id"], lambda c: len(c) >= 1)[0]
        assert first["id"] == started.json()["check_id"] and first["status"] == "baseline"
        page.colour = "rgb(255,0,0)"
        second = check_now(server, monitor["id"])
        assert second["status"] == "changed" and second["baseline_id"] == first["id"]
        # pinned: the change is not the new baseline
        third = check_now(server, monitor["id"])
        assert third["status"] == "changed" and third["baseline_id"] == first["id"]
        pinned = httpx.post(f"{server.base}/monitors/{monitor['id']}/baseline",
                            headers=headers(), timeout=30).json()
        assert pinned["baseline_check_id"] == third["id"]
        fourth = check_now(server, monitor["id"])
        assert fourth["status"] == "unchanged" and fourth["baseline_id"] == third["id"]
        assert [c["id"] for c in checks(server, monitor["id"])] == [
            first["id"], second["id"], third["id"], fourth["id"]]  # and nothing scheduled


def test_widgets(tmp_path: Path, page: Watched):
    with serve_process(env(tmp_path)) as server:
        monitor = create(server, url=page.url, name="Shop <front>", every=1, width=400,
                         height=200)
        wait_for(server, monitor["id"], lambda c: len(c) >= 2)
        page.colour = "rgb(255,0,0)"
        wait_for(server, monitor["id"], lambda c: any(x["status"] == "changed" for x in c))
        paused = httpx.patch(f"{server.base}/monitors/{monitor['id']}", headers=headers(),
                             json={"paused": True}, timeout=30).json()
        assert paused["state"] == "paused" and paused["next_check_at"] is None
        time.sleep(1.5)  # a check that had started ends
        made = httpx.post(f"{server.base}/monitors/{monitor['id']}/widgets", headers=headers(),
                          timeout=30)
        assert made.status_code == 201
        widget = made.json()
        token = widget["token"]

        badge = httpx.get(widget["badge"], timeout=30)
        assert badge.headers["content-type"].startswith("image/svg+xml")
        root = ElementTree.fromstring(badge.content)
        assert root.tag.endswith("svg") and "uptime" in root.attrib["aria-label"]

        image = httpx.get(widget["screenshot"], timeout=30)
        assert image.status_code == 200 and image.headers["etag"]
        assert rgb_at(decode(image.content), 200, 110) == RED
        again = httpx.get(widget["screenshot"], headers={"If-None-Match": image.headers["etag"]},
                          timeout=30)
        assert again.status_code == 304
        assert "document.currentScript" in httpx.get(widget["script"], timeout=30).text

        errors_seen: list[str] = []

        async def render() -> dict[str, Any]:
            async with watched_page() as (browser_page, _):
                browser_page.on("console", lambda m: m.type == "error" and errors_seen.append(
                    m.text))
                browser_page.on("pageerror", lambda e: errors_seen.append(str(e)))
                await browser_page.goto(widget["status_page"], wait_until="load")
                return await browser_page.evaluate("""() => ({
                    title: document.querySelector('h1').textContent,
                    chart: document.querySelectorAll('#chart polyline').length,
                    images: [...document.images].map(i => i.naturalWidth),
                })""")

        async def playground() -> dict[str, Any]:
            async with watched_page() as (browser_page, _):
                browser_page.on("pageerror", lambda e: errors_seen.append(str(e)))
                await browser_page.goto(server.base + "/", wait_until="load")
                await browser_page.fill("#api_key", KEY)
                await browser_page.click("#load_monitors")
                await browser_page.wait_for_selector("#timeline .tile.changed")
                tiles = await browser_page.locator("#timeline .tile").count()
                await browser_page.click("#timeline .tile.changed")
                await browser_page.wait_for_function(
                    "document.querySelectorAll('#change img').length === 3 && [...document."
                    "querySelectorAll('#change img')].every(i => i.complete && i.naturalWidth)",
                    timeout=20_000)
                await browser_page.wait_for_selector("#change .region")
                return {"tiles": tiles,
                        "regions": await browser_page.locator("#change .region").count()}

        shown = asyncio.run(render())
        assert shown["title"] == "Shop <front>"  # escaped, shown as text
        assert shown["chart"] == 1
        assert len(shown["images"]) == 4 and all(width > 0 for width in shown["images"])
        assert not errors_seen, errors_seen
        history = checks(server, monitor["id"])
        seen = asyncio.run(playground())
        assert seen["tiles"] >= len(history)
        changed = next(c for c in history if c["status"] == "changed")
        assert seen["regions"] == len(changed["regions"]) == 1
        assert not errors_seen, errors_seen

        # a token opens nothing else, and is not a key
        for method, path in (("GET", "/monitors"), ("GET", f"/monitors/{monitor['id']}"),
                             ("GET", "/me"), ("GET", "/jobs"), ("POST", "/batch"),
                             ("GET", f"/screenshot?url={page.url}"),
                             ("GET", f"/monitors/{monitor['id']}/widgets")):
            refused = httpx.request(method, server.base + path, headers=headers(token),
                                    timeout=30)
            assert refused.status_code == 401, (method, path)
        assert httpx.get(f"{server.base}/widget/status/wt_unknown").status_code == 404
        revoked = httpx.delete(f"{server.base}/monitors/{monitor['id']}/widgets/{token}",
                               headers=headers(), timeout=30)
        assert revoked.status_code == 204
        for url in (widget["badge"], widget["screenshot"], widget["status_page"]):
            assert httpx.get(url, timeout=30).status_code == 404, url


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"every": 0}, 400, "every"),
    ({"format": "pdf"}, 400, "format"),
    ({"async": True}, 400, "async"),
    ({"threshold": 2}, 400, "threshold"),
    ({"baseline": "first"}, 400, "baseline"),
    ({"ignore": ["not[valid"]}, 400, "ignore"),
    ({"width": 5}, 400, "width"),
    ({"webhook_url": "ftp://x"}, 400, "webhook_url"),
])
def test_bad_monitors_name_the_field(tmp_path: Path, body: dict[str, Any], status: int | None,
                                     field: str | None):
    with serve_process(env(tmp_path)) as server:
        response = httpx.post(f"{server.base}/monitors", headers=headers(), timeout=30,
                              json={"url": "http://127.0.0.1:9/", **body})
        if status is None:
            assert response.status_code == 201
            return
        assert response.status_code == status, response.text
        assert response.json()["field"] == field


def test_limits_owners_and_the_guard(tmp_path: Path, page: Watched):
    settings = env(tmp_path)  # writes the keys file; the next line writes it again, capped
    settings["API_KEYS_FILE"] = keys_file(tmp_path, max_monitors=2)
    with serve_process(settings) as server:
        blocked = httpx.post(f"{server.base}/monitors", headers=headers(), timeout=30,
                             json={"url": "http://10.0.0.1/"})
        assert blocked.status_code == 403 and blocked.json()["error"] == "BLOCKED"
        first = create(server, url=page.url, every=3600)
        create(server, url=page.url + "?2", every=3600)
        third = httpx.post(f"{server.base}/monitors", headers=headers(), timeout=30,
                           json={"url": page.url + "?3", "every": 3600})
        assert third.status_code == 400 and third.json()["field"] == "monitors"
        for method, path in (("GET", ""), ("GET", "/checks"), ("PATCH", ""), ("DELETE", ""),
                             ("POST", "/check"), ("POST", "/widgets")):
            response = httpx.request(method, f"{server.base}/monitors/{first['id']}{path}",
                                     headers=headers(OTHER), json={} if method == "PATCH"
                                     else None, timeout=30)
            assert response.status_code == 404, (method, path)
        assert httpx.delete(f"{server.base}/monitors/{first['id']}", headers=headers(),
                            timeout=30).status_code == 204
        assert httpx.get(f"{server.base}/monitors/{first['id']}", headers=headers(),
                         timeout=30).status_code == 404


def test_three_replicas_on_redis_check_once_each_time_and_a_killed_one_loses_none(
        tmp_path: Path, own_redis: RedisServer, page: Watched):
    """A monitor every second for 20 s on three replicas sharing one Redis; one replica is
    SIGKILLed midway. The checks keep coming from the others, one per due time (never two
    for one time), and the history is the same on every replica."""
    settings = {**env(tmp_path), "REDIS_URL": own_redis.url}
    with serve_processes(3, settings) as replicas:
        monitor = create(replicas[0], url=page.url, every=1, width=400, height=200)
        started = time.monotonic()
        wait_for(replicas[1], monitor["id"], lambda c: len(c) >= 5)
        replicas[2].kill()
        while time.monotonic() - started < 20:
            time.sleep(0.5)
        found = wait_for(replicas[1], monitor["id"], lambda c: len(c) >= 10)
        same = checks(replicas[0], monitor["id"])
    ids = [c["id"] for c in found]
    assert len(ids) == len(set(ids))
    times = [datetime.fromisoformat(c["at"].replace("Z", "+00:00")).timestamp() for c in found]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) > 0.5, gaps  # never two checks for one due time
    # a killed replica's lease runs out in 6 s: at most that long without a check
    assert max(gaps) < 9, gaps
    assert len(found) >= 10
    assert found[0]["status"] == "baseline"
    assert all(c["status"] == "unchanged" for c in found[1:]), [c["status"] for c in found]
    assert [c["id"] for c in same][:len(found)] == ids[:len(same)]


def test_events_stream_each_check(tmp_path: Path, page: Watched):
    with serve_process(env(tmp_path)) as server:
        monitor = create(server, url=page.url, every=1, width=400, height=200)
        seen: list[str] = []
        url = f"{server.base}/monitors/{monitor['id']}/events?key={KEY}"
        with httpx.stream("GET", url, timeout=30) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    seen.append(line[7:])
                if line.startswith("data: ") and seen[-1] == "check":
                    data = json.loads(line[6:])
                    assert data["monitor_id"] == monitor["id"]
                    assert data["check"]["status"] in ("baseline", "unchanged")
                if seen.count("check") >= 2:
                    break
        assert seen[0] == "connected" and seen.count("check") == 2


def test_events_reach_a_client_of_any_replica_on_redis(tmp_path: Path, own_redis: RedisServer,
                                                      page: Watched):
    """Two replicas on one Redis: a client of either sees every check, whichever replica ran
    it."""
    settings = {**env(tmp_path), "REDIS_URL": own_redis.url}
    with serve_processes(2, settings) as replicas:
        monitor = create(replicas[0], url=page.url, every=1, width=400, height=200)
        seen: dict[int, list[str]] = {0: [], 1: []}

        def listen(index: int) -> None:
            url = f"{replicas[index].base}/monitors/{monitor['id']}/events?key={KEY}"
            with httpx.stream("GET", url, timeout=30) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data: ") and '"check"' in line:
                        seen[index].append(json.loads(line[6:])["check"]["id"])
                    if len(seen[index]) >= 6:
                        return

        threads = [threading.Thread(target=listen, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert len(seen[0]) >= 6 and len(seen[1]) >= 6
    # the same checks, in the same order, on both: every check reached both clients
    common = set(seen[0]) & set(seen[1])
    assert len(common) >= 4, seen

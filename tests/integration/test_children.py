"""The servers that tests and benchmarks start end with them: a run killed outright (SIGKILL,
as a CI timeout does) leaves no ``screenshotd serve``, no Chromium and no ``redis-server``
behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.children import alive, descendants

ROOT = Path(__file__).resolve().parents[2]

#: A stand-in for a test or benchmark run: it starts servers with the shared helpers, prints
#: their pids, and waits to be killed.
PARENT = f"""
import sys, time
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "benchmarks")!r}]
from common import screenshotd_process
from tests.support.servers import RedisServer, ServeProcess
redis = RedisServer()
redis.start()
serve = ServeProcess.spawn({{}})
serve.wait_ready()
with screenshotd_process() as (base, pid):
    print(redis.proc.pid, serve.proc.pid, pid, flush=True)
    time.sleep(600)
"""


def is_chromium(pid: int) -> bool:
    try:
        return "chrom" in Path(f"/proc/{pid}/comm").read_text().lower()
    except OSError:
        return False


def kill_and_wait(parent: subprocess.Popen[str], tree: set[int]) -> None:
    """SIGKILL ``parent`` (no handler runs, no finally, no atexit), then every process of
    ``tree`` must end within 45 s."""
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 45
    while (left := {pid for pid in tree if alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"still running after their parent died: {sorted(left)}"


def clean_up(parent: subprocess.Popen[str], tree: set[int]) -> None:
    """What a failure left, so that it does not outlive this test either."""
    if parent.poll() is None:
        parent.kill()
    for pid in tree:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_killed_run_leaves_no_server_and_no_chromium_behind():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    tree: set[int] = set()
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line, "the parent did not start its servers"
        servers = [int(pid) for pid in line.split()]
        tree = set(servers)
        for pid in servers[1:]:
            tree |= descendants(pid)
        assert sum(map(is_chromium, tree)) >= 2, "each screenshotd serve runs a Chromium"
        kill_and_wait(parent, tree)
    finally:
        clean_up(parent, tree)


#: A driver started ahead (as ``screenshotd shot`` starts it) that no pool takes, closed: its
#: Node.js process ends with it.
ABANDONED_DRIVER = f"""
import asyncio, os, sys, time
sys.path[:0] = [{str(ROOT)!r}]
from screenshotd.browser.driver import Driver
from tests.support.children import alive, descendants

async def main():
    driver = Driver()
    await asyncio.sleep(0)
    while not descendants(os.getpid()):
        await asyncio.sleep(0.01)
    started = descendants(os.getpid())
    await driver.close()
    deadline = time.monotonic() + 10
    while any(map(alive, started)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    print(len(started), sum(map(alive, started)))

asyncio.run(main())
"""


def test_a_driver_started_ahead_and_not_taken_is_stopped():
    out = subprocess.run([sys.executable, "-c", ABANDONED_DRIVER], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    started, left = map(int, out.stdout.split())
    assert started >= 1 and left == 0, out.stdout


def test_shot_ends_with_nothing_left_running(tmp_path: Path):
    """``shot`` ends its process at once (no interpreter teardown), and only after Chromium and
    the driver are closed: every process it started has ended when it has."""
    from tests.support.site import serve_site

    with serve_site() as site:
        shot = subprocess.Popen(
            [sys.executable, "-m", "screenshotd", "shot", site.url("/pages/basic?children=1"),
             "-o", str(tmp_path / "shot.png")],
            env={**os.environ, "ALLOW_PRIVATE_HOSTS": "127.0.0.1"}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        seen: dict[int, bool] = {}
        while shot.poll() is None:
            for pid in descendants(shot.pid) - seen.keys():
                seen[pid] = is_chromium(pid)
            time.sleep(0.01)
        _, err = shot.communicate()
    assert shot.returncode == 0, err
    assert (tmp_path / "shot.png").stat().st_size > 1000
    assert any(seen.values()), "it ran a Chromium"
    left = {pid for pid in seen if alive(pid)}
    assert not left, f"still running after shot ended: {sorted(left)}"


#: A run whose server is in its own process, as most tests' is (``run_server``): its Chromium
#: belongs to Playwright's driver, which ends its browsers when its parent's pipe closes.
IN_PROCESS = f"""
import asyncio, os, sys
sys.path[:0] = [{str(ROOT)!r}]
from tests.support.children import descendants
from tests.support.servers import make_settings, run_server

async def main():
    async with run_server(make_settings()) as running:
        await running.client.get("/health")
        print(os.getpid(), flush=True)
        await asyncio.sleep(600)

asyncio.run(main())
"""


def test_a_killed_run_with_an_in_process_server_leaves_no_chromium_behind():
    parent = subprocess.Popen([sys.executable, "-c", IN_PROCESS], stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    tree: set[int] = set()
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == str(parent.pid)
        tree = descendants(parent.pid)
        assert sum(map(is_chromium, tree)) >= 2, "the server runs a Chromium"
        kill_and_wait(parent, tree)
    finally:
        clean_up(parent, tree)

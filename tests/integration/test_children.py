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
        os.kill(parent.pid, signal.SIGKILL)  # no handler runs, no finally, no atexit
        parent.wait(10)
        deadline = time.monotonic() + 45
        while (left := {pid for pid in tree if alive(pid)}) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"still running after their parent died: {sorted(left)}"
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in tree:  # what a failure left, so that it does not outlive this test either
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

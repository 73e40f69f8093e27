"""Shared helpers for the benchmarks: the local test site, a screenshotd server process, stats.

Benchmarks are not tests: each script measures screenshotd against a baseline in the same run
and prints the ratio. Results are recorded in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import children
from tests.support.pages import CORPUS  # noqa: E402  (the same pages the tests serve)
from tests.support.servers import free_port
from tests.support.site import serve_site

__all__ = ["CORPUS", "ROOT", "children", "free_port", "local_site", "machine", "percentile", "report",
           "screenshotd_process", "screenshotd_server", "wait_until_up"]


@contextlib.contextmanager
def local_site() -> Iterator[str]:
    """The tests' site (pages, corpus) on a free loopback port: its base URL."""
    with serve_site() as site:
        yield site.base


@contextlib.contextmanager
def screenshotd_server(stderr: Any = None, **env: str) -> Iterator[str]:
    """``screenshotd serve`` in its own process, as it runs in production; ``stderr`` (a file)
    takes its logs."""
    with screenshotd_process(stderr, **env) as (base, _pid):
        yield base


@contextlib.contextmanager
def screenshotd_process(stderr: Any = None, **env: str) -> Iterator[tuple[str, int]]:
    """:func:`screenshotd_server`, with the server's pid (to read its process tree's CPU)."""
    port = free_port()
    environ = {**os.environ, "PORT": str(port), "ALLOW_PRIVATE_HOSTS": "127.0.0.1",
               "MAX_REQUESTS_PER_MINUTE": "0", "LOG_LEVEL": "warning",
               "DATA_DIR": tempfile.mkdtemp(prefix="screenshotd-bench-"), **env}
    proc = children.popen([sys.executable, "-m", "screenshotd", "serve"], env=environ,
                          start_new_session=True, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, lambda: httpx.get(f"{base}/health", timeout=2)
                      .json()["pool"]["warm_contexts"] > 0, "screenshotd")
        yield base, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def wait_until_up(proc: subprocess.Popen, ready: Callable[[], bool], what: str,
                  within: float = 60) -> None:
    """Poll ``ready`` until it says yes; fail if ``proc`` exits or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        try:
            if ready():
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.1)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(name: str, result: dict[str, Any]) -> None:
    """Add the machine to ``result``, write it to ``benchmarks/out/{name}.json``, print it."""
    import json

    result["machine"] = machine()
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def machine() -> str:
    cpus = os.cpu_count()
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    chromium = subprocess.run(["chromium", "--version"], capture_output=True, text=True).stdout
    return (f"{platform.system()} {platform.machine()}, {cpus} cores, {mem_gb:.0f} GiB, "
            f"Python {platform.python_version()}, {chromium.strip() or 'chromium ?'}")

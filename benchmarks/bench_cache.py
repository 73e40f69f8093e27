"""Cache-hit throughput: screenshotd serving a cached ~100 KB PNG against bare Starlette.

The load generator is ``wrk`` (Debian's), one thread and 16 connections, against one server
process at a time on the same machine. The baseline is :mod:`bare_app`: a Starlette route that
returns the same bytes, run by uvicorn with the same options as ``screenshotd serve``. Rounds
alternate between the two and the median of each is compared, in the same run:

- ``GET /screenshot?url=…`` hits (memory backend) against the bare route;
- the same request with a matching ``If-None-Match`` (304) against the bare route's 304;
- ``GET /images/{key}.png`` against the bare route;
- the hit and the 304 with the Redis backend (a local ``redis-server``), and the hit against
  a bare route that reads the same bytes from Redis with one ``GET``.

    python benchmarks/bench_cache.py [--seconds 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from common import ROOT, free_port, local_site, machine, screenshotd_server, wait_until_up

from tests.support import children
from tests.support.servers import RedisServer

HERE = Path(__file__).resolve().parent
CONNECTIONS = 16


def wrk(url: str, seconds: int, headers: dict[str, str] | None = None) -> float:
    """Requests per second, after checking that every response was a 2xx or 3xx."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw failures against {url}:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    return float(match.group(1))


@contextlib.contextmanager
def bare_server(body: Path, redis_url: str = "") -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "BARE_BODY": str(body), "PORT": str(port), "LOG_LEVEL": "warning",
           "REDIS_URL": redis_url}
    proc = children.popen([sys.executable, str(HERE / "bare_app.py")], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, lambda: httpx.get(f"{base}/bytes", timeout=2).status_code == 200,
                      "the bare server", within=30)
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


def warm(capture_url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """Capture once, then check that the next request is a hit."""
    first = httpx.get(capture_url, timeout=60, headers=headers)
    first.raise_for_status()
    again = httpx.get(capture_url, timeout=60, headers=headers)
    assert again.headers["x-cache"] == "HIT", again.headers
    assert again.content == first.content
    return again


def compare(pairs: dict[str, tuple[str, dict[str, str] | None]], seconds: int,
            rounds: int, log: dict[str, list[float]]) -> dict[str, float]:
    """Alternate every target ``rounds`` times; the median requests/s of each. Every round's
    figure is added to ``log``."""
    samples: dict[str, list[float]] = {name: [] for name in pairs}
    wrk(next(iter(pairs.values()))[0], 2)  # let the first server reach its stride
    for _ in range(rounds):
        for name, (url, headers) in pairs.items():
            samples[name].append(wrk(url, seconds, headers))
    for name, values in samples.items():
        print(f"  {name:<22} {' '.join(f'{v:8.0f}' for v in values)}  req/s", flush=True)
        log[name] = values
    return {name: statistics.median(values) for name, values in samples.items()}


def main(seconds: int, rounds: int) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make install-test` (Debian package wrk)")
    result: dict = {"wrk": f"-t1 -c{CONNECTIONS} -d{seconds}s", "rounds": rounds}
    memory_rounds: dict[str, list[float]] = {}
    redis_rounds: dict[str, list[float]] = {}
    with local_site() as site, tempfile.TemporaryDirectory() as tmp:
        page = f"{site}/pages/noise-box"
        body = Path(tmp) / "capture.png"
        with screenshotd_server() as base:
            capture_url = f"{base}/screenshot?url={page}"
            hit = warm(capture_url)
            body.write_bytes(hit.content)
            etag = hit.headers["etag"]
            result["png_bytes"] = len(hit.content)
            with bare_server(body) as bare:
                bare_url = f"{bare}/bytes"
                bare_etag = httpx.get(bare_url).headers["etag"]
                memory = compare({
                    "bare 200": (bare_url, None),
                    "memory hit": (capture_url, None),
                    "bare 304": (bare_url, {"If-None-Match": bare_etag}),
                    "memory 304": (capture_url, {"If-None-Match": etag}),
                    "images hit": (f"{base}/images/{etag.strip(chr(34))}.png", None),
                }, seconds, rounds, memory_rounds)
        with RedisServer() as redis:
            with screenshotd_server(REDIS_URL=redis.url) as base, \
                    bare_server(body, redis.url) as bare:
                capture_url = f"{base}/screenshot?url={page}"
                hit = warm(capture_url)
                assert hit.content == body.read_bytes()
                bare_url = f"{bare}/bytes"
                bare_etag = httpx.get(bare_url).headers["etag"]
                with_redis = compare({
                    "bare 200": (bare_url, None),
                    "bare redis GET": (f"{bare}/redis-bytes", None),
                    "redis hit": (capture_url, None),
                    "bare 304": (bare_url, {"If-None-Match": bare_etag}),
                    "redis 304": (capture_url, {"If-None-Match": etag}),
                }, seconds, rounds, redis_rounds)
    result["requests_per_s"] = {"memory": memory, "redis": with_redis}
    result["every_round"] = {"memory": memory_rounds, "redis": redis_rounds}
    result["ratios"] = {
        "memory hit / bare 200": round(memory["memory hit"] / memory["bare 200"], 3),
        "memory 304 / bare 304": round(memory["memory 304"] / memory["bare 304"], 3),
        "images hit / bare 200": round(memory["images hit"] / memory["bare 200"], 3),
        "redis hit / bare 200": round(with_redis["redis hit"] / with_redis["bare 200"], 3),
        "redis hit / bare redis GET": round(
            with_redis["redis hit"] / with_redis["bare redis GET"], 3),
        "redis 304 / bare 304": round(with_redis["redis 304"] / with_redis["bare 304"], 3),
    }
    return result


def run_wrk_benchmark(doc: str, main: Callable[[int, int], dict], out_name: str,
                      seconds: int) -> None:
    """The command line of a wrk benchmark: ``--seconds`` and ``--rounds``, then the result
    (with the machine) printed and written to ``benchmarks/out/<out_name>``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=seconds, help="length of one wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per target")
    args = parser.parse_args()
    result = main(args.seconds, args.rounds)
    result["machine"] = machine()
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / out_name).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    run_wrk_benchmark(__doc__, main, "cache.json", seconds=8)

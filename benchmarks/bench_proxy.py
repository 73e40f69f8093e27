"""The cost of one upstream proxy hop: captures through a local HTTP CONNECT proxy against the
same captures without it.

One ``screenshotd serve`` process (2 slots, warm), the tests' site, and a local forward proxy
(``tests/support/proxies.py``, in a thread of its own) configured as ``PROXIES=hop=…``. Each call
captures a page of its own (``cache=false`` and a distinct query), one at a time,
``proxy=hop`` against no proxy, in alternating rounds; the ratio is of the p50s. The third
column is a capture that needs a fresh context (``locale=en-US``): what a proxied capture
cost while it could not use a warm context (a warm context's channel now goes through the
proxy for that one capture).

    python benchmarks/bench_proxy.py [--calls 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import threading
import time
from typing import Any

import httpx
from common import local_site, report, screenshotd_server

from tests.support.proxies import ForwardProxy

_PAGES = itertools.count()


class ProxyThread:
    """The forward proxy, served by an event loop in a thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.proxy = ForwardProxy("http")
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ForwardProxy:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.__aenter__(), self.loop).result(10)
        return self.proxy

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.__aexit__(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def run(client: httpx.Client, site: str, calls: int, extra: dict[str, str]) -> list[float]:
    times = []
    for _ in range(calls):
        url = f"{site}/pages/basic?hop={next(_PAGES)}"
        started = time.perf_counter()
        response = client.get("/screenshot", params={"url": url, "cache": "false", **extra})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return times


def main(calls: int, rounds: int) -> dict[str, Any]:
    kinds = {"direct": {}, "fresh_context": {"locale": "en-US"}, "proxy": {"proxy": "hop"}}
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    with local_site() as site, ProxyThread() as proxy, screenshotd_server(
            BROWSER_MAX_CONCURRENT="2", PROXIES=f"hop={proxy.url()}") as base, \
            httpx.Client(base_url=base, timeout=60) as client:
        for extra in kinds.values():
            run(client, site, 3, extra)  # warm up every road
        tunnels = len(proxy.tunnels)
        for number in range(rounds):
            order = list(kinds) if number % 2 == 0 else list(reversed(kinds))
            for kind in order:
                samples[kind] += run(client, site, calls, kinds[kind])
            print(f"round {number + 1} done", flush=True)
        assert len(proxy.tunnels) - tunnels >= calls * rounds  # every proxied capture went through
    p50 = {kind: round(statistics.median(values), 2) for kind, values in samples.items()}
    return {"calls_per_round": calls, "rounds": rounds, "p50_ms": p50,
            "proxy_over_direct": round(p50["proxy"] / p50["direct"], 3),
            "proxy_over_fresh_context": round(p50["proxy"] / p50["fresh_context"], 3)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    report("proxy", main(args.calls, args.rounds))

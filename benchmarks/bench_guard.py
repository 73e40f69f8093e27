"""What the private-network guard costs: corpus capture latency with the guard on and off.

Two screenshotd servers run side by side, the same in every way except ``ALLOW_PRIVATE_HOSTS``:
one names only the local site (``127.0.0.1:<port>``), so every request Chromium makes goes
through the egress proxy, its DNS pinning and the scheme route; the other has ``*``, which turns
the guard off (no proxy, Chromium resolves and connects itself). Each corpus page is captured
once by each server, one capture at a time (``cache=false``) with a short gap before each, the order
alternating page by page so that drift on a noisy machine falls on both sides alike. Reported: p50 and p90 per side, and
the ratio guarded/unguarded. Goal: p50 overhead at most 10%.

    python benchmarks/bench_guard.py [--limit N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import time
from urllib.parse import quote

import httpx
from common import CORPUS, local_site, machine, percentile, screenshotd_server


def corpus_urls(site: str, limit: int | None) -> list[str]:
    names = sorted(p.parent.name for p in CORPUS.glob("*/source.html"))[:limit]
    return [f"{site}/corpus/{name}/source.html" for name in names]


def local_urls(site: str) -> list[str]:
    """Pages whose every request is answered locally, so DNS plays no part: the proxy's own
    cost. The worst case for it is many small plain-http requests (each its own connection)."""
    many = "".join(f'<img src="/img.png?w=20&h=20&c={i:02x}8040">' for i in range(60))
    heavy = quote(f"<body style='min-height:100vh'>{many}</body>")
    return [f"{site}/pages/basic", f"{site}/pages/noise-box", f"{site}/serve?html={heavy}"]


GAP_S = 0.5


def capture(client: httpx.Client, url: str) -> tuple[float, int, int]:
    time.sleep(GAP_S)
    started = time.perf_counter()
    response = client.get("/screenshot", params={"url": url, "cache": "false",
                                                 "response_type": "json"})
    elapsed = (time.perf_counter() - started) * 1000
    blocked = response.json().get("blocked_requests", 0) if response.status_code == 200 else 0
    return elapsed, response.status_code, blocked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N corpus pages")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the pages")
    parser.add_argument("--gap", type=float, default=0.5,
                        help="seconds between captures, so each starts on a settled pool")
    args = parser.parse_args()
    global GAP_S
    GAP_S = args.gap
    with local_site() as site:
        site_port = site.rsplit(":", 1)[1]
        urls = corpus_urls(site, args.limit)
        with screenshotd_server(ALLOW_PRIVATE_HOSTS=f"127.0.0.1:{site_port}") as guarded, \
                screenshotd_server(ALLOW_PRIVATE_HOSTS="*") as unguarded, \
                httpx.Client(base_url=guarded, timeout=120) as on, \
                httpx.Client(base_url=unguarded, timeout=120) as off:
            for client in (on, off):  # warm both: first-capture costs are not the guard's
                for url in urls[:3]:
                    capture(client, url)
            report = {"machine": machine(), "rounds": args.rounds,
                      "corpus": compare(on, off, urls, args.rounds)}
            local = local_urls(site)
            for name, url in zip(("basic", "noise-box", "60-images"), local, strict=True):
                report[f"local:{name}"] = compare(on, off, [url], 20)
    print(json.dumps(report, indent=2))


def compare(on: httpx.Client, off: httpx.Client, urls: list[str], rounds: int) -> dict:
    times: dict[str, list[float]] = {"on": [], "off": []}
    statuses: dict[str, dict[int, int]] = {"on": {}, "off": {}}
    blocked = 0
    for round_ in range(rounds):
        for index, url in enumerate(urls):
            order = [("on", on), ("off", off)]
            if (index + round_) % 2:
                order.reverse()
            for side, client in order:
                elapsed, status, refused = capture(client, url)
                times[side].append(elapsed)
                statuses[side][status] = statuses[side].get(status, 0) + 1
                if side == "on":
                    blocked += refused
    result = {
        "captures_per_side": len(times["on"]),
        "guard_on": {"p50_ms": round(percentile(times["on"], 50), 1),
                     "p90_ms": round(percentile(times["on"], 90), 1), "statuses": statuses["on"],
                     "blocked_requests": blocked},
        "guard_off": {"p50_ms": round(percentile(times["off"], 50), 1),
                      "p90_ms": round(percentile(times["off"], 90), 1),
                      "statuses": statuses["off"]},
    }
    result["p50_ratio"] = round(result["guard_on"]["p50_ms"] / result["guard_off"]["p50_ms"], 3)
    result["p90_ratio"] = round(result["guard_on"]["p90_ms"] / result["guard_off"]["p90_ms"], 3)
    return result


if __name__ == "__main__":
    main()

"""The cost of the determinism waits on corpus captures.

One ``screenshotd serve`` (2 slots, warm), the tests' site serving the corpus. Each corpus page
(``readability``, the first ``--pages``) is captured, one at a time, ``cache=false``, in four
ways, in alternating rounds:

- ``off``: ``wait_for_stable=false`` (the baseline: no waiting);
- ``stable``: the default (``wait_for_stable=true``);
- ``animations``: the default plus ``animations=disabled``;
- ``deterministic``: the default plus ``animations=disabled`` and ``freeze_time``.

The ratios are of the p50s over all captures: the stability wait's cost (``stable / off``), and
the determinism options' (``deterministic / stable``: with and without them; and against no
waiting at all, ``deterministic / off``). The pages that did not settle within the budget
(``X-Stable: false``) are listed.

    python benchmarks/bench_stable.py [--pages 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import httpx
from common import CORPUS, local_site, report, screenshotd_server

KINDS: dict[str, dict[str, str]] = {
    "off": {"wait_for_stable": "false"},
    "stable": {},
    "animations": {"animations": "disabled"},
    "deterministic": {"animations": "disabled", "freeze_time": "2024-05-01T12:00:00Z"},
}


def run(client: httpx.Client, urls: list[str], extra: dict[str, str],
        unstable: set[str]) -> list[float]:
    times = []
    for url in urls:
        started = time.perf_counter()
        response = client.get("/screenshot", params={"url": url, "cache": "false", **extra})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.text)
        if response.headers.get("x-stable") == "false":
            unstable.add(url.rsplit("/", 2)[-2])
    return times


def main(pages: int, rounds: int) -> dict[str, Any]:
    names = sorted(p.name for p in CORPUS.iterdir()
                   if (p / "source.html").is_file())[:pages]
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    unstable: set[str] = set()
    with local_site() as site, screenshotd_server(BROWSER_MAX_CONCURRENT="2") as base, \
            httpx.Client(base_url=base, timeout=120) as client:
        urls = [f"{site}/corpus/{name}/source.html" for name in names]
        run(client, urls[:3], {}, set())  # warm up
        for number in range(rounds):
            order = list(KINDS) if number % 2 == 0 else list(reversed(KINDS))
            for kind in order:
                samples[kind] += run(client, urls, KINDS[kind], unstable)
            print(f"round {number + 1} done", flush=True)
    p50 = {kind: round(statistics.median(values), 2) for kind, values in samples.items()}
    return {"pages": len(names), "rounds": rounds, "p50_ms": p50,
            "stable_over_off": round(p50["stable"] / p50["off"], 3),
            "animations_over_stable": round(p50["animations"] / p50["stable"], 3),
            "deterministic_over_stable": round(p50["deterministic"] / p50["stable"], 3),
            "deterministic_over_off": round(p50["deterministic"] / p50["off"], 3),
            "unstable_pages": sorted(unstable)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    report("stable", main(args.pages, args.rounds))

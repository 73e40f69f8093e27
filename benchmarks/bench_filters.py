"""Filter matching: this engine against adblockparser, with the full EasyList, in one run.

The URLs are real: every sub-resource (scripts, images, style sheets, frames, media) and link of
the 130 corpus pages, resolved against each page's own address (its canonical URL when it has
one), 10,000 in all. Each is decided as the page would ask: its resource type, and first- or
third-party to the page. Both engines decide every URL; the script reports per-URL median, p99
and mean for each, the ratio, how long each takes to load the list, and whether every decision
agrees.

Then what filtering costs a capture: ``screenshotd serve`` captures a page of 100 images, none
of them an ad, alternately with ``block_ads`` and ``block_trackers`` and without (the render
time the server reports), once with the built-in lists and once with the full EasyList.

    python benchmarks/bench_filters.py [--urls 10000] [--baseline-urls 10000] [--captures 15]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from urllib.parse import quote, urljoin

import httpx
from adblockparser import AdblockRules
from bs4 import BeautifulSoup
from common import CORPUS, local_site, machine, percentile, screenshotd_server

from screenshotd.blocking.engine import (
    IMAGE,
    MEDIA,
    OTHER,
    SCRIPT,
    STYLESHEET,
    SUBDOCUMENT,
    FilterList,
    registrable_domain,
    url_host,
)

EASYLIST = CORPUS.parents[1] / "fixtures" / "filterlists" / "easylist-2018.txt"
KINDS = {"script": SCRIPT, "image": IMAGE, "stylesheet": STYLESHEET, "subdocument": SUBDOCUMENT,
         "media": MEDIA, "other": OTHER}
TAGS = (("script", "src", "script"), ("img", "src", "image"), ("iframe", "src", "subdocument"),
        ("link", "href", None), ("source", "src", "media"), ("video", "src", "media"),
        ("a", "href", "other"))


def corpus_requests(limit: int) -> list[tuple[str, str, str]]:
    """(url, resource type, page url) for the corpus's sub-resources first, then its links."""
    resources, links = [], []
    for source in sorted(CORPUS.glob("*/source.html")):
        soup = BeautifulSoup(source.read_bytes(), "lxml")
        page = None
        for selector, attr in (("link[rel=canonical]", "href"), ('meta[property="og:url"]',
                                                                 "content")):
            element = soup.select_one(selector)
            if element is not None and str(element.get(attr, "")).startswith("http"):
                page = str(element[attr])
                break
        page = page or f"https://www.{source.parent.name}.example/article.html"
        for tag, attr, kind in TAGS:
            for element in soup.find_all(tag):
                value = element.get(attr)
                if not isinstance(value, str) or value.startswith(("data:", "#", "javascript:")):
                    continue
                url = urljoin(page, value.strip())
                if not url.startswith("http"):
                    continue
                if kind is None:
                    kind = "stylesheet" if "stylesheet" in (element.get("rel") or []) else "other"
                (links if tag == "a" else resources).append((url, kind, page))
                kind = None if tag == "link" else kind
    requests = resources + links
    if len(requests) < limit:
        raise SystemExit(f"the corpus gives {len(requests)} URLs, fewer than {limit}")
    return requests[:limit]


def adblockparser_options(url: str, kind: str, page: str) -> dict[str, object]:
    options: dict[str, object] = {name: name == kind for name in KINDS}
    options.update({"object": False, "object-subrequest": False, "font": False,
                    "xmlhttprequest": False, "domain": url_host(page),
                    "third-party": registrable_domain(url_host(url))
                    != registrable_domain(url_host(page))})
    return options


def stats(times_ns: list[int]) -> tuple[float, float, float]:
    micro = sorted(t / 1000 for t in times_ns)
    return statistics.median(micro), percentile(micro, 99), statistics.fmean(micro)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=10_000)
    parser.add_argument("--baseline-urls", type=int, default=10_000,
                        help="how many of the URLs adblockparser decides (it takes ~20 ms each)")
    parser.add_argument("--captures", type=int, default=15,
                        help="captures each way for the cost to a capture (0 to skip)")
    args = parser.parse_args()
    print(machine())
    lines = EASYLIST.read_text("utf-8").splitlines()
    requests = corpus_requests(args.urls)
    print(f"{len(requests)} URLs from the corpus; EasyList of {len(lines)} lines")

    started = time.perf_counter()
    ours = FilterList()
    ours.add_lines(lines, 1)
    our_load = time.perf_counter() - started
    started = time.perf_counter()
    theirs = AdblockRules(lines, supported_options=[*KINDS, "third-party", "domain", "object",
                                                    "object-subrequest", "font",
                                                    "xmlhttprequest"],
                          skip_unsupported_rules=False)
    their_load = time.perf_counter() - started
    print(f"load: ours {our_load:.2f} s, adblockparser {their_load:.2f} s")

    # One pass first: patterns compile on first use, and a server decides many pages' URLs.
    decided = [(url, url_host(page), KINDS[kind]) for url, kind, page in requests]
    for url, host, kind in decided:
        ours.match(url, host, kind, 1)
    our_times, our_blocks = [], []
    for url, host, kind in decided:
        begin = time.perf_counter_ns()
        rule = ours.match(url, host, kind, 1)
        our_times.append(time.perf_counter_ns() - begin)
        our_blocks.append(rule is not None)
    cold = FilterList()
    cold.add_lines(lines, 1)
    re.purge()  # a fresh process: no pattern compiled yet
    cold_times = []
    for url, host, kind in decided:
        begin = time.perf_counter_ns()
        cold.match(url, host, kind, 1)
        cold_times.append(time.perf_counter_ns() - begin)

    sample = sorted(random.Random(1).sample(range(len(requests)),
                                            min(args.baseline_urls, len(requests))))
    their_times, disagreements = [], []
    for index in sample:
        url, kind, page = requests[index]
        options = adblockparser_options(url, kind, page)
        begin = time.perf_counter_ns()
        blocked = theirs.should_block(url, options)
        their_times.append(time.perf_counter_ns() - begin)
        if blocked != our_blocks[index]:
            disagreements.append((url, kind, page, blocked))

    ours_median, ours_p99, ours_mean = stats(our_times)
    cold_median, cold_p99, cold_mean = stats(cold_times)
    their_median, their_p99, their_mean = stats(their_times)
    print(f"ours, warm: median {ours_median:.1f} us, p99 {ours_p99:.1f} us, "
          f"mean {ours_mean:.1f} us; {sum(our_blocks)} of {len(requests)} blocked")
    print(f"ours, first pass (patterns compiling): median {cold_median:.1f} us, "
          f"p99 {cold_p99:.1f} us, mean {cold_mean:.1f} us")
    print(f"adblockparser ({len(sample)} URLs): median {their_median / 1000:.2f} ms, "
          f"p99 {their_p99 / 1000:.2f} ms, mean {their_mean / 1000:.2f} ms")
    print(f"speed-up: median {their_median / ours_median:.0f}x, mean {their_mean / ours_mean:.0f}x")
    print(f"decisions that differ from adblockparser's: {len(disagreements)} of {len(sample)}")
    for url, kind, page, blocked in disagreements[:10]:
        print(f"  adblockparser {'blocks' if blocked else 'allows'} {kind} {url} on {page}")
    if args.captures:
        capture_cost(args.captures)


def capture_cost(rounds: int) -> None:
    """Alternate captures of one page with and without filtering, on one server."""
    html = ("<!doctype html><html><body><script>for (let i = 0; i < 100; i++) {"
            " const m = new Image(20, 20); m.src = '/img.png?w=20&h=20&c=336699&i=' + i;"
            " document.body.appendChild(m); }</script></body></html>")
    blocking = {"block_ads": "true", "block_trackers": "true"}
    with local_site() as site:
        url = f"{site}/serve?html={quote(html)}"
        for lists, env in (("the built-in lists", {}),
                           ("the full EasyList", {"ADBLOCK_LISTS": f"ads:{EASYLIST}"})):
            with screenshotd_server(BROWSER_MAX_CONCURRENT="1", **env) as base:
                plain, filtered = alternate(base, url, blocking, rounds)
            print(f"a capture of 100 requests, none blocked ({rounds} each way, alternating), "
                  f"with {lists}: without filtering median {statistics.median(plain):.0f} ms, "
                  f"with block_ads and block_trackers {statistics.median(filtered):.0f} ms, "
                  f"ratio {statistics.median(filtered) / statistics.median(plain):.2f}")


def alternate(base: str, url: str, extra: dict[str, str], rounds: int
              ) -> tuple[list[float], list[float]]:
    plain: list[float] = []
    filtered: list[float] = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for index in range(rounds * 2 + 2):
            # Each capture starts with a warm context, as a paced server's do: back to back,
            # the second of a pair would find the pool still refilling and pay for a cold one.
            deadline = time.monotonic() + 10
            while (client.get("/health").json()["pool"]["warm_contexts"] < 1
                   and time.monotonic() < deadline):
                time.sleep(0.05)
            with_filter = index % 2 == 1
            params = {"url": url, "cache": "false", "response_type": "json",
                      **(extra if with_filter else {})}
            body = client.get("/screenshot", params=params).json()
            assert body.get("blocked_requests") == 0, body
            if index >= 2:  # one warm-up each way
                (filtered if with_filter else plain).append(body["render_time_ms"])
    return plain, filtered


if __name__ == "__main__":
    main()

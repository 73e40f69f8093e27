"""Extraction time per corpus page: metadata and markdown from one parse, against the parse
alone (BeautifulSoup over lxml, the floor any bs4 extraction pays) and against markdownify of
the whole document (what converting without finding the content costs), in the same run.

Each page's ``source.html`` is measured three times and its fastest time kept (the machine is
noisy). The service runs this in a worker thread, after the screenshot is taken.

    python benchmarks/bench_extract.py
"""

from __future__ import annotations

import statistics
import time

from bs4 import BeautifulSoup
from common import CORPUS, machine, percentile
from markdownify import markdownify

from screenshotd.content.extract import extract_page

ROUNDS = 3


def fastest(work, rounds: int = ROUNDS) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def summary(name: str, values: list[float]) -> str:
    return (f"{name}: median {statistics.median(values):.1f} ms, p90 {percentile(values, 90):.1f} "
            f"ms, max {max(values):.1f} ms, total {sum(values) / 1000:.2f} s")


def main() -> None:
    print(machine())
    pages = sorted(CORPUS.glob("*/source.html"))
    ours, parse_only, whole = [], [], []
    sizes = []
    for source in pages:
        html = source.read_text("utf-8", errors="replace")
        sizes.append(len(html))
        url = f"https://corpus.example/{source.parent.name}/"
        ours.append(fastest(lambda h=html, u=url: extract_page(h, u, 200, "markdown", True)))
        parse_only.append(fastest(lambda h=html: BeautifulSoup(h, "lxml")))
        whole.append(fastest(lambda h=html: markdownify(h)))
    print(f"{len(pages)} pages, median {statistics.median(sizes) / 1024:.0f} KB, "
          f"largest {max(sizes) / 1024:.0f} KB")
    print(summary("metadata + markdown (ours)", ours))
    print(summary("parse alone (baseline)", parse_only))
    print(summary("markdownify of the whole page", whole))
    ratios = [a / b for a, b in zip(ours, parse_only, strict=True)]
    print(f"ours / parse alone: median {statistics.median(ratios):.2f}x per page")
    print(f"ours / whole-page markdownify: median "
          f"{statistics.median(a / b for a, b in zip(ours, whole, strict=True)):.2f}x per page")


if __name__ == "__main__":
    main()

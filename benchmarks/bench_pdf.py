"""A 20-page PDF with a header and a footer: ``POST /screenshot`` against raw Playwright.

The service: one ``screenshotd serve`` process (2 slots, warm), ``format=pdf`` with
``pdf_header_template``, ``pdf_footer_template`` (page numbers) and margins, the HTML in the body,
``cache=false`` and each call's HTML its own. The baseline, in the same run: Playwright driving
the same Chromium build, one page kept open, ``set_content`` and ``page.pdf`` with the very
arguments the service passes (``screenshotd.browser.pdf.pdf_kwargs``). A second baseline pays
what context isolation pays: a new context and page for each PDF, closed after it. Alternating
rounds, one call at a time; the ratios are of the p50s.

    python benchmarks/bench_pdf.py [--calls 10] [--rounds 3] [--isolation context|page]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from typing import Any

import httpx
from common import report, screenshotd_server
from playwright.async_api import Browser, Page, async_playwright

from screenshotd.browser.chromium import BASE_ARGS
from screenshotd.browser.pdf import page_count, pdf_kwargs
from screenshotd.params.capture import CaptureOptions
from screenshotd.settings import Settings

_RUNS = itertools.count()
HEADER = '<div style="font-size:9px;margin-left:1cm">Quarterly report</div>'
FOOTER = ('<div style="font-size:9px;width:100%;text-align:center">Page '
          '<span class="pageNumber"></span> of <span class="totalPages"></span></div>')
OPTIONS = {"format": "pdf", "pdf_header_template": HEADER, "pdf_footer_template": FOOTER,
           "pdf_margin_top": "1.5cm", "pdf_margin_bottom": "1.5cm", "pdf_print_background": True}


def document() -> str:
    run = next(_RUNS)
    text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 12
    return ("<style>section{page-break-after:always;font:14px serif}</style>"
            + "".join(f"<section><h1>Chapter {n} ({run})</h1><p>{text}</p><p>{text}</p>"
                      "</section>" for n in range(1, 21)))


async def service(client: httpx.AsyncClient, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        html = document()
        started = time.perf_counter()
        response = await client.post("/screenshot", json={"html": html, "cache": False,
                                                          **OPTIONS})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and page_count(response.content) == 20
    return times


KWARGS = pdf_kwargs(CaptureOptions.parse({"html": "x", **OPTIONS}))


async def print_on(page: Page) -> float:
    """One PDF of a new document on ``page``, as the service makes it: its time in ms."""
    html = document()
    started = time.perf_counter()
    await page.set_content(html, wait_until="load")
    data = await page.pdf(**KWARGS)
    assert page_count(data) == 20
    return (time.perf_counter() - started) * 1000


async def raw(page: Page, calls: int) -> list[float]:
    return [await print_on(page) for _ in range(calls)]


async def fresh(browser: Browser, calls: int) -> list[float]:
    """Playwright with a context of its own for each PDF, as context isolation has."""
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        context = await browser.new_context()
        page = await context.new_page()
        opened = (time.perf_counter() - started) * 1000
        times.append(opened + await print_on(page))
        await context.close()
    return times


async def main(calls: int, rounds: int, isolation: str) -> dict[str, Any]:
    samples: dict[str, list[float]] = {"service": [], "playwright": [], "fresh_context": []}
    executable = Settings().resolve_chromium()
    with screenshotd_server(BROWSER_MAX_CONCURRENT="2", BROWSER_ISOLATION=isolation) as base:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client, \
                async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=executable,
                                                       args=list(BASE_ARGS))
            page = await browser.new_page()
            runs = {"service": lambda: service(client, calls),
                    "playwright": lambda: raw(page, calls),
                    "fresh_context": lambda: fresh(browser, calls)}
            await service(client, 2)  # warm up all three
            await raw(page, 2)
            await fresh(browser, 2)
            for number in range(rounds):
                order = list(runs) if number % 2 == 0 else list(reversed(runs))
                for kind in order:
                    samples[kind] += await runs[kind]()
                print(f"round {number + 1} done", flush=True)
            await browser.close()
    p50 = {kind: round(statistics.median(values), 2) for kind, values in samples.items()}
    return {"pages": 20, "isolation": isolation, "calls_per_round": calls, "rounds": rounds,
            "p50_ms": p50,
            "service_over_playwright": round(p50["service"] / p50["playwright"], 3),
            "service_over_fresh_context": round(p50["service"] / p50["fresh_context"], 3)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--isolation", choices=("context", "page"), default="context",
                        help="BROWSER_ISOLATION of the server")
    args = parser.parse_args()
    report(f"pdf-{args.isolation}", asyncio.run(main(args.calls, args.rounds, args.isolation)))

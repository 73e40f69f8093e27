"""How the stability wait should compare frames: what one sample costs by each way, and which
ways see a small change.

Raw Playwright on the same Chromium, one corpus page at 1280x800, all ways in one run, in
alternating rounds:

- ``signal``: the page's own signals (``scripts.QUIET``: animation frames asked for, finite
  animations running). A still page passes with this one call: what a static page pays;
- ``png``: ``Page.captureScreenshot`` as PNG with ``optimizeForSpeed`` (what the wait compares);
- ``png+hash``: the same, kept as a SHA-256 digest rather than the bytes;
- ``jpeg``: a low-quality capture, JPEG at quality 50;
- ``small``: PNG at a quarter of the size (``clip.scale`` 0.25);
- ``screencast``: ``Page.startScreencast`` until its first frame, then two frame intervals
  (34 ms) in which a new frame would mean something changed, then ``stopScreencast``.

The cost is the p50 of every sample, and its ratio to ``png``. Then the sensitivity check: a
2x16 px bar (a text caret's size), and a faint change (a patch one grey level lighter), each
shown between two samples; each way says whether it saw it.

    python benchmarks/bench_frames.py [--samples 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from common import CORPUS, local_site, report
from playwright.async_api import CDPSession, Page, async_playwright

from screenshotd.browser import scripts
from screenshotd.browser.chromium import BASE_ARGS
from screenshotd.settings import Settings

#: The changes shown between two samples: a text caret's 2x16 px black bar, and a faint one (a
#: 200x100 px patch one level of grey lighter than what it covers), as the last steps of an eased
#: animation are.
CHANGES = {
    "caret": "left:300px;top:200px;width:2px;height:16px;background:#000",
    "faint": "left:300px;top:300px;width:200px;height:100px;background:rgb(128,128,128)",
}
SHOW = ("([css, second]) => { let bar = document.getElementById('__bench_change'); "
        "if (!bar) { bar = document.createElement('div'); bar.id = '__bench_change'; "
        "document.body.appendChild(bar); } bar.style.cssText = "
        "'position:fixed;z-index:2147483647;' + css; "
        "if (second) bar.style.background = 'rgb(129,129,129)'; }")
HIDE = "() => { const bar = document.getElementById('__bench_change'); if (bar) bar.remove(); }"


async def shot(cdp: CDPSession, params: dict[str, Any]) -> bytes:
    return base64.b64decode((await cdp.send("Page.captureScreenshot", params))["data"])


async def screencast(cdp: CDPSession, page: Page,
                     between: Callable[[], Awaitable[Any]] | None = None) -> bool:
    """Start a screencast, take its first frame, (run ``between``), and say whether a new
    frame came in the next two frame intervals."""
    frames: list[int] = []
    first = asyncio.Event()

    def on_frame(event: dict[str, Any]) -> None:
        frames.append(1)
        first.set()
        asyncio.ensure_future(cdp.send("Page.screencastFrameAck",
                                       {"sessionId": event["sessionId"]}))

    cdp.on("Page.screencastFrame", on_frame)
    try:
        await cdp.send("Page.startScreencast", {"format": "jpeg", "quality": 50})
        await asyncio.wait_for(first.wait(), 5)
        seen = len(frames)
        if between is not None:
            await between()
        await asyncio.sleep(0.034)
        return len(frames) > seen
    finally:
        await cdp.send("Page.stopScreencast")
        cdp.remove_listener("Page.screencastFrame", on_frame)


def ways(page: Page, cdp: CDPSession) -> dict[str, Callable[[], Awaitable[Any]]]:
    png = {"format": "png", "optimizeForSpeed": True}
    return {
        "signal": lambda: page.evaluate(scripts.QUIET, 1000),
        "png": lambda: shot(cdp, png),
        "png+hash": lambda: _hashed(shot(cdp, png)),
        "jpeg": lambda: shot(cdp, {"format": "jpeg", "quality": 50}),
        "small": lambda: shot(cdp, {**png, "clip": {"x": 0, "y": 0, "width": 1280,
                                                    "height": 800, "scale": 0.25}}),
        "screencast": lambda: screencast(cdp, page),
    }


async def _hashed(data: Awaitable[bytes]) -> bytes:
    return hashlib.sha256(await data).digest()


async def sensitivity(page: Page, cdp: CDPSession) -> dict[str, dict[str, bool]]:
    """Whether each way (but the signal, which does not look at pixels) sees each change: the
    page is sampled, changed, and sampled again."""
    seen: dict[str, dict[str, bool]] = {}
    for change, css in CHANGES.items():
        seen[change] = {}
        for name, sample in ways(page, cdp).items():
            if name == "signal":
                continue
            faint = change == "faint"
            if faint:  # the patch is there first, and turns one level lighter
                await page.evaluate(SHOW, [css, False])

            async def show(css: str = css, faint: bool = faint) -> None:
                await page.evaluate(SHOW, [css, faint])

            if name == "screencast":
                seen[change][name] = await screencast(cdp, page, between=show)
            else:
                before = await sample()
                await show()
                seen[change][name] = before != await sample()
            await page.evaluate(HIDE)
    return seen


async def main(samples: int, rounds: int) -> dict[str, Any]:
    name = sorted(p.name for p in CORPUS.iterdir() if (p / "source.html").is_file())[0]
    with local_site() as site:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=Settings().resolve_chromium(), args=list(BASE_ARGS))
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            await page.goto(f"{site}/corpus/{name}/source.html", wait_until="load")
            cdp = await page.context.new_cdp_session(page)
            table = ways(page, cdp)
            times: dict[str, list[float]] = {way: [] for way in table}
            for number in range(rounds):
                order = list(table) if number % 2 == 0 else list(reversed(table))
                for way in order:
                    for _ in range(samples):
                        started = time.perf_counter()
                        await table[way]()
                        times[way].append((time.perf_counter() - started) * 1000)
            seen = await sensitivity(page, cdp)
            await browser.close()
    p50 = {way: round(statistics.median(values), 2) for way, values in times.items()}
    return {"page": name, "viewport": "1280x800", "samples": samples * rounds,
            "p50_ms": p50, "over_png": {way: round(ms / p50["png"], 3) for way, ms in p50.items()},
            "sees_the_change": seen}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    report("frames", asyncio.run(main(args.samples, args.rounds)))

"""The diff: screenshotd.imaging.pixelmatch against the pixelmatch package on PyPI (pure Python), same run.

    python benchmarks/bench_diff.py [--pages N] [--repeat N]

Real screenshot pairs: corpus pages rendered by Chromium at 1280x800 and 1920x1080, "before" as
served and "after" with the kind of change a visual regression catches (a headline reworded,
an image hidden, a block nudged down by 3 px). Both implementations diff every pair with a diff
image drawn (pixelmatch's usual call), and the counts must be identical. ours is timed as the
median of ``--repeat`` runs, the reference once (it takes seconds). screenshotd's count-only
call (no diff image, what ``response_type=json`` needs) is reported beside.

Goal (issue 6): at least 100x faster than the reference, and under 40 ms for 1280x800. The
whole of what ``POST /diff`` does off the event loop (decode both PNGs, compare, encode the
diff PNG) is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import numpy as np
from common import ROOT, local_site, machine, median
from PIL import Image
from pixelmatch.core import pixelmatch as reference
from playwright.async_api import async_playwright

from screenshotd.browser.chromium import BASE_ARGS
from screenshotd.core.cache import MemoryCache
from screenshotd.core.diffs import DiffService, run_diff
from screenshotd.imaging.pixelmatch import pixelmatch
from screenshotd.params.diff import DiffOptions
from screenshotd.settings import Settings

PAGES = ["wikipedia", "nytimes-1", "engadget", "wapo-1", "lemonde-1", "bbc-1"]
SIZES = [(1280, 800), (1920, 1080)]

#: The "after" change: what a deploy might do to a page.
CHANGE = """() => {
  const h = document.querySelector('h1, h2, h3');
  if (h) h.textContent = h.textContent.split(' ').reverse().join(' ');
  const img = document.querySelector('img');
  if (img) img.style.visibility = 'hidden';
  const p = document.querySelectorAll('p')[1];
  if (p) p.style.marginTop = (parseFloat(getComputedStyle(p).marginTop) + 3) + 'px';
}"""


Pair = tuple[str, bytes, bytes]


async def render_pairs(base: str, pages: list[str]) -> list[Pair]:
    """(label, before PNG, after PNG) for every page at every size."""
    # the build the service launches, as every benchmark's browser (only the images matter here)
    executable = Settings.from_env().resolve_chromium()
    pairs = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=BASE_ARGS)
        try:
            for width, height in SIZES:
                for name in pages:
                    page = await browser.new_page(viewport={"width": width, "height": height})
                    await page.route("**/*", lambda route: route.abort()
                                     if not route.request.url.startswith(base) else route.continue_())
                    await page.goto(f"{base}/corpus/{name}/source.html", wait_until="load")
                    before = await page.screenshot(type="png")
                    await page.evaluate(CHANGE)
                    after = await page.screenshot(type="png")
                    await page.close()
                    pairs.append((f"{name} {width}x{height}", before, after))
        finally:
            await browser.close()
    return pairs


def decode(png: bytes) -> np.ndarray:
    import io

    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGBA")).copy()


def pipeline(before: bytes, after: bytes, repeat: int) -> tuple[float, float]:
    """What POST /diff does off the event loop: decode both PNGs (at once), compare, encode
    the diff, through DiffService with the cache off; and, as its baseline, the same work in
    one thread (``run_diff``, what the CLI does)."""
    diffs = DiffService(MemoryCache(0), 50_000_000)

    async def timed() -> tuple[list[float], list[float]]:
        service, one_thread = [], []
        for _ in range(repeat):
            start = time.perf_counter()
            await diffs.diff(before, after, DiffOptions(), ttl=60, use_cache=False)
            service.append(time.perf_counter() - start)
            start = time.perf_counter()
            await asyncio.to_thread(run_diff, before, after, DiffOptions(), 50_000_000)
            one_thread.append(time.perf_counter() - start)
        return service, one_thread

    service, one_thread = asyncio.run(timed())
    return median(service), median(one_thread)


def ours(a: np.ndarray, b: np.ndarray, repeat: int, draw: bool) -> tuple[int, float]:
    times, count = [], 0
    for _ in range(repeat):
        out = np.empty_like(a) if draw else None
        start = time.perf_counter()
        count = pixelmatch(a, b, out, DiffOptions())
        times.append(time.perf_counter() - start)
    return count, median(times)


def theirs(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    height, width = a.shape[:2]
    img1, img2 = a.tobytes(), b.tobytes()
    out = bytearray(len(img1))
    start = time.perf_counter()
    count = reference(img1, img2, width, height, out, threshold=0.1)
    return count, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=4, help="corpus pages per size")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs of ours per pair")
    args = parser.parse_args()

    with local_site() as base:
        pairs = asyncio.run(render_pairs(base, PAGES[: args.pages]))
    rows = []
    for label, before, after in pairs:
        a, b = decode(before), decode(after)
        ours(a, b, 2, True)  # warm NumPy's caches and allocator
        count, t_ours = ours(a, b, args.repeat, True)
        count_only, t_count = ours(a, b, args.repeat, False)
        t_pipeline, t_one_thread = pipeline(before, after, max(3, args.repeat // 3))
        ref_count, t_ref = theirs(a, b)
        assert count == count_only == ref_count, (label, count, count_only, ref_count)
        rows.append({"pair": label, "changed": count, "ours_ms": round(t_ours * 1000, 2),
                     "ours_count_only_ms": round(t_count * 1000, 2),
                     "decode_diff_encode_ms": round(t_pipeline * 1000, 1),
                     "same_in_one_thread_ms": round(t_one_thread * 1000, 1),
                     "pypi_pixelmatch_ms": round(t_ref * 1000, 1),
                     "speedup": round(t_ref / t_ours, 1)})
        print(f"{label:28} changed {count:7d}  ours {t_ours * 1000:7.2f} ms "
              f"(count only {t_count * 1000:6.2f} ms, with PNGs {t_pipeline * 1000:6.1f} ms, "
              f"one thread {t_one_thread * 1000:6.1f} ms)  "
              f"pypi pixelmatch {t_ref * 1000:9.1f} ms  "
              f"x{t_ref / t_ours:.0f}", flush=True)
    for width, height in SIZES:
        size = [r for r in rows if r["pair"].endswith(f"{width}x{height}")]
        print(f"{width}x{height}: median ours {median([r['ours_ms'] for r in size]):.2f} ms, "
              f"median speedup x{median([r['speedup'] for r in size]):.0f}, with PNGs "
              f"{median([r['decode_diff_encode_ms'] for r in size]):.1f} ms (one thread "
              f"{median([r['same_in_one_thread_ms'] for r in size]):.1f} ms)")
    out = ROOT / "benchmarks" / "out" / "diff.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

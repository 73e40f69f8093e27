"""The baseline of ``bench_shot.py``: the one-page Playwright script people write, and nothing
else (it imports Playwright alone, so that its start-up is the script's, not the benchmark's).

    python benchmarks/one_page.py URL OUT.png CHROMIUM
"""

import asyncio
import sys

from playwright.async_api import async_playwright


async def main(url: str, out: str, chromium: str) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium)
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        await page.goto(url, wait_until="load", timeout=30000)
        await page.screenshot(path=out, type="png")
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))

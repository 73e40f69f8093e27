"""All 130 real pages of the corpus capture with no 5xx, and none comes out blank; on the same
captures, metadata's title matches the corpus's expected title on at least 90% of the pages that
give one, and the markdown is the page's text, not its code.

Their sub-resources point at hosts that cannot be reached from here, so this also exercises
failing and slow loads at scale. Marked slow: it runs in CI; skip it locally with
``make test-fast``.
"""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest

from tests.support.checks import decode
from tests.support.pages import CORPUS
from tests.support.servers import make_settings, run_server
from tests.support.site import Site
from tests.test_extract import check_markdown, same_title

pytestmark = [pytest.mark.asyncio, pytest.mark.slow, pytest.mark.timeout(900)]


def corpus_pages() -> list[str]:
    pages = sorted(p.parent.name for p in CORPUS.glob("*/source.html"))
    assert len(pages) == 130, f"expected the 130-page corpus at {CORPUS}, found {len(pages)}"
    return pages


def distinct_colours(data: bytes) -> int:
    image = decode(data).convert("RGB").resize((320, 200))
    return len(image.getcolors(maxcolors=1 << 16) or range(1 << 16))


async def test_whole_corpus_captures_and_is_not_blank(site: Site):
    """Six clients at once on three slots, as a busy server sees them; no request may fail."""
    # The largest timeout the API allows: a news page whose many trackers fail slowly may
    # take over 30 s to fire its load event here, and this test is about errors and blank
    # images, not about speed.
    settings = make_settings(browser_max_concurrent=3, browser_queue_timeout_ms=300_000,
                             screenshot_timeout_ms=60_000)
    gate = asyncio.Semaphore(6)
    failures: list[str] = []
    titles: dict[str, bool] = {}

    async with run_server(settings) as srv:

        async def one(name: str) -> None:
            async with gate:
                response = await srv.client.get(
                    "/screenshot",
                    params={"url": site.url(f"/corpus/{name}/source.html"), "timeout": 60000,
                            "response_type": "base64", "metadata": "true",
                            "extract_content": "true"})
            if response.status_code != 200:
                failures.append(f"{name}: {response.status_code} {response.text[:200]}")
                return
            body = response.json()
            if distinct_colours(base64.b64decode(body["data"])) < 2:
                failures.append(f"{name}: blank image")
            expected = json.loads((CORPUS / name / "expected-metadata.json").read_text())
            if expected.get("title"):
                titles[name] = same_title(body["metadata"]["title"], expected["title"])
            problem = check_markdown(body["content"], body["metadata"]["title"], name)
            if problem:
                failures.append(problem)

        await asyncio.gather(*(one(name) for name in corpus_pages()))
    rate = sum(titles.values()) / len(titles)
    print(f"\nrendered corpus: metadata title matches on {sum(titles.values())} of {len(titles)} "
          f"pages ({rate:.1%}); misses: {sorted(n for n, ok in titles.items() if not ok)}")
    assert not failures, "\n".join(failures)
    assert rate >= 0.90


async def test_the_corpus_captures_the_same_twice_with_animations_disabled(site: Site):
    """Each page captured twice with the determinism options (animations=disabled and
    freeze_time; the stability wait is on by default): the share whose two captures are
    identical, pixel for pixel. The pages that differ are printed with how many pixels differ
    and whether each capture settled (X-Stable)."""
    settings = make_settings(browser_max_concurrent=3, browser_queue_timeout_ms=300_000,
                             screenshot_timeout_ms=60_000)
    gate = asyncio.Semaphore(3)
    differing: dict[str, str] = {}

    async with run_server(settings) as srv:

        async def one(name: str) -> None:
            shots = []
            for _ in range(2):
                async with gate:
                    response = await srv.client.get("/screenshot", params={
                        "url": site.url(f"/corpus/{name}/source.html"), "timeout": 60000,
                        "cache": "false", "animations": "disabled",
                        "freeze_time": "2024-05-01T12:00:00Z"})
                assert response.status_code == 200, (name, response.text[:200])
                shots.append((response.content, response.headers.get("x-stable")))
            (first, stable1), (second, stable2) = shots
            if first != second:
                a = np.asarray(decode(first).convert("RGB"))
                b = np.asarray(decode(second).convert("RGB"))
                changed = int((a != b).any(axis=2).sum()) if a.shape == b.shape else -1
                if changed != 0:
                    differing[name] = (f"{changed} pixels differ (-1: the sizes differ); "
                                       f"X-Stable {stable1}, {stable2}")

        pages = corpus_pages()
        await asyncio.gather(*(one(name) for name in pages))
    share = 1 - len(differing) / len(pages)
    print(f"\ndeterminism over the corpus: {len(pages) - len(differing)} of {len(pages)} pages "
          f"identical twice ({share:.1%}); differing: "
          + ("; ".join(f"{name}: {why}" for name, why in sorted(differing.items())) or "none"))
    # The goal is 99%. Measured with animations=disabled alone: 97.7%, 98.5% and 96.9% in
    # three runs, a different page or few each time, all with X-Stable true. One of them
    # (herald-sun-1) prints Date.now() into the page, which freeze_time settles. With
    # freeze_time's stopped clock (timers and animation frames too): 99.2% (firefox-nightly-blog
    # differed once under load and never in a row on its own). What is left races the failures
    # of unreachable hosts (this corpus is offline). The floor catches a regression without
    # failing on that race.
    assert share >= 0.95, differing

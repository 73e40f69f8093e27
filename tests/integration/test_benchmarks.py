"""The saturation benchmark counts only captures that were rendered.

Identical requests in flight share one capture (singleflight), so a throughput figure made of
them measures the singleflight. ``bench_saturation.run_service`` checks the server's counters
after each round; these tests hold it to that, against a real server and Chromium.
"""

from __future__ import annotations

import sys

import pytest

from tests.support.pages import ROOT
from tests.support.servers import Running, make_settings, run_server
from tests.support.site import Site

sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_saturation  # noqa: E402  (a script beside the tests, not a package)


@pytest.fixture(scope="module")
async def server():
    async with run_server(make_settings(browser_max_concurrent=3)) as running:
        yield running


@pytest.mark.asyncio
async def test_a_round_of_unique_urls_is_all_rendered(server: Running, site: Site):
    urls = bench_saturation.page_urls(site.base, "small", 6, "bench-test")
    assert len(set(urls)) == 6
    result = await bench_saturation.run_service(server.base, urls, 3)
    assert result["ok"] == 6 and result["seconds"] > 0


@pytest.mark.asyncio
async def test_a_round_that_shares_captures_is_refused(server: Running, site: Site):
    same = [site.url("/pages/basic?bench=shared")] * 3
    with pytest.raises(RuntimeError, match="did not render every capture"):
        await bench_saturation.run_service(server.base, same, 3)


def test_the_process_tree_cpu_counts_this_process():
    import os

    assert bench_saturation.tree_cpu(os.getpid()) > 0

"""``shot-scraper``, launching the Chromium build the service launches.

shot-scraper has no option for the browser's path: it launches Playwright's own download, which
is not here, and would in any case be another build than the service's. This runs its command
line unchanged, with Playwright's ``launch`` given ``executable_path`` from ``SAME_CHROMIUM``
(the benchmark resolves it as the service does), so that a comparison compares the tools, not
the builds::

    SAME_CHROMIUM=/usr/bin/chromium-headless-shell python shot_scraper_same_build.py multi shots.yml
"""

from __future__ import annotations

import os
import sys
from typing import Any

from playwright.sync_api import BrowserType

_launch = BrowserType.launch


def launch(self: BrowserType, **kwargs: Any) -> Any:
    if os.environ.get("SAME_CHROMIUM"):
        kwargs.setdefault("executable_path", os.environ["SAME_CHROMIUM"])
    return _launch(self, **kwargs)


BrowserType.launch = launch  # type: ignore[method-assign]

from shot_scraper.cli import cli  # noqa: E402  (after the patch, which it must see)

if __name__ == "__main__":
    sys.exit(cli())

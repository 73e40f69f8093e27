"""screenshotd: a self-hosted screenshot service on a warm Chromium pool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from screenshotd.version import __version__

__all__ = ["CaptureOptions", "Settings", "__version__", "create_app"]

if TYPE_CHECKING:
    from screenshotd.http.app import create_app
    from screenshotd.params.capture import CaptureOptions
    from screenshotd.settings import Settings


def __getattr__(name: str) -> Any:
    # Lazy, so that `import screenshotd` (and the CLI's --help) does not load Playwright.
    if name == "create_app":
        from screenshotd.http.app import create_app

        return create_app
    if name == "CaptureOptions":
        from screenshotd.params.capture import CaptureOptions

        return CaptureOptions
    if name == "Settings":
        from screenshotd.settings import Settings

        return Settings
    raise AttributeError(name)

"""screenshotd: a self-hosted screenshot service on a warm Chromium pool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["CaptureOptions", "Settings", "__version__", "create_app"]

if TYPE_CHECKING:
    from .app import create_app
    from .options import CaptureOptions
    from .settings import Settings


def __getattr__(name: str) -> Any:
    # Lazy, so that `import screenshotd` (and the CLI's --help) does not load Playwright.
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "CaptureOptions":
        from .options import CaptureOptions

        return CaptureOptions
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(name)

"""ScreenshotService: options -> guard -> pool -> capture -> postprocess.

Every way in (HTTP, the CLI, later jobs, batch and diff) calls this one service, so there is one
copy of the capture road. It knows nothing of HTTP either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Error as PlaywrightError

from . import capture as capture_mod
from . import egress, errors, postprocess
from .devices import devices_from_playwright
from .options import CaptureOptions, ParseLimits
from .pool import BrowserPool
from .settings import Settings

log = logging.getLogger(__name__)

#: Slack on top of the page's own ``timeout`` for the screenshot, encoding and closes, after
#: which a capture is abandoned whatever Chromium is doing.
HARD_TIMEOUT_SLACK_S = 35.0


@dataclass
class CaptureResult:
    data: bytes
    format: str
    content_type: str
    width: int | None
    height: int | None
    render_time_ms: int
    truncated: bool
    cache_key: str
    url: str | None
    final_url: str | None
    http_status: int | None
    cached: bool = False

    @property
    def size(self) -> int:
        return len(self.data)


def _viewport_pixels(opts: CaptureOptions) -> tuple[int, int] | None:
    """The device-pixel size of a plain viewport capture, or None for other kinds."""
    if opts.full_page or opts.selector or opts.clip or opts.format == "pdf":
        return None
    assert opts.width and opts.height and opts.device_scale_factor
    scale = opts.device_scale_factor
    return round(opts.width * scale), round(opts.height * scale)


class ScreenshotService:
    """Owns the capture road. ``pool`` must be open before :meth:`capture` is called."""

    def __init__(self, settings: Settings, pool: BrowserPool) -> None:
        self.settings = settings
        self.pool = pool
        self.policy = egress.AddressPolicy.from_setting(settings.allow_private_hosts)
        self._limits: ParseLimits | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ScreenshotService:
        pool = BrowserPool(
            executable_path=settings.resolve_chromium(),
            slots=settings.browser_max_concurrent,
            queue_size=settings.queue_size,
            queue_timeout=settings.browser_queue_timeout_ms / 1000,
            recycle_after=settings.browser_recycle_after,
        )
        return cls(settings, pool)

    async def open(self) -> None:
        await self.pool.open()

    async def close(self) -> None:
        await self.pool.close()

    @property
    def limits(self) -> ParseLimits:
        """Server-dependent bounds; the device table is known once the pool has started."""
        if self._limits is None or (not self._limits.devices and self.pool.devices):
            self._limits = ParseLimits(
                screenshot_timeout_ms=self.settings.screenshot_timeout_ms,
                devices=devices_from_playwright(self.pool.devices),
            )
        return self._limits

    def parse(self, params: Mapping[str, Any]) -> CaptureOptions:
        opts = CaptureOptions.parse(params, self.limits)
        unsupported = opts.unsupported()
        if unsupported:
            name = unsupported[0]
            raise errors.ValidationError(
                f"{name} is not available in this version of screenshotd", field=name
            )
        return opts

    async def check(self, opts: CaptureOptions) -> None:
        """The door: refuse a main URL that targets a non-public address. No browser work."""
        if opts.url is not None:
            await egress.check_url(opts.url, self.policy)

    async def capture(self, opts: CaptureOptions) -> CaptureResult:
        """Capture ``opts``: the door check, a pooled context, the page, the post-processing."""
        await self.check(opts)
        started = time.monotonic()
        hard_limit = (opts.timeout or 30000) / 1000 + HARD_TIMEOUT_SLACK_S
        async with self.pool.acquire(opts.context_options()) as lease:
            try:
                raw = await asyncio.wait_for(
                    capture_mod.capture(
                        lease.context, opts, max_height=self.settings.max_full_page_height,
                        page=lease.page,
                    ),
                    hard_limit,
                )
            except TimeoutError:
                raise errors.CaptureTimeout(
                    f"the capture did not finish within {hard_limit:g} s"
                ) from None
            except PlaywrightError as exc:
                if "closed" in str(exc).lower():
                    raise  # the pool tells a crash from a closed page
                log.warning("capture failed: %s", str(exc).splitlines()[0][:300])
                raise errors.NavigationFailed(
                    "the browser failed while rendering the page"
                ) from exc
        expected = _viewport_pixels(opts)
        size = postprocess.image_size(raw.data) if raw.kind != "pdf" else None
        if postprocess.needs_pixels(opts, raw.kind, size, expected):
            output = await asyncio.to_thread(
                postprocess.finish, raw.data, raw.kind, opts, expected
            )
        else:
            output = postprocess.finish(raw.data, raw.kind, opts, expected)
        return CaptureResult(
            data=output.data,
            format=opts.format,
            content_type=opts.content_type,
            width=output.width,
            height=output.height,
            render_time_ms=round((time.monotonic() - started) * 1000),
            truncated=raw.truncated,
            cache_key=opts.cache_key(),
            url=opts.url,
            final_url=raw.final_url,
            http_status=raw.http_status,
        )

    def health(self) -> dict[str, Any]:
        pool = self.pool
        return {
            "browser": {
                "connected": pool.connected,
                "version": pool.browser_version,
                "restarts": pool.restarts,
                "recycles": pool.recycles,
            },
            "pool": pool.stats(),
        }

"""From Chromium's raw capture to the result: the pixels post-processed (in a worker thread
when they must be decoded), the page's content extracted (in a thread), and what was blocked
counted, by reason. The service calls :func:`finish` once the browser slot is free."""

from __future__ import annotations

import asyncio
import time

from screenshotd.blocking.lists import RequestFilter
from screenshotd.browser.capture import RawCapture
from screenshotd.core.results import CaptureResult
from screenshotd.imaging import postprocess
from screenshotd.params.capture import CaptureOptions


async def finish(raw: RawCapture, opts: CaptureOptions, request_filter: RequestFilter | None,
                 guard_blocked: int, started: float) -> CaptureResult:
    """The capture of ``opts`` as a result; ``guard_blocked`` requests were refused by the
    private-network guard, ``started`` is when the capture began (monotonic seconds)."""
    expected = postprocess.viewport_pixels(opts)
    size = raw.size or (postprocess.image_size(raw.data) if raw.kind != "pdf" else None)
    if postprocess.needs_pixels(opts, raw.kind, size, expected):
        output = await asyncio.to_thread(
            postprocess.finish, raw.data, raw.kind, opts, expected
        )
    else:
        output = postprocess.finish(raw.data, raw.kind, opts, expected)
    contents: dict[str, str] = {}
    metadata = None
    if raw.html is not None:
        # imported here: BeautifulSoup and markdownify cost a one-page `shot` 70 ms to load
        from screenshotd.content import extract

        contents, metadata = await asyncio.to_thread(
            extract.extract_page, raw.html, raw.final_url, raw.http_status,
            opts.content_formats, opts.wants_metadata)
    blocked = dict(request_filter.blocked) if request_filter is not None else {}
    if guard_blocked:
        blocked["guard"] = guard_blocked
    return CaptureResult(
        data=output.data,
        format=opts.format,
        content_type=opts.content_type,
        width=output.width or (raw.size[0] if raw.size else None),
        height=output.height or (raw.size[1] if raw.size else None),
        render_time_ms=round((time.monotonic() - started) * 1000),
        truncated=raw.truncated,
        cache_key=opts.cache_key(),
        url=opts.url,
        final_url=raw.final_url,
        http_status=raw.http_status,
        blocked_requests=sum(blocked.values()),
        blocked=blocked,
        content=contents.get(opts.content_format) if opts.extract_content else None,
        contents=contents,
        metadata=metadata, stable=raw.stable)

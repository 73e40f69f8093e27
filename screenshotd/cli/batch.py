"""``screenshotd batch``: many captures to a directory, through the same service as HTTP.

The URLs run at most ``BROWSER_MAX_CONCURRENT`` at once (``--concurrency``); each result is
written as it lands, so a long run that is stopped keeps what it finished. A URL that fails does
not stop the others: it is reported in the summary and in ``results.json``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import click

from screenshotd import errors
from screenshotd.auth.callers import LOCAL
from screenshotd.http.routes import download_name
from screenshotd.settings import Settings

RESULTS_FILE = "results.json"


def read_urls(stream: IO[str]) -> list[str]:
    """One URL a line; blank lines and ``#`` comments are skipped."""
    urls = []
    for line in stream:
        line = line.strip()
        if line and not line.startswith("#"):
            urls.append(line)
    return urls


def run_batch(settings: Settings, urls: list[str], options: dict[str, Any], outdir: Path,
              progress: bool = True) -> int:
    """Capture every URL into ``outdir``, print a summary; the number that failed.

    Progress goes to stderr: a bar on a terminal, else one ``[n/total] ok|CODE url`` line per
    URL as it finishes (for CI logs); none with ``progress=False``."""
    started = time.monotonic()
    total = len(urls)
    if progress and sys.stderr.isatty():
        with click.progressbar(length=total, label=f"Capturing {total} URLs", file=sys.stderr,
                               show_pos=True, item_show_func=lambda item: item) as bar:
            results = asyncio.run(_run(settings, urls, options, outdir,
                                       lambda record: bar.update(1, _short(record["url"]))))
    else:
        finished = 0

        def line(record: dict[str, Any]) -> None:
            nonlocal finished
            finished += 1
            if progress:
                click.echo(f"[{finished}/{total}] {record.get('error', 'ok')} {record['url']}",
                           err=True)

        results = asyncio.run(_run(settings, urls, options, outdir, line))
    (outdir / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    failed = [r for r in results if "error" in r]
    seconds = time.monotonic() - started
    click.echo(f"{total - len(failed)} captured, {len(failed)} failed, in {seconds:.1f} s; "
               f"files and {RESULTS_FILE} in {outdir}")
    for result in failed:
        click.echo(f"  failed: {result['url']}: {result['error']}: {result['message']}",
                   err=True)
    return len(failed)


async def _run(settings: Settings, urls: list[str], options: dict[str, Any], outdir: Path,
               done: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    from screenshotd.core.service import ScreenshotService

    service = ScreenshotService.from_settings(settings)
    await service.open()
    slots = asyncio.Semaphore(settings.browser_max_concurrent)
    width = max(3, len(str(len(urls))))

    async def one(index: int, url: str) -> dict[str, Any]:
        record: dict[str, Any] = {"url": url}
        try:
            async with slots:
                opts = service.parse({**options, "url": url})
                result = await service.screenshot(opts, LOCAL)
            name = f"{index:0{width}d}-{download_name(opts)}"
            await asyncio.to_thread((outdir / name).write_bytes, result.data)
            record.update(file=name, format=result.format, width=result.width,
                          height=result.height, size=result.size,
                          render_time_ms=result.render_time_ms)
            if result.metadata is not None:
                record["metadata"] = result.metadata
        except errors.ScreenshotError as exc:
            record.update(error=exc.code, message=exc.message)
        except OSError as exc:
            record.update(error="WRITE_FAILED", message=str(exc))
        done(record)
        return record

    try:
        return await asyncio.gather(*(one(i, url) for i, url in enumerate(urls, 1)))
    finally:
        await service.close()


def _short(url: str) -> str:
    return url if len(url) <= 50 else url[:47] + "..."

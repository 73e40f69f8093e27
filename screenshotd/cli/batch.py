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
from screenshotd.cli.common import (
    capture_flags,
    examples,
    parse_params,
    settings_from_env,
    setup_logging,
)
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


@click.command(
    epilog="The file has one URL a line; blank lines and lines starting with # are skipped, and "
    "- reads standard input. Each capture is written as NNN-host-path.EXT in the directory, "
    "and results.json lists every URL with its file or its error.\n\n"
    "Exit status: 0 when every URL was captured, 1 when any failed.\n\n" + examples(
        "screenshotd batch urls.txt -d shots/",
        "screenshotd batch urls.txt -d shots/ --full-page --format webp -p block_ads=true",
        "grep -v staging sites.txt | screenshotd batch - -d shots/ --concurrency 2")
)
@click.argument("urls_file", metavar="URLS_FILE", type=click.File("r", encoding="utf-8"))
@click.option("-d", "--dir", "outdir", required=True,
              type=click.Path(file_okay=False, path_type=Path), help="Directory to write into.")
@click.option("--full-page", is_flag=True, help="Capture whole scrollable pages.")
@click.option("--width", type=int, default=None, help="Viewport width.")
@click.option("--height", type=int, default=None, help="Viewport height.")
@click.option("--format", "fmt", default=None, help="png (default), jpeg, webp or pdf.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Any capture parameter of the HTTP API, for every URL; repeat as needed.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=None,
              help="Captures at once (default: BROWSER_MAX_CONCURRENT).")
@click.option("--isolation", type=click.Choice(["page", "caller", "context"]), default="page",
              show_default=True,
              help="page: each concurrent slot keeps its page, and cookies, storage, caches, "
              "permissions and emulation are reset between URLs (a batch is one user's own "
              "list, so caller mode would do the same). context: a fresh browser context for "
              "every URL.")
@click.option("--no-progress", is_flag=True, help="No progress bar (it is off when stderr is "
              "not a terminal).")
def batch(
    urls_file: Any, outdir: Path, full_page: bool, width: int | None, height: int | None,
    fmt: str | None, params: tuple[str, ...], concurrency: int | None, isolation: str,
    no_progress: bool,
) -> None:
    """Capture many pages to a directory, with a progress bar and a summary."""
    urls = read_urls(urls_file)
    if not urls:
        raise click.ClickException("no URLs to capture: the file is empty")
    options = capture_flags(parse_params(params), full_page, width, height)
    if fmt is not None:
        options["format"] = fmt
    settings = settings_from_env(browser_max_concurrent=concurrency, browser_isolation=isolation)
    setup_logging("error")
    outdir.mkdir(parents=True, exist_ok=True)
    failed = run_batch(settings, urls, options, outdir, progress=not no_progress)
    if failed:
        sys.exit(1)

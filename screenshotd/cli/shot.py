"""``screenshotd shot``: one capture to a file, with no server, on the same road as HTTP."""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
from pathlib import Path
from typing import Any

import click

from screenshotd import errors
from screenshotd.cli.common import (
    capture_flags,
    examples,
    parse_params,
    settings_from_env,
    setup_logging,
)


@click.command(
    epilog=examples(
        "screenshotd shot https://example.com -o example.png",
        "screenshotd shot https://example.com -o page.pdf --format pdf",
        "screenshotd shot https://example.com -o scroll.mp4 -p scroll=true -p duration=8",
        "screenshotd shot https://example.com -o full.webp --full-page -p quality=90 "
        "-p dark_mode=true")
)
@click.argument("url")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write.")
@click.option("--full-page", is_flag=True, help="Capture the whole scrollable page.")
@click.option("--width", type=int, default=None, help="Viewport width.")
@click.option("--height", type=int, default=None, help="Viewport height.")
@click.option("--format", "fmt", default=None,
              help="png, jpeg, webp, pdf, or a video: mp4 or webm (default: from the file "
              "extension, else png).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Any capture parameter of the HTTP API; repeat as needed.")
def shot(
    url: str, output: Path, full_page: bool, width: int | None, height: int | None,
    fmt: str | None, params: tuple[str, ...],
) -> None:
    """Capture one page to a file, with no server."""
    options = capture_flags({"url": url, **parse_params(params)}, full_page, width, height)
    suffix = output.suffix.lower().lstrip(".")
    if fmt is None and suffix in ("png", "jpg", "jpeg", "webp", "pdf", "mp4", "webm"):
        fmt = suffix
    if fmt is not None:
        options["format"] = fmt
    try:
        result = asyncio.run(_shoot(options))
    except errors.ScreenshotError as exc:
        where = f" ({exc.field})" if exc.field else ""
        raise click.ClickException(f"{exc.code}{where}: {exc.message}") from None
    output.write_bytes(result.data)
    size = f"{result.width}x{result.height} " if result.width else ""
    click.echo(f"{output}: {size}{result.format}, {result.size} bytes, {result.render_time_ms} ms")
    # extract_content and metadata land beside the image: page.png, page.md, page.json
    if result.content is not None:
        content_format = options.get("content_format", "markdown")
        path = output.with_suffix(CONTENT_SUFFIXES.get(str(content_format), ".txt"))
        path.write_text(result.content, "utf-8")
        click.echo(f"{path}: content, {len(result.content)} characters")
    if result.metadata is not None:
        path = output.with_suffix(".json")
        path.write_text(json.dumps(result.metadata, indent=2, ensure_ascii=False) + "\n", "utf-8")
        click.echo(f"{path}: metadata")


CONTENT_SUFFIXES = {"markdown": ".md", "html": ".html", "text": ".txt"}


async def _shoot(options: dict[str, Any]) -> Any:
    # Playwright's driver first: Node.js takes about 0.3 s to boot, and the settings and the
    # service load (in a thread: imports are CPU work) while it does, not before it starts.
    from screenshotd.browser.driver import Driver

    driver = Driver()
    try:
        service = await asyncio.to_thread(_service, driver)
        await service.open()
    except BaseException:
        await driver.close()  # nothing, when the pool took it over
        raise
    try:
        return await service.capture(service.parse(options))
    finally:
        await service.close()


def _service(driver: Any) -> Any:
    """The service of one capture, on ``driver``, with the environment's settings.

    Loading makes about 90,000 objects and no garbage, so the cyclic collector is off while it
    runs (its passes cost a tenth of the loading), and what was loaded is then frozen out of
    its sight, as ``serve`` does once started."""
    gc.disable()
    try:
        settings = settings_from_env()
        setup_logging("warning")
        service_module = importlib.import_module("screenshotd.core.service")
    finally:
        gc.freeze()
        gc.enable()
    # One capture: no warm contexts to make and refill; the capture makes its own.
    return service_module.ScreenshotService.from_settings(settings, warm_contexts=0,
                                                          driver=driver)

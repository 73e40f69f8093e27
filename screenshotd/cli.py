"""The command line: ``screenshotd serve`` and ``screenshotd shot``.

Both go through :class:`~screenshotd.service.ScreenshotService`, the same road as HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import click
import uvicorn

from . import __version__, errors
from .settings import SETTINGS, Settings, SettingsError


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="screenshotd")
def main() -> None:
    """screenshotd: a self-hosted screenshot service on a warm Chromium pool."""


_SETTINGS_HELP = "\n".join(f"  {s.env:<26} {s.help}" for s in SETTINGS)


@main.command(
    epilog="Examples:\n\n  screenshotd serve\n\n  screenshotd serve --host 0.0.0.0 --port 8080 --slots 4"
    "\n\nSettings come from the environment; flags override them:\n\n" + _SETTINGS_HELP
)
@click.option("--host", default=None, help="Address to listen on (HOST).")
@click.option("--port", type=int, default=None, help="Port (PORT).")
@click.option("--slots", type=int, default=None, help="Pool slots (BROWSER_MAX_CONCURRENT).")
@click.option("--chromium", default=None, help="Chromium binary (CHROMIUM_PATH).")
@click.option("--log-level", default=None, help="Log level (LOG_LEVEL).")
def serve(
    host: str | None, port: int | None, slots: int | None, chromium: str | None,
    log_level: str | None,
) -> None:
    """Start the HTTP service."""
    from .app import create_app

    settings = _settings(
        host=host, port=port, browser_max_concurrent=slots, chromium_path=chromium,
        log_level=log_level,
    )
    _setup_logging(settings.log_level)
    try:
        app = create_app(settings)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    JobAwareServer(uvicorn.Config(app, **uvicorn_options(settings))).run()


class JobAwareServer(uvicorn.Server):
    """uvicorn's server, which also tells the job manager the moment a stop is signalled.

    Jobs then start their grace period at once, and event streams end with their jobs, instead
    of holding uvicorn's connection drain open until it times out.
    """

    _loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        jobs = getattr(getattr(self.config.app, "state", None), "jobs", None)
        if jobs is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(jobs.begin_shutdown)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How ``serve`` runs uvicorn; the benchmarks' baseline servers use the same options."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "proxy_headers": True,
        "timeout_graceful_shutdown": 15,
    }


@main.command(
    epilog="Examples:\n\n"
    "  screenshotd shot https://example.com -o example.png\n\n"
    "  screenshotd shot https://example.com -o page.pdf --format pdf\n\n"
    "  screenshotd shot https://example.com -o full.webp --full-page -p quality=90 -p dark_mode=true"
)
@click.argument("url")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write.")
@click.option("--full-page", is_flag=True, help="Capture the whole scrollable page.")
@click.option("--width", type=int, default=None, help="Viewport width.")
@click.option("--height", type=int, default=None, help="Viewport height.")
@click.option("--format", "fmt", default=None,
              help="png, jpeg, webp or pdf (default: from the file extension, else png).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Any capture parameter of the HTTP API; repeat as needed.")
def shot(
    url: str, output: Path, full_page: bool, width: int | None, height: int | None,
    fmt: str | None, params: tuple[str, ...],
) -> None:
    """Capture one page to a file, with no server."""
    options: dict[str, Any] = {"url": url}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--param")
        options[name.strip()] = value
    if full_page:
        options["full_page"] = "true"
    if width is not None:
        options["width"] = width
    if height is not None:
        options["height"] = height
    suffix = output.suffix.lower().lstrip(".")
    if fmt is None and suffix in ("png", "jpg", "jpeg", "webp", "pdf"):
        fmt = suffix
    if fmt is not None:
        options["format"] = fmt
    settings = _settings()
    _setup_logging("warning")
    try:
        result = asyncio.run(_shoot(settings, options))
    except errors.ScreenshotError as exc:
        where = f" ({exc.field})" if exc.field else ""
        raise click.ClickException(f"{exc.code}{where}: {exc.message}") from None
    output.write_bytes(result.data)
    size = f"{result.width}x{result.height} " if result.width else ""
    click.echo(f"{output}: {size}{result.format}, {result.size} bytes, {result.render_time_ms} ms")


async def _shoot(settings: Settings, options: dict[str, Any]) -> Any:
    from .service import ScreenshotService

    service = ScreenshotService.from_settings(settings)
    await service.open()
    try:
        return await service.capture(service.parse(options))
    finally:
        await service.close()

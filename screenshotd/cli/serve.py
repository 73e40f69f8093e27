"""``screenshotd serve``: the HTTP service, under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from types import FrameType
from typing import Any

import click
import uvicorn

from screenshotd.cli.common import examples, settings_from_env, setup_logging
from screenshotd.http.logs import flush_logs
from screenshotd.settings import SETTINGS, Settings, SettingsError

_SETTINGS_HELP = "\n".join(f"  {s.env:<26} {s.help}" for s in SETTINGS)


@click.command(
    "serve",
    epilog=examples("screenshotd serve", "screenshotd serve --host 0.0.0.0 --port 8080 --slots 4",
                     "LOG_FORMAT=json API_KEYS=k1,k2 screenshotd serve")
    + "\n\nSettings come from the environment; flags override them:\n\n\b\n" + _SETTINGS_HELP
)
@click.option("--host", default=None, help="Address to listen on (HOST).")
@click.option("--port", type=int, default=None, help="Port (PORT).")
@click.option("--slots", type=int, default=None, help="Pool slots (BROWSER_MAX_CONCURRENT).")
@click.option("--chromium", default=None, help="Chromium binary (CHROMIUM_PATH).")
@click.option("--log-level", default=None, help="Log level (LOG_LEVEL).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="text, or json: one object a line (LOG_FORMAT).")
def serve(
    host: str | None, port: int | None, slots: int | None, chromium: str | None,
    log_level: str | None, log_format: str | None,
) -> None:
    """Start the HTTP service."""
    from screenshotd.http.app import create_app

    settings = settings_from_env(
        host=host, port=port, browser_max_concurrent=slots, chromium_path=chromium,
        log_level=log_level, log_format=log_format,
    )
    setup_logging(settings.log_level, settings.log_format)
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

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's, which re-raises a caught SIGTERM once the server has stopped, so that the
        process ends as the signal asks: no exit handlers run then, so the logs waiting in
        their batch are written first."""
        with super().capture_signals():
            try:
                yield
            finally:
                flush_logs()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        jobs = getattr(getattr(self.config.app, "state", None), "jobs", None)
        if jobs is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(jobs.begin_shutdown)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How ``serve`` runs uvicorn; the benchmarks' baseline servers use the same options.
    The app writes its own access log (:mod:`~screenshotd.http.logs`), and logging is configured by
    :func:`~screenshotd.http.logs.setup_logging`, so uvicorn's are off."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": None,
        "access_log": False,
        "proxy_headers": True,
        "timeout_graceful_shutdown": 15,
    }

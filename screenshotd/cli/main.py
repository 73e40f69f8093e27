"""The command line: ``screenshotd serve``, ``shot``, ``batch``, ``diff``, ``sign`` and ``mcp``.

``serve``, ``shot`` and ``batch`` go through :class:`~screenshotd.core.service.ScreenshotService`, the
same road as HTTP; ``diff`` runs the same decode-compare-encode step as ``POST /diff``; ``sign``
makes signed capture URLs; ``mcp`` serves the Model Context Protocol on stdio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import click
import uvicorn

from screenshotd import errors
from screenshotd.http.logs import flush_logs
from screenshotd.settings import SETTINGS, Settings, SettingsError
from screenshotd.version import __version__


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _setup_logging(level: str, fmt: str = "text") -> None:
    from screenshotd.http.logs import setup_logging

    setup_logging(level, fmt)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="screenshotd")
def main() -> None:
    """screenshotd: a self-hosted screenshot service on a warm Chromium pool."""


_SETTINGS_HELP = "\n".join(f"  {s.env:<26} {s.help}" for s in SETTINGS)


def _examples(*commands: str) -> str:
    """An epilog's examples, one command a line, kept as written (click rewraps the rest)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {command}" for command in commands)


@main.command(
    epilog=_examples("screenshotd serve", "screenshotd serve --host 0.0.0.0 --port 8080 --slots 4",
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

    settings = _settings(
        host=host, port=port, browser_max_concurrent=slots, chromium_path=chromium,
        log_level=log_level, log_format=log_format,
    )
    _setup_logging(settings.log_level, settings.log_format)
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


@main.command(
    epilog=_examples(
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
    options = _capture_options({"url": url, **_params(params)}, full_page, width, height)
    suffix = output.suffix.lower().lstrip(".")
    if fmt is None and suffix in ("png", "jpg", "jpeg", "webp", "pdf", "mp4", "webm"):
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


async def _shoot(settings: Settings, options: dict[str, Any]) -> Any:
    from screenshotd.core.service import ScreenshotService

    # One capture: no warm contexts to make and refill; the capture makes its own.
    service = ScreenshotService.from_settings(settings, warm_contexts=0)
    await service.open()
    try:
        return await service.capture(service.parse(options))
    finally:
        await service.close()


def _capture_options(options: dict[str, Any], full_page: bool, width: int | None,
                     height: int | None) -> dict[str, Any]:
    """``options`` with the commands' shared flags added (``--full-page --width --height``)."""
    if full_page:
        options["full_page"] = "true"
    if width is not None:
        options["width"] = width
    if height is not None:
        options["height"] = height
    return options


def _params(items: tuple[str, ...]) -> dict[str, Any]:
    """``-p NAME=VALUE`` options as a mapping."""
    options: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--param")
        options[name.strip()] = value
    return options


@main.command(
    epilog="The file has one URL a line; blank lines and lines starting with # are skipped, and "
    "- reads standard input. Each capture is written as NNN-host-path.EXT in the directory, "
    "and results.json lists every URL with its file or its error.\n\n"
    "Exit status: 0 when every URL was captured, 1 when any failed.\n\n" + _examples(
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
@click.option("--isolation", type=click.Choice(["page", "context"]), default="page",
              show_default=True,
              help="page: each concurrent slot keeps its page, and cookies, storage, caches, "
              "permissions and emulation are reset between URLs (a batch is one user's own "
              "list). context: a fresh browser context for every URL, as the server does by "
              "default.")
@click.option("--no-progress", is_flag=True, help="No progress bar (it is off when stderr is "
              "not a terminal).")
def batch(
    urls_file: Any, outdir: Path, full_page: bool, width: int | None, height: int | None,
    fmt: str | None, params: tuple[str, ...], concurrency: int | None, isolation: str,
    no_progress: bool,
) -> None:
    """Capture many pages to a directory, with a progress bar and a summary."""
    from screenshotd.cli.batch import read_urls, run_batch

    urls = read_urls(urls_file)
    if not urls:
        raise click.ClickException("no URLs to capture: the file is empty")
    options = _capture_options(_params(params), full_page, width, height)
    if fmt is not None:
        options["format"] = fmt
    settings = _settings(browser_max_concurrent=concurrency, browser_isolation=isolation)
    _setup_logging("error")
    outdir.mkdir(parents=True, exist_ok=True)
    failed = run_batch(settings, urls, options, outdir, progress=not no_progress)
    if failed:
        sys.exit(1)


@main.command(
    epilog="The secret comes from SIGNING_SECRET (or --secret) and must be the server's. The "
    "URL works without an API key, for exactly these parameters; with --expires-in it stops "
    "working after that many seconds.\n\n" + _examples(
        "SIGNING_SECRET=... screenshotd sign 'url=https://example.com&full_page=true'",
        "screenshotd sign 'url=https://example.com' --expires-in 86400 "
        "--base-url https://shots.example.net")
)
@click.argument("query")
@click.option("--base-url", default=None,
              help="The server's public URL (default: http://HOST:PORT from the settings).")
@click.option("--expires-in", type=click.IntRange(1), default=None, metavar="SECONDS",
              help="Make the URL expire after this many seconds.")
@click.option("--secret", default=None, envvar="SIGNING_SECRET", show_envvar=True,
              help="The signing secret.")
def sign(query: str, base_url: str | None, expires_in: int | None, secret: str | None) -> None:
    """Print a signed capture URL for QUERY (url=…&full_page=true…), for an <img src>."""
    from screenshotd.auth.signing import Signer, query_pairs
    from screenshotd.params.capture import CaptureOptions

    if not secret:
        raise click.ClickException("no signing secret: set SIGNING_SECRET or give --secret")
    query = query.lstrip("?")
    if query.startswith(("http://", "https://")) and "url=" not in query.split("&")[0]:
        query = "url=" + query
    pairs = [(n, v) for n, v in query_pairs(query) if n not in ("signature", "api_key")]
    if len({n for n, _ in pairs}) != len(pairs):
        raise click.ClickException("a parameter is given more than once")
    try:
        CaptureOptions.parse(dict(pairs))  # the same checks as the server's
    except errors.ScreenshotError as exc:
        where = f" ({exc.field})" if exc.field else ""
        raise click.ClickException(f"{exc.code}{where}: {exc.message}") from None
    if base_url is None:
        settings = _settings()
        host = "localhost" if settings.host in ("0.0.0.0", "127.0.0.1", "::") else settings.host
        base_url = f"http://{host}:{settings.port}"
    click.echo(f"{base_url.rstrip('/')}/screenshot?{Signer(secret).sign(pairs, expires_in)}")


@main.command(
    epilog="Tools: screenshot, batch_screenshot, visual_diff, check_job. Without "
    "SCREENSHOT_API_URL the service runs inside this process, with the settings of the "
    "environment (Chromium starts with it); with it, every call goes to that server, with "
    "SCREENSHOT_API_KEY as its key. Logs go to stderr; stdout carries the protocol.\n\n"
    + _examples("screenshotd mcp", "SCREENSHOT_API_URL=https://shots.example.net "
                "SCREENSHOT_API_KEY=... screenshotd mcp")
    + "\n\n\b\nIn an MCP client's configuration:\n"
    "  {\"mcpServers\": {\"screenshotd\": {\"command\": \"screenshotd\", \"args\": [\"mcp\"]}}}"
)
def mcp() -> None:
    """Serve the Model Context Protocol on stdio, for AI assistants."""
    from screenshotd.cli.mcp import serve_stdio

    settings = _settings()
    _setup_logging("warning" if settings.log_level in ("info", "debug") else settings.log_level,
                   settings.log_format)
    try:
        asyncio.run(serve_stdio())
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass


class DiffTrouble(click.ClickException):
    """A diff that could not be made (a missing or undecodable file): exit code 2, so that 1
    keeps meaning "the images differ"."""

    exit_code = 2


def _colour_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from screenshotd.params.diff import COLOUR_HELP, colour

    rgb = colour(value)
    if rgb is None:
        raise click.BadParameter(COLOUR_HELP)
    return rgb


def pixelmatch_flags(command: Any) -> Any:
    """One flag for each of :class:`~screenshotd.params.diff.DiffOptions`' fields, named,
    explained and defaulted by the field, so the command line and ``/diff`` never differ."""
    from screenshotd.params.diff import DiffOptions

    for name, info in reversed(DiffOptions.model_fields.items()):
        flag, help_ = "--" + name.replace("_", "-"), info.description or ""
        if info.annotation is bool:
            option = click.option(flag, is_flag=True, default=None, help=help_)
        elif info.annotation is float:
            option = click.option(flag, type=click.FloatRange(0, 1), default=info.default,
                                  show_default=True, help=help_)
        else:  # a colour
            if info.default is not None:
                help_ += f" [default: {','.join(map(str, info.default))}]"
            option = click.option(flag, callback=_colour_option, default=None,
                                  metavar="R,G,B", help=help_)
        command = option(command)
    return command


@main.command(
    epilog="Exit status: 0 when the images match within --fail-over, 1 when they differ "
    "beyond it, 2 when they could not be compared.\n\n" + _examples(
        "screenshotd diff before.png after.png -o diff.png",
        "screenshotd diff baseline.png current.png --threshold 0.2 --fail-over 0.5")
)
@click.argument("before", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("after", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the diff image (PNG) here.")
@click.option("--fail-over", type=click.FloatRange(0, 100), default=0.0, show_default=True,
              metavar="PERCENT", help="Exit 1 only when more than this percentage changed.")
@pixelmatch_flags
@click.option("--json", "as_json", is_flag=True, help="Print the stats as JSON.")
def diff(before: Path, after: Path, output: Path | None, fail_over: float, as_json: bool,
         **pixelmatch: Any) -> None:
    """Compare two images (PNG, JPEG or WebP) pixel by pixel, as pixelmatch does."""
    from screenshotd.core.diffs import run_diff
    from screenshotd.params.diff import DiffOptions

    options = DiffOptions.model_validate(
        {name: value for name, value in pixelmatch.items() if value is not None})
    settings = _settings()
    try:
        result, png = run_diff(before.read_bytes(), after.read_bytes(), options,
                               settings.diff_max_pixels, (str(before), str(after)))
    except errors.ScreenshotError as exc:
        raise DiffTrouble(exc.message) from None
    except OSError as exc:
        raise DiffTrouble(str(exc)) from None
    if output is not None:
        try:
            output.write_bytes(png)
        except OSError as exc:
            raise DiffTrouble(f"cannot write {output}: {exc}") from None
    stats = result.to_json()
    if as_json:
        click.echo(json.dumps(stats))
    else:
        size = f"{stats['width']}x{stats['height']}"
        if result.sizes[0] != result.sizes[1]:
            (w1, h1), (w2, h2) = result.sizes
            size += f" (sizes differ: {w1}x{h1} and {w2}x{h2})"
        click.echo(f"{stats['changed_pixels']} of {stats['total_pixels']} pixels changed "
                   f"({stats['diff_percent']}%), {size}"
                   + (f"; diff written to {output}" if output else ""))
    if stats["diff_percent"] > fail_over:
        sys.exit(1)


from screenshotd.cli.keys import keys  # noqa: E402  (a group of its own module)

main.add_command(keys)

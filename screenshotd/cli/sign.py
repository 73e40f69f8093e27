"""``screenshotd sign``: a signed capture URL, for an ``<img src>`` without a key."""

from __future__ import annotations

import click

from screenshotd import errors
from screenshotd.cli.common import examples, settings_from_env


@click.command(
    epilog="The secret comes from SIGNING_SECRET (or --secret) and must be the server's. The "
    "URL works without an API key, for exactly these parameters; with --expires-in it stops "
    "working after that many seconds.\n\n" + examples(
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
        settings = settings_from_env()
        host = "localhost" if settings.host in ("0.0.0.0", "127.0.0.1", "::") else settings.host
        base_url = f"http://{host}:{settings.port}"
    click.echo(f"{base_url.rstrip('/')}/screenshot?{Signer(secret).sign(pairs, expires_in)}")

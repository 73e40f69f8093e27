"""``screenshotd keys``: named API keys for ``API_KEYS_FILE``."""

from __future__ import annotations

import click

from screenshotd.auth.accounts import _NAME, new_key, toml_entry
from screenshotd.auth.callers import parse_domains


@click.group(epilog="\b\nExamples:\n  screenshotd keys new --name acme --monthly-quota 10000 "
             ">> keys.toml\n  screenshotd keys new --name partner --domains "
             "'partner.com,*.partner.com'")
def keys() -> None:
    """Named API keys for API_KEYS_FILE (a TOML file the server re-reads when it changes)."""


@keys.command(epilog="The key is printed once, on stderr; the file keeps only its SHA-256. "
              "Append the entry to API_KEYS_FILE: the server picks it up within a second, "
              "without a restart.\n\n\b\nExamples:\n  screenshotd keys new --name acme "
              "--domains 'acme.com,*.acme.com' --monthly-quota 10000 >> keys.toml")
@click.option("--name", required=True, help="The key's name, shown by /me and /metrics.")
@click.option("--domains", default=None, metavar="HOSTS",
              help="Comma-separated hosts (or *.domain) the key may capture; default any.")
@click.option("--monthly-quota", type=click.IntRange(0), default=None, metavar="RENDERS",
              help="Renders a calendar month (UTC); past it, 429 QUOTA_EXCEEDED.")
@click.option("--rate-limit", type=click.IntRange(0), default=None, metavar="PER_MINUTE",
              help="Renders a minute, instead of MAX_REQUESTS_PER_MINUTE.")
@click.option("--max-concurrent", type=click.IntRange(1), default=None, metavar="SLOTS",
              help="The most browser slots the key holds at once, even on an idle service.")
@click.option("--max-monitors", type=click.IntRange(0), default=None, metavar="COUNT",
              help="The most monitors the key may have, instead of MAX_MONITORS_PER_CALLER.")
def new(name: str, domains: str | None, monthly_quota: int | None,
        rate_limit: int | None, max_concurrent: int | None, max_monitors: int | None) -> None:
    """Make a new key: the key on stderr (shown once), its [[keys]] entry on stdout."""
    if not _NAME.fullmatch(name):
        raise click.BadParameter("1-64 letters, digits, _ . @ or -", param_hint="--name")
    try:
        hosts = parse_domains(domains.replace(",", "|")) if domains else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--domains") from None
    key = new_key()
    click.echo(f"API key for {name} (shown once, keep it now): {key}", err=True)
    click.echo(toml_entry(name, key, hosts, monthly_quota, rate_limit, max_concurrent,
                          max_monitors), nl=False)

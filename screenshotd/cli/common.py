"""What the commands share: settings from the environment (a bad one is a clean error),
logging, the examples of a command's help, and the capture flags of ``shot`` and ``batch``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from screenshotd.settings import Settings


def settings_from_env(**overrides: Any) -> Settings:
    """The settings of the environment with ``overrides``; a bad one exits with its message.
    (The settings module is imported here, not above: ``shot`` starts Playwright's driver
    before it loads them.)"""
    from screenshotd.settings import Settings, SettingsError

    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def setup_logging(level: str, fmt: str = "text") -> None:
    from screenshotd.http.logs import setup_logging as setup

    setup(level, fmt)


def examples(*commands: str) -> str:
    """An epilog's examples, one command a line, kept as written (click rewraps the rest)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {command}" for command in commands)


def capture_flags(options: dict[str, Any], full_page: bool, width: int | None,
                  height: int | None) -> dict[str, Any]:
    """``options`` with the commands' shared flags added (``--full-page --width --height``)."""
    if full_page:
        options["full_page"] = "true"
    if width is not None:
        options["width"] = width
    if height is not None:
        options["height"] = height
    return options


def parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    """``-p NAME=VALUE`` options as a mapping."""
    options: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--param")
        options[name.strip()] = value
    return options
